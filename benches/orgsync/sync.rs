//! Whole runs through the engine: WeCom emulator → planner → SCIM target, with sled state.
//! `emulator` syncs into the in-process SCIM emulator (first sync, unchanged resync, 1 % changed);

use crate::common;
use crate::measure;
use crate::outcome::Outcome;
use crate::pull;
use crate::{Runtimes, thousands};
use emulators::fixture::Org;
use emulators::scim::ScimCounters;
use orgsync::engine::{Connector, Engine, RunMode};
use orgsync::plan::Policy;
use orgsync::pullers::AnyPuller;
use orgsync::pushers::AnyPusher;
use orgsync::report::{Report, RunOutcome};
use orgsync::state::StateDb;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The engine's default for a SCIM target.
pub const CONCURRENCY: usize = 8;

/// Every hundredth person gets a new title upstream.
fn change_one_percent(org: &mut Org) -> usize {
    let mut changed = 0;
    for user in org.users.iter_mut().step_by(100) {
        user.title = Some(format!("{} (new)", user.title.as_deref().unwrap_or("")));
        changed += 1;
    }
    changed
}

pub fn connector(wecom: &emulators::wecom::WecomHandle, base_url: &str, token: &str) -> Connector {
    // The pull is measured on its own above: here the client does not pace itself (2 000 calls
    // stay well inside WeCom's 10 000 a minute, which the emulator still enforces).
    let mut source = orgsync::pullers::wecom::WecomSourceConfig::new(
        wecom.config().corpid.clone(),
        orgsync::config::SecretRef::Env("UNUSED".into()),
        wecom.base_url().parse().expect("emulator URL"),
    );
    source.agent_id = Some(wecom.config().agentid);
    source.retry = common::quick_retries();
    source.rate_limits = Vec::new();
    let puller = orgsync::pullers::wecom::WecomPuller::new(
        source,
        orgsync::config::Secret::new(wecom.config().corpsecret.clone()),
    )
    .expect("WeCom puller");
    let mut target = orgsync::pushers::scim::ScimTargetConfig::new(
        base_url.parse().expect("SCIM URL"),
        orgsync::config::SecretRef::Env("UNUSED".into()),
    );
    target.retry = common::quick_retries();
    target.concurrency = CONCURRENCY;
    Connector {
        name: "bench".into(),
        puller: AnyPuller::Wecom(puller),
        pusher: AnyPusher::Scim(
            orgsync::pushers::scim::ScimPusher::new(target, orgsync::config::Secret::new(token))
                .expect("SCIM pusher"),
        ),
        policy: Policy::default().without_guard(),
        concurrency: CONCURRENCY,
    }
}

pub struct Measured {
    pub report: Report,
    pub wall: Duration,
    pub cpu: Duration,
    pub process_cpu: Duration,
    pub peak_rss: u64,
}

pub fn measured_run(rt: &Runtimes, engine: &Engine<StateDb>, connector: &Connector) -> Measured {
    measure::reset_peak_rss();
    let cpu = measure::thread_cpu();
    let process_cpu = measure::process_cpu();
    let started = Instant::now();
    let report = rt
        .orgsync
        .block_on(engine.run(connector, RunMode::Apply))
        .expect("the run reaches a report");
    Measured {
        wall: started.elapsed(),
        cpu: measure::thread_cpu() - cpu,
        process_cpu: measure::process_cpu() - process_cpu,
        peak_rss: measure::peak_rss(),
        report,
    }
}

fn writes(c: &ScimCounters) -> u64 {
    c.posts + c.puts + c.patches + c.deletes
}

pub fn pull_time(report: &Report) -> Duration {
    Duration::from_millis(report.pull.as_ref().map_or(0, |p| p.stats.duration_ms))
}

pub fn outcome_note(report: &Report) -> String {
    match &report.outcome {
        RunOutcome::Applied => String::new(),
        other => format!("; OUTCOME {other:?}"),
    }
}

/// First sync, resync with no change, resync with 1 % changed, into the SCIM emulator.
pub fn emulator(rt: &Runtimes, people: usize, departments: usize) -> Vec<Outcome> {
    let org = pull::org(people, departments);
    let (wecom, scim) = rt.emulators.block_on(async {
        (
            emulators::wecom::start(org, Default::default())
                .await
                .expect("WeCom emulator"),
            emulators::scim::start(Default::default())
                .await
                .expect("SCIM emulator"),
        )
    });
    let state = tempfile::tempdir().expect("temporary state directory");
    let store = Arc::new(StateDb::open(state.path()).expect("sled opens"));
    let engine = Engine::new(store);
    let connector = connector(&wecom, scim.base_url(), scim.bearer_token());
    let size = format!("{} people", thousands(people as u64));

    let mut outcomes = Vec::new();
    for (label, change) in [
        ("first sync", false),
        ("resync, no change", false),
        ("resync, 1 % changed", true),
    ] {
        let changed = if change {
            let mut n = 0;
            wecom.update_org(|org| n = change_one_percent(org));
            n
        } else {
            0
        };
        scim.reset_counters();
        let run = measured_run(rt, &engine, &connector);
        let counters = scim.counters();
        let pull = pull_time(&run.report);
        let beyond = run.wall.saturating_sub(pull);
        outcomes.push(Outcome {
            case: format!("sync → SCIM emulator, {size}, {label}"),
            wall_s: run.wall.as_secs_f64(),
            writes: Some(writes(&counters)),
            cpu_s: run.cpu.as_secs_f64(),
            process_cpu_s: run.process_cpu.as_secs_f64(),
            peak_rss: run.peak_rss,
            note: format!(
                "pull {:.2} s, beyond the pull {:.2} s; {} target GETs; {changed} changed upstream{}",
                pull.as_secs_f64(),
                beyond.as_secs_f64(),
                counters.gets,
                outcome_note(&run.report)
            ),
            ..Outcome::default()
        });
    }
    rt.emulators.block_on(async {
        wecom.shutdown().await;
        scim.shutdown().await;
    });
    outcomes
}
