//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::config::{DepartmentIdType, UserIdType};
use super::convert::{self, IdTypes, Read};
use super::wire::{self, Envelope, Items, Page};
use crate::model::Scope;
use crate::pullers::{Platform, PullError};

/// Reads `body` as every answer the Feishu client parses and converts what parses, as a pull
/// would, under both id schemes. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    let malformed =
        |e: serde_json::Error| PullError::malformed(Platform::Feishu, "/fuzz", body, &e);
    let _ = serde_json::from_slice::<wire::Head>(body).map_err(|e| malformed(e).to_string());
    let _ = serde_json::from_slice::<wire::Token>(body).map_err(malformed);
    let _ = serde_json::from_slice::<Envelope<wire::ScopePage>>(body);
    let _ = serde_json::from_slice::<Envelope<wire::DepartmentGet>>(body);
    for (user, department) in [
        (UserIdType::UserId, DepartmentIdType::OpenDepartmentId),
        (UserIdType::OpenId, DepartmentIdType::DepartmentId),
    ] {
        let directory = convert::directory(read(body), IdTypes { user, department });
        std::hint::black_box(directory);
    }
}

/// `body` as a page of departments, a page of people and one person read alone.
fn read(body: &[u8]) -> Read {
    let individuals = serde_json::from_slice::<Envelope<wire::UserGet>>(body)
        .ok()
        .and_then(|e| e.data)
        .map(|d| d.user)
        .into_iter()
        .collect();
    let departments = serde_json::from_slice::<Envelope<Page<Items<wire::Department>>>>(body)
        .ok()
        .and_then(|e| e.data)
        .map(|p| p.body.items)
        .unwrap_or_default();
    let users = serde_json::from_slice::<Envelope<Page<Items<wire::User>>>>(body)
        .ok()
        .and_then(|e| e.data)
        .map(|p| p.body.items)
        .unwrap_or_default();
    Read {
        scope: Scope::default(),
        departments,
        members: vec![(convert::ROOT.into(), users)],
        individuals,
    }
}
