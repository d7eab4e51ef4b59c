//! One list method (`user.get`, `department.get`) read page by page, with the checks that keep a
//! pull from looping or from passing a partial list off as complete: `next` must advance by the
//! rows received, `total` must not change, no row may come twice, and the rows must add up.
//! Each page is parsed once, from the batch's JSON text straight into its row type.

use super::client::{Answer, PLATFORM};
use super::wire;
use crate::pullers::http::PullError;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::HashSet;

/// More rows than any portal holds: a `total` above it is garbage, not a reason to plan millions
/// of page requests.
const MAX_ROWS: u64 = 5_000_000;

/// A row of a list method: what repeats are recognised by.
pub(super) trait Row: DeserializeOwned {
    fn id(&self) -> Option<&str>;
}

impl Row for wire::User {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Row for wire::Department {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

pub(super) struct Listing<T> {
    method: &'static str,
    total: u64,
    /// Rows per page, as the first page's `next` showed (50 today).
    step: u64,
    rows: Vec<T>,
    ids: HashSet<String>,
}

impl<T> Listing<T> {
    /// Rows the listing's first page announced, and rows read so far (for progress).
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.total, self.rows.len() as u64)
    }
}

impl<T: Row> Listing<T> {
    /// Reads the first page (start 0) and returns the listing with the starts of the other pages.
    pub(super) fn first(
        method: &'static str,
        answer: Answer,
    ) -> Result<(Self, Vec<u64>), PullError> {
        let total = answer.total.ok_or_else(|| PullError::Malformed {
            platform: PLATFORM,
            endpoint: method.to_owned(),
            detail: "field `total` is missing".into(),
        })?;
        if total > MAX_ROWS {
            return Err(PullError::Malformed {
                platform: PLATFORM,
                endpoint: method.to_owned(),
                detail: format!("`total` {total} is implausible"),
            });
        }
        let mut listing = Listing {
            method,
            total,
            step: 0,
            // `total` is bounded above, but not yet known to be true.
            rows: Vec::with_capacity(total.min(100_000) as usize),
            ids: HashSet::with_capacity(total.min(100_000) as usize),
        };
        let received = listing.take_rows(0, &answer.result)?;
        let starts = match answer.next {
            None if received < total => {
                return Err(listing.paging(format!(
                    "the first page has {received} rows and no `next`, but `total` is {total}"
                )));
            }
            None => Vec::new(),
            Some(next) if next != received || next == 0 => {
                return Err(listing.paging(format!(
                    "`next` is {next} after the first page of {received} rows"
                )));
            }
            Some(next) => {
                listing.step = next;
                (next..total).step_by(next as usize).collect()
            }
        };
        Ok((listing, starts))
    }

    /// The `total` the first page announced.
    pub(super) fn total(&self) -> u64 {
        self.total
    }

    /// Adds the page read at `start`.
    pub(super) fn add(&mut self, start: u64, answer: Answer) -> Result<(), PullError> {
        if let Some(total) = answer.total
            && total != self.total
        {
            return Err(self.paging(format!(
                "`total` went from {} to {total} while paging; the list changed during the pull \
                 (the next run reads it again)",
                self.total
            )));
        }
        let received = self.take_rows(start, &answer.result)?;
        let expected_end = start + received;
        let is_last = start + self.step >= self.total;
        match answer.next {
            Some(next) if next <= start => Err(self.paging(format!(
                "`next` {next} after start {start} does not advance; stopped instead of looping"
            ))),
            Some(next) if next != expected_end || is_last => Err(self.paging(format!(
                "`next` {next} after {received} rows from start {start} does not follow on \
                 (total {})",
                self.total
            ))),
            None if !is_last => Err(self.paging(format!(
                "no `next` after start {start}, but `total` is {}",
                self.total
            ))),
            _ if received == 0 => Err(self.paging(format!(
                "the page at start {start} is empty, but `total` is {}",
                self.total
            ))),
            _ => Ok(()),
        }
    }

    /// All rows, once they add up to `total`.
    pub(super) fn finish(self) -> Result<Vec<T>, PullError> {
        if self.rows.len() as u64 != self.total {
            return Err(self.paging(format!(
                "read {} rows, but `total` is {}",
                self.rows.len(),
                self.total
            )));
        }
        Ok(self.rows)
    }

    fn take_rows(&mut self, start: u64, result: &RawValue) -> Result<u64, PullError> {
        let text = result.get();
        let rows: Vec<T> = serde_json::from_str(text).map_err(|e| PullError::Malformed {
            platform: PLATFORM,
            endpoint: self.method.to_owned(),
            detail: if text.trim_start().starts_with('[') {
                format!("a row at start {start} is not a record: {e}")
            } else {
                format!("`result` at start {start} is not a list")
            },
        })?;
        let received = rows.len() as u64;
        for row in &rows {
            // Rows without an ID are reported by `convert`; they cannot be checked for repeats.
            if let Some(id) = row.id()
                && !self.ids.insert(id.to_owned())
            {
                return Err(self.paging(format!(
                    "ID {id} came twice (at start {start}): `start` was ignored or the list moved"
                )));
            }
        }
        self.rows.extend(rows);
        Ok(received)
    }

    fn paging(&self, detail: String) -> PullError {
        PullError::Paging {
            platform: PLATFORM,
            endpoint: self.method.to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(value: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    fn rows(ids: std::ops::Range<u64>) -> Box<RawValue> {
        raw(json!(
            ids.map(|id| json!({"ID": id.to_string()}))
                .collect::<Vec<_>>()
        ))
    }

    type Users = Listing<wire::User>;

    fn answer(ids: std::ops::Range<u64>, total: u64, next: Option<u64>) -> Answer {
        Answer {
            result: rows(ids),
            total: Some(total),
            next,
        }
    }

    #[test]
    fn pages_add_up() {
        let (mut listing, starts) = Users::first("user.get", answer(0..50, 120, Some(50))).unwrap();
        assert_eq!(starts, [50, 100]);
        listing.add(50, answer(50..100, 120, Some(100))).unwrap();
        listing.add(100, answer(100..120, 120, None)).unwrap();
        assert_eq!(listing.finish().unwrap().len(), 120);
    }

    #[test]
    fn a_single_page_needs_no_more() {
        let (listing, starts) = Users::first("user.get", answer(0..7, 7, None)).unwrap();
        assert!(starts.is_empty());
        assert_eq!(listing.finish().unwrap().len(), 7);
    }

    #[test]
    fn ignored_start_backwards_next_and_short_lists_are_errors() {
        let first = || {
            Users::first("user.get", answer(0..50, 120, Some(50)))
                .unwrap()
                .0
        };
        // `start` ignored: the first page again, with the same `next`.
        let error = first().add(50, answer(0..50, 120, Some(50))).unwrap_err();
        assert!(matches!(error, PullError::Paging { .. }), "{error}");
        let error = first().add(50, answer(50..100, 120, Some(0))).unwrap_err();
        assert!(error.to_string().contains("does not advance"), "{error}");
        let error = first().add(50, answer(50..100, 120, None)).unwrap_err();
        assert!(error.to_string().contains("no `next`"), "{error}");
        let error = first()
            .add(50, answer(50..100, 130, Some(100)))
            .unwrap_err();
        assert!(error.to_string().contains("changed"), "{error}");
        let mut short = first();
        short.add(50, answer(50..100, 120, Some(100))).unwrap();
        short.add(100, answer(100..110, 120, None)).unwrap();
        assert!(short.finish().is_err());
        let error = Users::first("user.get", answer(0..50, 120, None))
            .err()
            .unwrap();
        assert!(error.to_string().contains("no `next`"), "{error}");
        assert!(Users::first("user.get", answer(0..50, u64::MAX, Some(50))).is_err());
        let missing_total = Answer {
            result: rows(0..3),
            total: None,
            next: None,
        };
        assert!(Users::first("user.get", missing_total).is_err());
        let not_a_list = Answer {
            result: raw(json!({"ID": "1"})),
            total: Some(1),
            next: None,
        };
        let error = Users::first("user.get", not_a_list).err().unwrap();
        assert!(error.to_string().contains("not a list"), "{error}");
        let not_records = Answer {
            result: raw(json!([{"ID": "1"}, 7])),
            total: Some(2),
            next: None,
        };
        let error = Users::first("user.get", not_records).err().unwrap();
        assert!(error.to_string().contains("not a record"), "{error}");
    }
}
