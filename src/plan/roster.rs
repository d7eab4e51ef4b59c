//! Everyone the planner decides about — in the pull, in the snapshot, or held — in key order, each
//! addressed by a dense index. The planner's later passes keep their per-person results in vectors
//! under that index instead of maps keyed by id: at a million people the maps' lookups and
//! allocations were most of the planner's time and memory.

use super::merge::outer_join;
use crate::model::{Directory, User, UserKey};
use crate::snapshot::{AppliedUser, Snapshot};

/// A person's place in the roster. Four bytes, not eight: the planner keeps several per person.
pub(super) type Index = u32;

/// One person and what the inputs hold for them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    pub(super) key: &'a UserKey,
    /// The pulled record, when the person is in the pulled in-scope set.
    pub(super) upstream: Option<&'a User>,
    /// The snapshot entry, when the target has the person.
    pub(super) applied: Option<&'a AppliedUser>,
}

pub(super) struct Roster<'a> {
    rows: Vec<Row<'a>>,
}

impl<'a> Roster<'a> {
    /// Every key of the pull, the snapshot and the held set, once, in key order.
    pub(super) fn new(directory: &'a Directory, snapshot: &'a Snapshot) -> Self {
        let mut rows: Vec<Row<'a>> =
            Vec::with_capacity(directory.users.len().max(snapshot.users.len()));
        rows.extend(outer_join(&directory.users, &snapshot.users).map(
            |(key, upstream, applied)| Row {
                key,
                upstream,
                applied,
            },
        ));
        // Held people the pull could not read and the target never had: rare, so they are
        // appended and the rows sorted again only when there are any.
        let before = rows.len();
        rows.extend(
            directory
                .held
                .iter()
                .filter(|key| {
                    !directory.users.contains_key(*key) && !snapshot.users.contains_key(*key)
                })
                .map(|key| Row {
                    key,
                    upstream: None,
                    applied: None,
                }),
        );
        if rows.len() > before {
            rows.sort_by(|a, b| a.key.cmp(b.key));
        }
        Roster { rows }
    }

    pub(super) fn rows(&self) -> &[Row<'a>] {
        &self.rows
    }

    pub(super) fn row(&self, index: Index) -> Row<'a> {
        self.rows[index as usize]
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Found by binary search: few distinct people are looked up by key (managers), so a map of
    /// every key would cost more to build than the searches it saves.
    pub(super) fn index_of(&self, key: &UserKey) -> Option<Index> {
        self.rows
            .binary_search_by(|row| row.key.cmp(key))
            .ok()
            .map(|i| i as Index)
    }
}
