//! `[[notify]]`: where orgsync tells admins that something needs them (an IM group robot or a
//! signed webhook), about which events and which connectors. The robots' webhook URLs carry
//! their tokens, so they are secret references like every other credential.

use super::transport::{self, PlainHttp};
use super::{HumanDuration, SecretRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The pull or the set-up failed: nothing was written.
    RunFailed,
    /// The deletion guard kept a plan for approval.
    GuardRefused,
    /// The circuit breaker stopped a run after target failures in a row.
    BreakerTripped,
    /// A pull waits out an upstream throttle longer than `throttled_long_after`.
    ThrottledLong,
    /// The first successful run after a failure this entry notified.
    Recovered,
    /// A run applied changes (with the step counts).
    Applied,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::RunFailed,
        NotifyEvent::GuardRefused,
        NotifyEvent::BreakerTripped,
        NotifyEvent::ThrottledLong,
        NotifyEvent::Recovered,
        NotifyEvent::Applied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::RunFailed => "run_failed",
            NotifyEvent::GuardRefused => "guard_refused",
            NotifyEvent::BreakerTripped => "breaker_tripped",
            NotifyEvent::ThrottledLong => "throttled_long",
            NotifyEvent::Recovered => "recovered",
            NotifyEvent::Applied => "applied",
        }
    }
}

// Read by hand, so a misspelt name is answered with the names there are (the config loader's
// own message for an unknown variant lists none).
impl<'de> Deserialize<'de> for NotifyEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NotifyEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown event {text:?} in `on`: use {}",
                    NotifyEvent::ALL.map(NotifyEvent::as_str).join(", ")
                ))
            })
    }
}

/// Where the messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A DingTalk group's custom robot, signed with its `SEC…` secret.
    DingtalkRobot,
    /// A WeCom group robot (its key is in the webhook URL).
    WecomRobot,
    /// A Feishu/Lark group's custom bot, signed with its secret.
    FeishuBot,
    /// Any HTTPS endpoint, signed like the webhook target (docs/webhooks.md).
    Webhook,
}

impl<'de> Deserialize<'de> for ChannelKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown notify kind {text:?}: use {}",
                    ChannelKind::ALL.map(ChannelKind::as_str).join(", ")
                ))
            })
    }
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::DingtalkRobot,
        ChannelKind::WecomRobot,
        ChannelKind::FeishuBot,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::DingtalkRobot => "dingtalk_robot",
            ChannelKind::WecomRobot => "wecom_robot",
            ChannelKind::FeishuBot => "feishu_bot",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// Whether the platform signs requests with a secret of its own besides the URL's token.
    fn needs_secret(self) -> bool {
        !matches!(self, ChannelKind::WecomRobot)
    }
}

/// One `[[notify]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub kind: ChannelKind,
    /// Names the channel in logs, metrics and `orgsync notify test` (default: the kind and its
    /// place in the file).
    #[serde(default)]
    pub name: Option<String>,
    /// The events this channel hears of.
    pub on: Vec<NotifyEvent>,
    /// The connectors it covers; empty: all of them.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// The robot's webhook URL as the platform shows it (it carries the robot's token):
    /// a secret reference. DingTalk, WeCom and Feishu only.
    #[serde(default)]
    pub webhook: Option<SecretRef>,
    /// The receiver's URL; `kind = "webhook"` only.
    #[serde(default)]
    pub url: Option<url::Url>,
    /// The signing secret: DingTalk's `SEC…`, Feishu's, or the webhook's HMAC key.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// `throttled_long` when a pull waits out a throttle at least this long.
    #[serde(default = "default_throttled_long_after")]
    pub throttled_long_after: HumanDuration,
    /// The same failure again (same connector, event and error) is sent once, then again only
    /// as a reminder after this long.
    #[serde(default = "default_remind_after")]
    pub remind_after: HumanDuration,
    /// One message's time limit (each attempt).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Plain http:// to a host other than loopback (a webhook only).
    #[serde(default)]
    pub allow_plain_http: PlainHttp,
}

fn default_throttled_long_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(15 * 60))
}

fn default_remind_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(24 * 3600))
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl NotifyConfig {
    /// The channel's name: `name`, else `KIND-N` (N its place among the entries, from 1).
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.kind.as_str(), index + 1))
    }

    /// Whether this entry covers `connector`.
    pub fn covers(&self, connector: &str) -> bool {
        self.connectors.is_empty() || self.connectors.iter().any(|c| c == connector)
    }

    fn validate<T>(&self, connectors: &BTreeMap<String, T>) -> Result<(), String> {
        let kind = self.kind.as_str();
        if self.on.is_empty() {
            return Err(format!(
                "`on` lists no event: name at least one of run_failed, guard_refused, \
                 breaker_tripped, throttled_long, recovered, applied (kind = {kind:?})"
            ));
        }
        if let Some(name) = &self.name
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "name {name:?}: names may use only letters, digits, '-' and '_'"
            ));
        }
        for name in &self.connectors {
            if !connectors.contains_key(name) {
                let known: Vec<&str> = connectors.keys().map(String::as_str).collect();
                return Err(format!(
                    "connectors: no connector named {name:?} (configured: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        match (self.kind, &self.webhook, &self.url) {
            (ChannelKind::Webhook, _, None) => {
                return Err("kind = \"webhook\" needs `url` (the receiver's https:// URL)".into());
            }
            (ChannelKind::Webhook, Some(_), _) => {
                return Err(
                    "kind = \"webhook\" takes `url`, not `webhook` (that is for the IM robots)"
                        .into(),
                );
            }
            (ChannelKind::Webhook, None, Some(url)) => {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(format!("url {url} must be an https:// URL"));
                }
                transport::check("url", url, self.allow_plain_http)?;
            }
            (_, None, _) => {
                return Err(format!(
                    "kind = {kind:?} needs `webhook`: a secret reference (env:NAME, file:PATH or \
                     credential:NAME) to the robot's webhook URL as the platform shows it, which \
                     carries the robot's token"
                ));
            }
            (_, Some(_), Some(_)) => {
                return Err(format!(
                    "kind = {kind:?} takes `webhook` (a secret reference to the robot's URL), not \
                     `url`: the robot's URL carries its token"
                ));
            }
            (_, Some(_), None) => {}
        }
        match (self.kind.needs_secret(), &self.secret) {
            (true, None) => {
                return Err(match self.kind {
                    ChannelKind::DingtalkRobot => "kind = \"dingtalk_robot\" needs `secret`: the \
                        robot's signing secret (SEC…, under Security Settings → Additional \
                        Signature), as a secret reference"
                        .into(),
                    ChannelKind::FeishuBot => "kind = \"feishu_bot\" needs `secret`: the bot's \
                        signing secret (Security settings → Set signature verification), as a \
                        secret reference"
                        .into(),
                    _ => format!(
                        "kind = {kind:?} needs `secret`: the HMAC key the receiver checks, as a \
                         secret reference"
                    ),
                });
            }
            (false, Some(_)) => {
                return Err(
                    "kind = \"wecom_robot\" takes no `secret`: a WeCom group robot is \
                            authenticated by the key in its webhook URL"
                        .into(),
                );
            }
            _ => {}
        }
        if self.throttled_long_after.0.is_zero() {
            return Err("throttled_long_after must be longer than 0".into());
        }
        if self.remind_after.0 < Duration::from_secs(60) {
            return Err("remind_after must be at least 1m".into());
        }
        if self.timeout.0.is_zero() {
            return Err("timeout must be longer than 0".into());
        }
        Ok(())
    }
}

/// Checks every entry; the error names the entry (`notify[N]`, from 1, and its name).
pub fn validate<T>(
    entries: &[NotifyConfig],
    connectors: &BTreeMap<String, T>,
) -> Result<(), String> {
    let mut labels = std::collections::BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let label = entry.label(i);
        entry
            .validate(connectors)
            .map_err(|detail| format!("notify #{} ({label}): {detail}", i + 1))?;
        if !labels.insert(label.clone()) {
            return Err(format!(
                "notify #{} ({label}): another entry has this name; names must differ",
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<NotifyConfig>, String> {
        #[derive(Deserialize)]
        struct File {
            notify: Vec<NotifyConfig>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let connectors = BTreeMap::from([("hq".to_owned(), ())]);
        validate(&file.notify, &connectors)?;
        Ok(file.notify)
    }

    #[test]
    fn a_robot_entry_reads_with_its_defaults() {
        let read = entries(
            r#"[[notify]]
kind = "dingtalk_robot"
on = ["run_failed", "recovered"]
webhook = "env:DINGTALK_WEBHOOK"
secret = "file:/etc/orgsync/dingtalk-sec"
"#,
        )
        .unwrap();
        assert_eq!(read[0].on, [NotifyEvent::RunFailed, NotifyEvent::Recovered]);
        assert!(read[0].covers("anything"));
        assert_eq!(read[0].remind_after.0, Duration::from_secs(86_400));
        assert_eq!(read[0].label(0), "dingtalk_robot-1");
    }

    #[test]
    fn the_mistakes_admins_make_are_explained() {
        let cases = [
            (
                "kind = \"dingtalk_robot\"\non = [\"run_failed\"]\nwebhook = \"env:W\"",
                "needs `secret`",
            ),
            (
                "kind = \"feishu_bot\"\non = [\"run_failed\"]\nwebhook = \"env:W\"",
                "signature verification",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"run_failed\"]\nwebhook = \"env:W\"\nsecret = \"env:S\"",
                "takes no `secret`",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"run_failed\"]\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x\"",
                "needs `webhook`",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"run_faild\"]\nwebhook = \"env:W\"",
                "unknown event \"run_faild\" in `on`: use run_failed, guard_refused",
            ),
            (
                "kind = \"wecom_robot\"\non = []\nwebhook = \"env:W\"",
                "lists no event",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"applied\"]\nwebhook = \"env:W\"\nconnectors = [\"branch\"]",
                "no connector named \"branch\" (configured: hq)",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"applied\"]\nwebhook = \"https://qyapi.weixin.qq.com/x\"",
                "not as a value",
            ),
            (
                "kind = \"webhook\"\non = [\"applied\"]\nurl = \"http://hooks.example.com/x\"\nsecret = \"env:S\"",
                "plain http://",
            ),
            (
                "kind = \"slack\"\non = [\"applied\"]",
                "unknown notify kind \"slack\": use dingtalk_robot, wecom_robot",
            ),
            (
                "kind = \"wecom_robot\"\non = [\"applied\"]\nwebhook = \"env:W\"\nremind_after = \"10s\"",
                "remind_after must be at least 1m",
            ),
        ];
        for (entry, want) in cases {
            let error = entries(&format!("[[notify]]\n{entry}\n")).unwrap_err();
            assert!(error.contains(want), "{entry}: {error}");
        }
    }

    #[test]
    fn two_entries_may_not_share_a_name() {
        let one = "kind = \"wecom_robot\"\non = [\"applied\"]\nwebhook = \"env:W\"\nname = \"ops\"";
        let error = entries(&format!("[[notify]]\n{one}\n[[notify]]\n{one}\n")).unwrap_err();
        assert!(error.contains("notify #2 (ops)"), "{error}");
    }
}
