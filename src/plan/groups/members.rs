//! Who belongs to each group: the people of the pull whose disposition in this plan is present
//! and active, in the department itself (direct) or anywhere in its subtree (nested). Nobody
//! outside the pull is ever a member: a person the upstream no longer describes, an inactive
//! account kept as it was, or a held person is not added (a held person's recorded memberships
//! are left alone, like the rest of their account).

use super::super::desired::Desired;
use super::super::roster::{Index, Roster};
use super::Tree;
use crate::plan::GroupMembers;

/// Each group slot's members by roster index, in key order (people are visited in key order,
/// so each list comes out sorted without a sort).
pub(super) fn members(
    tree: &Tree<'_>,
    roster: &Roster<'_>,
    desired: &Desired<'_>,
    mode: GroupMembers,
) -> Vec<Vec<Index>> {
    // The groups a person of each department belongs to, worked out once per department: its own
    // group, and with nested members every group above it. A person then costs a lookup per
    // department they are in, whatever the depth of the tree, and no group walks its subtree.
    let chains: Vec<Vec<u32>> = (0..tree.ids.len() as u32)
        .map(|pos| match mode {
            GroupMembers::Direct => tree.slot[pos as usize].into_iter().collect(),
            GroupMembers::Nested => tree
                .ancestry(pos)
                .into_iter()
                .filter_map(|p| tree.slot[p as usize])
                .collect(),
        })
        .collect();
    let mut members: Vec<Vec<Index>> = vec![Vec::new(); tree.groups.len()];
    let mut slots: Vec<u32> = Vec::new();
    for (i, row) in roster.rows().iter().enumerate() {
        let Some(user) = row.upstream else { continue };
        if !desired.dispositions[i].is_active() {
            continue;
        }
        slots.clear();
        for department in &user.departments {
            if let Some(&pos) = tree.position.get(department) {
                slots.extend_from_slice(&chains[pos as usize]);
            }
        }
        // Two departments of one person may share a group above them.
        if user.departments.len() > 1 {
            slots.sort_unstable();
            slots.dedup();
        }
        for &slot in &slots {
            members[slot as usize].push(i as Index);
        }
    }
    members
}
