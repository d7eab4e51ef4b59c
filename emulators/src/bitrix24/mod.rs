//! Bitrix24 REST emulator for users and departments, following
//! `shared/upstream-apis/bitrix24.md`: inbound-webhook and OAuth paths, `user.get` and
//! `department.get` paged by `start` (50 rows), `batch`, the OAuth refresh endpoint with
//! `expired_token`, the per-portal leaky-bucket limit, Bitrix24's error codes and injectable
//! faults. Bitrix24 has no per-app contact range: the whole fixture is served and its `scope` is
//! ignored. User IDs are derived from fixture ids as [`derive_user_id`] documents.
//!
//! Invitees: a fixture user who is `NotActivated` is an invited person who has not accepted:
//! `ACTIVE` true, no `LAST_LOGIN`, and a `CONFIRM_CODE` that no answer shows but that
//! `user.search` filters on (`FILTER[!CONFIRM_CODE]=0`: people with a code), as on a real portal.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::{bitrix24, generator};
//! let org = generator::generate(&generator::GeneratorConfig::default());
//! let portal = bitrix24::start(org, bitrix24::Bitrix24Config::default()).await?;
//! let url = format!("{}user.get.json?start=50", portal.base_url());
//! # let _ = url;
//! portal.shutdown().await;
//! # Ok(()) }
//! ```

mod ids;
mod methods;
mod params;
mod routes;
mod state;
mod wire;

pub use ids::derive_user_id;

use crate::server::{Bound, Server};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crate::faults::Faults;
use crate::fixture::Org;
use state::Shared;

/// The portal's credentials, scopes and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Bitrix24Config {
    /// The webhook's creator: `/rest/<webhook_user_id>/<webhook_code>/…`.
    pub webhook_user_id: u64,
    pub webhook_code: String,
    /// The OAuth application's credentials and the refresh token it was installed with.
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Access tokens live this long (Bitrix24: one hour).
    pub access_token_ttl: Duration,
    /// Each refresh answers a new refresh token and the presented one stops working.
    pub rotate_refresh_tokens: bool,
    /// Scopes ticked on the webhook or granted to the app; `user.get` needs `user`, `user_basic`
    /// or `user_brief`, `department.get` needs `department`; the portal's custom fields
    /// (`UF_USR_*`) are in `user.get` rows only with `user.userfield`.
    pub scopes: Vec<String>,
    /// Runs the leaky bucket this many times faster (drains 2 × speedup per second).
    pub rate_limit_speedup: f64,
    pub enforce_rate_limits: bool,
    /// Whether `user.search` honours a `CONFIRM_CODE` filter (portals before it was allowed
    /// drop it and answer everyone).
    pub confirm_code_filter: ConfirmCodeFilter,
}

/// How `user.search` treats `FILTER[CONFIRM_CODE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfirmCodeFilter {
    /// Filters on it, as current portals do.
    #[default]
    Honoured,
    /// Drops it like an unknown field, as older portals' `user.search` does.
    Ignored,
}

/// An error the portal answers every REST call with, switched on for tests. Statuses as real
/// portals send them (401 for all but `OPERATION_TIME_LIMIT`, 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalError {
    /// `INVALID_CREDENTIALS`: the webhook's or token's user lacks the rights.
    InvalidCredentials,
    /// `ACCESS_DENIED`: REST is available on commercial plans only.
    AccessDenied,
    /// `OVERLOAD_LIMIT`: the portal's REST API is blocked for overload.
    OverloadLimit,
    /// `OPERATION_TIME_LIMIT`: the method ran over 480 s in the last 10 minutes; the answer's
    /// `time.operating_reset_at` is this many seconds after its `time.finish`.
    OperationTimeLimit { reset_in_secs: u64 },
}

impl Default for Bitrix24Config {
    fn default() -> Self {
        Bitrix24Config {
            webhook_user_id: 1,
            webhook_code: "emulated-webhook-code".to_owned(),
            client_id: "local.emulated.client".to_owned(),
            client_secret: "emulated-client-secret".to_owned(),
            refresh_token: "b24-rt-initial".to_owned(),
            access_token_ttl: Duration::from_secs(3600),
            rotate_refresh_tokens: true,
            scopes: vec![
                "user".to_owned(),
                "department".to_owned(),
                "user.userfield".to_owned(),
            ],
            rate_limit_speedup: 1.0,
            enforce_rate_limits: true,
            confirm_code_filter: ConfirmCodeFilter::Honoured,
        }
    }
}

/// Misbehaviours of paging reported against real portals, switched on for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PagingQuirk {
    #[default]
    None,
    /// `start` is ignored (seen together with `FILTER`, bitrix-tools/b24-rest-docs #36): every
    /// page is the first one, with `next` 50.
    IgnoreStart,
    /// Pages at `start` ≥ 50 answer `next` = `start` − 50.
    NextBackwards,
}

/// Serves `org` on `127.0.0.1` at an ephemeral port.
pub async fn start(org: Org, config: Bitrix24Config) -> std::io::Result<Bitrix24Handle> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)), org, config).await
}

/// Serves `org` on `addr` (port 0 picks a free port).
pub async fn start_on(
    addr: SocketAddr,
    org: Org,
    config: Bitrix24Config,
) -> std::io::Result<Bitrix24Handle> {
    let bound = Bound::bind(addr).await?;
    let shared = Arc::new(Shared::new(org, config, format!("http://{}", bound.addr())));
    let server = bound.serve(routes::router(shared.clone()), "Bitrix24");
    Ok(Bitrix24Handle { server, shared })
}

/// A running emulator. Dropping it stops the server at once; [`Bitrix24Handle::shutdown`] lets
/// in-flight requests finish first.
pub struct Bitrix24Handle {
    server: Server,
    shared: Arc<Shared>,
}

impl Bitrix24Handle {
    /// The inbound webhook's REST base, `http://127.0.0.1:PORT/rest/1/<code>/`; append a method.
    pub fn base_url(&self) -> String {
        format!(
            "{}{}/{}/",
            self.rest_url(),
            self.shared.config.webhook_user_id,
            self.shared.config.webhook_code
        )
    }

    /// The portal, `http://127.0.0.1:PORT` (an OAuth app's `portal`).
    pub fn portal_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The OAuth REST base, `http://127.0.0.1:PORT/rest/`.
    pub fn rest_url(&self) -> String {
        format!("{}/rest/", self.portal_url())
    }

    /// The OAuth server's token endpoint, `http://127.0.0.1:PORT/oauth/token/`.
    pub fn oauth_url(&self) -> String {
        format!("{}/oauth/token/", self.portal_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn config(&self) -> &Bitrix24Config {
        &self.shared.config
    }

    /// Replaces the injected faults. Their schedules, and every token's call budget, restart now.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
        self.shared.tokens.reset_uses();
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.faults()
    }

    /// Answers every REST call with `error` from now on (`None`: back to normal).
    pub fn set_portal_error(&self, error: Option<PortalError>) {
        *self
            .shared
            .portal_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    pub fn set_paging_quirk(&self, quirk: PagingQuirk) {
        *self
            .shared
            .quirk
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = quirk;
    }

    /// Changes the served org; requests already running finish on the old one.
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        self.shared.update_org(change);
    }

    pub fn org(&self) -> Org {
        self.shared.directory().org.clone()
    }

    /// The Bitrix24 user ID serving the fixture user `fixture_id`, as `user.get` sends it.
    pub fn user_id(&self, fixture_id: &str) -> Option<String> {
        self.shared
            .directory()
            .ids
            .get(fixture_id)
            .map(u64::to_string)
    }

    /// HTTP requests for a REST method (`batch`, `user.get`, …) or `oauth/token`, whatever
    /// their outcome. Commands inside a batch are not counted here: see [`Self::batched_calls`].
    pub fn calls(&self, method: &str) -> u64 {
        self.shared.calls.calls(method)
    }

    pub fn total_calls(&self) -> u64 {
        self.shared.calls.total()
    }

    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.shared.calls.snapshot()
    }

    /// Commands of this method run inside batches.
    pub fn batched_calls(&self, method: &str) -> u64 {
        self.shared.batched.calls(method)
    }

    /// Every page of `user.get` / `department.get` served, direct or batched, in order, with the
    /// `start` the client sent (`None` when it sent none).
    pub fn page_requests(&self) -> Vec<(String, Option<i64>)> {
        self.shared
            .pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Clears the call counters, batched-command counters and the page log.
    pub fn reset_calls(&self) {
        self.shared.calls.reset();
        self.shared.batched.reset();
        self.shared
            .pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Expires every issued access token now: they answer `expired_token` until refreshed.
    pub fn expire_tokens(&self) {
        self.shared.revoke_access_tokens();
    }

    /// The refresh token the OAuth server issued last (the configured one before any refresh).
    pub fn refresh_token(&self) -> String {
        self.shared.newest_refresh_token()
    }

    /// Requests refused by the leaky bucket so far.
    pub fn rate_limit_rejections(&self) -> u64 {
        self.shared.limits.rejections()
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
