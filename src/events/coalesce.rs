//! What one window's events call for: nothing (they were all about things orgsync does not
//! sync), a focused run for the people they name, or a full run. Pure, so the worker's decision
//! is tested on data (testdata/coalesce/).

use super::{Notice, StoredEvent};
use crate::model::UserKey;
use crate::report::{EventsReach, EventsReport};
use std::collections::{BTreeMap, BTreeSet};

/// The decision for one window's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coalesced {
    /// Only events about nothing orgsync syncs: they are consumed without a run.
    Nothing,
    /// One run answers them all.
    Run(EventsReport),
}

/// Folds `events` (oldest first) into one decision. A scope change, an event orgsync cannot
/// interpret, a department change, or more than `full_run_above` distinct people call for a
/// full run: a focused run cannot tell who a department's change or a new scope concerns, and
/// beyond the threshold one full pull costs the upstream fewer calls than many single reads.
pub fn coalesce(events: &[StoredEvent], full_run_above: usize) -> Coalesced {
    let mut people = BTreeSet::<&UserKey>::new();
    let mut scope = false;
    let mut unknown = BTreeSet::<&str>::new();
    let mut departments = BTreeSet::<&str>::new();
    let mut acted = false;
    for notice in events.iter().flat_map(|e| &e.notices) {
        match notice {
            Notice::People { keys } => people.extend(keys),
            Notice::Departments { ids } => departments.extend(ids.iter().map(|id| id.as_str())),
            Notice::Scope => scope = true,
            Notice::Unknown { event_type } => {
                unknown.insert(event_type);
            }
            Notice::Ignored { .. } => continue,
        }
        acted = true;
    }
    let Some(first_received_at) = events.iter().map(|e| e.received_at).min() else {
        return Coalesced::Nothing;
    };
    if !acted {
        return Coalesced::Nothing;
    }
    let reach = if scope {
        everyone("the app's authorized scope changed")
    } else if !unknown.is_empty() {
        everyone(&format!(
            "events orgsync cannot interpret: {}",
            list(unknown.iter().copied())
        ))
    } else if !departments.is_empty() {
        everyone(&format!(
            "departments changed: {}",
            list(departments.iter().copied())
        ))
    } else if people.len() > full_run_above {
        everyone(&format!(
            "{} people changed, more than full_run_above ({full_run_above})",
            people.len()
        ))
    } else {
        EventsReach::People {
            keys: people.into_iter().cloned().collect(),
        }
    };
    let mut types = BTreeMap::new();
    for event in events {
        *types.entry(event.event_type.clone()).or_default() += 1;
    }
    Coalesced::Run(EventsReport {
        events: events.len(),
        types,
        first_received_at,
        first_occurred_at: events.iter().filter_map(|e| e.occurred_at).min(),
        reach,
    })
}

fn everyone(reason: &str) -> EventsReach {
    EventsReach::Everyone {
        reason: reason.to_owned(),
    }
}

/// "a, b, c", or the first ten and how many more: a storm's reason stays one line.
fn list<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 10;
    let total = items.len();
    let mut text = items.take(SHOWN).collect::<Vec<_>>().join(", ");
    if total > SHOWN {
        text.push_str(&format!(" and {} more", total - SHOWN));
    }
    text
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
