//! The REST methods: `user.get`, `user.search` and `department.get` (50 rows a page, by
//! `start`; filtered by `ID` when asked) and `batch`. Each takes the request's parameters and answers an [`Answer`] or an
//! [`ApiError`].
//!
//! Order: Bitrix24 builds an `ORDER BY` only when both `sort` and `order` are given (older
//! portals; see the notes' Corrections). Without them the emulator answers every page in an
//! order of its own — a permutation seeded by the method and `start` — so a client that pages
//! without sorting sees rows twice and misses others, as it may on a real portal.

use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::params::{self, Params};
use super::state::{Directory, Shared};
use super::wire::{self, Answer, ApiError};
use super::{ConfirmCodeFilter, PagingQuirk};

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
        "user.get" | "user.search" => (&directory.users, &["user", "user_basic", "user_brief"]),
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
    // `CONFIRM_CODE` is a filter field of `user.search` only (Bitrix\Rest\Api\User::userGet
    // allows it for that method); `user.get` drops it like any field it does not know.
    let filtered: Vec<&RawValue>;
    let rows: Vec<&RawValue> = match confirm_code_filter(params) {
        Some(wanted)
            if method == "user.search"
                && shared.config.confirm_code_filter == ConfirmCodeFilter::Honoured =>
        {
            filtered = rows
                .iter()
                .zip(&directory.confirm_codes)
                .filter(|(_, code)| wanted.matches(code.as_deref()))
                .map(|(row, _)| &**row)
                .collect();
            filtered
        }
        _ => rows.iter().map(|r| &**r).collect(),
    };
    let rows = match id_filter(method, params) {
        Some(ids) => rows
            .into_iter()
            .filter(|row| row_id(row).is_some_and(|id| ids.contains(&id)))
            .collect(),
        None => rows,
    };
    let rows = ordered(rows, method, start, params);
    Ok(page(&rows, start, shared.quirk()))
}

/// A `CONFIRM_CODE` condition of `FILTER`: `CONFIRM_CODE` (equal) or `!CONFIRM_CODE` (not
/// equal); the value `0` (or `false`, `""`) means "no code", as `prepareUserValue` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodeCondition {
    negated: bool,
    value: Option<String>,
}

impl CodeCondition {
    fn matches(&self, code: Option<&str>) -> bool {
        let equal = match (&self.value, code) {
            (None, None) => true,
            (Some(wanted), Some(code)) => wanted == code,
            _ => false,
        };
        equal != self.negated
    }
}

fn confirm_code_filter(params: &Params) -> Option<CodeCondition> {
    let filter = params.get("FILTER").or_else(|| params.get("filter"))?;
    let Value::Object(filter) = filter else {
        return None;
    };
    filter.iter().find_map(|(key, value)| {
        let upper = key.to_ascii_uppercase();
        let negated = match upper.as_str() {
            "CONFIRM_CODE" | "=CONFIRM_CODE" => false,
            "!CONFIRM_CODE" | "!=CONFIRM_CODE" => true,
            _ => return None,
        };
        let value = match value {
            Value::String(s) if s.is_empty() || s == "0" => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(false) | Value::Null => None,
            Value::Number(n) if n.as_i64() == Some(0) => None,
            Value::Number(n) => Some(n.to_string()),
            _ => return None,
        };
        Some(CodeCondition { negated, value })
    })
}

/// The ids an `ID` filter asks for: `FILTER[ID]` (or `=ID`, `@ID`), one id or a list, for the
/// user methods; the top-level `ID` parameter for `department.get` (its filter fields are
/// plain parameters). An id that is not a number matches nothing, as in Bitrix24's SQL.
fn id_filter(method: &str, params: &Params) -> Option<Vec<String>> {
    let value = if method == "department.get" {
        params.get("ID").or_else(|| params.get("id"))?
    } else {
        let Some(Value::Object(filter)) = params.get("FILTER").or_else(|| params.get("filter"))
        else {
            return None;
        };
        filter.iter().find_map(|(key, value)| {
            matches!(key.to_ascii_uppercase().as_str(), "ID" | "=ID" | "@ID").then_some(value)
        })?
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(match value {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        Value::Object(items) => items.values().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    })
}

/// A row's `ID`, as text.
fn row_id(row: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "ID")]
        id: Value,
    }
    match serde_json::from_str::<Id>(row.get()).ok()?.id {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The rows (kept in `ID` order) in the order asked for: `ID` ascending or descending when both
/// `sort` and `order` are given (other fields sort as `ID` here), else an order of the page's own.
fn ordered<'a>(
    mut rows: Vec<&'a RawValue>,
    method: &str,
    start: Option<i64>,
    params: &Params,
) -> Vec<&'a RawValue> {
    let text = |key: &str| {
        params
            .text(key)
            .or_else(|| params.text(&key.to_ascii_uppercase()))
            .filter(|v| !v.trim().is_empty())
    };
    match (text("sort"), text("order")) {
        (Some(_), Some(order)) => {
            if order.trim().eq_ignore_ascii_case("desc") {
                rows.reverse();
            }
        }
        _ => {
            let seed = method.bytes().fold(start.unwrap_or(0) as u64, |h, b| {
                h.wrapping_mul(31).wrapping_add(u64::from(b))
            });
            shuffle(&mut rows, seed);
        }
    }
    rows
}

/// Fisher–Yates driven by splitmix64: deterministic for a seed, different across seeds.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// One page of a list. No `start` means the first page, so a client that never forwards `start`
/// gets the same 50 rows forever. `start=-1` skips counting: the first page, no `total`/`next`.
fn page(rows: &[&RawValue], start: Option<i64>, quirk: PagingQuirk) -> Answer {
    let total = rows.len();
    if start == Some(-1) {
        return Answer {
            result: wire::raw_list(rows.iter().take(PAGE).copied()),
            total: None,
            next: None,
        };
    }
    let requested = usize::try_from(start.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let offset = match quirk {
        PagingQuirk::IgnoreStart => 0,
        PagingQuirk::None | PagingQuirk::NextBackwards => requested,
    };
    let result = wire::raw_list(rows.iter().skip(offset).take(PAGE).copied());
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

    fn refs(rows: &[Box<RawValue>]) -> Vec<&RawValue> {
        rows.iter().map(|r| &**r).collect()
    }

    #[test]
    fn pages_of_fifty_with_next_until_the_end() {
        let owned = rows(120);
        let rows = refs(&owned);
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
        let owned = rows(120);
        let rows = refs(&owned);
        let ignored = page(&rows, Some(50), PagingQuirk::IgnoreStart);
        assert_eq!((ids(&ignored)[0].as_str(), ignored.next), ("1", Some(50)));
        let backwards = page(&rows, Some(100), PagingQuirk::NextBackwards);
        assert_eq!(
            (ids(&backwards)[0].as_str(), backwards.next),
            ("101", Some(50))
        );
    }

    fn params(query: &str) -> Params {
        Params::from_query(query)
    }

    #[test]
    fn an_id_filter_keeps_the_rows_asked_for() {
        let users = |query: &str| id_filter("user.get", &params(query));
        assert_eq!(users("FILTER[ID]=7"), Some(vec!["7".to_owned()]));
        assert_eq!(
            users("FILTER[ID][]=7&FILTER[ID][]=9"),
            Some(vec!["7".to_owned(), "9".to_owned()])
        );
        assert_eq!(users("FILTER[ACTIVE]=true"), None);
        assert_eq!(
            id_filter("department.get", &params("ID=5")),
            Some(vec!["5".to_owned()])
        );
        let row = to_raw_value(&json!({"ID": "12", "NAME": "x"})).unwrap();
        assert_eq!(row_id(&row).as_deref(), Some("12"));
    }

    #[test]
    fn sorted_only_with_both_sort_and_order() {
        let owned = rows(120);
        let ids_of = |query: &str, start: i64| {
            let rows = ordered(refs(&owned), "user.get", Some(start), &params(query));
            ids(&page(&rows, Some(start), PagingQuirk::None))
        };
        let sorted = ids_of("sort=ID&order=ASC", 50);
        assert_eq!(sorted[0], "51");
        assert_eq!(ids_of("SORT=ID&ORDER=desc", 0)[0], "120");
        // Unsorted: pages of one listing overlap and miss rows.
        let mut seen: Vec<String> = [0, 50, 100]
            .iter()
            .flat_map(|&start| ids_of("sort=ID", start))
            .collect();
        assert_ne!(ids_of("", 0), ids_of("sort=ID&order=ASC", 0));
        assert_eq!(ids_of("", 50), ids_of("order=ASC", 50), "deterministic");
        seen.sort();
        seen.dedup();
        assert!(
            seen.len() < 120,
            "unsorted pages cover only {} rows",
            seen.len()
        );
    }

    #[test]
    fn confirm_code_conditions_read_like_bitrix24() {
        let condition = |query: &str| confirm_code_filter(&params(query)).unwrap();
        let pending = condition("FILTER[!CONFIRM_CODE]=0");
        assert!(pending.matches(Some("x1y2")) && !pending.matches(None));
        let accepted = condition("filter[CONFIRM_CODE]=0");
        assert!(accepted.matches(None) && !accepted.matches(Some("x1y2")));
        assert!(condition("FILTER[CONFIRM_CODE]=x1y2").matches(Some("x1y2")));
        assert!(confirm_code_filter(&params("FILTER[ACTIVE]=true")).is_none());
    }
}
