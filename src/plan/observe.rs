//! Reading the target's actual accounts: for a first sync against a target that already has people
//! (adoption) and for `--full` runs that repair edits made directly in the target (drift).

use super::policy::{MatchBy, Policy, UserNameSource};
use super::step::Step;
use crate::model::{Directory, Field, Problem, TargetAccount, TargetId, UserKey};
use crate::snapshot::{AppliedUser, Snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the target holds, seen through orgsync's eyes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Accounts already linked (by externalId) to people orgsync manages: the target's truth.
    pub linked: Snapshot,
    /// `Step::Adopt` for each unlinked account matched to exactly one person.
    pub adoptions: Vec<Step>,
    pub problems: Vec<Problem>,
}

impl Observed {
    /// What to plan against: the linked accounts plus the ones about to be adopted.
    pub fn baseline(&self) -> Snapshot {
        with_adoptions(&self.linked, &self.adoptions)
    }
}

/// `linked` plus the accounts the `Adopt` steps among `steps` take over: what a plan made against
/// the target's accounts was computed against (and what a saved plan's guard is judged on).
pub fn with_adoptions(linked: &Snapshot, steps: &[Step]) -> Snapshot {
    let mut baseline = linked.clone();
    for step in steps {
        if let Step::Adopt { user, account, .. } = step {
            baseline.users.insert(user.clone(), (**account).clone());
        }
    }
    baseline
}

pub fn observe(
    stored: &Snapshot,
    directory: &Directory,
    accounts: &[TargetAccount],
    policy: &Policy,
) -> Observed {
    let ours: BTreeSet<&UserKey> = stored
        .users
        .keys()
        .chain(directory.users.keys())
        .chain(directory.held.iter())
        .collect();
    link(stored, directory, accounts, policy, |key| {
        ours.contains(key)
    })
}

/// The snapshot rebuilt from the target (`orgsync snapshot rebuild`): an account is linked when
/// its externalId is a key of this pull (or of what is left of the stored snapshot); one whose
/// key orgsync never had belongs to another system and is left out, or the next sync would
/// remove it as "no longer in scope". The grace-period clocks the stored snapshot knows are
/// kept. Nothing is adopted by matching.
pub fn rebuild(stored: &Snapshot, directory: &Directory, accounts: &[TargetAccount]) -> Observed {
    let policy = Policy {
        match_by: MatchBy::None,
        ..Policy::default()
    };
    observe(stored, directory, accounts, &policy)
}

fn link(
    stored: &Snapshot,
    directory: &Directory,
    accounts: &[TargetAccount],
    policy: &Policy,
    ours: impl Fn(&UserKey) -> bool,
) -> Observed {
    let mut problems = Vec::new();

    // Linked accounts; several carrying one key is a target-side duplicate: keep the lowest id.
    let mut by_key: BTreeMap<&UserKey, Vec<&TargetAccount>> = BTreeMap::new();
    for account in accounts {
        if let Some(key) = account.external_id.as_ref().filter(|k| ours(k)) {
            by_key.entry(key).or_default().push(account);
        }
    }
    let mut linked: BTreeMap<&UserKey, &TargetAccount> = BTreeMap::new();
    for (key, mut candidates) in by_key {
        candidates.sort_by(|a, b| a.id.cmp(&b.id));
        if candidates.len() > 1 {
            problems.push(Problem::DuplicateAccounts {
                user: key.clone(),
                accounts: candidates.iter().map(|a| a.id.to_string()).collect(),
            });
        }
        linked.insert(key, candidates[0]);
    }

    let adopted = match_unlinked(directory, accounts, &linked, policy, &mut problems);

    let mut key_of: HashMap<&TargetId, &UserKey> = HashMap::new();
    for (key, account) in linked.iter().chain(adopted.iter().map(|(k, a, _)| (k, a))) {
        key_of.insert(&account.id, key);
    }
    let applied = |key: &UserKey, account: &TargetAccount| AppliedUser {
        target_id: account.id.clone(),
        attributes: account.attributes.clone(),
        active: account.active,
        manager: account.manager.as_ref().map(|m| match key_of.get(m) {
            Some(manager) => (*manager).clone(),
            // A manager orgsync does not manage: a key no upstream id has, so the plan clears it.
            None => UserKey::new(format!("(target account {m})")),
        }),
        deactivated_at: (!account.active)
            .then(|| stored.users.get(key).and_then(|u| u.deactivated_at))
            .flatten(),
    };

    let mut observed = Observed {
        problems,
        ..Observed::default()
    };
    for (key, account) in &linked {
        observed
            .linked
            .users
            .insert((*key).clone(), applied(key, account));
    }
    for (key, account, matched_by) in &adopted {
        observed.adoptions.push(Step::Adopt {
            user: (*key).clone(),
            account: Box::new(applied(key, account)),
            matched_by: *matched_by,
        });
    }
    observed
}

/// Unlinked accounts whose match attribute equals exactly one person's, and no other account's.
fn match_unlinked<'a>(
    directory: &'a Directory,
    accounts: &'a [TargetAccount],
    linked: &BTreeMap<&'a UserKey, &'a TargetAccount>,
    policy: &Policy,
    problems: &mut Vec<Problem>,
) -> Vec<(&'a UserKey, &'a TargetAccount, Field)> {
    let field = match policy.match_by {
        MatchBy::Email => Field::Email,
        MatchBy::UserName => Field::UserName,
        MatchBy::None => return Vec::new(),
    };
    let mut accounts_by_value: HashMap<String, Vec<&TargetAccount>> = HashMap::new();
    for account in accounts.iter().filter(|a| a.external_id.is_none()) {
        if let Some(value) = account.attributes.get(field) {
            accounts_by_value
                .entry(value.to_lowercase())
                .or_default()
                .push(account);
        }
    }
    let paths = super::desired::DepartmentPaths::new(directory, policy);
    let value_of = |key: &UserKey| -> Option<String> {
        let user = directory.users.get(key)?;
        // A mapped userName or email is matched as the mapping makes it.
        if let Some((expr, _)) = policy.mapping.expression(field) {
            let subject = super::desired::subject(user, directory, policy, &paths);
            return expr.eval(&subject).map(|v| v.to_lowercase());
        }
        let value = match (field, policy.user_name) {
            (Field::UserName, UserNameSource::Key) => Some(key.as_str()),
            _ => user.email.as_deref(),
        };
        value.map(|v| v.to_lowercase())
    };
    let mut people_by_value: HashMap<String, Vec<&UserKey>> = HashMap::new();
    for key in directory
        .users
        .keys()
        .filter(|k| !linked.contains_key(k) && !directory.held.contains(*k))
    {
        if let Some(value) = value_of(key) {
            people_by_value.entry(value).or_default().push(key);
        }
    }

    let mut adopted = Vec::new();
    let mut values: Vec<_> = people_by_value.into_iter().collect();
    values.sort();
    for (value, people) in values {
        let Some(candidates) = accounts_by_value.get(&value) else {
            continue;
        };
        if let ([person], [account]) = (people.as_slice(), candidates.as_slice()) {
            adopted.push((*person, *account, field));
            continue;
        }
        for person in people {
            problems.push(Problem::AmbiguousMatch {
                user: person.clone(),
                attribute: field.as_str().to_owned(),
                value: value.clone(),
                accounts: candidates.iter().map(|a| a.id.to_string()).collect(),
            });
        }
    }
    adopted
}
