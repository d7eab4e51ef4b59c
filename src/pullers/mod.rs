//! Pullers read one upstream IM platform into a [`Directory`]. They never write upstream.

pub mod bitrix24;
pub mod dingtalk;
pub mod feishu;
mod focus;
pub mod http;
mod profile;
mod text;
pub mod wecom;

use crate::model::{Checked, Directory, UserKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use http::PullError;

/// The upstream platforms orgsync reads.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Wecom,
    Bitrix24,
    Feishu,
    Dingtalk,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Wecom => "wecom",
            Platform::Bitrix24 => "bitrix24",
            Platform::Feishu => "feishu",
            Platform::Dingtalk => "dingtalk",
        })
    }
}

/// What one complete pull produced. A pull that fails part-way returns an error instead, so a
/// partial directory can never be planned against.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub directory: Directory,
    pub stats: PullStats,
}

/// What a pull for a few people read (`orgsync sync NAME --person KEY`, events).
#[derive(Debug, Clone)]
pub struct Focused {
    pub pulled: Pulled,
    pub coverage: Coverage,
}

/// How much of the upstream a focused pull read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The whole directory (the puller reads no single people): anyone missing from it has left
    /// or is outside the app's scope, exactly as after a scheduled pull.
    Whole,
    /// Only the people in `directory.users`: those asked for and the managers their links need
    /// (a manager outside the app's scope cannot be read, so is absent, and the scope rule skips
    /// the link), with the departments above them. Everyone else is unknown and is left as the
    /// target has them. `not_found`: people asked for that the upstream says do not exist or
    /// are outside the app's scope.
    Partial { not_found: BTreeSet<UserKey> },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullStats {
    /// Requests sent, per endpoint path (retries included).
    pub calls: BTreeMap<String, u64>,
    /// Error answers, by code (the platform's error code, `http_503`, `transport`, `malformed`).
    pub errors: BTreeMap<String, u64>,
    /// Requests that were answered with an error and retried.
    pub retries: u64,
    #[serde(with = "duration_ms")]
    pub duration: Duration,
}

impl PullStats {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

mod duration_ms {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Reads a whole directory from one upstream.
pub trait Puller: Send + Sync {
    fn platform(&self) -> Platform;
    fn pull(&self) -> impl Future<Output = Result<Pulled, PullError>> + Send;

    /// Reads the people `keys` names and whoever their links need. Without single reads, the
    /// whole directory (`Coverage::Whole`); the planner narrows the plan to `keys` either way.
    fn pull_people(
        &self,
        keys: &[UserKey],
    ) -> impl Future<Output = Result<Focused, PullError>> + Send {
        let _ = keys;
        async {
            Ok(Focused {
                pulled: self.pull().await?,
                coverage: Coverage::Whole,
            })
        }
    }

    /// Fetches an access token without reading the directory (`check-config --online`).
    fn check_token(&self) -> impl Future<Output = Result<Checked, PullError>> + Send {
        async { Ok(Checked::NotChecked("this upstream has no token to fetch")) }
    }

    /// After a failed pull: the counts gathered until it failed (for metrics and the report).
    fn drain_stats(&self) -> Option<PullStats> {
        None
    }

    /// The live progress of a pull (calls, people, waits), for the engine to publish.
    fn progress(&self) -> Option<std::sync::Arc<http::PullProgress>> {
        None
    }

    /// Endpoints whose calls count against a monthly quota of the upstream organisation: the
    /// engine keeps a month's count of them in the state and shows it in the report.
    fn metered_endpoints(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The pullers a config can name, dispatched without boxing.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per connector, built once: its size does not matter"
)]
pub enum AnyPuller {
    Wecom(wecom::WecomPuller),
    Bitrix24(bitrix24::Bitrix24Puller),
    Feishu(feishu::FeishuPuller),
    Dingtalk(dingtalk::DingtalkPuller),
}

impl Puller for AnyPuller {
    fn platform(&self) -> Platform {
        match self {
            AnyPuller::Wecom(p) => p.platform(),
            AnyPuller::Bitrix24(p) => p.platform(),
            AnyPuller::Feishu(p) => p.platform(),
            AnyPuller::Dingtalk(p) => p.platform(),
        }
    }

    // A pull's future nests every layer of a puller (walk, retries, limiter) and is boxed here,
    // once per pull: otherwise a caller's future (the engine's run, a test's body) nests them
    // all too, and its type outgrows rustc's query depth limit.
    async fn pull(&self) -> Result<Pulled, PullError> {
        match self {
            AnyPuller::Wecom(p) => Box::pin(p.pull()).await,
            AnyPuller::Bitrix24(p) => Box::pin(p.pull()).await,
            AnyPuller::Feishu(p) => Box::pin(p.pull()).await,
            AnyPuller::Dingtalk(p) => Box::pin(p.pull()).await,
        }
    }

    async fn pull_people(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        match self {
            AnyPuller::Wecom(p) => Box::pin(p.pull_people(keys)).await,
            AnyPuller::Bitrix24(p) => Box::pin(p.pull_people(keys)).await,
            AnyPuller::Feishu(p) => Box::pin(p.pull_people(keys)).await,
            AnyPuller::Dingtalk(p) => Box::pin(p.pull_people(keys)).await,
        }
    }

    async fn check_token(&self) -> Result<Checked, PullError> {
        match self {
            AnyPuller::Wecom(p) => p.check_token().await,
            AnyPuller::Bitrix24(p) => p.check_token().await,
            AnyPuller::Feishu(p) => p.check_token().await,
            AnyPuller::Dingtalk(p) => p.check_token().await,
        }
    }

    fn metered_endpoints(&self) -> &'static [&'static str] {
        match self {
            AnyPuller::Wecom(p) => p.metered_endpoints(),
            AnyPuller::Bitrix24(p) => p.metered_endpoints(),
            AnyPuller::Feishu(p) => p.metered_endpoints(),
            AnyPuller::Dingtalk(p) => p.metered_endpoints(),
        }
    }

    fn drain_stats(&self) -> Option<PullStats> {
        match self {
            AnyPuller::Wecom(p) => p.drain_stats(),
            AnyPuller::Bitrix24(p) => p.drain_stats(),
            AnyPuller::Feishu(p) => p.drain_stats(),
            AnyPuller::Dingtalk(p) => p.drain_stats(),
        }
    }

    fn progress(&self) -> Option<std::sync::Arc<http::PullProgress>> {
        match self {
            AnyPuller::Wecom(p) => p.progress(),
            AnyPuller::Bitrix24(p) => p.progress(),
            AnyPuller::Feishu(p) => p.progress(),
            AnyPuller::Dingtalk(p) => p.progress(),
        }
    }
}
