//! What a credentials check before a run (or `orgsync check-config --online`) established.

use std::fmt;

/// The outcome of a check that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The credentials were used and accepted, e.g. "5 people, 2 departments in scope".
    Verified(String),
    /// There is nothing to check without side effects; the reason says why.
    NotChecked(&'static str),
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checked::Verified(detail) if detail.is_empty() => f.write_str("ok"),
            Checked::Verified(detail) => write!(f, "ok: {detail}"),
            Checked::NotChecked(why) => write!(f, "not checked: {why}"),
        }
    }
}
