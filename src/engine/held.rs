//! Why a step was not attempted: a closed set of causes the engine classifies by type. In a
//! report each renders as the sentence an admin reads, and the JSON `reason` is that sentence,
//! read back into its cause (docs/report-schema.md is unchanged).

use crate::model::{DepartmentId, UserKey};
use std::fmt;

/// Reports listed by name when a removal is held; the rest are counted.
const REPORTS_SHOWN: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum HeldReason {
    /// orgsync was shutting down; the next run applies it.
    Stopped,
    /// The circuit breaker tripped after this many failures in a row.
    Breaker { consecutive_failures: usize },
    /// The step needs `user`'s account, which an earlier step failed to create.
    DependsOnFailedStep { user: UserKey },
    /// The step needs the department's group, which an earlier step failed to create.
    DependsOnFailedGroup { group: DepartmentId },
    /// `user` is about to be removed while these people still report to them (unlinking them
    /// failed); `more` reports beyond those named.
    StillManaging {
        user: UserKey,
        reports: Vec<UserKey>,
        more: usize,
    },
}

impl HeldReason {
    /// Names at most a few of `reports`, counting the rest.
    pub(crate) fn still_managing(user: &UserKey, reports: &[&UserKey]) -> Self {
        HeldReason::StillManaging {
            user: user.clone(),
            reports: reports
                .iter()
                .take(REPORTS_SHOWN)
                .map(|k| (*k).clone())
                .collect(),
            more: reports.len().saturating_sub(REPORTS_SHOWN),
        }
    }
}

const STOPPED: &str = "orgsync was shutting down; the next run applies it";
const BREAKER_PREFIX: &str = "not attempted: the target failed ";
const BREAKER_SUFFIX: &str = " steps in a row (circuit breaker); the next run applies it";
const DEPENDS_SUFFIX: &str = " is not in the target (an earlier step for them failed)";
const GROUP_PREFIX: &str = "the group of department ";
const GROUP_SUFFIX: &str = " is not in the target (an earlier step for it failed)";
const MANAGING_SUFFIX: &str = " in the target (unlinking failed)";
/// One report named alone "reports"; several, or some counted, "report".
const MANAGING_MIDDLE: [&str; 2] = [" still reports to ", " still report to "];

impl fmt::Display for HeldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldReason::Stopped => f.write_str(STOPPED),
            HeldReason::Breaker {
                consecutive_failures,
            } => write!(f, "{BREAKER_PREFIX}{consecutive_failures}{BREAKER_SUFFIX}"),
            HeldReason::DependsOnFailedStep { user } => write!(f, "{user}{DEPENDS_SUFFIX}"),
            HeldReason::DependsOnFailedGroup { group } => {
                write!(f, "{GROUP_PREFIX}{group}{GROUP_SUFFIX}")
            }
            HeldReason::StillManaging {
                user,
                reports,
                more,
            } => {
                let names: Vec<&str> = reports.iter().map(UserKey::as_str).collect();
                write!(f, "{}", names.join(", "))?;
                if *more > 0 {
                    write!(f, " and {more} more")?;
                }
                let verb = MANAGING_MIDDLE[usize::from(reports.len() > 1 || *more > 0)];
                write!(f, "{verb}{user}{MANAGING_SUFFIX}")
            }
        }
    }
}

impl From<HeldReason> for String {
    fn from(reason: HeldReason) -> String {
        reason.to_string()
    }
}

impl TryFrom<String> for HeldReason {
    type Error = String;

    /// Reads a stored report's sentence back into its cause.
    fn try_from(text: String) -> Result<Self, String> {
        if text == STOPPED {
            return Ok(HeldReason::Stopped);
        }
        if let Some(n) = text
            .strip_prefix(BREAKER_PREFIX)
            .and_then(|rest| rest.strip_suffix(BREAKER_SUFFIX))
            .and_then(|n| n.parse().ok())
        {
            return Ok(HeldReason::Breaker {
                consecutive_failures: n,
            });
        }
        if let Some(group) = text
            .strip_prefix(GROUP_PREFIX)
            .and_then(|rest| rest.strip_suffix(GROUP_SUFFIX))
        {
            return Ok(HeldReason::DependsOnFailedGroup {
                group: DepartmentId::new(group),
            });
        }
        if let Some(user) = text.strip_suffix(DEPENDS_SUFFIX) {
            return Ok(HeldReason::DependsOnFailedStep {
                user: UserKey::new(user),
            });
        }
        if let Some((names, user)) = text.strip_suffix(MANAGING_SUFFIX).and_then(|rest| {
            MANAGING_MIDDLE
                .iter()
                .find_map(|middle| rest.rsplit_once(middle))
        }) {
            let (names, more) = match names.rsplit_once(" and ") {
                Some((names, more)) => match more.strip_suffix(" more").map(str::parse) {
                    Some(Ok(more)) => (names, more),
                    _ => (names, 0),
                },
                None => (names, 0),
            };
            return Ok(HeldReason::StillManaging {
                user: UserKey::new(user),
                reports: names.split(", ").map(UserKey::new).collect(),
                more,
            });
        }
        Err(format!("not a known reason for a held step: {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_sentence() {
        let keys = |names: &[&str]| names.iter().map(|n| UserKey::new(*n)).collect::<Vec<_>>();
        for reason in [
            HeldReason::Stopped,
            HeldReason::Breaker {
                consecutive_failures: 5,
            },
            HeldReason::DependsOnFailedStep {
                user: UserKey::new("wang wei"),
            },
            HeldReason::DependsOnFailedGroup {
                group: DepartmentId::new("12"),
            },
            HeldReason::StillManaging {
                user: UserKey::new("wang"),
                reports: keys(&["zhou.ming"]),
                more: 0,
            },
            HeldReason::StillManaging {
                user: UserKey::new("boss"),
                reports: keys(&["a", "b", "c", "d", "e"]),
                more: 3,
            },
        ] {
            let json = serde_json::to_value(&reason).unwrap();
            assert_eq!(json, serde_json::Value::String(reason.to_string()));
            let back: HeldReason = serde_json::from_value(json).unwrap();
            assert_eq!(back, reason);
        }
        assert!(serde_json::from_str::<HeldReason>("\"something else\"").is_err());
    }

    #[test]
    fn sentences_are_the_ones_reports_always_had() {
        assert_eq!(
            HeldReason::Breaker {
                consecutive_failures: 3
            }
            .to_string(),
            "not attempted: the target failed 3 steps in a row (circuit breaker); the next run applies it"
        );
        let reports: Vec<UserKey> = ["a", "b", "c", "d", "e", "f", "g"]
            .into_iter()
            .map(UserKey::new)
            .collect();
        let reports: Vec<&UserKey> = reports.iter().collect();
        assert_eq!(
            HeldReason::still_managing(&UserKey::new("boss"), &reports).to_string(),
            "a, b, c, d, e and 2 more still report to boss in the target (unlinking failed)"
        );
    }
}
