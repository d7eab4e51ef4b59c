//! The REST methods: `user.get` and `department.get` (50 rows a page, by `start`) and `batch`.
//! Each takes the request's parameters and answers an [`Answer`] or an [`ApiError`].

use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::PagingQuirk;
use super::params::{self, Params};
use super::state::{Directory, Shared};
use super::wire::{self, Answer, ApiError};

/// Rows per page; fixed by Bitrix24.
pub(super) const PAGE: usize = 50;
/// Commands one batch may carry.
const MAX_BATCH: usize = 50;

/// Runs a method that is not `batch`, checking the scope it needs.
pub(super) fn call(
    shared: &Shared,
    directory: &Directory,
    method: &str,
    params: &Params,
) -> Result<Answer, ApiError> {
    let (rows, scopes): (&[Box<RawValue>], &[&str]) = match method {
        "user.get" => (&directory.users, &["user", "user_basic", "user_brief"]),
        "department.get" => (&directory.departments, &["department"]),
        _ => return Err(ApiError::METHOD_NOT_FOUND),
    };
    if !shared
        .config
        .scopes
        .iter()
        .any(|granted| scopes.contains(&granted.as_str()))
    {
        return Err(ApiError::INSUFFICIENT_SCOPE);
    }
    let start = params.start();
    shared.record_page(method, start);
    Ok(page(rows, start, shared.quirk()))
}

/// One page of a list. No `start` means the first page, so a client that never forwards `start`
/// gets the same 50 rows forever. `start=-1` skips counting: the first page, no `total`/`next`.
fn page(rows: &[Box<RawValue>], start: Option<i64>, quirk: PagingQuirk) -> Answer {
    let total = rows.len();
    if start == Some(-1) {
        return Answer {
            result: wire::raw_list(rows.iter().take(PAGE).map(|r| &**r)),
            total: None,
            next: None,
        };
    }
    let requested = usize::try_from(start.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let offset = match quirk {
        PagingQuirk::IgnoreStart => 0,
        PagingQuirk::None | PagingQuirk::NextBackwards => requested,
    };
    let result = wire::raw_list(rows.iter().skip(offset).take(PAGE).map(|r| &**r));
    let mut next = (offset.saturating_add(PAGE) < total).then_some(offset + PAGE);
    if quirk == PagingQuirk::NextBackwards && requested >= PAGE {
        next = Some(requested - PAGE);
    }
    Answer {
        result,
        total: Some(total as u64),
        next: next.map(|n| n as u64),
    }
}

/// `batch`: `cmd` maps names to `method?query`; each command runs as its own call, answers are
/// keyed by name. `halt` stops at the first failed command.
pub(super) fn batch(
    shared: &Shared,
    directory: &Directory,
    params: &Params,
) -> Result<Answer, ApiError> {
    let commands: Vec<(String, String)> = match params.get("cmd") {
        Some(Value::Object(map)) => params
            .cmd_order()
            .into_iter()
            .filter_map(|k| Some((k.clone(), map.get(&k)?.as_str()?.to_owned())))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i.to_string(), v.as_str()?.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    if commands.len() > MAX_BATCH {
        return Err(ApiError::BATCH_LENGTH_EXCEEDED);
    }
    let halt = params.flag("halt");
    let mut results = BTreeMap::new();
    let mut errors = Map::new();
    let mut totals = Map::new();
    let mut nexts = Map::new();
    let mut times = Map::new();
    for (key, command) in commands {
        let (method, sub_params) = params::command(&command);
        shared.batched.record(&method);
        let answer = if method == "batch" {
            Err(ApiError::BATCH_METHOD_NOT_ALLOWED)
        } else {
            call(shared, directory, &method, &sub_params)
        };
        match answer {
            Ok(answer) => {
                results.insert(key.clone(), answer.result);
                if let Some(total) = answer.total {
                    totals.insert(key.clone(), total.into());
                }
                if let Some(next) = answer.next {
                    nexts.insert(key.clone(), next.into());
                }
                times.insert(key, wire::time());
            }
            Err(error) => {
                errors.insert(key, error.body());
                if halt {
                    break;
                }
            }
        }
    }
    let body = BatchBody {
        result: wire::raw_php_map(results),
        result_error: wire::php_map(errors),
        result_total: wire::php_map(totals),
        result_next: wire::php_map(nexts),
        result_time: wire::php_map(times),
    };
    Ok(Answer {
        result: to_raw_value(&body).expect("a batch answer serializes"),
        total: None,
        next: None,
    })
}

#[derive(Serialize)]
struct BatchBody {
    result: Box<RawValue>,
    result_error: Value,
    result_total: Value,
    result_next: Value,
    result_time: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(n: usize) -> Vec<Box<RawValue>> {
        (1..=n)
            .map(|id| to_raw_value(&json!({"ID": id.to_string()})).unwrap())
            .collect()
    }

    fn ids(answer: &Answer) -> Vec<String> {
        serde_json::from_str::<Value>(answer.result.get())
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ID"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn pages_of_fifty_with_next_until_the_end() {
        let rows = rows(120);
        let first = page(&rows, None, PagingQuirk::None);
        assert_eq!(
            (first.total, first.next, ids(&first).len()),
            (Some(120), Some(50), 50)
        );
        let last = page(&rows, Some(100), PagingQuirk::None);
        assert_eq!((last.next, ids(&last).len()), (None, 20));
        assert_eq!(ids(&last)[0], "101");
        let beyond = page(&rows, Some(500), PagingQuirk::None);
        assert!(ids(&beyond).is_empty() && beyond.next.is_none());
        let uncounted = page(&rows, Some(-1), PagingQuirk::None);
        assert_eq!(
            (uncounted.total, uncounted.next, ids(&uncounted).len()),
            (None, None, 50)
        );
    }

    #[test]
    fn quirks_repeat_the_first_page_or_send_next_backwards() {
        let rows = rows(120);
        let ignored = page(&rows, Some(50), PagingQuirk::IgnoreStart);
        assert_eq!((ids(&ignored)[0].as_str(), ignored.next), ("1", Some(50)));
        let backwards = page(&rows, Some(100), PagingQuirk::NextBackwards);
        assert_eq!(
            (ids(&backwards)[0].as_str(), backwards.next),
            ("101", Some(50))
        );
    }
}
