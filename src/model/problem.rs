use super::{DepartmentId, UserKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Something wrong or surprising in the upstream data. Problems never stop a run on their own; they
/// are reported so an admin can fix the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A member record without an id; it cannot be synced.
    EmptyUserId { department: DepartmentId },
    /// The same id came back twice with different contents; the first record was kept.
    ConflictingRecords { user: UserKey },
    /// A status code this version does not know; the person is held as they are in the target.
    UnknownStatus { user: UserKey, raw: String },
    /// A required field is missing or unusable; the person is held as they are in the target.
    MissingField { user: UserKey, field: String },
    /// A department names a parent that was not returned.
    MissingParentDepartment {
        department: DepartmentId,
        parent: DepartmentId,
    },
    /// Two people share one value of an attribute that must be unique in the target.
    DuplicateValue {
        attribute: String,
        value: String,
        users: Vec<UserKey>,
    },
    /// Several target accounts carry one upstream key; the lowest id is used, the others left alone.
    DuplicateAccounts {
        user: UserKey,
        accounts: Vec<String>,
    },
    /// An existing target account could be this person's, but the match is not unique; nothing
    /// was adopted for them.
    AmbiguousMatch {
        user: UserKey,
        attribute: String,
        value: String,
        accounts: Vec<String>,
    },
    /// A person would get a generated userName because the configured source field is empty.
    UserNameFallback { user: UserKey, attribute: String },
    /// A first sync to a target that cannot be listed by nature (a webhook receiver): accounts it
    /// may already hold were not looked for, so nobody was adopted.
    TargetNotListed { target: String },
    /// A part of the app's visible range (a tag, a department or a person it names) could not be
    /// read; what it holds was not pulled. `code` is the platform's answer.
    ScopeEntryUnreadable { entry: String, code: i64 },
    /// The platform refused the cheap list reads, so the pull read the simple lists and then each
    /// item one by one: the same directory for `extra_calls` more calls.
    ListReadsRefused {
        platform: String,
        refused: Vec<String>,
        instead: Vec<String>,
        extra_calls: u64,
    },
    /// DingTalk's HR roster could not be used for this run's managers and main departments:
    /// they were read with one `user/get` per person instead (said once per run).
    RosterFallback { reason: RosterFallback },
    /// Bitrix24 did not filter `user.search` on `CONFIRM_CODE` (an older portal), so invited
    /// people who have not accepted could not be told apart: they were pulled as active.
    InviteesNotDistinguished,
    /// Two departments' groups wanted one display name (compared without case); the group of
    /// the lower department id (`holder`) kept it and this one is named `used` instead.
    GroupNameTaken {
        group: DepartmentId,
        name: String,
        used: String,
        holder: DepartmentId,
    },
    /// The attribute mapping reads a custom field nobody in the pull has: the platform does not
    /// return it (a wrong name, or the app may not read it). Said once per run.
    CustomFieldMissing { field: String },
    /// A unique attribute's mapped value was taken, so this person got it numbered. The value is
    /// kept from then on: a later namesake never renames them.
    ValueNumbered {
        attribute: String,
        user: UserKey,
        wanted: String,
        given: String,
    },
    /// Values of one profile field (`custom.<name>` or a standard one such as `hire_date`) came
    /// in a form the puller cannot read as text; they were left out. Said once per field per
    /// run: `people` is how many had such a value, `example` the first of them.
    UnreadableField {
        field: String,
        people: u64,
        example: UserKey,
    },
    /// A run for a few people (`orgsync sync NAME --person KEY`) left out one of their changes
    /// (`step`, a step kind such as `create`) because it needs a change the run does not make; a
    /// full run makes both, in order.
    StepWaits {
        user: UserKey,
        step: String,
        waits_for: Wait,
    },
}

/// What a person's change waits for in a run for a few people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wait {
    /// `holder` gives the unique value up in this sync's full plan, a change of someone else.
    ValueRelease {
        attribute: String,
        value: String,
        holder: UserKey,
    },
    /// `holder`, whom this run did not read, has the unique value in the target: whether they
    /// keep it is for a run that reads them.
    ValueHeldByUnread {
        attribute: String,
        value: String,
        holder: UserKey,
    },
    /// The group is not in the target yet; creating groups is for a full run.
    GroupMissing { group: DepartmentId },
    /// Another step it needs waits too.
    Step { user: UserKey, step: String },
    /// People still report to the person, and this run does not move their links.
    Reports { users: Vec<UserKey> },
}

/// Why the HR roster was given up for the rest of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterFallback {
    /// The app lacks the roster read permission (or the agentid is not the app's).
    NotGranted,
    /// The organisation's monthly call quota is spent (90020 / `ApiCountLimitForOrg`).
    QuotaExhausted,
}

impl RosterFallback {
    /// The name reports use (`not_granted`), for log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            RosterFallback::NotGranted => "not_granted",
            RosterFallback::QuotaExhausted => "quota_exhausted",
        }
    }
}

impl Problem {
    /// Whether the problem is about what the app may read (a permission it lacks, a part of its
    /// range, what the platform's version supports) rather than about the data: an admin can
    /// fix it in the platform's console, so `check-config --online` says it.
    pub fn is_about_the_app(&self) -> bool {
        match self {
            Problem::ScopeEntryUnreadable { .. }
            | Problem::ListReadsRefused { .. }
            | Problem::RosterFallback { .. }
            | Problem::InviteesNotDistinguished => true,
            Problem::EmptyUserId { .. }
            | Problem::ConflictingRecords { .. }
            | Problem::UnknownStatus { .. }
            | Problem::MissingField { .. }
            | Problem::MissingParentDepartment { .. }
            | Problem::DuplicateValue { .. }
            | Problem::DuplicateAccounts { .. }
            | Problem::AmbiguousMatch { .. }
            | Problem::UserNameFallback { .. }
            | Problem::TargetNotListed { .. }
            | Problem::GroupNameTaken { .. }
            | Problem::CustomFieldMissing { .. }
            | Problem::ValueNumbered { .. }
            | Problem::UnreadableField { .. }
            | Problem::StepWaits { .. } => false,
        }
    }

    /// Whether the problem is about this person.
    pub fn concerns(&self, key: &UserKey) -> bool {
        match self {
            Problem::ConflictingRecords { user }
            | Problem::UnknownStatus { user, .. }
            | Problem::MissingField { user, .. }
            | Problem::DuplicateAccounts { user, .. }
            | Problem::AmbiguousMatch { user, .. }
            | Problem::UserNameFallback { user, .. }
            | Problem::ValueNumbered { user, .. }
            | Problem::StepWaits { user, .. } => user == key,
            Problem::DuplicateValue { users, .. } => users.contains(key),
            Problem::EmptyUserId { .. }
            | Problem::MissingParentDepartment { .. }
            | Problem::TargetNotListed { .. }
            | Problem::ScopeEntryUnreadable { .. }
            | Problem::ListReadsRefused { .. }
            | Problem::RosterFallback { .. }
            | Problem::InviteesNotDistinguished
            | Problem::GroupNameTaken { .. }
            | Problem::CustomFieldMissing { .. }
            | Problem::UnreadableField { .. } => false,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyUserId { department } => {
                write!(
                    f,
                    "a member of department {department} has an empty user id and was skipped"
                )
            }
            Problem::ConflictingRecords { user } => write!(
                f,
                "user {user} was returned twice with different contents; the first record was kept"
            ),
            Problem::UnknownStatus { user, raw } => write!(
                f,
                "user {user} has unknown status {raw:?}; left unchanged in the target"
            ),
            Problem::MissingField { user, field } => write!(
                f,
                "user {user} has no usable `{field}`; left unchanged in the target"
            ),
            Problem::MissingParentDepartment { department, parent } => write!(
                f,
                "department {department} names parent {parent}, which was not returned"
            ),
            Problem::DuplicateValue {
                attribute,
                value,
                users,
            } => {
                let users: Vec<&str> = users.iter().map(UserKey::as_str).collect();
                write!(
                    f,
                    "{attribute} {value:?} is shared by {}; only the first keeps it",
                    users.join(", ")
                )
            }
            Problem::DuplicateAccounts { user, accounts } => write!(
                f,
                "the target has {} accounts linked to {user} ({}); the first is used, the others are left alone",
                accounts.len(),
                accounts.join(", ")
            ),
            Problem::AmbiguousMatch {
                user,
                attribute,
                value,
                accounts,
            } => write!(
                f,
                "user {user}: {attribute} {value:?} matches target accounts {} or other people too; \
                 not adopted (link the right account by setting its externalId to {user})",
                accounts.join(", ")
            ),
            Problem::UserNameFallback { user, attribute } => write!(
                f,
                "user {user} has no {attribute}; the upstream id is used as userName"
            ),
            Problem::TargetNotListed { target } => write!(
                f,
                "the {target} target cannot be listed, so accounts it may already hold were not \
                 looked for: nobody was adopted and everyone new to orgsync is sent as created"
            ),
            Problem::ScopeEntryUnreadable { entry, code } => write!(
                f,
                "the app's visible range names {entry}, which could not be read (code {code}); \
                 what it holds was not pulled"
            ),
            Problem::ListReadsRefused {
                platform,
                refused,
                instead,
                extra_calls,
            } => write!(
                f,
                "{platform} refused {} (a permission error); read {} instead, which cost \
                 {extra_calls} more calls",
                refused.join(", "),
                instead.join(", ")
            ),
            Problem::InviteesNotDistinguished => write!(
                f,
                "Bitrix24 ignored the filter that finds invited people who have not accepted \
                 (user.search on CONFIRM_CODE), so they were pulled as active; they cannot sign in \
                 until they accept"
            ),
            Problem::GroupNameTaken {
                group,
                name,
                used,
                holder,
            } => write!(
                f,
                "department {group}'s group is named {used:?}: {name:?} is the name of department \
                 {holder}'s group (group names are compared without case)"
            ),
            Problem::CustomFieldMissing { field } => write!(
                f,
                "the attribute mapping reads custom.{field}, which nobody in the pull has (the \
                 platform returns no custom field of that name, or the app may not read it); \
                 attributes that need it are empty"
            ),
            Problem::ValueNumbered {
                attribute,
                user,
                wanted,
                given,
            } => write!(
                f,
                "user {user}: {attribute} {wanted:?} is taken, so {given:?} is used (kept from now on)"
            ),
            Problem::UnreadableField {
                field,
                people,
                example,
            } => write!(
                f,
                "{people} people (the first: {example}) have a `{field}` value that cannot be \
                 read as text; it was left out"
            ),
            Problem::StepWaits {
                user,
                step,
                waits_for,
            } => write!(
                f,
                "user {user}: the {step} step waits ({waits_for}); a full sync makes both changes"
            ),
            Problem::RosterFallback {
                reason: RosterFallback::NotGranted,
            } => write!(
                f,
                "DingTalk's HR roster refused the app (no roster read permission for this \
                 agent_id), so managers were read with one user/get per person; grant the \
                 roster permission or set roster = \"never\""
            ),
            Problem::RosterFallback {
                reason: RosterFallback::QuotaExhausted,
            } => write!(
                f,
                "DingTalk's monthly call quota is spent (the HR roster counts against it), so \
                 the rest of the managers were read with one user/get per person"
            ),
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::ValueRelease {
                attribute,
                value,
                holder,
            } => write!(
                f,
                "{attribute} {value:?} is freed only by a change of {holder}, which this run does not make"
            ),
            Wait::ValueHeldByUnread {
                attribute,
                value,
                holder,
            } => write!(
                f,
                "{holder}, whom this run did not read, has {attribute} {value:?} in the target"
            ),
            Wait::GroupMissing { group } => {
                write!(f, "department {group}'s group is not in the target yet")
            }
            Wait::Step { user, step } => {
                write!(f, "it needs the {step} step of {user}, which waits too")
            }
            Wait::Reports { users } => {
                let users: Vec<&str> = users.iter().map(UserKey::as_str).collect();
                write!(
                    f,
                    "{} still report to them, and this run does not move those links",
                    users.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RosterFallback;

    /// Logs and reports name a fallback the same way.
    #[test]
    fn a_roster_fallback_logs_under_its_report_name() {
        for reason in [RosterFallback::NotGranted, RosterFallback::QuotaExhausted] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::from(reason.as_str())
            );
        }
    }
}
