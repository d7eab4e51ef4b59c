//! The only place that sequences a run: pull → plan → guard → apply → commit → report.

mod apply;
mod connector;
mod groups;
mod held;
mod lookup;
mod options;
mod people;
mod progress;
mod rebuild;
mod refused;
mod review;
mod run;
mod saved;
mod storage;

pub use apply::StepOutcome;
pub use connector::{BuildError, Connector, build_pusher};
pub use held::HeldReason;
pub use lookup::find_people;
pub use options::{Approval, Baseline, RunMode, RunOptions};
pub use progress::{Progress, RunContext, Stage};
pub use rebuild::{Rebuild, RebuildError, Rebuilt, Unmanaged};
pub use review::Explained;
pub use run::{Engine, Reached, RunError, start_report};
pub use saved::{
    PlanFileError, SavedPlan, VerifiedPlan, plan_connector, snapshot_digest, verify_plan,
};
