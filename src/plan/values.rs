//! Unique values that move between people. A target refuses a userName or email that another
//! account still holds, so every value taken over in this run is first released by its holder:
//! set to a placeholder (or cleared, when the holder ends without one) in a phase before any
//! update or create. The holder's own final value follows in the update phase, so no placeholder
//! survives a run that completes.

use super::desired::Disposition;
use super::merge::{Cursor, lowercase};
use super::step::Step;
use crate::model::{Attributes, Field, FieldChange, UserKey};
use crate::snapshot::Snapshot;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The domain of placeholders: `.invalid` can never be a real address (RFC 2606).
pub const PLACEHOLDER_DOMAIN: &str = "placeholder.invalid";

pub(super) struct Releases {
    pub(super) steps: Vec<Step>,
    /// Each releasing person's attributes once their release is applied.
    pub(super) released: HashMap<UserKey, Attributes>,
}

pub(super) fn release_contested(
    snapshot: &Snapshot,
    dispositions: &BTreeMap<UserKey, Disposition>,
) -> Releases {
    let mut releases = Releases {
        steps: Vec::new(),
        released: HashMap::new(),
    };
    // Nothing in the target yet (a first sync): nothing to release.
    if snapshot.users.is_empty() {
        return releases;
    }
    let mut wanted: HashMap<(Field, Cow<'_, str>), &UserKey> =
        HashMap::with_capacity(2 * dispositions.len());
    for (key, disposition) in dispositions {
        if let Some(attributes) = disposition.attributes() {
            for field in [Field::UserName, Field::Email] {
                if let Some(value) = attributes.get(field) {
                    wanted.insert((field, lowercase(value)), key);
                }
            }
        }
    }

    let mut dispositions = Cursor::new(dispositions);
    for (holder, applied) in &snapshot.users {
        let final_attributes = match dispositions.get(holder) {
            Some(Disposition::Present { attributes, .. }) => Some(attributes),
            Some(Disposition::Deleted(_)) => None,
            _ => continue,
        };
        let mut changes = Vec::new();
        for field in [Field::UserName, Field::Email] {
            let Some(current) = applied.attributes.get(field) else {
                continue;
            };
            let lower = (field, lowercase(current));
            let taker = wanted.get(&lower);
            if taker.is_none_or(|taker| *taker == holder) {
                continue;
            }
            let final_value = final_attributes.and_then(|a| a.get(field));
            if final_value.is_some_and(|v| lowercase(v) == lower.1) {
                continue;
            }
            // Clearing is final for optional fields; a required one (userName), or a field the
            // holder will set to another value, passes through a placeholder.
            let interim = match (field, final_value) {
                (Field::Email, None) => None,
                _ => Some(placeholder(holder)),
            };
            changes.push(FieldChange {
                field,
                before: Some(current.to_owned()),
                after: interim,
            });
        }
        if !changes.is_empty() {
            let mut released = applied.attributes.clone();
            released.apply(&changes);
            releases.released.insert(holder.clone(), released);
            releases.steps.push(Step::FreeValues {
                user: holder.clone(),
                changes,
            });
        }
    }
    releases
}

/// A value no real account can hold and that differs for every person.
pub fn placeholder(user: &UserKey) -> String {
    let readable: String = user
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(24)
        .collect();
    format!(
        "orgsync-released-{readable}-{:016x}@{PLACEHOLDER_DOMAIN}",
        fnv1a(user.as_str().as_bytes())
    )
}

/// True for values only orgsync's placeholders have.
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with("orgsync-released-") && value.ends_with(PLACEHOLDER_DOMAIN)
}

/// FNV-1a: a stable 64-bit hash, so placeholders of different keys never collide in practice.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
