//! `[connectors.NAME.events]`: change events from the upstream, and `[daemon.events]`: the
//! receiver's listener.

use super::{HumanDuration, SecretRef};
use serde::Deserialize;
use std::time::Duration;

/// `[connectors.NAME.events]`: how this connector's upstream pushes its changes, and how they
/// are gathered into runs. Absent: the connector runs on its schedule and on demand only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// How events arrive: `http` (the daemon's receiver, `[daemon.events]`) or `stream`
    /// (DingTalk only: a long connection the daemon opens, no public URL needed).
    #[serde(default)]
    pub delivery: Delivery,
    /// WeCom and DingTalk (HTTP): the callback's Token.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// WeCom and DingTalk (HTTP): the callback's EncodingAESKey (43 characters).
    #[serde(default)]
    pub aes_key: Option<SecretRef>,
    /// Feishu/Lark: the event subscription's Verification Token.
    #[serde(default)]
    pub verification_token: Option<SecretRef>,
    /// Feishu/Lark: the event subscription's Encrypt Key (events encrypted and signed).
    #[serde(default)]
    pub encrypt_key: Option<SecretRef>,
    /// Events are gathered this long after the first one before their run starts.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// More distinct people than this in one window: a full run instead of a focused one.
    #[serde(default = "default_full_run_above")]
    pub full_run_above: usize,
    /// A request signed longer ago (or further ahead) than this is refused as a replay.
    #[serde(default = "default_max_age")]
    pub max_age: HumanDuration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Http,
    Stream,
}

/// `[daemon.events]`: the HTTP receiver of upstream events, on a listener of its own, meant to
/// sit behind the reverse proxy that terminates TLS. Each connector's URL is
/// `/events/NAME`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsListenConfig {
    pub listen: std::net::SocketAddr,
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

fn default_full_run_above() -> usize {
    200
}

fn default_max_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}
