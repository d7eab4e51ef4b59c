use std::process::ExitCode;

/// Exit codes, documented in the README so scripts and systemd can tell failures apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; for a sync, every step was acknowledged.
    Ok = 0,
    /// The run failed or some steps failed; the report says which.
    RunFailed = 1,
    /// The configuration is invalid or a secret cannot be read.
    Config = 3,
    /// The state directory cannot be used (locked by another process, unreadable, corrupt).
    State = 4,
    /// The connector is already running.
    Busy = 5,
    /// The deletion guard refused the plan; nothing was written.
    Refused = 6,
    /// A reviewed plan no longer applies (the snapshot moved) or is not a plan for this connector.
    StalePlan = 7,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
