//! Unique values that move between people. A target refuses a userName or email that another
//! account still holds, so every value taken over in this run is first released by its holder:
//! set to a placeholder (or cleared, when the holder ends without one) in a phase before any
//! update or create. The holder's own final value follows in the update phase, so no placeholder
//! survives a run that completes.

use super::desired::{Desired, Disposition};
use super::merge::lowercase;
use super::roster::{Index, Roster};
use super::step::Step;
use crate::model::{Attributes, Field, FieldChange, UserKey};
use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;

/// The domain of placeholders: `.invalid` can never be a real address (RFC 2606).
pub const PLACEHOLDER_DOMAIN: &str = "placeholder.invalid";

pub(super) struct Releases {
    pub(super) steps: Vec<Step>,
    /// Each releasing person's attributes once their release is applied.
    pub(super) released: HashMap<Index, Attributes>,
}

/// A value a target account holds now and gives up in this run.
struct Vacated<'a> {
    holder: Index,
    field: Field,
    current: &'a str,
    /// What the holder ends with: the placeholder path is needed unless it is cleared.
    final_value: Option<std::borrow::Cow<'a, str>>,
}

pub(super) fn release_contested<'a>(roster: &Roster<'a>, desired: &Desired<'a>) -> Releases {
    let mut releases = Releases {
        steps: Vec::new(),
        released: HashMap::new(),
    };
    // Values that change hands are among the values that change at all: collect those first
    // (few, in a resync), then look for anyone else who wants one of them.
    let mut vacated: Vec<Vacated<'a>> = Vec::new();
    for (i, row) in roster.rows().iter().enumerate() {
        let Some(applied) = row.applied else { continue };
        let index = i as Index;
        let ends_present = match desired.dispositions[i] {
            Disposition::Present { .. } => true,
            Disposition::Deleted(_) => false,
            _ => continue,
        };
        for field in [Field::UserName, Field::Email] {
            let Some(current) = applied.attributes.get(field) else {
                continue;
            };
            let final_value = if ends_present {
                desired.value(index, *row, field)
            } else {
                None
            };
            if final_value
                .as_deref()
                .is_some_and(|v| v == current || lowercase(v) == lowercase(current))
            {
                continue;
            }
            vacated.push(Vacated {
                holder: index,
                field,
                current,
                final_value,
            });
        }
    }
    if vacated.is_empty() {
        return releases;
    }

    let mut wanted: HashMap<(Field, Cow<'a, str>), bool> = vacated
        .iter()
        .map(|v| ((v.field, lowercase(v.current)), false))
        .collect();
    for (i, row) in roster.rows().iter().enumerate() {
        for field in [Field::UserName, Field::Email] {
            if let Some(value) = desired.value(i as Index, *row, field)
                && let Some(taken) =
                    wanted.get_mut(&(field, Cow::Owned(lowercase(&value).into_owned())))
            {
                *taken = true;
            }
        }
    }

    // Vacated values come in roster (key) order, each holder's fields together.
    for holder in vacated.chunk_by(|a, b| a.holder == b.holder) {
        let changes: Vec<FieldChange> = holder
            .iter()
            .filter(|v| wanted[&(v.field, lowercase(v.current))])
            .map(|v| {
                // Clearing is final for optional fields; a required one (userName), or a field
                // the holder will set to another value, passes through a placeholder.
                let key = roster.row(v.holder).key;
                let interim = match (v.field, v.final_value.as_deref()) {
                    (Field::Email, None) => None,
                    _ => Some(placeholder(key)),
                };
                FieldChange {
                    field: v.field,
                    before: Some(v.current.to_owned()),
                    after: interim,
                }
            })
            .collect();
        if changes.is_empty() {
            continue;
        }
        let row = roster.row(holder[0].holder);
        let Some(applied) = row.applied else { continue };
        let mut released = applied.attributes.clone();
        released.apply(&changes);
        releases.released.insert(holder[0].holder, released);
        releases.steps.push(Step::FreeValues {
            user: row.key.clone(),
            changes,
        });
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
