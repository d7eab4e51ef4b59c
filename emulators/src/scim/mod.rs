//! A SCIM 2.0 service provider (RFC 7643/7644) for pusher tests: Users with the enterprise extension,
//! Groups with orgsync's department extension (head, parent department), strict about what it
//! accepts, with counters, fault injection and a DingTalk-like manager guard.
//!
//! It follows the standard and, where the standard leaves room, the scim2-server the pusher is also
//! tested against (`/work/shared/real-targets.md`): PATCH answers 204, unknown attributes are 400,
//! a dangling `manager.value` is accepted (and reported by [`ScimHandle::dangling_managers`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let scim = emulators::scim::start(emulators::scim::ScimConfig::default()).await?;
//! let base = scim.base_url(); // http://127.0.0.1:PORT/scim/v2, token "scim-emulated-token"
//! # let _ = base;
//! scim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod assign;
mod clock;
mod discovery;
mod error;
mod filter;
mod group_patch;
mod group_routes;
mod group_store;
mod group_wire;
mod list;
mod middleware;
mod patch;
mod routes;
mod schema;
mod state;
mod store;
mod wire;

use crate::server::{Bound, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use state::Shared;

/// How the emulator behaves; fixed for the server's life.
#[derive(Clone, PartialEq, Eq)]
pub struct ScimConfig {
    /// Expected in `Authorization: Bearer <token>` on every request.
    pub bearer_token: String,
    /// Most resources one list answer holds, whatever `count` asks for (also the default page).
    pub max_page_size: usize,
    pub manager_guard: ManagerGuard,
    /// Refuse (409 `uniqueness`) an email another user already has, compared case-insensitively.
    pub unique_emails: bool,
    /// User attributes served beyond the ones always stored, by full path, each a single-valued
    /// string: of the core schema (`nickName`, `name.familyName`), of the enterprise extension
    /// (`urn:…:enterprise:2.0:User:costCenter`), or of a custom extension
    /// (`urn:example:…:User:badge`, `urn:example:…:User:workplace.site`), whose URN (up to the
    /// last `:`) the User resource type then lists as an extension. Like a service provider
    /// given these schemas; anything not listed stays refused. Stored in [`ScimUser::extra`].
    /// `/Schemas` describes them and `/ResourceTypes` lists the custom extensions.
    pub user_attributes: Vec<String>,
}

impl Default for ScimConfig {
    fn default() -> Self {
        Self {
            bearer_token: "scim-emulated-token".to_owned(),
            max_page_size: 1000,
            manager_guard: ManagerGuard::Off,
            unique_emails: true,
            user_attributes: Vec::new(),
        }
    }
}

impl fmt::Debug for ScimConfig {
    // The token is a secret like any other: keep it out of logs and test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimConfig")
            .field("bearer_token", &"<redacted>")
            .field("max_page_size", &self.max_page_size)
            .field("manager_guard", &self.manager_guard)
            .field("unique_emails", &self.unique_emails)
            .field("user_attributes", &self.user_attributes)
            .finish()
    }
}

/// Whether a user who is someone's manager may be deleted or deactivated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagerGuard {
    /// Allowed, like scim2-server; the reports' links dangle afterwards.
    #[default]
    Off,
    /// Refused with 409 (`scimType: mutability`) while another user's `manager.value` names them,
    /// like DingTalk-style targets: the client must clear or move the links first.
    Strict,
}

/// Faults injected into the answers; see [`ScimHandle::set_faults`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScimFaults {
    /// Every n-th write answers 500, 502, 503 in turn, without applying the write.
    pub http_5xx_every: Option<u64>,
    /// Every n-th write answers 429 with `Retry-After: 1`, without applying the write.
    pub status_429_every: Option<u64>,
    /// Latency added before every request (reads too) is handled.
    pub delay: Duration,
    /// Every n-th write is applied, then answered only after `delay_after_apply`, so a client with
    /// a shorter timeout sees an ambiguous outcome.
    pub apply_then_timeout_every: Option<u64>,
    pub delay_after_apply: Duration,
    /// List requests whose `startIndex` is beyond this answer 503, like servers that give up on
    /// deep paging: the first page of a listing answers, a later one fails.
    pub max_start_index: Option<usize>,
}

/// Requests received per method (including refused ones) and error answers, since start or the
/// last [`ScimHandle::reset_counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScimCounters {
    pub gets: u64,
    pub posts: u64,
    pub puts: u64,
    pub patches: u64,
    pub deletes: u64,
    /// 409 answers (uniqueness clashes and manager-guard refusals).
    pub conflicts: u64,
    /// Every other 4xx/5xx answer, injected faults included.
    pub errors: u64,
}

/// A user as the emulator stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUser {
    /// Server-assigned and opaque.
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    /// `name.formatted`.
    pub formatted_name: Option<String>,
    /// The primary email first.
    pub emails: Vec<String>,
    /// The `type` of each email, by index; an email beyond its end has none (shown as `work`).
    pub email_types: Vec<Option<String>>,
    pub phone_numbers: Vec<String>,
    /// The `type` of each phone number, like [`ScimUser::email_types`].
    pub phone_types: Vec<Option<String>>,
    pub title: Option<String>,
    pub active: bool,
    /// Enterprise extension `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise extension `department`.
    pub department: Option<String>,
    /// Enterprise extension `manager.value`: another user's id (not checked to exist).
    pub manager_id: Option<String>,
    /// The values of [`ScimConfig::user_attributes`], by the path as configured.
    pub extra: BTreeMap<String, String>,
    /// Starts at 1 and grows by one with each write that changes the user; `ETag: W/"<version>"`.
    pub version: u64,
}

impl ScimUser {
    /// The type of the phone number at `index`, if it has one.
    pub fn phone_type(&self, index: usize) -> Option<&str> {
        self.phone_types.get(index).and_then(Option::as_deref)
    }

    /// The type of the email at `index`, if it has one.
    pub fn email_type(&self, index: usize) -> Option<&str> {
        self.email_types.get(index).and_then(Option::as_deref)
    }

    /// An active user with only a userName, for [`ScimHandle::insert_user`] and struct updates.
    pub fn new(user_name: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            external_id: None,
            user_name: user_name.into(),
            display_name: None,
            formatted_name: None,
            emails: Vec::new(),
            email_types: Vec::new(),
            phone_numbers: Vec::new(),
            phone_types: Vec::new(),
            title: None,
            active: true,
            employee_number: None,
            department: None,
            manager_id: None,
            extra: BTreeMap::new(),
            version: 0,
        }
    }
}

/// A group as the emulator stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimGroup {
    /// Server-assigned and opaque.
    pub id: String,
    pub external_id: Option<String>,
    /// Required, and unique among groups compared case-insensitively (409 `uniqueness`).
    pub display_name: String,
    /// Ids of member users; each must name an existing user when written through the API, and a
    /// deleted user leaves every group.
    pub members: BTreeSet<String>,
    /// The department extension's `head`.
    pub head: Option<GroupHead>,
    /// The department extension's `parentDepartment`.
    pub parent_department: Option<String>,
    /// Like [`ScimUser::version`].
    pub version: u64,
}

impl ScimGroup {
    /// A group with only a displayName, for [`ScimHandle::insert_group`] and struct updates.
    pub fn new(display_name: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            external_id: None,
            display_name: display_name.into(),
            members: BTreeSet::new(),
            head: None,
            parent_department: None,
            version: 0,
        }
    }
}

/// A department's head: their User resource's id (checked to exist, cleared when the user is
/// deleted) and the externalId the client gave with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupHead {
    pub value: String,
    pub external_id: Option<String>,
}

/// Starts the emulator on `127.0.0.1:<free port>`.
pub async fn start(config: ScimConfig) -> std::io::Result<ScimHandle> {
    start_on(std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
}

/// Starts the emulator on `addr` (port 0 picks a free port).
pub async fn start_on(
    addr: std::net::SocketAddr,
    config: ScimConfig,
) -> std::io::Result<ScimHandle> {
    let bound = Bound::bind(addr).await?;
    let base_url = format!("http://{}{}", bound.addr(), routes::PREFIX);
    let shared = Arc::new(Shared::new(config, base_url));
    let server = bound.serve(routes::router(Arc::clone(&shared)), "SCIM");
    Ok(ScimHandle { shared, server })
}

/// A running emulator. Dropping it stops the server; [`ScimHandle::shutdown`] also waits for it.
pub struct ScimHandle {
    shared: Arc<Shared>,
    server: Server,
}

impl ScimHandle {
    /// `http://127.0.0.1:PORT/scim/v2`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The bearer token clients must present.
    pub fn bearer_token(&self) -> &str {
        &self.shared.config.bearer_token
    }

    /// Every stored user, sorted by id (which is creation order).
    pub fn users(&self) -> Vec<ScimUser> {
        self.shared
            .store()
            .entries()
            .map(|entry| entry.user.clone())
            .collect()
    }

    pub fn user(&self, id: &str) -> Option<ScimUser> {
        self.shared.store().get(id).map(|entry| entry.user.clone())
    }

    /// The first user (by id) with this externalId, compared exactly.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<ScimUser> {
        self.shared
            .store()
            .entries()
            .find(|entry| entry.user.external_id.as_deref() == Some(external_id))
            .map(|entry| entry.user.clone())
    }

    /// Creates a user behind the client's back (pre-existing accounts, adoption, 409 set-ups).
    /// The id and version of `user` are ignored and assigned; no uniqueness check is made, so a test
    /// can also build states the API would refuse. Returns the new id.
    pub fn insert_user(&self, user: ScimUser) -> String {
        self.shared.store().insert_unchecked(user)
    }

    /// Every stored group, sorted by id (which is creation order).
    pub fn groups(&self) -> Vec<ScimGroup> {
        self.shared
            .store()
            .groups
            .entries()
            .map(|entry| entry.group.clone())
            .collect()
    }

    pub fn group(&self, id: &str) -> Option<ScimGroup> {
        self.shared
            .store()
            .groups
            .get(id)
            .map(|entry| entry.group.clone())
    }

    /// The first group (by id) with this externalId, compared exactly.
    pub fn group_by_external_id(&self, external_id: &str) -> Option<ScimGroup> {
        self.shared
            .store()
            .groups
            .entries()
            .find(|entry| entry.group.external_id.as_deref() == Some(external_id))
            .map(|entry| entry.group.clone())
    }

    /// Creates a group behind the client's back (adoption set-ups). The id and version are
    /// assigned; nothing is checked. Returns the new id.
    pub fn insert_group(&self, group: ScimGroup) -> String {
        self.shared.store().groups.insert_unchecked(group)
    }

    /// `(user id, manager id)` for every `manager.value` naming no existing user, by user id.
    pub fn dangling_managers(&self) -> Vec<(String, String)> {
        self.shared.store().dangling_managers()
    }

    /// Replaces the injected faults; their "every n-th write" count restarts from zero.
    pub fn set_faults(&self, faults: ScimFaults) {
        self.shared.set_faults(faults);
    }

    pub fn counters(&self) -> ScimCounters {
        self.shared.counters().snapshot()
    }

    pub fn reset_counters(&self) {
        self.shared.counters().reset();
    }

    /// Stops accepting connections, lets in-flight requests finish (at most a few seconds), and waits.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl fmt::Debug for ScimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimHandle")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}
