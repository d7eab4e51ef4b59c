//! List answers: the `filter`, `startIndex` and `count` parameters and the ListResponse message.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ScimError;
use super::filter::Filter;
use super::routes::Params;
use super::schema::LIST_RESPONSE_SCHEMA;
use super::wire;

/// `filter`, `startIndex` and `count` of a list request (RFC 7644 §3.4.2). `attributes`,
/// `excludedAttributes`, `sortBy` and `sortOrder` are accepted and ignored: full resources come back
/// in id order.
pub(crate) struct ListQuery {
    pub(crate) filter: Option<Filter>,
    /// 1-based.
    pub(crate) start_index: usize,
    pub(crate) count: usize,
}

impl ListQuery {
    pub(crate) fn parse(params: Params, max_page_size: usize) -> Result<Self, ScimError> {
        let Query(params) =
            params.map_err(|rejection| ScimError::invalid_value(rejection.body_text()))?;
        let mut query = Self {
            filter: None,
            start_index: 1,
            count: max_page_size,
        };
        for (key, value) in params {
            match key.as_str() {
                "filter" => query.filter = Some(Filter::parse(&value)?),
                // RFC 7644 §3.4.2.4: a startIndex below 1 means 1, a negative count means 0.
                "startIndex" => {
                    query.start_index = integer(&key, &value)?
                        .max(1)
                        .try_into()
                        .unwrap_or(usize::MAX)
                }
                "count" => {
                    let count: usize = integer(&key, &value)?
                        .max(0)
                        .try_into()
                        .unwrap_or(usize::MAX);
                    query.count = count.min(max_page_size);
                }
                _ => {}
            }
        }
        Ok(query)
    }
}

fn integer(key: &str, value: &str) -> Result<i64, ScimError> {
    value
        .trim()
        .parse()
        .map_err(|_| ScimError::invalid_value(format!("{key} must be an integer, got {value:?}")))
}

pub(crate) fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Response {
    let body = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    wire::scim_json(StatusCode::OK, &body)
}
