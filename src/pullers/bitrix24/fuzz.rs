//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::client::{self, Command};
use super::pages::{Listing, Row};
use super::{convert, wire};
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// Reads `body` as every answer the Bitrix24 client parses — the error head under any status,
/// a token refresh, a first batch of `user.get` and `department.get` with its paging counters —
/// and converts what parses, as a pull would. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    for status in [StatusCode::OK, StatusCode::BAD_GATEWAY] {
        let _ = client::check_head(client::BATCH, status, body).map_err(|e| e.to_string());
    }
    let _ = serde_json::from_slice::<wire::Token>(body);
    let commands = [
        Command {
            key: "u0".into(),
            method: "user.get",
            filter: "".into(),
            start: 0,
        },
        Command {
            key: "d0".into(),
            method: "department.get",
            filter: "".into(),
            start: 0,
        },
    ];
    let Ok(mut answers) = client::answers(body, &commands) else {
        return;
    };
    fn rows<T: Row>(
        answers: &mut BTreeMap<String, client::Answer>,
        key: &str,
        method: &'static str,
    ) -> Vec<T> {
        let Some(answer) = answers.remove(key) else {
            return Vec::new();
        };
        let Ok((mut listing, starts)) = Listing::<T>::first(method, answer.clone()) else {
            return Vec::new();
        };
        // Every later page answered like the first: duplicates and short pages are caught.
        for start in starts.into_iter().take(3) {
            if listing.add(start, answer.clone()).is_err() {
                return Vec::new();
            }
        }
        listing.finish().unwrap_or_default()
    }
    let users: Vec<wire::User> = rows(&mut answers, "u0", "user.get");
    let departments: Vec<wire::Department> = rows(&mut answers, "d0", "department.get");
    std::hint::black_box(convert::directory(
        departments,
        users,
        &Default::default(),
        true,
    ));
}
