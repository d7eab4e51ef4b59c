//! A group's display name: its department's name or its path from the top of the scope, made
//! unique among the connector's groups. Names are compared without case, as SCIM servers compare
//! `displayName` and LDAP compares `cn`: two groups named "Sales" and "sales" would clash too.
//!
//! The rule, deterministic whatever order the pull listed departments in: among groups that want
//! one name, the group that already holds it in the target (the snapshot) keeps it, else the
//! group of the lowest department id. An existing group is thus never renamed because a new
//! department took its name: the rename and the new group's create would run in one phase, and
//! the create could meet the old name still in place (a 409, or an adoption by displayName of
//! the wrong group). Each other one gets
//! `NAME (PARENT)` (naming = "name", when its department has a parent in scope), and when that
//! is taken too `NAME (PARENT, ID)`, or `NAME (ID)` (path naming, or no parent: the path already
//! names every parent); a name still taken after that (a department literally named so) gets
//! ` (ID)` again until it is free. Every renamed group is reported (`Problem::GroupNameTaken`).

use super::super::merge::lowercase;
use super::Tree;
use crate::model::Problem;
use crate::plan::GroupNaming;
use crate::snapshot::Snapshot;
use compact_str::CompactString;
use foldhash::{HashMap, HashSet};

/// Between the names of a department's path.
pub(super) const PATH_SEPARATOR: &str = " / ";

/// One display name per group slot (`tree.groups`, department id order), unique without case.
pub(super) fn display_names(
    tree: &Tree<'_>,
    naming: GroupNaming,
    snapshot: &Snapshot,
    problems: &mut Vec<Problem>,
) -> Vec<CompactString> {
    let wanted: Vec<CompactString> = tree
        .groups
        .iter()
        .map(|&pos| match naming {
            GroupNaming::Name => CompactString::from(tree.department(pos).name.as_str()),
            GroupNaming::Path => path(tree, pos),
        })
        .collect();
    // Every wanted name is taken from the start, so a renamed group never takes a name some
    // later group wants as it is.
    let mut taken: HashSet<String> = wanted.iter().map(|n| lowercase(n).into_owned()).collect();
    let mut holders: HashMap<String, usize> = HashMap::default();
    let mut incumbents: HashMap<String, usize> = HashMap::default();
    for (slot, name) in wanted.iter().enumerate() {
        let key = lowercase(name).into_owned();
        let id = &tree.department(tree.groups[slot]).id;
        let holds = snapshot
            .groups
            .get(id)
            .is_some_and(|g| lowercase(&g.attributes.display_name) == key);
        if holds {
            incumbents.entry(key.clone()).or_insert(slot);
        }
        holders.entry(key).or_insert(slot);
    }
    holders.extend(incumbents);
    let mut names = Vec::with_capacity(wanted.len());
    for (slot, name) in wanted.iter().enumerate() {
        let holder = holders[lowercase(name).as_ref()];
        if holder == slot {
            names.push(name.clone());
            continue;
        }
        let pos = tree.groups[slot];
        let department = tree.department(pos);
        let parent = match naming {
            GroupNaming::Name => {
                tree.parent[pos as usize].map(|p| tree.department(p).name.as_str())
            }
            GroupNaming::Path => None,
        };
        let id = department.id.as_str();
        let mut candidates = parent
            .map(|parent| format!("{name} ({parent})"))
            .into_iter()
            .chain(std::iter::once(match parent {
                Some(parent) => format!("{name} ({parent}, {id})"),
                None => format!("{name} ({id})"),
            }));
        let mut used = candidates.find(|c| !taken.contains(lowercase(c).as_ref()));
        let used = used.get_or_insert_with(|| {
            let mut last = match parent {
                Some(parent) => format!("{name} ({parent}, {id})"),
                None => format!("{name} ({id})"),
            };
            while taken.contains(lowercase(&last).as_ref()) {
                last.push_str(&format!(" ({id})"));
            }
            last
        });
        taken.insert(lowercase(used).into_owned());
        problems.push(Problem::GroupNameTaken {
            group: department.id.clone(),
            name: name.to_string(),
            used: used.clone(),
            holder: tree.department(tree.groups[holder]).id.clone(),
        });
        names.push(CompactString::from(used.as_str()));
    }
    names
}

/// The names from the top of the scope down to the department, joined with ` / `. A parent
/// outside the scope ends the path; a loop in the parents (bad upstream data) ends it too.
fn path(tree: &Tree<'_>, pos: u32) -> CompactString {
    let mut path = CompactString::default();
    for (n, pos) in tree.ancestry(pos).into_iter().rev().enumerate() {
        if n > 0 {
            path.push_str(PATH_SEPARATOR);
        }
        path.push_str(&tree.department(pos).name);
    }
    path
}
