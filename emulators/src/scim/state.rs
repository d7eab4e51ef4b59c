//! State shared by the HTTP handlers and the test-side [`ScimHandle`](super::ScimHandle).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{Method, StatusCode};

use super::error::ScimError;
use super::store::{Rules, Store};
use super::{ScimConfig, ScimCounters, ScimFaults};

pub(crate) struct Shared {
    pub(crate) config: ScimConfig,
    pub(crate) base_url: String,
    store: Mutex<Store>,
    faults: Mutex<FaultPlan>,
    counters: Counters,
}

impl Shared {
    /// The User attributes served beyond the ones always stored.
    pub(crate) fn known(&self) -> super::schema::Known<'_> {
        super::schema::Known(&self.config.user_attributes)
    }

    pub(crate) fn new(config: ScimConfig, base_url: String) -> Self {
        Self {
            config,
            base_url,
            store: Mutex::default(),
            faults: Mutex::default(),
            counters: Counters::default(),
        }
    }

    /// The store, locked. Handlers never hold it across an `.await`.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn rules(&self) -> Rules {
        Rules {
            unique_emails: self.config.unique_emails,
            guard: self.config.manager_guard,
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Installs new faults and restarts their write count, so "every n-th" counts from now.
    pub(crate) fn set_faults(&self, faults: ScimFaults) {
        *lock(&self.faults) = FaultPlan {
            faults,
            ..FaultPlan::default()
        };
    }

    /// The deepest `startIndex` a list request may ask for, if paging is limited.
    pub(crate) fn max_start_index(&self) -> Option<usize> {
        lock(&self.faults).faults.max_start_index
    }

    pub(crate) fn plan_request(&self, is_write: bool) -> Planned {
        lock(&self.faults).plan(is_write)
    }
}

/// A poisoned lock only means another request panicked mid-way; the data is still the last state
/// a request left, so keep serving rather than failing every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the fault injector decided for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Wait this long before handling the request.
    pub(crate) delay: Duration,
    pub(crate) action: FaultAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FaultAction {
    Serve,
    /// Answer this error without touching the store.
    Fail(ScimError),
    /// Apply the write, then wait this long before answering.
    ApplyThenStall(Duration),
}

#[derive(Debug, Default)]
struct FaultPlan {
    faults: ScimFaults,
    /// Write requests seen since the faults were set; the n-th write is number n.
    writes: u64,
    /// 5xx answers injected so far, to rotate through 500, 502 and 503.
    injected_5xx: u64,
}

impl FaultPlan {
    fn plan(&mut self, is_write: bool) -> Planned {
        let delay = self.faults.delay;
        if !is_write {
            return Planned {
                delay,
                action: FaultAction::Serve,
            };
        }
        self.writes += 1;
        let n = self.writes;
        let hits =
            |every: Option<u64>| every.is_some_and(|every| every > 0 && n.is_multiple_of(every));
        let action = if hits(self.faults.http_5xx_every) {
            let status = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ][(self.injected_5xx % 3) as usize];
            self.injected_5xx += 1;
            FaultAction::Fail(ScimError::new(
                status,
                format!("injected fault: write #{n} failed"),
            ))
        } else if hits(self.faults.status_429_every) {
            FaultAction::Fail(ScimError {
                retry_after: Some(1),
                ..ScimError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("injected fault: write #{n} throttled"),
                )
            })
        } else if hits(self.faults.apply_then_timeout_every) {
            FaultAction::ApplyThenStall(self.faults.delay_after_apply)
        } else {
            FaultAction::Serve
        };
        Planned { delay, action }
    }
}

/// Request and answer counts, readable while the server runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    gets: AtomicU64,
    posts: AtomicU64,
    puts: AtomicU64,
    patches: AtomicU64,
    deletes: AtomicU64,
    conflicts: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    pub(crate) fn count_request(&self, method: &Method) {
        let counter = match *method {
            Method::GET => &self.gets,
            Method::POST => &self.posts,
            Method::PUT => &self.puts,
            Method::PATCH => &self.patches,
            Method::DELETE => &self.deletes,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// 409s are counted as conflicts only; every other 4xx/5xx as an error.
    pub(crate) fn count_answer(&self, status: StatusCode) {
        if status == StatusCode::CONFLICT {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        } else if status.is_client_error() || status.is_server_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> ScimCounters {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ScimCounters {
            gets: read(&self.gets),
            posts: read(&self.posts),
            puts: read(&self.puts),
            patches: read(&self.patches),
            deletes: read(&self.deletes),
            conflicts: read(&self.conflicts),
            errors: read(&self.errors),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.gets,
            &self.posts,
            &self.puts,
            &self.patches,
            &self.deletes,
            &self.conflicts,
            &self.errors,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_count_writes_only_and_rotate_5xx() {
        let mut plan = FaultPlan {
            faults: ScimFaults {
                http_5xx_every: Some(2),
                status_429_every: Some(3),
                ..ScimFaults::default()
            },
            ..FaultPlan::default()
        };
        let statuses: Vec<Option<StatusCode>> = (0..6)
            .map(|_| {
                assert_eq!(plan.plan(false).action, FaultAction::Serve);
                match plan.plan(true).action {
                    FaultAction::Fail(err) => Some(err.status),
                    _ => None,
                }
            })
            .collect();
        assert_eq!(
            statuses,
            [
                None,
                Some(StatusCode::INTERNAL_SERVER_ERROR),
                Some(StatusCode::TOO_MANY_REQUESTS),
                Some(StatusCode::BAD_GATEWAY),
                None,
                Some(StatusCode::SERVICE_UNAVAILABLE),
            ]
        );
    }
}
