//! Feishu / Lark (飞书) contact v3 API emulator for a self-built app, following
//! `shared/upstream-apis/feishu.md`: the tenant token flow, scopes, department and user reads in
//! every id scheme, paging with Feishu's caps, scope errors, the documented rate limits, and
//! injectable faults. One host serves the paths of both open.feishu.cn and open.larksuite.com.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::{feishu, generator};
//! let org = generator::generate(&generator::GeneratorConfig::default());
//! let feishu = feishu::start(org, feishu::FeishuConfig::default()).await?;
//! let url = format!("{}/open-apis/auth/v3/tenant_access_token/internal", feishu.base_url());
//! # let _ = url;
//! feishu.shutdown().await;
//! # Ok(()) }
//! ```

mod convert;
mod delivery;
mod events;
mod handlers;
mod ids;
mod paging;
mod routes;
mod state;
mod wire;

pub use delivery::{DeliveryOutcome, EventDelivery};
pub use events::{EventCrafter, EventPush, EventRequest, encrypt, signature};

use crate::server::Server;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::faults::Faults;
use crate::fixture::Org;
use state::Shared;

/// The app's credentials, token lifetime, and the behaviours the notes leave open.
#[derive(Debug, Clone, PartialEq)]
pub struct FeishuConfig {
    pub app_id: String,
    pub app_secret: String,
    pub token_ttl: Duration,
    /// A token with less than this left is replaced by a new one on the next token request;
    /// both stay valid until their own expiry (30 minutes on Feishu).
    pub refresh_window: Duration,
    /// Leave out `leader_user_id` (and department heads) the app cannot read. Off by default:
    /// Feishu is not documented to filter them.
    pub redact_out_of_scope_leader: bool,
    /// The app holds `contact:user.employee_id:readonly`. Without it every `user_id` (and every id
    /// asked for as `user_id_type=user_id`) is left out of the answers, silently, as Feishu does.
    pub user_id_permission: bool,
    /// `users/batch` and `departments/batch` fail the whole call (41050 / 41012 / 40004) when one
    /// id is out of scope or unknown, instead of leaving it out.
    pub batch_all_or_nothing: bool,
    /// `fetch_child=true` over a tree with more descendants than this answers 43010.
    pub recursive_fetch_limit: Option<usize>,
    /// Runs the rate-limit windows this many times faster (20.0 → a minute lasts 3 s).
    pub rate_limit_speedup: f64,
    /// Enforce 1 000 requests/min and 50 requests/s per contact API (429 + 99991400).
    pub enforce_rate_limits: bool,
    /// The admin switched on "allow open platform contact API calls" for custom fields
    /// (管理后台 → 组织架构 → 字段管理 → 自定义字段 → API 调用设置). Without it Feishu answers every
    /// `custom_attrs` empty, silently.
    pub custom_attrs_open: bool,
    /// The app's event subscription: org updates are POSTed there as `contact.*_v3` events
    /// (`events.rs`). `None`: no events are sent.
    pub events: Option<EventPush>,
}

impl Default for FeishuConfig {
    fn default() -> Self {
        FeishuConfig {
            app_id: "cli_emulated0001".to_owned(),
            app_secret: "emulated-secret".to_owned(),
            token_ttl: Duration::from_secs(7200),
            refresh_window: Duration::from_secs(30 * 60),
            redact_out_of_scope_leader: false,
            user_id_permission: true,
            batch_all_or_nothing: false,
            recursive_fetch_limit: None,
            rate_limit_speedup: 1.0,
            enforce_rate_limits: true,
            custom_attrs_open: true,
            events: None,
        }
    }
}

/// A listing that never ends properly, for testing a client's paging guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingDefect {
    /// Every page says `has_more: true` and gives no `page_token`.
    MissingToken,
    /// Every page says `has_more: true` and gives the first page's token again.
    RepeatedToken,
}

/// Serves `org` on `127.0.0.1` at an ephemeral port.
pub async fn start(org: Org, config: FeishuConfig) -> std::io::Result<FeishuHandle> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)), org, config).await
}

/// Serves `org` on `addr` (port 0 picks a free port).
pub async fn start_on(
    addr: SocketAddr,
    org: Org,
    config: FeishuConfig,
) -> std::io::Result<FeishuHandle> {
    let shared = Arc::new(Shared::new(org, config));
    let server = Server::start(addr, routes::router(shared.clone()), "Feishu").await?;
    Ok(FeishuHandle { server, shared })
}

/// A running emulator. Dropping it stops the server at once; [`FeishuHandle::shutdown`] lets
/// in-flight requests finish first.
pub struct FeishuHandle {
    server: Server,
    shared: Arc<Shared>,
}

impl FeishuHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash; clients append `/open-apis/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn config(&self) -> &FeishuConfig {
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

    /// Makes every paged answer defective (`None` repairs them).
    pub fn set_paging_defect(&self, defect: Option<PagingDefect>) {
        self.shared.set_paging_defect(defect);
    }

    /// Changes the served org; requests already running finish on the old one. With
    /// `FeishuConfig::events`, the changes the app can see are then sent as events, in order.
    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        self.shared.update_org(change);
    }

    /// A copy of the served org.
    pub fn org(&self) -> Org {
        self.shared.directory().org.clone()
    }

    /// Requests to one API, named as Feishu's docs name it, whatever their outcome, e.g.
    /// `/open-apis/contact/v3/departments/:department_id/children`.
    pub fn calls(&self, api: &str) -> u64 {
        self.shared.calls.calls(api)
    }

    pub fn total_calls(&self) -> u64 {
        self.shared.calls.total()
    }

    /// Every counter, by API.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.shared.calls.snapshot()
    }

    pub fn reset_calls(&self) {
        self.shared.calls.reset();
    }

    /// Invalidates every issued token now (answered with 99991663); the next token request
    /// issues a new one.
    pub fn expire_tokens(&self) {
        self.shared.tokens.revoke_all();
    }

    /// Calls refused by the enforced rate limits so far (injected rate-limit faults not counted).
    pub fn rate_limit_rejections(&self) -> u64 {
        self.shared.limits.rejections()
    }

    /// Every delivery attempt of an event so far, in order (empty without `events`).
    pub fn event_deliveries(&self) -> Vec<EventDelivery> {
        self.shared
            .events
            .as_ref()
            .map(|events| events.attempts())
            .unwrap_or_default()
    }

    /// Waits until `count` events in all have been delivered (answered 200), up to `timeout`;
    /// `false` when they were not.
    pub async fn wait_for_event_deliveries(&self, count: usize, timeout: Duration) -> bool {
        match &self.shared.events {
            Some(events) => events.wait_delivered(count, timeout).await,
            None => false,
        }
    }

    /// The builder of this app's requests (its token and key), for crafting requests in tests.
    pub fn event_crafter(&self) -> Option<&EventCrafter> {
        self.shared.events.as_ref().map(|events| &events.crafter)
    }

    /// Sends the URL verification challenge, as Feishu does when the request URL is saved, and
    /// checks that the answer is 200 with `{"challenge": …}` echoed.
    pub async fn verify_url(&self) -> Result<(), String> {
        let events = self
            .shared
            .events
            .as_ref()
            .ok_or("no event subscription is configured")?;
        let challenge = events.crafter.event_id();
        let request = events.crafter.challenge(&challenge);
        let answer = delivery::post(&events.push.url, &request).await;
        if answer.outcome != DeliveryOutcome::Answered(200) {
            return Err(format!("the URL answered {:?}", answer.outcome));
        }
        let echoed: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("the answer is not JSON: {e}"))?;
        match echoed.get("challenge").and_then(serde_json::Value::as_str) {
            Some(echo) if echo == challenge => Ok(()),
            _ => Err(format!("the answer does not echo the challenge: {echoed}")),
        }
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
