//! The platform-neutral picture of a company's directory. No IO, nothing that can fail.
//!
//! Pullers convert each upstream's wire types into these; the planner, pushers and reports only
//! ever see these.

mod attributes;
mod check;
mod directory;
mod group;
mod ids;
mod problem;
mod profile;
mod target;
mod user;

pub use attributes::{AttrName, Attributes, Field, FieldChange};
pub use check::Checked;
pub use directory::{Department, Directory, Scope};
pub use group::GroupAttributes;
pub use ids::{DepartmentId, TargetId, UserKey};
pub use problem::{Problem, RosterFallback, Wait};
pub use profile::{Profile, ProfileField, ProfileKey};
pub use target::TargetAccount;
pub use user::{Status, User};
