//! `[connectors.NAME.events]`: change events from the upstream, and `[daemon.events]`: the
//! receiver's listener.

use super::{HumanDuration, SecretRef, SourceConfig};
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

/// Bitrix24 pushes no contact events orgsync can use: its connectors run on their schedule.
pub const BITRIX24_HAS_NO_EVENTS: &str = "Bitrix24 sends no contact change events orgsync can \
     receive; remove [events] (the connector's schedule applies)";

/// Requests older than this are certainly replays; below it a platform's own retries (seconds
/// apart) and clock skew would be refused.
const LEAST_MAX_AGE: Duration = Duration::from_secs(10);

impl EventsConfig {
    /// What `[connectors.NAME.events]` needs beyond its types: a platform that sends events,
    /// Stream delivery only where it exists (DingTalk), the HTTP receiver's listener
    /// (`listener`: whether `[daemon.events]` is configured), and usable windows.
    pub fn validate(&self, source: &SourceConfig, listener: bool) -> Result<(), String> {
        match (source, self.delivery) {
            (SourceConfig::Bitrix24(_), _) => return Err(BITRIX24_HAS_NO_EVENTS.into()),
            (SourceConfig::Dingtalk(_), Delivery::Stream) => {}
            (_, Delivery::Stream) => {
                return Err(
                    "delivery = \"stream\" is DingTalk's only; this platform delivers events \
                     over HTTP (delivery = \"http\")"
                        .into(),
                );
            }
            (_, Delivery::Http) if !listener => {
                return Err(
                    "delivery = \"http\" needs the receiver: add [daemon.events] with `listen` \
                     (the address the reverse proxy forwards /events/NAME to)"
                        .into(),
                );
            }
            (_, Delivery::Http) => {}
        }
        self.check_keys(source)?;
        if self.window.0.is_zero() {
            return Err("window must be longer than 0".into());
        }
        if self.full_run_above == 0 {
            return Err("full_run_above must be at least 1".into());
        }
        if self.max_age.0 < LEAST_MAX_AGE {
            return Err(format!(
                "max_age must be at least {} s (the platforms retry seconds apart)",
                LEAST_MAX_AGE.as_secs()
            ));
        }
        Ok(())
    }
}

/// Event settings by name, and whether each is set.
type Keys<'a> = &'a [(&'a str, bool)];

impl EventsConfig {
    /// The keys this platform and delivery need are set, and no other platform's: a key
    /// copied into the wrong field would otherwise show only as every event refused.
    fn check_keys(&self, source: &SourceConfig) -> Result<(), String> {
        let set = |key: &Option<SecretRef>| key.is_some();
        let (needed, foreign): (Keys, Keys) = match (source, self.delivery) {
            (SourceConfig::Feishu(_), _) => (
                &[("verification_token", set(&self.verification_token))],
                &[("token", set(&self.token)), ("aes_key", set(&self.aes_key))],
            ),
            (SourceConfig::Dingtalk(_), Delivery::Stream) => (
                &[],
                &[
                    ("token", set(&self.token)),
                    ("aes_key", set(&self.aes_key)),
                    ("verification_token", set(&self.verification_token)),
                    ("encrypt_key", set(&self.encrypt_key)),
                ],
            ),
            _ => (
                &[("token", set(&self.token)), ("aes_key", set(&self.aes_key))],
                &[
                    ("verification_token", set(&self.verification_token)),
                    ("encrypt_key", set(&self.encrypt_key)),
                ],
            ),
        };
        if let Some((key, _)) = needed.iter().find(|(_, present)| !present) {
            return Err(format!(
                "`{key}` is required (a secret reference to the value the platform's event \
                 settings show; docs/events.md)"
            ));
        }
        if let Some((key, _)) = foreign.iter().find(|(_, present)| *present) {
            return Err(match (source, self.delivery) {
                (SourceConfig::Dingtalk(_), Delivery::Stream) => format!(
                    "`{key}` is not used with delivery = \"stream\": the connection is opened \
                     with the app's key and secret"
                ),
                _ => format!(
                    "`{key}` is another platform's setting; this platform's are {}",
                    needed
                        .iter()
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            });
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, Delivery};
    use std::path::Path;

    const TARGET: &str = "[connectors.hq.target]\nkind = \"scim\"\ntoken = \"env:T\"\n\
                          base_url = \"https://scim.example.com/v2\"\n";
    const LISTENER: &str = "[daemon.events]\nlisten = \"0.0.0.0:8443\"\n";
    const KEYS_AND_ZERO_WINDOW: &str = "token = \"env:T\"\naes_key = \"env:K\"\nwindow = \"0s\"";

    fn source(kind: &str) -> &'static str {
        match kind {
            "wecom" => {
                "kind = \"wecom\"\ncorp_id = \"ww1\"\nsecret = \"env:S\"\nagent_id = 1000002\n"
            }
            "dingtalk" => "kind = \"dingtalk\"\napp_key = \"k\"\napp_secret = \"env:S\"\n",
            "feishu" => "kind = \"feishu\"\napp_id = \"cli_1\"\napp_secret = \"env:S\"\n",
            _ => {
                "kind = \"bitrix24\"\n[connectors.hq.source.auth]\nmode = \"webhook\"\nurl = \"env:W\"\n"
            }
        }
    }

    fn config(listener: &str, kind: &str, events: &str) -> Result<Config, String> {
        let text = format!(
            "{listener}[connectors.hq.source]\n{}{TARGET}[connectors.hq.events]\n{events}\n",
            source(kind)
        );
        Config::from_toml(&text, Path::new("orgsync.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn events_take_defaults_and_http_delivery_needs_the_receiver() {
        let loaded = config(
            LISTENER,
            "feishu",
            "verification_token = \"env:V\"\nencrypt_key = \"env:K\"",
        )
        .unwrap();
        let events = loaded.connectors["hq"].events.clone().unwrap();
        assert_eq!(events.delivery, Delivery::Http);
        assert_eq!(events.window.0.as_secs(), 1);
        assert_eq!(events.full_run_above, 200);
        assert_eq!(events.max_age.0.as_secs(), 300);
        let error = Config::from_toml(
            &format!(
                "[connectors.hq.source]\n{}{TARGET}[connectors.hq.events]\n",
                source("wecom")
            ),
            Path::new("orgsync.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("[daemon.events]"), "{error}");
        // Stream delivery opens its own connection: no listener needed.
        assert!(config("", "dingtalk", "delivery = \"stream\"").is_ok());
    }

    #[test]
    fn unusable_event_settings_are_refused_with_the_reason() {
        for (kind, events, says) in [
            ("bitrix24", "", "Bitrix24 sends no contact change events"),
            ("wecom", "delivery = \"stream\"", "DingTalk's only"),
            ("feishu", "delivery = \"stream\"", "DingTalk's only"),
            ("wecom", "token = \"env:T\"", "`aes_key` is required"),
            ("dingtalk", "aes_key = \"env:K\"", "`token` is required"),
            (
                "feishu",
                "encrypt_key = \"env:K\"",
                "`verification_token` is required",
            ),
            (
                "feishu",
                "verification_token = \"env:V\"\ntoken = \"env:T\"",
                "`token` is another platform's setting",
            ),
            (
                "wecom",
                "token = \"env:T\"\naes_key = \"env:K\"\nencrypt_key = \"env:E\"",
                "`encrypt_key` is another platform's setting",
            ),
            (
                "dingtalk",
                "delivery = \"stream\"\ntoken = \"env:T\"",
                "not used with delivery = \"stream\"",
            ),
            (
                "wecom",
                KEYS_AND_ZERO_WINDOW,
                "window must be longer than 0",
            ),
            (
                "wecom",
                "token = \"env:T\"\naes_key = \"env:K\"\nfull_run_above = 0",
                "full_run_above must be at least 1",
            ),
            (
                "dingtalk",
                "token = \"env:T\"\naes_key = \"env:K\"\nmax_age = \"5s\"",
                "max_age must be at least 10 s",
            ),
            ("wecom", "wndow = \"1s\"", "wndow"),
        ] {
            let error = config(LISTENER, kind, events).unwrap_err();
            assert!(error.contains(says), "{kind} {events}: {error}");
            assert!(error.contains("hq"), "names the connector: {error}");
        }
    }
}
