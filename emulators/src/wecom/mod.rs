//! WeCom (企业微信) contact API emulator for a self-built app, following
//! `shared/upstream-apis/wecom.md`: token flow, department and user reads, the app's visible range
//! (departments, people and tags: `agent/get`, `tag/get`), scope filtering, WeCom's error codes, a
//! switch refusing the full lists (48002, as for newer apps), the hourly block, and injectable
//! faults.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::{generator, wecom};
//! let org = generator::generate(&generator::GeneratorConfig::default());
//! let wecom = wecom::start(org, wecom::WecomConfig::default()).await?;
//! let url = format!("{}/cgi-bin/gettoken?corpid=ww-emulated-corp&corpsecret=emulated-secret", wecom.base_url());
//! # let _ = url;
//! wecom.shutdown().await;
//! # Ok(()) }
//! ```

mod convert;
pub mod events;
mod handlers;
mod routes;
mod state;
mod wire;

use crate::server::Server;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::faults::Faults;
use crate::fixture::Org;
use state::Shared;

/// The app's credentials, token lifetime and rate limits.
#[derive(Debug, Clone, PartialEq)]
pub struct WecomConfig {
    pub corpid: String,
    pub corpsecret: String,
    pub agentid: i64,
    pub token_ttl: Duration,
    /// Enforce WeCom's per-corp, per-API limits: 10 000 calls a minute and 150 000 an hour
    /// (answered with errcode 45009).
    pub enforce_rate_limits: bool,
    /// Runs the rate-limit windows this many times faster (60.0: a one-second "minute").
    pub rate_limit_speedup: f64,
    /// The corp's tags (`tag/get`).
    pub tags: Vec<WecomTag>,
    /// Tags the app's visible range is shared with (`agent/get`'s `allow_tags`): their people and
    /// departments (with subtrees) are visible, on top of the org's scope.
    pub allow_tags: Vec<i64>,
    /// Whether this app may use `department/list` and `user/list`.
    pub list_access: ListAccess,
    /// Calls each API takes per `hourly_block` window before it is blocked (WeCom: 150 000 an
    /// hour). Over it, the API answers 45009 for a whole `hourly_block`.
    pub hourly_limit: u64,
    /// How long an API stays blocked once over `hourly_limit` (WeCom: an hour).
    pub hourly_block: Duration,
    /// Where the org's changes are sent as WeCom's change callbacks ([`events`]); none: not sent.
    pub callback: Option<events::CallbackConfig>,
}

/// One tag of the corp: the people and departments it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WecomTag {
    pub id: i64,
    pub name: String,
    pub users: Vec<String>,
    pub departments: Vec<i64>,
}

/// Whether the app may read the full lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListAccess {
    /// `department/list` and `user/list` answer.
    #[default]
    Granted,
    /// Both answer 48002 (API not permitted), as reported for apps created after 2022-08-15;
    /// the simple lists and single reads still answer.
    Refused,
}

impl Default for WecomConfig {
    fn default() -> Self {
        WecomConfig {
            corpid: "ww-emulated-corp".to_owned(),
            corpsecret: "emulated-secret".to_owned(),
            agentid: 1_000_002,
            token_ttl: Duration::from_secs(7200),
            enforce_rate_limits: true,
            rate_limit_speedup: 1.0,
            tags: Vec::new(),
            allow_tags: Vec::new(),
            list_access: ListAccess::Granted,
            hourly_limit: 150_000,
            hourly_block: Duration::from_secs(3600),
            callback: None,
        }
    }
}

impl std::str::FromStr for ListAccess {
    type Err = String;

    /// `granted` or `refused`, as the emulator binary's `--lists` takes it.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "granted" => Ok(ListAccess::Granted),
            "refused" => Ok(ListAccess::Refused),
            other => Err(format!("{other:?} is neither granted nor refused")),
        }
    }
}

/// Serves `org` on `127.0.0.1` at an ephemeral port.
pub async fn start(org: Org, config: WecomConfig) -> std::io::Result<WecomHandle> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)), org, config).await
}

/// Serves `org` on `addr` (port 0 picks a free port).
pub async fn start_on(
    addr: SocketAddr,
    org: Org,
    config: WecomConfig,
) -> std::io::Result<WecomHandle> {
    let callbacks = match &config.callback {
        Some(callback) => Some(
            events::Sender::start(callback.clone(), &config.corpid, config.agentid)
                .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?,
        ),
        None => None,
    };
    let shared = Arc::new(Shared::new(org, config));
    let server = Server::start(addr, routes::router(shared.clone()), "WeCom").await?;
    Ok(WecomHandle {
        server,
        shared,
        callbacks,
    })
}

/// A running emulator. Dropping it stops the server at once; [`WecomHandle::shutdown`] lets
/// in-flight requests finish first.
pub struct WecomHandle {
    server: Server,
    shared: Arc<Shared>,
    /// The change callbacks' sender, when `config.callback` is set.
    callbacks: Option<events::Sender>,
}

impl WecomHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash; clients append `/cgi-bin/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn config(&self) -> &WecomConfig {
        &self.shared.config
    }

    /// Requests refused by the enforced rate limits (not the injected rate-limit faults), the
    /// hourly block included.
    pub fn rate_limit_rejections(&self) -> u64 {
        self.shared.limits.rejections() + self.shared.hourly.rejections()
    }

    /// Requests refused because their API was blocked for the hour.
    pub fn hourly_block_rejections(&self) -> u64 {
        self.shared.hourly.rejections()
    }

    /// Replaces the injected faults. Their schedules, and every token's call budget, restart now.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
        self.shared.tokens.reset_uses();
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.faults()
    }

    /// Changes the served org; requests already running finish on the old one.
    /// With a callback configured, the change's events are sent (in order, from a task).
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        let (before, after) = self.shared.update_org(change);
        if let Some(callbacks) = &self.callbacks {
            callbacks.announce(&before, &after);
        }
    }

    /// The change callbacks sent so far, each after its last attempt.
    pub fn event_deliveries(&self) -> Vec<events::Delivery> {
        self.callbacks
            .as_ref()
            .map(events::Sender::deliveries)
            .unwrap_or_default()
    }

    /// Waits until `count` callbacks were delivered (or gave up), at most `timeout`; returns
    /// them all.
    pub async fn wait_for_deliveries(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<events::Delivery> {
        match &self.callbacks {
            Some(callbacks) => callbacks.wait_for(count, timeout).await,
            None => Vec::new(),
        }
    }

    /// The admin console's check of the callback URL: a GET with an encrypted `echostr` that
    /// the receiver must decrypt and answer. `Ok(false)`: it answered something else.
    pub async fn verify_callback_url(&self) -> Result<bool, String> {
        match &self.callbacks {
            Some(callbacks) => callbacks.verify().await,
            None => Err("no callback is configured".into()),
        }
    }

    /// A copy of the served org.
    pub fn org(&self) -> Org {
        self.shared.directory().org.clone()
    }

    /// Requests to this exact path, e.g. `/cgi-bin/user/list`, whatever their outcome.
    pub fn calls(&self, path: &str) -> u64 {
        self.shared.calls.calls(path)
    }

    pub fn total_calls(&self) -> u64 {
        self.shared.calls.total()
    }

    /// Every counter, by path.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.shared.calls.snapshot()
    }

    pub fn reset_calls(&self) {
        self.shared.calls.reset();
    }

    /// Invalidates every issued token now (answered with 40014); the next gettoken issues a new one.
    pub fn expire_tokens(&self) {
        self.shared.tokens.revoke_all();
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
