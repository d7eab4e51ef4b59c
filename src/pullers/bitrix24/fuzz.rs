//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::client::{self, Command};
use super::pages::Listing;
use super::{convert, wire};
use reqwest::StatusCode;
use serde_json::Value;

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
            start: 0,
        },
        Command {
            key: "d0".into(),
            method: "department.get",
            start: 0,
        },
    ];
    let Ok(mut answers) = client::answers(body, &commands) else {
        return;
    };
    let mut rows = |key: &str, method: &'static str| -> Vec<Value> {
        let Some(answer) = answers.remove(key) else {
            return Vec::new();
        };
        let Ok((mut listing, starts)) = Listing::first(method, answer.clone()) else {
            return Vec::new();
        };
        // Every later page answered like the first: duplicates and short pages are caught.
        for start in starts.into_iter().take(3) {
            if listing.add(start, answer.clone()).is_err() {
                return Vec::new();
            }
        }
        listing.finish().unwrap_or_default()
    };
    let users: Vec<wire::User> = rows("u0", "user.get")
        .into_iter()
        .filter_map(|row| serde_json::from_value(row).ok())
        .collect();
    let departments: Vec<wire::Department> = rows("d0", "department.get")
        .into_iter()
        .filter_map(|row| serde_json::from_value(row).ok())
        .collect();
    std::hint::black_box(convert::directory(departments, users, true));
}
