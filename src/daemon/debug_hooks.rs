//! Test-only faults for tests/daemon.rs, which drives the real binary: a run that panics and a
//! schedule that cannot be installed. No input can cause either on purpose (the bugs that did are
//! fixed), yet the daemon must survive both. Compiled into debug builds only, so no environment
//! can make a release binary misbehave; and environment variables rather than config keys, so a
//! deployment cannot set them by accident.

/// Names the connector whose every run panics.
const PANIC_RUN: &str = "ORGSYNC_DEBUG_PANIC_RUN";
/// Names the connector whose schedule cannot be installed.
const FAIL_SCHEDULE: &str = "ORGSYNC_DEBUG_FAIL_SCHEDULE";

fn names(variable: &str, connector: &str) -> bool {
    std::env::var(variable).is_ok_and(|name| name == connector)
}

/// Panics when [`PANIC_RUN`] names `connector`; called at the start of a run task.
pub(super) fn maybe_panic(connector: &str) {
    if names(PANIC_RUN, connector) {
        panic!("{PANIC_RUN} names connector {connector}");
    }
}

/// Whether installing `connector`'s schedule must fail.
pub(super) fn schedule_fails(connector: &str) -> bool {
    names(FAIL_SCHEDULE, connector)
}
