//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::convert::{self, Raw};
use super::wire::{self, Record, RosterEntry};
use crate::pullers::{Platform, PullError};

/// Reads `body` as every answer the DingTalk client parses and converts what parses, as a pull
/// would. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    let read = |e: serde_json::Error| PullError::malformed(Platform::Dingtalk, "/fuzz", body, &e);
    let _ = serde_json::from_slice::<wire::Head>(body).map_err(|e| read(e).to_string());
    let _ = serde_json::from_slice::<wire::Token>(body).map_err(read);
    let scope = serde_json::from_slice::<wire::Scopes>(body)
        .ok()
        .map(|s| s.auth_org_scopes);
    let departments: Vec<wire::Department> =
        serde_json::from_slice::<wire::Answer<Vec<wire::Department>>>(body)
            .map(|a| a.result)
            .unwrap_or_default();
    let page: Vec<Record> = serde_json::from_slice::<wire::Answer<wire::Page>>(body)
        .map(|a| a.result.list.into_iter().map(Record::parse).collect())
        .unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .map(Record::parse);
    let details = detail
        .map(|record| {
            let id = record.userid().unwrap_or("fuzz").to_owned();
            (id, Some(record))
        })
        .into_iter()
        .collect();
    let roster = serde_json::from_slice::<wire::RosterAnswer>(body)
        .ok()
        .and_then(|a| a.result.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(RosterEntry::parse)
        .collect();
    let _ = super::client::ban_wait(403, body, std::time::Duration::from_secs(300));
    let raw = Raw {
        scope,
        departments,
        members: vec![(1, page)],
        details,
        roster,
        problems: Vec::new(),
    };
    std::hint::black_box(convert::directory(raw));
}
