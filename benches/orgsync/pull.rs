//! Full pulls from each upstream emulator with its documented rate limits enforced and latency
//! injected, against the least number of calls and the least time those limits allow.

use crate::common;
use crate::measure;
use crate::outcome::Outcome;
use crate::{Runtimes, Size};
use emulators::faults::Faults;
use emulators::fixture::{Org, Status};
use emulators::generator::{self, GeneratorConfig};
use orgsync::pullers::Puller;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Latency injected per call at real speed: a request across the Internet to a Chinese cloud API.
pub const LATENCY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Wecom,
    Feishu,
    /// The app holds the HR roster permission: managers 100 people a call.
    Dingtalk,
    /// The app lacks the roster permission: one refused roster call, then `user/get` per person.
    DingtalkNoRoster,
    Bitrix24,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Wecom,
        Platform::Feishu,
        Platform::Dingtalk,
        Platform::DingtalkNoRoster,
        Platform::Bitrix24,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Wecom => "wecom",
            Platform::Feishu => "feishu",
            Platform::Dingtalk => "dingtalk",
            Platform::DingtalkNoRoster => "dingtalk-no-roster",
            Platform::Bitrix24 => "bitrix24",
        }
    }

    pub fn parse(name: &str) -> Option<Platform> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// How many times faster than real time the case runs. DingTalk's 20 calls per second take
    /// ~9 minutes for 10 000 people without the roster, so that clock (windows, latency, the
    /// client's limiter and the floor) is compressed. With the roster, 10 000 people take about
    /// 25 s and run on the real clock: on a 10× clock a window is 100 ms, and a few ms of
    /// scheduling jitter moves requests into the emulator's next fixed window.
    fn speedup(self, size: Size) -> f64 {
        match (self, size) {
            (Platform::Wecom, _) => 1.0,
            (_, Size::Smoke) => 50.0,
            (Platform::Dingtalk, Size::Default) => 1.0,
            (Platform::Dingtalk | Platform::DingtalkNoRoster, _) => 10.0,
            _ => 1.0,
        }
    }
}

/// The org every pull case reads: the whole org in scope, so the documented call formulas apply
/// with T = 1 and I = 0.
pub fn org(people: usize, departments: usize) -> Org {
    generator::generate(&GeneratorConfig {
        people,
        departments,
        seed: 7,
        out_of_scope_share: 0.0,
        disabled: people / 100,
        not_activated: people / 100,
        resigned: people / 100,
        sensitive_fields: true,
    })
}

/// Direct members per department (people in two departments count in both) and people listed.
struct Shape {
    departments: u64,
    members: BTreeMap<i64, u64>,
    people: u64,
    listed: u64,
    /// Invited and not yet accepted (Bitrix24 lists them with `user.search`).
    invitees: u64,
}

impl Shape {
    fn of(org: &Org) -> Shape {
        let mut members: BTreeMap<i64, u64> = org.departments.iter().map(|d| (d.id, 0)).collect();
        for user in &org.users {
            let unique: BTreeSet<i64> = user.departments.iter().copied().collect();
            for d in unique {
                *members.entry(d).or_default() += 1;
            }
        }
        Shape {
            departments: org.departments.len() as u64,
            members,
            people: org.users.len() as u64,
            listed: org
                .users
                .iter()
                .filter(|u| u.status != Status::Resigned)
                .count() as u64,
            invitees: org
                .users
                .iter()
                .filter(|u| u.status == Status::NotActivated)
                .count() as u64,
        }
    }

    fn pages(&self, size: u64, at_least_one: bool) -> u64 {
        self.members
            .values()
            .map(|&m| {
                let pages = m.div_ceil(size);
                if at_least_one { pages.max(1) } else { pages }
            })
            .sum()
    }
}

/// The least calls a full pull needs, from the README's "what to grant" formulas (which follow
/// `shared/upstream-apis/*.md`).
fn min_calls(platform: Platform, shape: &Shape) -> u64 {
    let d = shape.departments;
    match platform {
        // gettoken, department/list, agent/get (the range; no tags and nobody outside a
        // department here), one user/list per department.
        Platform::Wecom => d + 3,
        // token, ⌈D/50⌉ pages of children, one find_by_department page per 50 direct members of
        // each department (at least one each).
        Platform::Feishu => 1 + d.div_ceil(50) + shape.pages(50, true),
        // gettoken, auth/scopes, T = 1 granted root, D listsub, paged user/list, and the HR
        // roster for the P listed people, 100 a call (the path with `agent_id` and the roster
        // permission).
        Platform::Dingtalk => 2 + 1 + d + shape.pages(100, true) + shape.listed.div_ceil(100),
        // The same walk and lists, the roster call that finds the permission missing, then
        // `user/get` for each of the P listed people.
        Platform::DingtalkNoRoster => 2 + 1 + d + shape.pages(100, true) + 1 + shape.listed,
        // Batches of 50 pages of 50; the first request carries the first page of every list:
        // users, departments, the invitees (`user.search` by `CONFIRM_CODE`) and its check.
        Platform::Bitrix24 => {
            let pages =
                shape.people.div_ceil(50) + d.div_ceil(50) + shape.invitees.div_ceil(50).max(1);
            1 + pages.saturating_sub(3).div_ceil(50)
        }
    }
}

/// The least wall time at real speed: the documented limits drained as fast as they allow
/// (windows as sliding windows: `requests` may go at once, the next waits for the oldest to
/// leave; Bitrix24's bucket as a bucket), computed like the client's limiter paces, or the
/// injected latency spread over the puller's concurrency, whichever is longer.
fn floor(platform: Platform, calls: &BTreeMap<String, u64>, latency: Duration) -> (f64, String) {
    use orgsync::pullers::http::{LimitScope, RateLimit};
    let total: u64 = calls.values().sum();
    let busiest = calls.values().copied().max().unwrap_or(0);
    let secs = Duration::from_secs;
    let (documented, concurrency) = match platform {
        Platform::Wecom => (
            vec![
                RateLimit::new(10_000, secs(60), LimitScope::Endpoint),
                RateLimit::new(150_000, secs(3600), LimitScope::Endpoint),
            ],
            4.0,
        ),
        Platform::Feishu => (
            vec![
                RateLimit::new(1_000, secs(60), LimitScope::Endpoint),
                RateLimit::new(50, secs(1), LimitScope::Endpoint),
            ],
            4.0,
        ),
        Platform::Dingtalk | Platform::DingtalkNoRoster => (
            vec![
                RateLimit::new(20, secs(1), LimitScope::Endpoint),
                RateLimit::new(10_000, secs(20), LimitScope::Shared),
            ],
            4.0,
        ),
        // One leaky bucket for the portal: 50 free, then 2 a second. 4 batches in flight.
        Platform::Bitrix24 => (
            vec![RateLimit::bucket(2, secs(1), 50, LimitScope::Shared)],
            4.0,
        ),
    };
    // The last call of the busiest budget starts no sooner than every limit allows.
    let rate = documented
        .iter()
        .map(|limit| {
            let n = match limit.scope {
                LimitScope::Endpoint => busiest,
                LimitScope::Shared => total,
            };
            limit.earliest(n.saturating_sub(1)).as_secs_f64()
        })
        .fold(0.0, f64::max);
    let round_trips = match platform {
        // The first batch learns `total`; only then are the other pages known.
        Platform::Bitrix24 => {
            (total.min(1) + total.saturating_sub(1).div_ceil(concurrency as u64)) as f64
        }
        _ => total as f64 / concurrency,
    };
    let latency = round_trips * latency.as_secs_f64();
    if rate >= latency {
        (rate, "rate limit".to_owned())
    } else {
        (latency, format!("latency ({concurrency} in flight)"))
    }
}

pub fn run(rt: &Runtimes, platform: Platform, size: Size) -> Outcome {
    let (people, departments) = size.org();
    let speedup = platform.speedup(size);
    let org = org(people, departments);
    let shape = Shape::of(&org);
    let latency = LATENCY.div_f64(speedup);
    let faults = Faults {
        delay: latency,
        ..Faults::default()
    };

    let server = Server::start(rt, platform, org, speedup, faults);
    let cpu = measure::thread_cpu();
    let process_cpu = measure::process_cpu();
    let started = Instant::now();
    let pulled = rt.orgsync.block_on(server.pull(speedup));
    let wall = started.elapsed();
    let cpu = measure::thread_cpu() - cpu;
    let process_cpu = measure::process_cpu() - process_cpu;
    let (calls, rejections) = server.counts();
    rt.emulators.block_on(server.stop());

    let people_pulled = pulled.as_ref().map_or(0, |p| p.directory.users.len());
    let (floor_s, basis) = floor(platform, &calls, LATENCY);
    let compressed = if speedup > 1.0 {
        format!("; clock compressed {speedup}× (windows, latency, limiter, floor)")
    } else {
        String::new()
    };
    let note = match &pulled {
        Ok(_) => format!("{people_pulled} people; floor: {basis}{compressed}"),
        Err(e) => format!("PULL FAILED: {e}"),
    };
    Outcome {
        case: format!("pull {} {}", platform.name(), size.label()),
        calls: Some(calls.values().sum()),
        min_calls: Some(min_calls(platform, &shape)),
        wall_s: wall.as_secs_f64(),
        floor_s: Some(floor_s / speedup),
        rate_limit_errors: Some(rejections),
        writes: None,
        cpu_s: cpu.as_secs_f64(),
        process_cpu_s: process_cpu.as_secs_f64(),
        peak_rss: measure::peak_rss(),
        note,
    }
}

enum Server {
    Wecom(emulators::wecom::WecomHandle),
    Feishu(emulators::feishu::FeishuHandle),
    Dingtalk(emulators::dingtalk::DingtalkHandle),
    Bitrix24(emulators::bitrix24::Bitrix24Handle),
}

impl Server {
    fn start(rt: &Runtimes, platform: Platform, org: Org, speedup: f64, faults: Faults) -> Server {
        rt.emulators.block_on(async move {
            let server = match platform {
                Platform::Wecom => Server::Wecom(
                    emulators::wecom::start(
                        org,
                        emulators::wecom::WecomConfig {
                            rate_limit_speedup: speedup,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("WeCom emulator starts"),
                ),
                Platform::Feishu => Server::Feishu(
                    emulators::feishu::start(
                        org,
                        emulators::feishu::FeishuConfig {
                            rate_limit_speedup: speedup,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("Feishu emulator starts"),
                ),
                Platform::Dingtalk | Platform::DingtalkNoRoster => Server::Dingtalk(
                    emulators::dingtalk::start(
                        org,
                        emulators::dingtalk::DingtalkConfig {
                            rate_limit_speedup: speedup,
                            roster: if platform == Platform::Dingtalk {
                                emulators::dingtalk::RosterAccess::Granted
                            } else {
                                emulators::dingtalk::RosterAccess::NotGranted
                            },
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("DingTalk emulator starts"),
                ),
                Platform::Bitrix24 => Server::Bitrix24(
                    emulators::bitrix24::start(
                        org,
                        emulators::bitrix24::Bitrix24Config {
                            rate_limit_speedup: speedup,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("Bitrix24 emulator starts"),
                ),
            };
            match &server {
                Server::Wecom(h) => h.set_faults(faults),
                Server::Feishu(h) => h.set_faults(faults),
                Server::Dingtalk(h) => h.set_faults(faults),
                Server::Bitrix24(h) => h.set_faults(faults),
            }
            server
        })
    }

    /// A full pull by orgsync's puller with its default (documented) client-side limits, run on
    /// the same compressed clock as the emulator.
    async fn pull(
        &self,
        speedup: f64,
    ) -> Result<orgsync::pullers::Pulled, orgsync::pullers::PullError> {
        let compress = |limits: &mut Vec<orgsync::pullers::http::RateLimit>| {
            for limit in limits {
                limit.per.0 = limit.per.0.div_f64(speedup);
            }
        };
        match self {
            // At real speed: 10 000 calls a minute per API leaves room for any size here.
            Server::Wecom(h) => common::wecom_puller(h, Some(common::AGENT_ID)).pull().await,
            Server::Feishu(h) => {
                common::feishu_puller(h, |source| {
                    source.rate_limits = orgsync::pullers::feishu::default_rate_limits();
                    compress(&mut source.rate_limits);
                })
                .pull()
                .await
            }
            // The helper already runs the client's limits as fast as the emulator's. The app's
            // agentid is configured (`roster = auto`); whether the roster is granted is the
            // emulator's to say.
            Server::Dingtalk(h) => {
                let agent_id = u64::try_from(h.config().agent_id).ok();
                common::dingtalk_puller(h, |c| c.agent_id = agent_id)
                    .pull()
                    .await
            }
            Server::Bitrix24(h) => {
                let (mut source, secrets) = common::bitrix24_source(h, false);
                compress(&mut source.rate_limits);
                orgsync::pullers::bitrix24::Bitrix24Puller::new(source, secrets)
                    .expect("Bitrix24 puller")
                    .pull()
                    .await
            }
        }
    }

    /// Calls by endpoint as the emulator counted them, and the requests its limits refused.
    fn counts(&self) -> (BTreeMap<String, u64>, u64) {
        match self {
            Server::Wecom(h) => (h.call_counts(), h.rate_limit_rejections()),
            Server::Feishu(h) => (h.call_counts(), h.rate_limit_rejections()),
            Server::Dingtalk(h) => (h.call_counts(), h.rate_limit_rejections()),
            Server::Bitrix24(h) => (h.call_counts(), h.rate_limit_rejections()),
        }
    }

    async fn stop(self) {
        match self {
            Server::Wecom(h) => h.shutdown().await,
            Server::Feishu(h) => h.shutdown().await,
            Server::Dingtalk(h) => h.shutdown().await,
            Server::Bitrix24(h) => h.shutdown().await,
        }
    }
}
