//! Change events pushed by the upstream platforms (WeCom, DingTalk, Feishu/Lark): received,
//! checked and persisted before they are answered, then coalesced into focused runs.
//!
//! The flow, one connector:
//!
//! ```text
//! platform ──HTTP──▶ receiver ──open()──▶ Accepted ──state (persisted, de-duplicated)──▶ 2xx
//!                     (per-platform Opener: signature, decryption, window)
//! state queue ──worker (window)──▶ coalesce ──▶ focused run (these people) | full run
//! ```
//!
//! An event is only ever a reason to re-read: the run that follows reads the people it names
//! from the upstream, so a forged or stale event can at most cause a read, and a "deleted" event
//! removes nobody the read still finds.

pub mod coalesce;
pub mod dingtalk;
pub mod dingtalk_payload;
pub mod dingtalk_stream;
pub mod feishu;
pub mod openers;
pub mod receiver;
pub mod wechat_crypto;
pub mod wecom;

use crate::model::{DepartmentId, UserKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What one upstream event says changed, in orgsync's words. Every notice is only a reason to
/// re-read: nothing is written on an event's word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// These people were created, changed, entered or left the app's range, or were deleted:
    /// re-read them (a person the read no longer finds is a leaver).
    People { keys: Vec<UserKey> },
    /// These departments were created, changed or deleted.
    Departments { ids: Vec<DepartmentId> },
    /// The app's authorized scope changed: only a full run can tell who is in it now.
    Scope,
    /// An event orgsync cannot interpret (its type is kept for the report): a full run.
    Unknown { event_type: String },
    /// An event about nothing orgsync syncs (an admin role, a tag's settings): counted only.
    Ignored { event_type: String },
}

/// An accepted event as the state keeps it until the run it triggers has finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The platform's name for the event (`change_contact/update_user`, `user_modify_org`,
    /// `contact.user.updated_v3`).
    pub event_type: String,
    /// When the receiver accepted it.
    pub received_at: Timestamp,
    /// When the platform says the change happened, when it says: the start of the lag from
    /// change to acknowledged write.
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    pub notices: Vec<Notice>,
}

/// An HTTP request to the receiver, as an [`Opener`] sees it.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: IncomingMethod,
    /// The query string's parameters, percent-decoded (the last of repeated keys).
    pub query: &'a BTreeMap<String, String>,
    /// Header names in lower case.
    pub headers: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingMethod {
    Get,
    Post,
}

/// What the receiver does with a request an opener accepted.
#[derive(Debug)]
pub enum Opened {
    /// A URL verification handshake: answer `reply`, persist nothing.
    Handshake { reply: Reply },
    /// One event: persisted (unless a duplicate), then `reply` is answered.
    Event { accepted: Accepted, reply: Reply },
}

/// One checked, decrypted event.
#[derive(Debug)]
pub struct Accepted {
    /// De-duplication key: the platform's event id where it gives one (Feishu's
    /// `header.event_id`), else a hex SHA-256 of the decrypted payload (WeCom, DingTalk HTTP).
    pub dedupe: String,
    /// When the platform says it sent the request (its signed timestamp): the receiver refuses
    /// it outside `events.max_age` of now, either way.
    pub sent_at: Timestamp,
    pub event: StoredEvent,
}

/// An answer with status 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(body: impl Into<Vec<u8>>) -> Self {
        Reply {
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(value: &serde_json::Value) -> Self {
        Reply {
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }
}

/// Why a request was refused. Refused requests are counted by [`Refusal::label`] and never
/// acted on; the answer says no more than the label (an attacker learns nothing else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the signature does not match the configured token or key")]
    Forged,
    #[error("the payload cannot be decrypted with the configured key")]
    Undecryptable,
    #[error("the request was sent outside the accepted time window (a replay or a wrong clock)")]
    Stale,
    #[error("the event is for another organisation or app")]
    Foreign,
    #[error("the request is malformed: {0}")]
    Malformed(String),
}

impl Refusal {
    /// The metrics label and the refused answer's body.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Forged => "forged",
            Refusal::Undecryptable => "undecryptable",
            Refusal::Stale => "stale",
            Refusal::Foreign => "foreign",
            Refusal::Malformed(_) => "malformed",
        }
    }
}

/// One platform's way of checking and reading its event requests. Pure: no IO, no clock but
/// `now`.
pub trait Opener: Send + Sync {
    fn open(&self, request: &Incoming<'_>, now: Timestamp) -> Result<Opened, Refusal>;
}

/// Where accepted events go: persisted for `connector` (de-duplicated by
/// [`Accepted::dedupe`], checked against the connector's window), counted, and handed to the
/// connector's worker. Implemented by the daemon; used by the HTTP receiver and by DingTalk's
/// Stream client, which both answer the platform only after `accept` returned `Ok`.
pub trait EventSink: Send + Sync {
    fn accept(
        &self,
        connector: &str,
        accepted: Accepted,
    ) -> Result<crate::state::Acceptance, SinkError>;
    /// Counts a refused request or message (by [`Refusal::label`]).
    fn refused(&self, connector: &str, refusal: &Refusal);
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Outside the window: refused like a forged request.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The state could not store it: answer 5xx so the platform retries.
    #[error("the event cannot be stored: {0}")]
    Storage(String),
}
