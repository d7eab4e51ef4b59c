use super::*;
use crate::plan::Step;
use crate::report::fixture::sample;

#[test]
fn a_report_compared_with_itself_has_no_differences() {
    let r = sample();
    let c = compare(&r, &r);
    assert!(c.is_empty());
    // The sample's group adds two batches: one step for the comparison.
    assert_eq!(c.unchanged, r.steps.len() - 1);
    assert!(c.counts_delta.values().all(|d| *d == 0));
    assert!(render_comparison_text(&c, &RenderOptions::default()).contains("No differences"));
}

#[test]
fn steps_are_matched_by_kind_and_person() {
    let a = sample();
    let mut b = sample();
    // b: one step fewer (the delete), one new (a reactivation), one changed (another manager).
    b.steps.retain(|s| !matches!(s.step, Step::Delete { .. }));
    b.steps.push(a.steps[3].clone());
    if let Step::Reactivate { user } = &mut b.steps.last_mut().unwrap().step {
        *user = "returner".into();
    }
    for s in &mut b.steps {
        if let Step::SetManager { user, manager, .. } = &mut s.step
            && user.as_str() == "zhou.ming"
        {
            *manager = "ceo".into();
            s.manager_name = Some("陈总".into());
        }
    }
    b.counts = crate::plan::counts(&b.steps.iter().map(|s| s.step.clone()).collect::<Vec<_>>());
    b.skipped_links.pop();

    let c = compare(&a, &b);
    let users = |steps: &[StepReport]| -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{} {}", s.step.kind(), s.step.subject()))
            .collect()
    };
    assert_eq!(users(&c.only_in_a), ["delete old"]);
    assert_eq!(users(&c.only_in_b), ["reactivate returner"]);
    assert_eq!(c.changed.len(), 1);
    assert_eq!(c.changed[0].b.step.subject().as_str(), "zhou.ming");
    assert_eq!(c.unchanged, a.steps.len() - 3);
    assert_eq!(c.counts_delta[&StepKind::Delete], -1);
    assert_eq!(c.counts_delta[&StepKind::Reactivate], 1);
    assert_eq!(c.counts_delta[&StepKind::SetManager], 0);
    assert_eq!(c.skipped_links_only_in_a.len(), 1);
    assert!(c.skipped_links_only_in_b.is_empty());

    let text = render_comparison_text(&c, &RenderOptions::default());
    assert!(text.contains("Only in a: Delete (1)"), "{text}");
    assert!(
        text.contains("manager: 林晓 (lin.xiao) → (none)") || text.contains("陈总 (ceo)"),
        "{text}"
    );
    let md = render_comparison_markdown(&c, &RenderOptions::default());
    assert!(md.contains("## Changed (1)"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render_comparison_json(&c)).unwrap();
    assert_eq!(json["counts_delta"]["delete"], -1);
    assert_eq!(json["only_in_b"][0]["user"], "returner");
}

#[test]
fn outcomes_alone_do_not_make_a_step_changed() {
    let a = sample();
    let b = crate::report::fixture::applied_sample();
    let c = compare(&a, &b);
    assert!(c.changed.is_empty() && c.only_in_a.is_empty() && c.only_in_b.is_empty());
}

#[test]
fn duplicate_keys_pair_in_order() {
    let a = sample();
    let mut b = sample();
    let extra = b.steps[2].clone();
    b.steps.insert(2, extra);
    let c = compare(&a, &b);
    assert_eq!(c.only_in_b.len(), 1);
    assert_eq!(c.unchanged, a.steps.len() - 1);
}

/// Batches of a group's new members, as the planner cuts them (200 a step).
fn adds(group: &str, keys: std::ops::Range<usize>) -> Vec<StepReport> {
    let keys: Vec<crate::model::UserKey> = keys
        .map(|i| crate::model::UserKey::new(format!("p{i:04}")))
        .collect();
    keys.chunks(crate::plan::MEMBER_BATCH)
        .map(|batch| StepReport {
            step: Step::AddMembers {
                group: group.into(),
                members: batch.to_vec(),
            },
            name: Some(format!("group {group}")),
            manager_name: None,
            previous_manager_name: None,
            outcome: crate::engine::StepOutcome::Planned,
        })
        .collect()
}

#[test]
fn a_groups_member_batches_compare_as_one_step() {
    let mut a = sample();
    let mut b = sample();
    a.steps.extend(adds("70", 0..250));
    // One person fewer at the start shifts every batch's boundary: still one changed step.
    b.steps.extend(adds("70", 1..251));
    // The same members in other batch sizes are the same step.
    a.steps.extend(adds("71", 0..300));
    let mut other_cut = adds("71", 0..300);
    let moved = other_cut[1].step.clone();
    if let (Step::AddMembers { members: first, .. }, Step::AddMembers { members: rest, .. }) =
        (&mut other_cut[0].step, moved)
    {
        first.extend(rest);
    }
    other_cut.truncate(1);
    b.steps.extend(other_cut);

    let c = compare(&a, &b);
    assert!(c.only_in_a.is_empty() && c.only_in_b.is_empty(), "{c:#?}");
    assert_eq!(c.changed.len(), 1);
    let Step::AddMembers { group, members } = &c.changed[0].b.step else {
        panic!("{:?}", c.changed[0].b.step)
    };
    assert_eq!((group.as_str(), members.len()), ("70", 250));
    let text = render_comparison_text(&c, &RenderOptions::default());
    assert!(
        text.contains("members: 250; not in b: p0000")
            && text.contains("members: 250; not in a: p0250"),
        "{text}"
    );
    assert_eq!(c.unchanged, sample().steps.len() - 1 + 1);
}
