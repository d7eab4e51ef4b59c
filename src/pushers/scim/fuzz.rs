//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::{client, convert, wire};

/// Reads `body` as every answer the SCIM client parses — a list page, one user, an error — and
/// converts the accounts, as a listing would. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    if let Ok(list) = client::parse::<wire::ListResponse>(body) {
        let accounts: Vec<_> = list.resources.into_iter().map(convert::account).collect();
        std::hint::black_box(accounts);
    }
    if let Ok(user) = client::parse::<wire::ReadUser>(body) {
        let _ = std::hint::black_box(convert::account(user));
    }
    let _ = client::parse::<wire::ErrorBody>(body).map_err(|e| e.to_string());
}
