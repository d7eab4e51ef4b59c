//! How long the demo's pulls take, said before they start. The emulators enforce each platform's
//! documented limits and the pullers keep their default rate limits (5 % under them), as against
//! the real platform: the demo shows a real pull's pace rather than a faster one. The least time
//! a pull takes is the busiest budget's calls spread over those limits; the calls follow the
//! README's "what to grant" formulas for an org of this size.

use crate::config::SecretRef;
use crate::pullers::Platform;
use crate::pullers::bitrix24::{Bitrix24Auth, Bitrix24SourceConfig};
use crate::pullers::dingtalk::DingtalkSourceConfig;
use crate::pullers::feishu::FeishuSourceConfig;
use crate::pullers::http::{LimitScope, RateLimit};
use crate::pullers::wecom::WecomSourceConfig;
use std::time::Duration;

/// The least time one pull of `departments` departments and `people` people (those in the app's
/// scope) takes under the platform's default rate limits.
pub fn pull_floor(platform: Platform, departments: u64, people: u64) -> Duration {
    let (busiest, total) = calls(platform, departments, people);
    default_limits(platform)
        .iter()
        .map(|limit| {
            let n = match limit.scope {
                LimitScope::Endpoint => busiest,
                LimitScope::Shared => total,
            };
            limit.earliest(n.saturating_sub(1))
        })
        .max()
        .unwrap_or_default()
}

/// (calls to the busiest endpoint, calls in all) of one pull.
fn calls(platform: Platform, departments: u64, people: u64) -> (u64, u64) {
    let d = departments.max(1);
    match platform {
        // One user/list per department.
        Platform::Wecom => (d, d + 3),
        // One listsub per department; user/list pages of 100, at least one per department; the
        // HR roster 100 people a call.
        Platform::Dingtalk => {
            let pages = d + people / 100;
            (pages, 3 + d + pages + people.div_ceil(100))
        }
        // find_by_department pages of 50, at least one per department; children 50 a page.
        Platform::Feishu => {
            let pages = d + people / 50;
            (pages, 1 + d.div_ceil(50) + pages)
        }
        // Batches of 50 list pages of 50 people or departments.
        Platform::Bitrix24 => {
            let batches = 1 + (people.div_ceil(50) + d.div_ceil(50)).div_ceil(50);
            (batches, batches)
        }
    }
}

/// The rate limits a connector of this platform keeps unless configured otherwise.
fn default_limits(platform: Platform) -> Vec<RateLimit> {
    let unused = || SecretRef::Env("ORGSYNC_DEMO_UNUSED".into());
    let base: url::Url = "http://127.0.0.1/".parse().expect("constant URL is valid");
    match platform {
        Platform::Wecom => WecomSourceConfig::new("demo", unused(), base).rate_limits,
        Platform::Dingtalk => DingtalkSourceConfig::new("demo", unused(), base).rate_limits,
        Platform::Feishu => FeishuSourceConfig::new("demo", unused(), base).rate_limits,
        Platform::Bitrix24 => {
            Bitrix24SourceConfig::new(Bitrix24Auth::webhook_url(unused())).rate_limits
        }
    }
}

/// The banner's line: a pull's least time and the demo's three pulls, or "a few seconds".
pub fn describe(platform: Platform, departments: u64, people: u64) -> String {
    let floor = pull_floor(platform, departments, people).as_secs();
    if floor < 3 {
        return "a few seconds a pull, within the platform's rate limits".to_owned();
    }
    format!(
        "at least {floor} s a pull for {departments} departments at the platform's documented \
         rate limits (as the real one); the demo pulls three times, about {} s in all",
        3 * floor
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_paces_a_large_org_over_many_seconds() {
        // 270 departments and 2 712 people in scope (`--people 3000`): about 297 user/list pages
        // at 19 calls a second; measured at 16 s a pull.
        let floor = pull_floor(Platform::Dingtalk, 270, 2712);
        assert!(
            (Duration::from_secs(14)..Duration::from_secs(17)).contains(&floor),
            "{floor:?}"
        );
        assert!(describe(Platform::Dingtalk, 270, 2712).starts_with("at least 15 s a pull"));
        // Ten times the org, ten times the wait.
        assert!(pull_floor(Platform::Dingtalk, 2700, 27120) > 9 * floor);
    }

    #[test]
    fn small_orgs_and_generous_limits_take_a_few_seconds() {
        assert_eq!(pull_floor(Platform::Dingtalk, 18, 174), Duration::ZERO);
        assert!(describe(Platform::Dingtalk, 18, 174).starts_with("a few seconds"));
        // WeCom allows 9 500 user/list calls a minute.
        assert_eq!(pull_floor(Platform::Wecom, 300, 3000), Duration::ZERO);
        assert!(pull_floor(Platform::Feishu, 300, 3000) < Duration::from_secs(8));
    }
}
