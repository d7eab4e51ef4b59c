//! DingTalk (钉钉) contact API emulator for an internal app, following
//! `shared/upstream-apis/dingtalk.md`: the token flows, the authorised scope, department and user
//! reads (old `topapi` API) with cursor paging and its size cap, leave records (new API), scope
//! filtering, DingTalk's error codes, the 20 QPS per-API limit, injectable faults and paging or
//! envelope quirks; the HR roster (`smartwork/hrm/employee/v2/list`, with permission and monthly
//! quota switches), tokens revoked mid-pull (40001) and the per-IP anti-abuse ban in its forms.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::{dingtalk, generator};
//! let org = generator::generate(&generator::GeneratorConfig::default());
//! let dingtalk = dingtalk::start(org, dingtalk::DingtalkConfig::default()).await?;
//! let url = format!("{}/gettoken?appkey=ding-emulated-app&appsecret=emulated-secret", dingtalk.base_url());
//! # let _ = url;
//! dingtalk.shutdown().await;
//! # Ok(()) }
//! ```

mod convert;
pub mod crypto;
pub mod events;
mod handlers;
mod openapi;
mod profile;
mod routes;
mod state;
pub mod stream;
mod wire;

pub use profile::roster_field_code;

use crate::server::Server;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::faults::Faults;
use crate::fixture::Org;
use state::Shared;

/// `user/list` and `user/listsimple` refuse bigger pages.
pub const MAX_PAGE_SIZE: i64 = 100;
/// The most userids (and field codes) one HR roster call takes.
pub const MAX_ROSTER_IDS: usize = 100;
/// DingTalk's documented limit: 20 calls per second per app and API (standard edition).
pub const QPS_PER_API: u32 = 20;

/// The app's credentials, token lifetime, and the behaviours the notes leave open.
#[derive(Debug, Clone, PartialEq)]
pub struct DingtalkConfig {
    pub app_key: String,
    pub app_secret: String,
    pub token_ttl: Duration,
    /// Whether `user/list` items carry `manager_userid`. The notes document it on `user/get` only
    /// and call its presence in list items unverified, so the default is `false`.
    pub manager_in_list: bool,
    /// Enforce 20 calls per second per API (answered with errcode 90018).
    pub enforce_rate_limits: bool,
    /// Runs the rate-limit windows this many times faster (20.0: a 50 ms window).
    pub rate_limit_speedup: f64,
    /// When every resigned person left, for `empLeaveRecords` (the fixture has no dates).
    pub leave_time_unix: i64,
    /// The app's AgentId, which the HR roster API requires.
    pub agent_id: i64,
    /// Whether the app holds the HR roster read permission.
    pub roster: RosterAccess,
    /// Roster calls answered before the monthly quota is spent (then 90020); `None`: no quota.
    pub roster_quota: Option<u64>,
    /// Whether and how org changes are pushed as contact events; `None`: never.
    pub events: Option<EventPush>,
}

/// How the emulator pushes contact events when its org changes (`DingtalkHandle::update_org`).
#[derive(Debug, Clone, PartialEq)]
pub enum EventPush {
    /// The HTTP event subscription: each event encrypted with `aes_key` (the EncodingAESKey,
    /// 43 characters), signed with `token`, POSTed to `url`, in order.
    Http {
        url: String,
        token: String,
        aes_key: String,
    },
    /// Stream mode: queued on the emulator's gateway for the connected client.
    Stream,
}

/// The HR roster permission (智能人事花名册 read) in the developer console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterAccess {
    Granted,
    /// Answered with errcode 88, sub_code 60011.
    NotGranted,
}

impl std::str::FromStr for RosterAccess {
    type Err = String;

    /// `granted` or `refused`, as the emulator binary's `--roster` takes it.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "granted" => Ok(RosterAccess::Granted),
            "refused" => Ok(RosterAccess::NotGranted),
            other => Err(format!("{other:?} is neither granted nor refused")),
        }
    }
}

/// The per-IP anti-abuse ban's answer to every data call while it lasts, with the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ban {
    /// `{"status":1111,"wait":W,"punish":"deny",…}` (the real one says `"wait":5`).
    Json { status: u16, wait: i64 },
    /// An HTML page.
    Html(u16),
}

impl Default for DingtalkConfig {
    fn default() -> Self {
        DingtalkConfig {
            app_key: "ding-emulated-app".to_owned(),
            app_secret: "emulated-secret".to_owned(),
            token_ttl: Duration::from_secs(7200),
            manager_in_list: false,
            enforce_rate_limits: true,
            rate_limit_speedup: 1.0,
            // 2024-03-01T09:30:00Z
            leave_time_unix: 1_709_285_400,
            agent_id: 2_001,
            roster: RosterAccess::Granted,
            roster_quota: None,
            events: None,
        }
    }
}

/// Misbehaviours a client must survive without looping or accepting a broken answer. While one is
/// set it applies to every data call (every path but the two token endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    /// `user/list`, `user/listsimple`: `has_more: true` with `next_cursor` equal to the cursor sent.
    StuckCursor,
    /// `user/list`, `user/listsimple`: `has_more: true` and no `next_cursor`.
    HasMoreWithoutCursor,
    /// `user/list`, `user/listsimple`: the first page says `has_more: true`, later pages point
    /// `next_cursor` back to 0.
    CursorBackwards,
    /// `user/list`, `user/listsimple`: `has_more: true` on every page, the cursor moving on past the
    /// end (empty pages without end).
    EndlessPages,
    /// Old-API success answers lack `errcode`.
    MissingErrcode,
    /// Old-API success answers lack `result`.
    MissingResult,
    /// The per-IP anti-abuse ban: HTTP 200 `{"status":1111,"wait":5,"punish":"deny",...}`.
    AntiAbuseJson,
    /// The same ban as an HTML page with HTTP 200.
    AntiAbuseHtml,
}

/// Serves `org` on `127.0.0.1` at an ephemeral port.
pub async fn start(org: Org, config: DingtalkConfig) -> std::io::Result<DingtalkHandle> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)), org, config).await
}

/// Serves `org` on `addr` (port 0 picks a free port).
pub async fn start_on(
    addr: SocketAddr,
    org: Org,
    config: DingtalkConfig,
) -> std::io::Result<DingtalkHandle> {
    let shared = Shared::new(org, config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let shared = Arc::new(shared);
    shared.announcer.start();
    let server = Server::start(addr, routes::router(shared.clone()), "DingTalk").await?;
    Ok(DingtalkHandle { server, shared })
}

/// A running emulator. Dropping it stops the server at once; [`DingtalkHandle::shutdown`] lets
/// in-flight requests finish first.
pub struct DingtalkHandle {
    server: Server,
    shared: Arc<Shared>,
}

impl DingtalkHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash. Serves both hosts' paths (`oapi` and
    /// `api.dingtalk.com`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn config(&self) -> &DingtalkConfig {
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

    /// Sets (or with `None` clears) a paging or envelope quirk.
    pub fn set_quirk(&self, quirk: Option<Quirk>) {
        self.shared.set_quirk(quirk);
    }

    /// Changes the served org; requests already running finish on the old one. With
    /// `DingtalkConfig::events`, the changes are announced as DingTalk contact events.
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        self.shared.update_org(change);
    }

    /// A copy of the served org.
    pub fn org(&self) -> Org {
        self.shared.directory().org.clone()
    }

    /// Requests to this exact path, e.g. `/topapi/v2/user/list`, whatever their outcome.
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

    /// Requests refused by the enforced rate limit (not the injected rate-limit faults).
    pub fn rate_limit_rejections(&self) -> u64 {
        self.shared.limits.rejections()
    }

    /// After `calls` more data calls, every issued token stops working and answers 40001 (the
    /// token revoked mid-pull); the next token request issues a new one.
    pub fn revoke_tokens_after(&self, calls: u64) {
        self.shared.revoke_tokens_after(calls);
    }

    /// Bans the caller's address for `lasts`: every data call gets the ban's answer.
    pub fn ban(&self, form: Ban, lasts: Duration) {
        self.shared.set_ban(form, lasts);
    }

    /// Invalidates every issued token now (answered with 40014); the next token request issues a
    /// new one.
    pub fn expire_tokens(&self) {
        self.shared.tokens.revoke_all();
    }

    /// The HTTP event deliveries so far, in order (empty without `EventPush::Http`).
    pub fn event_deliveries(&self) -> Vec<events::Delivery> {
        self.shared
            .announcer
            .http()
            .map(|push| push.deliveries())
            .unwrap_or_default()
    }

    /// Waits until `count` HTTP deliveries are recorded, or `timeout`; the deliveries so far.
    pub async fn wait_for_deliveries(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<events::Delivery> {
        match self.shared.announcer.http() {
            Some(push) => push.wait_for(count, timeout).await,
            None => Vec::new(),
        }
    }

    /// Sends the `check_url` event (URL verification) and checks the encrypted "success".
    pub async fn verify_callback_url(&self) -> Result<(), String> {
        let push = self
            .shared
            .announcer
            .http()
            .ok_or("the emulator pushes no HTTP events")?;
        match push
            .send(&serde_json::json!({"EventType": "check_url"}))
            .await
        {
            (_, events::DeliveryOutcome::Acknowledged) => Ok(()),
            (_, events::DeliveryOutcome::Failed(reason)) => Err(reason),
        }
    }

    /// The Stream gateway's events, with how each stands.
    pub fn stream_events(&self) -> Vec<stream::StreamEvent> {
        self.shared.gateway.events()
    }

    /// Waits until `count` Stream events are acknowledged with `SUCCESS`, or `timeout`.
    pub async fn wait_for_stream_acks(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<stream::StreamEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.stream_events();
            let acked = events
                .iter()
                .filter(|e| e.state == stream::StreamEventState::Acknowledged)
                .count();
            if acked >= count || tokio::time::Instant::now() >= deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// WebSocket connections the gateway accepted (a reconnect counts).
    pub fn stream_connections(&self) -> u64 {
        self.shared.gateway.connections_opened()
    }

    /// Answers to the gateway's `SYSTEM ping`s.
    pub fn stream_pongs(&self) -> u64 {
        self.shared.gateway.pongs()
    }

    /// Ends every open Stream connection at once, without a close frame.
    pub fn drop_stream_connections(&self) {
        self.shared.gateway.drop_connections();
    }

    /// Sends `SYSTEM disconnect` on every open Stream connection.
    pub fn ask_stream_to_reconnect(&self) {
        self.shared.gateway.ask_to_reconnect();
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
