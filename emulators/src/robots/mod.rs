//! Emulated IM group robots: a DingTalk custom robot, a WeCom group robot and a Feishu/Lark
//! custom bot. Each checks its token and signature the way the platform does (its own
//! implementation, from the platforms' docs), answers the platform's error code in a 200 body
//! when they are wrong, refuses more than `per_window` messages a window with the platform's
//! rate-limit code, records the messages it accepted, and fails on demand.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use emulators::robots::{RobotConfig, start};
//! let robot = start(RobotConfig::dingtalk("token-1", "SECabc")).await?;
//! robot.fail_next(2, 503);
//! let url = robot.webhook_url(); // http://127.0.0.1:PORT/robot/send?access_token=token-1
//! # let _ = url;
//! # Ok(())
//! # }
//! ```

mod dingtalk;
mod feishu;
mod wecom;

use crate::server::Server;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which platform's robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Dingtalk,
    Wecom,
    Feishu,
}

#[derive(Debug, Clone)]
pub struct RobotConfig {
    pub platform: Platform,
    /// DingTalk's `access_token`, WeCom's `key`, Feishu's hook token.
    pub token: String,
    /// The signing secret (DingTalk `SEC…`, Feishu); `None`: requests are not signed.
    pub secret: Option<String>,
    /// Messages allowed in any `window`: 20 a minute on all three platforms' group robots.
    pub per_window: usize,
    pub window: Duration,
}

impl RobotConfig {
    pub fn dingtalk(token: &str, secret: &str) -> Self {
        RobotConfig::new(Platform::Dingtalk, token, Some(secret))
    }

    pub fn wecom(key: &str) -> Self {
        RobotConfig::new(Platform::Wecom, key, None)
    }

    pub fn feishu(token: &str, secret: &str) -> Self {
        RobotConfig::new(Platform::Feishu, token, Some(secret))
    }

    fn new(platform: Platform, token: &str, secret: Option<&str>) -> Self {
        RobotConfig {
            platform,
            token: token.to_owned(),
            secret: secret.map(str::to_owned),
            per_window: 20,
            window: Duration::from_secs(60),
        }
    }

    /// The rate limit's window, shortened for tests.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The JSON body as sent (the signature fields included, for Feishu).
    pub body: serde_json::Value,
    /// What the group sees: the title and text, card header and content.
    pub text: String,
}

/// What the robot answered to a request it did not accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: i64,
}

pub struct RobotHandle {
    server: Server,
    shared: Arc<Shared>,
}

struct Shared {
    config: RobotConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<Received>,
    refused: Vec<Refusal>,
    recent: VecDeque<Instant>,
    fail: Option<(u32, u16)>,
}

pub async fn start(config: RobotConfig) -> std::io::Result<RobotHandle> {
    let shared = Arc::new(Shared {
        config,
        inner: Mutex::new(Inner::default()),
    });
    let app = Router::new()
        .route("/robot/send", post(dingtalk_send))
        .route("/cgi-bin/webhook/send", post(wecom_send))
        .route("/open-apis/bot/v2/hook/{token}", post(feishu_send))
        .with_state(Arc::clone(&shared));
    let server = Server::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), app, "robot").await?;
    Ok(RobotHandle { server, shared })
}

impl RobotHandle {
    /// The webhook URL the platform would show the admin (token included).
    pub fn webhook_url(&self) -> String {
        let addr = self.server.addr();
        let token = &self.shared.config.token;
        match self.shared.config.platform {
            Platform::Dingtalk => format!("http://{addr}/robot/send?access_token={token}"),
            Platform::Wecom => format!("http://{addr}/cgi-bin/webhook/send?key={token}"),
            Platform::Feishu => format!("http://{addr}/open-apis/bot/v2/hook/{token}"),
        }
    }

    /// Messages accepted, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().accepted.clone()
    }

    /// Requests refused (wrong token or signature, rate limit, injected failures), in order.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.shared.lock().refused.clone()
    }

    /// The next `times` requests get HTTP `status` (a 5xx: the platform's trouble).
    pub fn fail_next(&self, times: u32, status: u16) {
        self.shared.lock().fail = Some((times, status));
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An injected failure, if one is due.
    fn injected(&self) -> Option<Response> {
        let mut inner = self.lock();
        let (times, status) = inner.fail?;
        inner.fail = (times > 1).then_some((times - 1, status));
        inner.refused.push(Refusal { status, code: 0 });
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Some((status, "injected failure").into_response())
    }

    /// Whether one more message fits in the window (and counts it when it does).
    fn admit(&self) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        let window = self.config.window;
        while inner
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            inner.recent.pop_front();
        }
        if inner.recent.len() >= self.config.per_window {
            return false;
        }
        inner.recent.push_back(now);
        true
    }

    /// Answers `(code, message)` in a 200 body, in the platform's field names; 0 records `body`.
    fn answer(&self, code: i64, message: &str, accepted: Option<Received>) -> Response {
        let mut inner = self.lock();
        match accepted {
            Some(received) if code == 0 => inner.accepted.push(received),
            _ => inner.refused.push(Refusal { status: 200, code }),
        }
        let body = match self.config.platform {
            Platform::Feishu if code == 0 => {
                serde_json::json!({"code": 0, "data": {}, "msg": "success"})
            }
            Platform::Feishu => serde_json::json!({"code": code, "data": {}, "msg": message}),
            _ => serde_json::json!({"errcode": code, "errmsg": message}),
        };
        axum::Json(body).into_response()
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn dingtalk_send(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if shared.config.platform != Platform::Dingtalk {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(failed) = shared.injected() {
        return failed;
    }
    dingtalk::receive(&shared, &query, &body)
}

async fn wecom_send(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if shared.config.platform != Platform::Wecom {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(failed) = shared.injected() {
        return failed;
    }
    wecom::receive(&shared, &query, &body)
}

async fn feishu_send(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    if shared.config.platform != Platform::Feishu {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(failed) = shared.injected() {
        return failed;
    }
    feishu::receive(&shared, &token, &body)
}

#[cfg(test)]
mod tests;
