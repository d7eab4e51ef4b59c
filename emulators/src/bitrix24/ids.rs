//! Bitrix24 user IDs are positive integers; fixture user ids are strings. The mapping:
//!
//! - a fixture id that is a plain decimal number from 1 to 999 999 999 (digits only, no leading
//!   zero) is the ID itself: `"17"` → 17. Hand-written fixtures can use Bitrix24's own IDs;
//! - any other id (`"u00042"`, `"ceo"`) → 1 000 000 000 + FNV-1a-64(id) mod 1 000 000 000, a
//!   10-digit ID that never meets the first kind;
//! - should two ids of the second kind meet, the later user in fixture order takes the next free
//!   ID (+1, wrapping within the 10-digit range). This needs the whole fixture, so tests ask the
//!   handle (`Bitrix24Handle::user_id`) rather than [`derive_user_id`].
//!
//! Department ids are integers in the fixture already and are used as they are.

use std::collections::{HashMap, HashSet};

use crate::fixture::Org;

const HASHED_BASE: u64 = 1_000_000_000;

/// The ID a fixture user id maps to before collisions are resolved.
pub fn derive_user_id(fixture_id: &str) -> u64 {
    let plain = !fixture_id.is_empty()
        && fixture_id.bytes().all(|b| b.is_ascii_digit())
        && !fixture_id.starts_with('0');
    if plain
        && let Ok(n) = fixture_id.parse::<u64>()
        && n < HASHED_BASE
    {
        return n;
    }
    HASHED_BASE + fnv1a(fixture_id) % HASHED_BASE
}

/// Every fixture user id of `org` with its ID, collisions resolved in fixture order. A duplicated
/// fixture id keeps its first ID.
pub(super) fn assign(org: &Org) -> HashMap<String, u64> {
    let mut ids = HashMap::with_capacity(org.users.len());
    let mut taken = HashSet::with_capacity(org.users.len());
    for user in &org.users {
        if ids.contains_key(&user.id) {
            continue;
        }
        let mut id = derive_user_id(&user.id);
        while !taken.insert(id) {
            id = if id >= HASHED_BASE {
                HASHED_BASE + (id + 1 - HASHED_BASE) % HASHED_BASE
            } else {
                // Plain ids are unique because fixture ids are.
                HASHED_BASE + id
            };
        }
        ids.insert(user.id.clone(), id);
    }
    ids
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_stay_others_hash_into_ten_digits() {
        assert_eq!(derive_user_id("17"), 17);
        assert_eq!(derive_user_id("999999999"), 999_999_999);
        for other in ["u00042", "017", "+5", "ceo", "", "1000000000"] {
            let id = derive_user_id(other);
            assert!(
                (HASHED_BASE..2 * HASHED_BASE).contains(&id),
                "{other} → {id}"
            );
        }
        assert_eq!(derive_user_id("u00042"), derive_user_id("u00042"));
        assert_ne!(derive_user_id("u00042"), derive_user_id("u00043"));
    }
}
