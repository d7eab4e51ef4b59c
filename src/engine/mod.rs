//! The only place that sequences a run: pull → plan → apply → commit → report.

mod apply;
mod connector;
mod run;
mod saved;

pub use apply::StepOutcome;

pub use connector::{BuildError, Connector};
pub use run::{Approval, Baseline, Engine, Explained, RunError, RunMode, RunOptions};
pub use saved::{SavedPlan, snapshot_digest};
