use super::env;
use super::schedule::{Cron, Schedule, ScheduleZone};
use super::transport::{self, Side};
use super::{HumanDuration, SecretRef};
use crate::plan::Policy;
use crate::pullers::bitrix24::Bitrix24SourceConfig;
use crate::pullers::dingtalk::DingtalkSourceConfig;
use crate::pullers::feishu::FeishuSourceConfig;
use crate::pullers::wecom::WecomSourceConfig;
use crate::pushers::ldap::LdapTargetConfig;
use crate::pushers::scim::ScimTargetConfig;
use crate::pushers::webhook::WebhookTargetConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where snapshots and run history live (sled).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub history: HistoryConfig,
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// `[[notify]]`: IM robots and webhooks told about failures, refusals and recoveries.
    #[serde(default)]
    pub notify: Vec<super::NotifyConfig>,
}

/// `[daemon]`: how `orgsync run` is reached and stops.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The admin API's Unix socket (mode 0660). Default: `$RUNTIME_DIRECTORY/admin.sock`, else
    /// `/run/orgsync/admin.sock`.
    pub socket: Option<PathBuf>,
    /// Also serve the admin API on this loopback TCP address; requires `tcp_token`.
    pub tcp: Option<std::net::SocketAddr>,
    /// Bearer token for the TCP admin API.
    pub tcp_token: Option<SecretRef>,
    /// How long SIGTERM waits for the step in flight before exiting anyway.
    pub shutdown_timeout: HumanDuration,
    /// Admin API connections served at once (Unix and TCP each); more wait to be accepted, so
    /// idle clients cannot use up the daemon's file descriptors.
    pub max_connections: usize,
    /// An admin API connection that has not sent a complete request head this long after it
    /// opened, or after its last answer, is closed.
    pub idle_timeout: HumanDuration,
    /// The web console (`[daemon.web]`); off when the table is absent.
    pub web: Option<WebConfig>,
    /// The receiver of upstream change events (`[daemon.events]`); off when the table is absent.
    pub events: Option<super::EventsListenConfig>,
}

/// `[daemon.web]`: the web console, on loopback TCP or a Unix socket, for a reverse proxy with
/// TLS in front. Each role's token is exchanged at login for a session cookie.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// A loopback address, e.g. `127.0.0.1:8080`.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// A Unix socket path (mode 0660), for a reverse proxy on the same host.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Sees every page; cannot start runs or approve.
    #[serde(default)]
    pub viewer_token: Option<SecretRef>,
    /// Sees every page, starts runs, approves and dismisses plans.
    #[serde(default)]
    pub operator_token: Option<SecretRef>,
    /// How long a login lasts.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: HumanDuration,
    /// The URL a reverse proxy serves the console at: links, the Origin check, and `Secure`
    /// cookies when it is https.
    #[serde(default)]
    pub external_url: Option<url::Url>,
}

fn default_session_ttl() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(8 * 3600))
}

impl WebConfig {
    fn validate(&self) -> Result<(), String> {
        match (self.listen, &self.socket) {
            (None, None) => {
                return Err(
                    "daemon.web needs `listen` (a loopback address) or `socket` (a Unix socket path)"
                        .into(),
                );
            }
            (Some(_), Some(_)) => {
                return Err("daemon.web: set `listen` or `socket`, not both".into());
            }
            (Some(addr), None) if !addr.ip().is_loopback() => {
                return Err(format!(
                    "daemon.web.listen {addr} is not a loopback address; the console serves plain \
                     HTTP, so listen on 127.0.0.1 and put a reverse proxy with TLS in front \
                     (docs/console.md)"
                ));
            }
            _ => {}
        }
        if self.viewer_token.is_none() && self.operator_token.is_none() {
            return Err(
                "daemon.web needs `viewer_token` or `operator_token` (or both): nobody could log in"
                    .into(),
            );
        }
        if self.session_ttl.0.is_zero() {
            return Err("daemon.web.session_ttl must be longer than 0".into());
        }
        if let Some(url) = &self.external_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(format!(
                "daemon.web.external_url {url} must be an http:// or https:// URL"
            ));
        }
        Ok(())
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            socket: None,
            tcp: None,
            tcp_token: None,
            shutdown_timeout: HumanDuration(std::time::Duration::from_secs(30)),
            max_connections: 64,
            idle_timeout: HumanDuration(std::time::Duration::from_secs(10)),
            web: None,
            events: None,
        }
    }
}

impl DaemonConfig {
    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            std::env::var_os("RUNTIME_DIRECTORY")
                .map(|dir| PathBuf::from(dir).join("admin.sock"))
                .unwrap_or_else(|| PathBuf::from("/run/orgsync/admin.sock"))
        })
    }
}

/// `[history]`: run reports kept in the state directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Reports kept per connector; older ones are dropped.
    pub keep: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { keep: 200 }
    }
}

/// One sync job: one source, one target, a policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub source: SourceConfig,
    pub target: TargetConfig,
    #[serde(default)]
    pub policy: Policy,
    /// Departments as groups; copied into the policy the planner reads.
    #[serde(default)]
    pub groups: crate::plan::GroupPolicy,
    /// When `orgsync run` syncs this connector: six-field cron with seconds first, e.g.
    /// `"0 */30 * * * *"` (every 30 minutes), read in `timezone`. None: only on demand.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA time zone the schedule's times are in (`"Asia/Shanghai"`). None: the system's
    /// local zone, or UTC when that cannot be determined.
    #[serde(default)]
    pub timezone: Option<String>,
    /// A random delay up to this long before each scheduled run, so many installations do not hit
    /// the upstream at the same second (DingTalk asks to avoid the whole hour).
    #[serde(default)]
    pub jitter: Option<HumanDuration>,
    /// Change events pushed by the upstream (`[connectors.NAME.events]`); None: none.
    #[serde(default)]
    pub events: Option<super::EventsConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Wecom(WecomSourceConfig),
    Bitrix24(Bitrix24SourceConfig),
    Feishu(FeishuSourceConfig),
    Dingtalk(DingtalkSourceConfig),
}

// One per connector, read once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    Scim(ScimTargetConfig),
    Ldap(LdapTargetConfig),
    Webhook(WebhookTargetConfig),
}

impl SourceConfig {
    /// The hosts other than loopback this source reaches over plain http://, having opted in.
    pub fn plain_http_hosts(&self) -> Vec<String> {
        match self {
            SourceConfig::Wecom(s) => transport::allowed_hosts(s.allow_plain_http, [&s.api_base]),
            SourceConfig::Feishu(s) => transport::allowed_hosts(s.allow_plain_http, [&s.api_base]),
            SourceConfig::Dingtalk(s) => {
                transport::allowed_hosts(s.allow_plain_http, [&s.api_base])
            }
            SourceConfig::Bitrix24(s) => s.plain_http_hosts(),
        }
    }

    /// Every secret the source needs, for `check-config`.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        match self {
            SourceConfig::Wecom(s) => vec![&s.secret],
            SourceConfig::Feishu(s) => vec![&s.app_secret],
            SourceConfig::Bitrix24(s) => s.secret_refs(),
            SourceConfig::Dingtalk(s) => vec![&s.app_secret],
        }
    }
}

impl TargetConfig {
    /// The hosts other than loopback this target reaches over plain http://, having opted in.
    /// (LDAP has its own warnings, about `ldap://` and `tls_verify = false`.)
    pub fn plain_http_hosts(&self) -> Vec<String> {
        match self {
            TargetConfig::Scim(t) => transport::allowed_hosts(t.allow_plain_http, [&t.base_url]),
            TargetConfig::Webhook(t) => transport::allowed_hosts(t.allow_plain_http, [&t.url]),
            TargetConfig::Ldap(_) => Vec::new(),
        }
    }

    /// Every secret the target needs, for `check-config`.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        match self {
            TargetConfig::Scim(t) => vec![&t.token],
            TargetConfig::Ldap(t) => vec![&t.bind_password],
            TargetConfig::Webhook(t) => vec![&t.secret],
        }
    }

    /// The target's `[attributes]` table read by its kind: what each target attribute holds.
    pub fn mapping(&self) -> Result<crate::mapping::Mapping, crate::mapping::MappingError> {
        match self {
            TargetConfig::Scim(target) => target.attribute_mapping(),
            TargetConfig::Ldap(target) => target.attribute_mapping(),
            TargetConfig::Webhook(target) => target.attribute_mapping(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.mapping().map_err(|e| e.to_string())?;
        match self {
            TargetConfig::Scim(target) => target.validate(),
            TargetConfig::Ldap(target) => target.validate(),
            TargetConfig::Webhook(target) => target.validate(),
        }
    }
}

impl ConnectorConfig {
    /// A WARN for each side that opted into plain http:// to another host: at every start (the
    /// connector is built) and, in the daemon, at every run, so the journal keeps saying it.
    pub fn warn_plain_http(&self, name: &str) {
        transport::warn_allowed(name, Side::Source, &self.source.plain_http_hosts());
        transport::warn_allowed(name, Side::Target, &self.target.plain_http_hosts());
    }
}

fn file_source(path: &Path) -> config::File<config::FileSourceFile, config::FileFormat> {
    config::File::from(path)
        .format(config::FileFormat::Toml)
        .required(true)
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/orgsync")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("config file {path}: connector {connector:?}: {detail}")]
    Connector {
        path: PathBuf,
        connector: String,
        detail: String,
    },
    #[error("config file {path}: no connector named {name:?} (configured: {known})")]
    UnknownConnector {
        path: PathBuf,
        name: String,
        known: String,
    },
    /// An `ORGSYNC__…` override made a valid file invalid, or cannot be applied.
    #[error("environment variable {variable} (an override of config file {path}): {detail}")]
    Environment {
        path: PathBuf,
        variable: String,
        detail: String,
    },
    /// Several overrides together make the file invalid; none alone does.
    #[error("config file {path} with the environment overrides {variables}: {detail}")]
    Environments {
        path: PathBuf,
        variables: String,
        detail: String,
    },
}

impl ConfigError {
    /// The message without the file it is about, for wrapping.
    fn detail(&self) -> String {
        match self {
            ConfigError::Invalid { detail, .. } => detail.clone(),
            ConfigError::Connector {
                connector, detail, ..
            } => format!("connector {connector:?}: {detail}"),
            ConfigError::UnknownConnector { name, known, .. } => {
                format!("no connector named {name:?} (configured: {known})")
            }
            ConfigError::Environment {
                variable, detail, ..
            } => format!("{variable}: {detail}"),
            ConfigError::Environments { detail, .. } => detail.clone(),
        }
    }
}

impl Config {
    /// Reads `path`, applies `ORGSYNC__SECTION__KEY` environment overrides, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, std::env::vars_os())
    }

    /// [`Config::load`] with these environment variables (tests cannot safely set the process's).
    pub fn load_with_env(
        path: &Path,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        };
        // Opened once here for the real reason it cannot be read: a file the service user may
        // not read is not a missing file.
        if let Err(e) = std::fs::File::open(path) {
            return Err(invalid(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "file not found (give another one with --config)".into()
                }
                std::io::ErrorKind::PermissionDenied => format!(
                    "cannot read it ({e}): the user orgsync runs as needs read access to the file \
                     and every directory above it (README, \"Running as a service\")"
                ),
                _ => format!("cannot read it: {e}"),
            }));
        }
        let file = config::Config::builder()
            .add_source(file_source(path))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let table = config::Source::collect(&file).map_err(|e| invalid(e.to_string()))?;
        let overrides = env::overrides(&table, vars).map_err(|e| match e {
            env::OverrideError::Unusable { variable, detail } => ConfigError::Environment {
                path: path.to_owned(),
                variable,
                detail,
            },
        })?;
        let error = match Config::assemble(path, &overrides) {
            Ok(config) => return Ok(config),
            Err(error) if overrides.is_empty() => return Err(error),
            Err(error) => error,
        };
        Err(Config::blame(path, &overrides, error))
    }

    /// The file with these overrides, deserialized and validated.
    fn assemble(path: &Path, overrides: &[env::Override]) -> Result<Config, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        };
        let mut builder = config::Config::builder().add_source(file_source(path));
        for o in overrides {
            builder = builder
                .set_override(&o.key, o.typed())
                .map_err(|e| invalid(e.to_string()))?;
        }
        let config: Config = builder
            .build()
            .map_err(|e| invalid(e.to_string()))?
            .try_deserialize()
            .map_err(|e| invalid(e.to_string()))?;
        config.validate(path)?;
        Ok(config)
    }

    /// Who is to blame for `error`: the override without which the config is valid, else the
    /// file when it is invalid on its own with the same error, else the overrides together.
    fn blame(path: &Path, overrides: &[env::Override], error: ConfigError) -> ConfigError {
        for (i, culprit) in overrides.iter().enumerate() {
            let others: Vec<env::Override> = overrides
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| o.clone())
                .collect();
            if Config::assemble(path, &others).is_ok() {
                return ConfigError::Environment {
                    path: path.to_owned(),
                    variable: culprit.variable.clone(),
                    detail: error.detail(),
                };
            }
        }
        match Config::assemble(path, &[]) {
            Err(alone) if alone.to_string() == error.to_string() => error,
            _ => ConfigError::Environments {
                path: path.to_owned(),
                variables: overrides
                    .iter()
                    .map(|o| o.variable.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                detail: error.detail(),
            },
        }
    }

    /// Reads a config from TOML text (tests, the demo).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let built = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Invalid {
                path: origin.to_owned(),
                detail: e.to_string(),
            })?;
        let config: Config = built.try_deserialize().map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        };
        if let Some(tcp) = self.daemon.tcp {
            if !tcp.ip().is_loopback() {
                return Err(invalid(format!(
                    "daemon.tcp {tcp} is not a loopback address; the admin API is local only"
                )));
            }
            if self.daemon.tcp_token.is_none() {
                return Err(invalid("daemon.tcp needs daemon.tcp_token".into()));
            }
        }
        if self.daemon.max_connections == 0 {
            return Err(invalid("daemon.max_connections must be at least 1".into()));
        }
        if self.daemon.idle_timeout.0.is_zero() {
            return Err(invalid("daemon.idle_timeout must be longer than 0".into()));
        }
        if let Some(web) = &self.daemon.web {
            web.validate().map_err(invalid)?;
        }
        if self.history.keep == 0 {
            return Err(invalid("history.keep must be at least 1".into()));
        }
        super::notify::validate(&self.notify, &self.connectors).map_err(invalid)?;
        for (name, connector) in &self.connectors {
            let fail = |detail: String| ConfigError::Connector {
                path: path.to_owned(),
                connector: name.clone(),
                detail,
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(fail(
                    "names may use only letters, digits, '-' and '_'".into(),
                ));
            }
            connector
                .policy
                .validate()
                .map_err(|d| fail(format!("policy: {d}")))?;
            let zone = connector
                .zone()
                .map_err(|d| fail(format!("timezone: {d}")))?;
            if connector.schedule.is_some() {
                connector
                    .schedule_in(zone)
                    .map_err(|d| fail(format!("schedule: {d}")))?;
            }
            match &connector.source {
                SourceConfig::Wecom(source) => source
                    .validate()
                    .map_err(|d| fail(format!("source: {d}")))?,
                SourceConfig::Bitrix24(source) => source
                    .validate()
                    .map_err(|d| fail(format!("source: {d}")))?,
                SourceConfig::Feishu(source) => source
                    .validate()
                    .map_err(|d| fail(format!("source: {d}")))?,
                SourceConfig::Dingtalk(source) => source
                    .validate()
                    .map_err(|d| fail(format!("source: {d}")))?,
            }
            connector
                .target
                .validate()
                .map_err(|d| fail(format!("target: {d}")))?;
            if let Some(events) = &connector.events {
                events
                    .validate(&connector.source, self.daemon.events.is_some())
                    .map_err(|d| fail(format!("events: {d}")))?;
            }
            if let TargetConfig::Ldap(target) = &connector.target {
                target
                    .validate_groups(connector.groups.enabled)
                    .map_err(|d| fail(format!("target: {d}")))?;
            }
        }
        Ok(())
    }

    pub fn connector(&self, name: &str, path: &Path) -> Result<&ConnectorConfig, ConfigError> {
        self.connectors
            .get(name)
            .ok_or_else(|| ConfigError::UnknownConnector {
                path: path.to_owned(),
                name: name.to_owned(),
                known: if self.connectors.is_empty() {
                    "none".to_owned()
                } else {
                    self.connectors
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }
}

impl ConnectorConfig {
    /// The zone of the schedule: `timezone`, else the system's, else UTC.
    pub fn zone(&self) -> Result<ScheduleZone, String> {
        ScheduleZone::of(self.timezone.as_deref())
    }

    /// [`ConnectorConfig::zone`], which validation checked; UTC should the system's zone have
    /// gone since.
    pub fn zone_or_utc(&self) -> ScheduleZone {
        self.zone().unwrap_or_else(|_| ScheduleZone::utc_fallback())
    }

    /// The schedule in `zone`, None when on demand only; an expression that cannot be parsed or
    /// names no date that comes is an error.
    pub fn schedule_in(&self, zone: ScheduleZone) -> Result<Option<Schedule>, String> {
        let Some(expression) = &self.schedule else {
            return Ok(None);
        };
        let cron = Cron::parse(expression).map_err(|e| e.to_string())?;
        let schedule = Schedule::new(cron, zone.zone);
        if schedule.next_after(jiff::Timestamp::now()).is_none() {
            return Err(format!(
                "{expression:?} names no date in the next fifty years"
            ));
        }
        Ok(Some(schedule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connector whose source and target tables carry these lines.
    fn with(source: &str, target: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!(
                "[connectors.hq.source]\nkind = \"wecom\"\ncorp_id = \"ww1\"\nsecret = \"env:S\"\nagent_id = 1000002\n{source}\n\
                 [connectors.hq.target]\n{target}\n"
            ),
            Path::new("orgsync.toml"),
        )
    }

    const SCIM: &str = "kind = \"scim\"\ntoken = \"env:T\"\nbase_url = ";

    /// A connector with these top-level keys (schedule, timezone) and a valid source and target.
    fn connector_with(keys: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!(
                "[connectors.hq]\n{keys}\n[connectors.hq.source]\nkind = \"wecom\"\ncorp_id = \"ww1\"\n\
                 secret = \"env:S\"\nagent_id = 1\n[connectors.hq.target]\n{SCIM}\"https://scim.example.com/\"\n"
            ),
            Path::new("orgsync.toml"),
        )
    }

    #[test]
    fn schedules_and_time_zones_are_checked_at_load_naming_the_key() {
        let config =
            connector_with("schedule = \"0 0 9 * * *\"\ntimezone = \"Asia/Shanghai\"").unwrap();
        let hq = &config.connectors["hq"];
        assert_eq!(hq.zone().unwrap().name, "Asia/Shanghai");
        assert!(hq.schedule_in(hq.zone().unwrap()).unwrap().is_some());
        for (keys, says) in [
            (
                "timezone = \"Asia/Shangai\"",
                "connector \"hq\": timezone: \"Asia/Shangai\" is not a time zone",
            ),
            (
                "schedule = \"0 0 9 * *\"",
                "connector \"hq\": schedule: \"0 0 9 * *\" has 5 field(s)",
            ),
            (
                "schedule = \"0 0 0 30 2 *\"",
                "schedule: \"0 0 0 30 2 *\" names no date in the next fifty years",
            ),
            ("schedule = \"0 0 0 L * *\"", "uses L, W or #"),
        ] {
            let error = connector_with(keys).unwrap_err().to_string();
            assert!(error.contains(says), "{keys}: {error}");
        }
    }
    const WEBHOOK: &str = "kind = \"webhook\"\nsecret = \"env:T\"\nurl = ";

    /// `text` as a config file, loaded with these environment variables.
    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orgsync.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(
            &path,
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    const HR: &str = "[connectors.HR.source]\nkind = \"wecom\"\ncorp_id = \"ww1\"\nsecret = \"env:S\"\nagent_id = 1000002\n\
                      [connectors.HR.target]\nkind = \"scim\"\ntoken = \"env:T\"\n\
                      base_url = \"https://scim.example.com/v2\"\n";

    /// `[daemon.web]` with these lines, beside one valid connector.
    fn web(lines: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!("[daemon.web]\n{lines}\n{HR}"),
            Path::new("orgsync.toml"),
        )
    }

    #[test]
    fn the_web_console_is_off_by_default_and_checked_when_on() {
        let off = Config::from_toml(HR, Path::new("orgsync.toml")).unwrap();
        assert_eq!(off.daemon.web, None);

        let on = web("listen = \"127.0.0.1:8080\"\noperator_token = \"env:OP\"").unwrap();
        let on = on.daemon.web.unwrap();
        assert_eq!(on.session_ttl.0, std::time::Duration::from_secs(8 * 3600));
        assert_eq!(on.viewer_token, None);

        let cases = [
            ("operator_token = \"env:OP\"", "needs `listen`"),
            (
                "listen = \"0.0.0.0:8080\"\noperator_token = \"env:OP\"",
                "reverse proxy with TLS",
            ),
            (
                "listen = \"127.0.0.1:8080\"\nsocket = \"/run/w.sock\"\nviewer_token = \"env:V\"",
                "not both",
            ),
            ("socket = \"/run/w.sock\"", "nobody could log in"),
            (
                "socket = \"/run/w.sock\"\nviewer_token = \"env:V\"\nsession_ttl = \"0s\"",
                "session_ttl",
            ),
            (
                "socket = \"/run/w.sock\"\nviewer_token = \"env:V\"\nexternal_url = \"ftp://x\"",
                "http:// or https://",
            ),
            (
                "socket = \"/run/w.sock\"\nviewer_token = \"V\"",
                "viewer_token",
            ),
        ];
        for (lines, expected) in cases {
            let error = web(lines).unwrap_err().to_string();
            assert!(error.contains(expected), "{lines}: {error}");
        }
    }

    #[test]
    fn ldap_groups_need_a_groups_base() {
        let ldap = "kind = \"ldap\"\nurl = \"ldap://127.0.0.1\"\nbind_dn = \"cn=a,dc=x\"\n\
                    bind_password = \"env:P\"\nbase_dn = \"ou=people,dc=x\"\n";
        let groups = "[connectors.hq.groups]\nenabled = true\n";
        let error = with("", &format!("{ldap}{groups}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("groups_base"), "{error}");
        with(
            "",
            &format!("{ldap}groups_base = \"ou=groups,dc=x\"\n{groups}"),
        )
        .unwrap();
        with("", ldap).unwrap();
    }

    #[test]
    fn overrides_reach_a_connector_whatever_the_case_of_its_name() {
        let config = load(
            HR,
            &[
                ("ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY", "3"),
                ("ORGSYNC__CONNECTORS__HR__SOURCE__CORP_ID", "12345"),
                ("ORGSYNC__HISTORY__KEEP", "7"),
            ],
        )
        .unwrap();
        assert_eq!(config.connectors.keys().collect::<Vec<_>>(), ["HR"]);
        let TargetConfig::Scim(target) = &config.connectors["HR"].target else {
            panic!("scim")
        };
        assert_eq!(target.concurrency, 3);
        // The file holds text there: digits stay text.
        let SourceConfig::Wecom(source) = &config.connectors["HR"].source else {
            panic!("wecom")
        };
        assert_eq!(source.corp_id, "12345");
        assert_eq!(config.history.keep, 7);
    }

    #[test]
    fn an_override_that_breaks_the_config_is_named() {
        for (variable, value, says) in [
            (
                "ORGSYNC__CONNECTORS__HR__SORCE__CORP_ID",
                "ww2",
                "unknown field `sorce`",
            ),
            (
                "ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY",
                "0",
                "concurrency and page_size",
            ),
            (
                "ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY",
                "many",
                "expected usize",
            ),
            ("ORGSYNC__HISTORRY__KEEP", "3", "unknown field `historry`"),
        ] {
            let error = load(HR, &[("ORGSYNC__HISTORY__KEEP", "7"), (variable, value)])
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!(
                    "environment variable {variable} (an override of config file"
                )),
                "{error}"
            );
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn the_file_is_blamed_for_its_own_errors_and_the_breaking_override_for_its() {
        let broken = HR.replace("corp_id", "crop_id");
        let error = load(&broken, &[("ORGSYNC__HISTORY__KEEP", "7")])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("config file "), "{error}");
        assert!(error.contains("unknown field `crop_id`"), "{error}");
        // The file needs one override (its page size is 0) and another breaks it: that one is named.
        let with_page_size = HR.replace("base_url", "page_size = 0\nbase_url");
        let error = load(
            &with_page_size,
            &[
                ("ORGSYNC__CONNECTORS__HR__TARGET__PAGE_SIZE", "5"),
                ("ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY", "0"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("ORGSYNC__CONNECTORS__HR__TARGET__CONCURRENCY"),
            "{error}"
        );
    }

    #[test]
    fn plain_http_to_another_host_is_refused_on_every_side() {
        let https = format!("{SCIM}\"https://scim.example.com/v2\"");
        for (source, target, says) in [
            (
                "api_base = \"http://qyapi.example.com\"",
                https.clone(),
                "connector \"hq\": source: api_base is plain http:// to qyapi.example.com",
            ),
            (
                "",
                format!("{SCIM}\"http://scim.example.com/v2\""),
                "connector \"hq\": target: base_url is plain http:// to scim.example.com",
            ),
            (
                "",
                format!("{WEBHOOK}\"http://10.1.2.3/hook\""),
                "connector \"hq\": target: url is plain http:// to 10.1.2.3",
            ),
        ] {
            let error = with(source, &target).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
            assert!(error.contains("allow_plain_http = true"), "{error}");
        }
    }

    #[test]
    fn plain_http_is_accepted_to_loopback_or_when_the_table_opts_in() {
        let local = format!("{SCIM}\"http://127.0.0.1:8080/v2\"");
        with("api_base = \"http://localhost:9000\"", &local).unwrap();
        with("", &format!("{WEBHOOK}\"http://[::1]:9/hook\"")).unwrap();
        let config = with(
            "api_base = \"http://qyapi.example.com\"\nallow_plain_http = true",
            &format!("{SCIM}\"http://scim.example.com/v2\"\nallow_plain_http = true"),
        )
        .unwrap();
        let hq = &config.connectors["hq"];
        assert_eq!(hq.source.plain_http_hosts(), ["qyapi.example.com"]);
        assert_eq!(hq.target.plain_http_hosts(), ["scim.example.com"]);
        // The key is per table: the target's opt-in does not cover the source.
        assert!(
            with(
                "api_base = \"http://qyapi.example.com\"",
                &format!("{SCIM}\"http://scim.example.com/v2\"\nallow_plain_http = true"),
            )
            .is_err()
        );
    }

    #[test]
    fn example_configs_load() {
        for (name, text) in [
            (
                "wecom-scim.toml",
                include_str!("../../config/wecom-scim.toml"),
            ),
            (
                "wecom-ldap.toml",
                include_str!("../../config/wecom-ldap.toml"),
            ),
            (
                "wecom-webhook.toml",
                include_str!("../../config/wecom-webhook.toml"),
            ),
        ] {
            let config = Config::from_toml(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config.connectors.len(), 1, "{name}");
        }
    }
}
