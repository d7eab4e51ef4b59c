//! Target faults through the whole engine (WeCom emulator → engine → SCIM emulator): 5xx bursts,
//! 429 with Retry-After, a timeout after the write was applied, an account created behind
//! orgsync's back, one bad person among good ones, and the circuit breaker.

mod common;

use common::{connector, quick_retries, small_org, wecom_puller};
use emulators::scim::{ScimConfig, ScimFaults, ScimHandle, ScimUser};
use orgsync::config::{HumanDuration, RetryConfig, Secret, SecretRef};
use orgsync::engine::{Connector, Engine, RunMode, RunOptions, StepOutcome};
use orgsync::plan::Policy;
use orgsync::pushers::scim::{ScimPusher, ScimTargetConfig};
use orgsync::report::{Report, RunOutcome, StepReport};
use orgsync::snapshot::{MemoryStore, SnapshotStore};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seven people of `small_org` the app sees.
const IN_SCOPE: usize = 7;

struct Setup {
    _wecom: emulators::wecom::WecomHandle,
    scim: ScimHandle,
    engine: Engine<MemoryStore>,
    connector: Connector,
}

async fn setup(policy: Policy, tweak: impl FnOnce(&mut ScimTargetConfig)) -> Setup {
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let scim = emulators::scim::start(ScimConfig::default()).await.unwrap();
    let mut target = ScimTargetConfig::new(
        scim.base_url().parse().unwrap(),
        SecretRef::Env("UNUSED".into()),
    );
    target.retry = quick_retries();
    tweak(&mut target);
    let pusher = ScimPusher::new(target, Secret::new(scim.bearer_token())).unwrap();
    let connector = connector(wecom_puller(&wecom, Some(common::AGENT_ID)), pusher, policy);
    Setup {
        _wecom: wecom,
        scim,
        engine: Engine::new(Arc::new(MemoryStore::default())),
        connector,
    }
}

impl Setup {
    async fn sync(&self) -> Report {
        self.engine
            .run(&self.connector, RunMode::Apply)
            .await
            .unwrap()
    }

    /// Every account once by externalId, none without one; returns the externalIds.
    fn assert_no_duplicates(&self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for user in self.scim.users() {
            let key = user.external_id.clone().expect("managed accounts only");
            assert!(keys.insert(key.clone()), "{key} twice in the target");
        }
        keys
    }
}

fn text(report: &Report) -> String {
    orgsync::report::render_text(report)
}

fn failed(report: &Report) -> Vec<&StepReport> {
    report
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_of_5xx_are_retried_and_the_run_completes() {
    let s = setup(Policy::default(), |_| {}).await;
    s.scim.set_faults(ScimFaults {
        http_5xx_every: Some(2),
        ..Default::default()
    });
    let report = s.sync().await;
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    assert!(s.scim.counters().errors > 3, "faults were injected");
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
    s.scim.set_faults(ScimFaults::default());
    assert!(s.sync().await.steps.is_empty(), "converged");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_429_waits_for_retry_after_and_the_run_completes() {
    let s = setup(Policy::default(), |_| {}).await;
    s.scim.set_faults(ScimFaults {
        status_429_every: Some(6),
        ..Default::default()
    });
    let started = Instant::now();
    let report = s.sync().await;
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    let refusals = s.scim.counters().errors;
    assert!(refusals >= 1, "429s were answered");
    // Quick retries wait at most 50 ms; only Retry-After: 1 explains a second per refusal (the
    // writes run 4 at a time, so refusals may overlap).
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{refusals} 429s were retried after {:?}, before Retry-After",
        started.elapsed()
    );
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_after_the_write_was_applied_converge_without_duplicates() {
    let s = setup(Policy::default(), |t| {
        t.timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    s.scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(3),
        delay_after_apply: Duration::from_millis(800),
        ..Default::default()
    });
    let report = s.sync().await;
    s.scim.set_faults(ScimFaults::default());
    assert!(
        s.scim.counters().puts >= 1,
        "a retried create met its own account and adopted it"
    );
    // Retried POSTs met their own accounts and adopted them; retried PATCHes repeat themselves.
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
    assert!(s.sync().await.steps.is_empty(), "converged");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_created_behind_orgsyncs_back_is_adopted_not_duplicated() {
    let s = setup(Policy::default(), |_| {}).await;
    // Someone created lin's account by hand, with the right externalId and userName: the POST
    // answers 409, and the pusher adopts the account.
    let manual = s.scim.insert_user(ScimUser {
        external_id: Some("lin".into()),
        display_name: Some("typed by hand".into()),
        ..ScimUser::new("lin")
    });
    let report = s.sync().await;
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
    let lin = s.scim.user_by_external_id("lin").unwrap();
    assert_eq!(lin.id, manual);
    assert_eq!(lin.display_name.as_deref(), Some("林晓"));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_person_fails_alone_and_is_reported_then_repaired_by_a_full_sync() {
    let s = setup(
        Policy {
            match_by: orgsync::plan::MatchBy::None,
            ..Policy::default()
        },
        |_| {},
    )
    .await;
    // An account nobody manages holds zhou's userName: zhou's create is refused (409); the
    // others go on.
    s.scim.insert_user(ScimUser::new("zhou"));
    let report = s.sync().await;
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{}", text(&report));
    assert_eq!(failures[0].step.subject().as_str(), "zhou");
    let StepOutcome::Failed { error } = &failures[0].outcome else {
        unreachable!()
    };
    assert!(error.contains("conflict"), "{error}");
    assert!(matches!(
        report.outcome,
        RunOutcome::PartiallyApplied { .. }
    ));
    let rendered = text(&report);
    assert!(rendered.contains("zhou"), "{rendered}");
    assert!(s.scim.user_by_external_id("lin").is_some());
    assert!(s.scim.user_by_external_id("zhou").is_none());

    // The admin says the stray account is zhou's (match by userName) and runs a full sync: it
    // is adopted, nobody is duplicated.
    let mut s = s;
    s.connector.policy.match_by = orgsync::plan::MatchBy::UserName;
    let full = orgsync::engine::RunOptions {
        baseline: orgsync::engine::Baseline::Target,
        ..RunOptions::new(RunMode::Apply)
    };
    let report = s.engine.run(&s.connector, full).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
    assert!(s.sync().await.steps.is_empty(), "converged");
}

/// A target that answers 500 to every write, no retries, one step at a time.
async fn failing_target(max_consecutive_failures: usize) -> Setup {
    let mut s = setup(
        Policy {
            max_consecutive_failures,
            ..Policy::default()
        },
        |t| {
            t.retry = RetryConfig {
                max_attempts: Some(1),
                ..quick_retries()
            };
        },
    )
    .await;
    s.connector.concurrency = 1;
    s.scim.set_faults(ScimFaults {
        http_5xx_every: Some(1),
        ..Default::default()
    });
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_breaker_stops_a_run_against_a_failing_target_and_says_so() {
    let s = failing_target(3).await;
    let report = s.sync().await;
    // The other creates and every link step wait for the next run.
    assert_eq!(
        report.outcome,
        RunOutcome::BreakerTripped {
            consecutive_failures: 3,
            left: report.steps.len() - 3
        },
        "{}",
        text(&report)
    );
    assert_eq!(s.scim.counters().posts, 3, "no write after the breaker");
    assert_eq!(failed(&report).len(), 3);
    let rendered = text(&report);
    assert!(rendered.contains("circuit breaker"), "{rendered}");
    assert!(
        orgsync::report::render_json(&report).contains("\"breaker_tripped\""),
        "JSON names the outcome"
    );

    // The target recovers: the next run applies everything.
    s.scim.set_faults(ScimFaults::default());
    let report = s.sync().await;
    assert_eq!(report.outcome, RunOutcome::Applied, "{}", text(&report));
    assert_eq!(s.assert_no_duplicates().len(), IN_SCOPE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breaker_of_zero_never_stops_the_run() {
    let s = failing_target(0).await;
    let report = s.sync().await;
    assert!(
        matches!(report.outcome, RunOutcome::PartiallyApplied { .. }),
        "{}",
        text(&report)
    );
    assert_eq!(
        s.scim.counters().posts,
        IN_SCOPE as u64,
        "every create was tried"
    );
}

/// A first sync against a target that already holds people plans against its listing. When the
/// listing fails part-way (a server that gives up on deep paging), the run fails with the
/// target's error, in a dry run as in an apply: a "create everyone" plan would mislead the
/// reviewer and duplicate every account.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_sync_whose_target_listing_fails_fails_the_run_and_writes_nothing() {
    let s = setup(Policy::default(), |target| target.page_size = 2).await;
    for name in ["a.foreign", "b.foreign", "c.foreign", "d.foreign"] {
        s.scim.insert_user(ScimUser::new(name));
    }
    s.scim.set_faults(ScimFaults {
        max_start_index: Some(1),
        ..ScimFaults::default()
    });
    s.scim.reset_counters();
    for mode in [RunMode::DryRun, RunMode::Apply] {
        let report = s.engine.run(&s.connector, mode).await.unwrap();
        let RunOutcome::Failed { error } = &report.outcome else {
            panic!("{mode}: {}", text(&report))
        };
        assert!(
            error.contains("cannot list the target's accounts"),
            "{error}"
        );
        assert!(error.contains("503"), "{error}");
        assert!(report.steps.is_empty(), "{mode}: nothing planned");
    }
    let counters = s.scim.counters();
    assert_eq!(counters.posts + counters.puts + counters.patches, 0);
    assert_eq!(s.scim.users().len(), 4);
    assert!(s.engine.store().load("test").unwrap().users.is_empty());
}
