//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::{convert, wire};
use crate::pullers::{Platform, PullError};

/// Reads `body` as every answer the WeCom client parses and converts what parses, as a pull
/// would. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    let read = |e: serde_json::Error| PullError::malformed(Platform::Wecom, "/fuzz", body, &e);
    let _ = serde_json::from_slice::<wire::Head>(body).map_err(|e| read(e).to_string());
    let _ = serde_json::from_slice::<wire::Token>(body).map_err(read);
    let departments = serde_json::from_slice::<wire::DepartmentList>(body)
        .map(|d| d.department)
        .unwrap_or_default();
    let users = serde_json::from_slice::<wire::UserList>(body)
        .map(|u| u.userlist)
        .unwrap_or_default();
    let individuals = serde_json::from_slice::<wire::User>(body)
        .into_iter()
        .collect();
    let tags: Vec<wire::Tag> = serde_json::from_slice::<wire::Tag>(body)
        .into_iter()
        .collect();
    let scope = serde_json::from_slice::<wire::Agent>(body)
        .map(|agent| convert::scope(&agent, &tags))
        .unwrap_or_default();
    let directory = convert::directory(
        departments,
        vec![("1".into(), users)],
        individuals,
        scope,
        Vec::new(),
    );
    std::hint::black_box(directory);
}
