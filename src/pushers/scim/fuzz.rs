//! Fuzzing entry point (fuzz/ and tests/fuzz_smoke.rs); not an API.

use super::{client, convert, group_convert, mapping, wire};

/// Reads `body` as every answer the SCIM client parses — a list page, one user, a group lookup,
/// one group, an error — and converts the accounts and picks the group to adopt, as a listing
/// and a group create would. Must never panic, whatever the bytes.
pub fn parse(body: &[u8]) {
    let extras = extras();
    if let Ok(list) = client::parse::<wire::ListResponse>(body) {
        let accounts: Vec<_> = list
            .resources
            .into_iter()
            .map(|user| convert::account(user, &extras))
            .collect();
        std::hint::black_box(accounts);
    }
    if let Ok(user) = client::parse::<wire::ReadUser>(body) {
        let _ = std::hint::black_box(convert::account(user, &extras));
    }
    if let Ok(list) = client::parse::<wire::GroupList>(body) {
        let picked = group_convert::with_key(&list.resources, "7")
            .or_else(|| group_convert::unclaimed_named(&list.resources, "Sales"))
            .map(convert::target_id);
        let _ = std::hint::black_box(picked);
    }
    if let Ok(group) = client::parse::<wire::ReadGroup>(body) {
        let members: Vec<_> = group.members.into_iter().filter_map(|m| m.value).collect();
        let _ = std::hint::black_box((convert::target_id(&group.id), members));
    }
    let _ = client::parse::<wire::ErrorBody>(body).map_err(|e| e.to_string());
}

/// A mapping with an extra of each kind, so every way of reading one back is fuzzed.
fn extras() -> mapping::Extras {
    let attributes = [
        ("nickName", "name"),
        ("name.familyName", "name"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
            "name",
        ),
        ("urn:example:acme:2.0:User:badge.level", "name"),
        ("emails[type eq \"home\"].value", "email"),
        ("photos[type eq \"photo\"].value", "name"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    mapping::attribute_mapping(&attributes)
        .map(|mapping| mapping::Extras::of(&mapping))
        .unwrap_or_default()
}
