//! Applying a plan: phase by phase, steps of one phase concurrently, every acknowledged step
//! recorded in the snapshot in durable batches.

use super::{HeldReason, groups};
use crate::model::{Attributes, FieldChange, TargetId, UserKey};
use crate::plan::{self, Phase, Step};
use crate::pushers::{PushError, Pusher};
use crate::snapshot::{Snapshot, SnapshotChange, SnapshotError, SnapshotStore};
use futures_util::{StreamExt, stream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing::{debug, warn};

/// Acknowledged steps are flushed to the snapshot at least this often.
const COMMIT_BATCH: usize = 200;

/// What happened to one planned step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepOutcome {
    /// Dry-run: nothing was attempted.
    Planned,
    Applied,
    Failed {
        error: String,
    },
    /// Not attempted: shutdown, the circuit breaker, or an earlier step it depends on failed.
    Held {
        reason: HeldReason,
    },
}

/// A step resolved against the target's ids, ready to send.
enum Op {
    Link {
        id: TargetId,
        key: UserKey,
    },
    Create {
        key: UserKey,
        attributes: Attributes,
        active: bool,
    },
    Update {
        id: TargetId,
        changes: Vec<FieldChange>,
    },
    SetManager {
        id: TargetId,
        manager: Option<TargetId>,
    },
    SetActive {
        id: TargetId,
        active: bool,
    },
    Delete {
        id: TargetId,
    },
    /// A group step (groups.rs).
    Group(super::groups::GroupOp),
}

pub(super) struct Applier<'a, P, S> {
    pub(super) pusher: &'a P,
    pub(super) store: &'a std::sync::Arc<S>,
    pub(super) connector: &'a str,
    pub(super) concurrency: usize,
    /// The plan was made against the target's accounts as listed in this run, so people to
    /// create are known not to be there: no lookup before each create.
    pub(super) target_listed: bool,
    /// Once true, no new step starts; steps in flight finish and are recorded.
    pub(super) stop: &'a tokio::sync::watch::Receiver<bool>,
    pub(super) context: &'a super::RunContext,
    pub(super) breaker: Breaker,
}

/// Counts target failures in a row; once `limit` is reached no new step starts (steps in flight
/// finish and are recorded). Per-person failures (a 409 for one account) are isolated as long as
/// successes come between them; a target that fails everything stops the run early.
pub(super) struct Breaker {
    limit: usize,
    consecutive: AtomicUsize,
    /// The run of failures that tripped it, once tripped.
    tripped_at: AtomicUsize,
}

impl Breaker {
    /// `limit` 0 never trips.
    pub(super) fn new(limit: usize) -> Self {
        Breaker {
            limit,
            consecutive: AtomicUsize::new(0),
            tripped_at: AtomicUsize::new(0),
        }
    }

    fn record(&self, ok: bool) {
        if ok {
            self.consecutive.store(0, Ordering::Relaxed);
            return;
        }
        let run = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if self.limit > 0 && run >= self.limit && self.tripped().is_none() {
            self.tripped_at.store(run, Ordering::Relaxed);
        }
    }

    /// The number of failures in a row that tripped the breaker, if it tripped.
    pub(super) fn tripped(&self) -> Option<usize> {
        match self.tripped_at.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }
}

impl<P: Pusher, S: SnapshotStore> Applier<'_, P, S> {
    /// Applies `steps` (sorted by phase) starting from `snapshot`, which it keeps equal to what the
    /// target acknowledged. Returns one outcome per step, in plan order.
    pub(super) async fn apply(
        &self,
        steps: &[Step],
        snapshot: &mut Snapshot,
    ) -> Result<Vec<StepOutcome>, SnapshotError> {
        let mut outcomes = vec![StepOutcome::Planned; steps.len()];
        let mut pending = Vec::new();
        let mut start = 0;
        while start < steps.len() {
            if let Some(reason) = self.halted() {
                for outcome in &mut outcomes[start..] {
                    *outcome = StepOutcome::Held {
                        reason: reason.clone(),
                    };
                }
                break;
            }
            let phase = steps[start].phase();
            let end = steps[start..]
                .iter()
                .position(|s| s.phase() != phase)
                .map_or(steps.len(), |n| start + n);
            self.apply_phase(steps, start..end, snapshot, &mut outcomes, &mut pending)
                .await?;
            // Each phase's results are durable before the next phase builds on them.
            super::storage::commit(self.store, self.connector, std::mem::take(&mut pending))
                .await?;
            start = end;
        }
        Ok(outcomes)
    }

    /// Why no new step may start, if one may not: shutdown or the circuit breaker.
    fn halted(&self) -> Option<HeldReason> {
        if *self.stop.borrow() {
            return Some(HeldReason::Stopped);
        }
        self.breaker
            .tripped()
            .map(|consecutive_failures| HeldReason::Breaker {
                consecutive_failures,
            })
    }

    async fn apply_phase(
        &self,
        steps: &[Step],
        range: std::ops::Range<usize>,
        snapshot: &mut Snapshot,
        outcomes: &mut [StepOutcome],
        pending: &mut Vec<SnapshotChange>,
    ) -> Result<(), SnapshotError> {
        let reports = reports_index(snapshot, steps[range.start].phase());
        let mut ops = Vec::new();
        for index in range.clone() {
            match resolve(&steps[index], snapshot, &reports) {
                Ok(op) => ops.push((index, op)),
                Err(reason) => {
                    // Ids only: a step's values are people's data (the report has them).
                    let step = &steps[index];
                    debug!(step = %step.kind(), subject = %step.subject(), %reason, "Step held back.");
                    outcomes[index] = StepOutcome::Held { reason };
                    self.context.publish(|p| p.done += 1);
                }
            }
        }
        let stop = self.stop.clone();
        let breaker = &self.breaker;
        let mut results = stream::iter(ops)
            .take_while(move |_| std::future::ready(!*stop.borrow() && breaker.tripped().is_none()))
            .map(|(index, op)| async move { (index, self.execute(op).await) })
            .buffer_unordered(self.concurrency);
        while let Some((index, result)) = results.next().await {
            self.context.publish(|p| p.done += 1);
            let step = &steps[index];
            self.breaker.record(result.is_ok());
            match result {
                Ok(target_id) => {
                    let change =
                        plan::snapshot_change(step, snapshot, target_id, jiff::Timestamp::now());
                    snapshot.apply(change.clone());
                    pending.push(change);
                    outcomes[index] = StepOutcome::Applied;
                    if pending.len() >= COMMIT_BATCH {
                        super::storage::commit(self.store, self.connector, std::mem::take(pending))
                            .await?;
                    }
                }
                Err(error) => {
                    // Ids and the kind of error only: the step's values and the target's words
                    // are people's data. The report has both.
                    warn!(connector = self.connector, step = %step.kind(), subject = %step.subject(), error = %error.for_log(), "The target refused a step; the others go on (the run's report has the target's answer).");
                    outcomes[index] = StepOutcome::Failed {
                        error: error.to_string(),
                    };
                }
            }
        }
        // Steps the stop or the breaker kept from starting.
        let reason = self.halted().unwrap_or(HeldReason::Stopped);
        for outcome in &mut outcomes[range] {
            if *outcome == StepOutcome::Planned {
                *outcome = StepOutcome::Held {
                    reason: reason.clone(),
                };
            }
        }
        Ok(())
    }

    async fn execute(&self, op: Op) -> Result<Option<TargetId>, PushError> {
        match op {
            Op::Link { id, key } => self.pusher.link(&id, &key).await.map(|_| None),
            Op::Create {
                key,
                attributes,
                active,
            } if self.target_listed => self
                .pusher
                .create_unlisted(&key, &attributes, active)
                .await
                .map(Some),
            Op::Create {
                key,
                attributes,
                active,
            } => self
                .pusher
                .create(&key, &attributes, active)
                .await
                .map(Some),
            Op::Update { id, changes } => self.pusher.update(&id, &changes).await,
            Op::SetManager { id, manager } => self
                .pusher
                .set_manager(&id, manager.as_ref())
                .await
                .map(|_| None),
            Op::SetActive { id, active } => self.pusher.set_active(&id, active).await,
            Op::Delete { id } => self.pusher.delete(&id).await.map(|_| None),
            Op::Group(op) => op.execute(self.pusher).await,
        }
    }
}

/// Turns a step into a target operation using the ids the target acknowledged so far. A step
/// whose preconditions do not hold (its person or manager never made it into the target, or
/// someone still reports to a person about to be removed) is held back with the reason.
fn resolve(step: &Step, snapshot: &Snapshot, reports: &ReportsIndex) -> Result<Op, HeldReason> {
    let id_of = |key: &UserKey| {
        snapshot
            .users
            .get(key)
            .map(|u| u.target_id.clone())
            .ok_or_else(|| HeldReason::DependsOnFailedStep { user: key.clone() })
    };
    Ok(match step {
        Step::Adopt { user, account, .. } => Op::Link {
            id: account.target_id.clone(),
            key: user.clone(),
        },
        Step::Create {
            user,
            attributes,
            active,
        } => Op::Create {
            key: user.clone(),
            attributes: (**attributes).clone(),
            active: *active,
        },
        Step::FreeValues { user, changes } | Step::Update { user, changes } => Op::Update {
            id: id_of(user)?,
            changes: changes.clone(),
        },
        Step::Reactivate { user } => Op::SetActive {
            id: id_of(user)?,
            active: true,
        },
        Step::SetManager { user, manager, .. } => Op::SetManager {
            id: id_of(user)?,
            manager: Some(id_of(manager)?),
        },
        Step::ClearManager { user, .. } => Op::SetManager {
            id: id_of(user)?,
            manager: None,
        },
        Step::Deactivate { user, .. } => {
            still_managing(user, reports)?;
            Op::SetActive {
                id: id_of(user)?,
                active: false,
            }
        }
        Step::Delete { user, .. } => {
            still_managing(user, reports)?;
            Op::Delete { id: id_of(user)? }
        }
        Step::CreateGroup { group, attributes } => {
            Op::Group(groups::create(snapshot, group, attributes)?)
        }
        Step::UpdateGroup { group, after, .. } => {
            Op::Group(groups::update(snapshot, group, after)?)
        }
        Step::AddMembers { group, members } => {
            Op::Group(groups::add_members(snapshot, group, members)?)
        }
        Step::RemoveMembers { group, members } => {
            Op::Group(groups::remove_members(snapshot, group, members)?)
        }
        Step::DeleteGroup { group, .. } => Op::Group(groups::delete(snapshot, group)?),
    })
}

/// Who reports to whom in the target, built only for the phases that remove people.
type ReportsIndex<'a> = HashMap<&'a UserKey, Vec<&'a UserKey>>;

fn reports_index(snapshot: &Snapshot, phase: Phase) -> ReportsIndex<'_> {
    let mut index: ReportsIndex<'_> = HashMap::new();
    if matches!(phase, Phase::Deactivate | Phase::Delete) {
        for (key, user) in &snapshot.users {
            if let Some(manager) = &user.manager {
                index.entry(manager).or_default().push(key);
            }
        }
    }
    index
}

fn still_managing(user: &UserKey, reports: &ReportsIndex) -> Result<(), HeldReason> {
    match reports.get(user) {
        None => Ok(()),
        Some(keys) => Err(HeldReason::still_managing(user, keys)),
    }
}
