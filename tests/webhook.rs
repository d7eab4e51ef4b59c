//! The webhook pusher end to end: the WeCom emulator → orgsync → a local receiver
//! (emulators::webhook) that checks signatures, stores each event once per idempotency key and
//! misbehaves on demand.

mod common;

use common::{AGENT_ID, assert_applied, connector_to, quick_retries, small_org, wecom_puller};
use emulators::fixture::Status;
use emulators::webhook::{Behaviour, ReceiverConfig, ReceiverHandle};
use orgsync::config::{HumanDuration, RetryConfig, Secret, SecretRef};
use orgsync::engine::{Connector, Engine, RunMode, StepOutcome};
use orgsync::model::{Attributes, Field, FieldChange, TargetId, UserKey};
use orgsync::plan::{Policy, RemovalPolicy};
use orgsync::pushers::webhook::{WebhookPusher, WebhookTargetConfig};
use orgsync::pushers::{AnyPusher, PushError, Pusher};
use orgsync::report::{Report, RunOutcome};
use orgsync::snapshot::{MemoryStore, SnapshotStore};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "whsec_test_0123456789";

fn pusher(url: &str, secret: &str, timeout: Duration, retry: RetryConfig) -> WebhookPusher {
    let mut config =
        WebhookTargetConfig::new(url.parse().unwrap(), SecretRef::Env("UNUSED".into()));
    config.timeout = HumanDuration(timeout);
    config.retry = retry;
    WebhookPusher::new(config, Secret::new(secret), "test").unwrap()
}

struct World {
    receiver: ReceiverHandle,
    wecom: emulators::wecom::WecomHandle,
    engine: Engine<MemoryStore>,
    connector: Connector,
}

impl World {
    async fn new(policy: Policy, secret: &str, timeout: Duration, retry: RetryConfig) -> World {
        let receiver = emulators::webhook::start(ReceiverConfig::new(SECRET))
            .await
            .unwrap();
        let wecom = emulators::wecom::start(small_org(), Default::default())
            .await
            .unwrap();
        let connector = connector_to(
            wecom_puller(&wecom, Some(AGENT_ID)),
            AnyPusher::Webhook(pusher(&receiver.url(), secret, timeout, retry)),
            policy.without_guard(),
        );
        World {
            receiver,
            wecom,
            engine: Engine::new(Arc::new(MemoryStore::new())),
            connector,
        }
    }

    async fn default() -> World {
        World::new(
            Policy::default(),
            SECRET,
            Duration::from_secs(5),
            quick_retries(),
        )
        .await
    }

    async fn run(&self) -> Report {
        self.engine
            .run(&self.connector, RunMode::Apply)
            .await
            .unwrap()
    }

    /// The (type, user) of the events stored after the first `skip` are `expected`, in any order.
    #[track_caller]
    fn assert_events_since(&self, skip: usize, expected: &[(&str, &str)]) {
        let mut events: Vec<(String, String)> = self
            .receiver
            .events()
            .into_iter()
            .skip(skip)
            .map(|d| {
                (
                    d.event,
                    d.body["user"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        events.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        expected.sort();
        assert_eq!(events, expected);
    }

    fn acknowledged(&self) -> usize {
        self.engine.store().load("test").unwrap().users.len()
    }
}

fn failures(report: &Report) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|s| match &s.outcome {
            StepOutcome::Failed { error } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

fn user_index(org: &emulators::fixture::Org, id: &str) -> usize {
    org.users.iter().position(|u| u.id == id).unwrap()
}

#[tokio::test]
async fn every_step_is_a_signed_event_and_a_rerun_sends_nothing() {
    let world = World::default().await;
    assert_applied(&world.run().await);
    world.assert_events_since(
        0,
        &[
            ("manager.changed", "boss2"),
            ("manager.changed", "leaver"),
            ("manager.changed", "lin"),
            ("manager.changed", "wang"),
            ("manager.changed", "zhou"),
            ("user.created", "boss2"),
            ("user.created", "ceo"),
            ("user.created", "leaver"),
            ("user.created", "lin"),
            ("user.created", "sales1"),
            ("user.created", "wang"),
            ("user.created", "zhou"),
        ],
    );
    assert_eq!(world.receiver.counters().rejected, 0);
    let events = world.receiver.events();
    let created = events
        .iter()
        .find(|d| d.event == "user.created" && d.body["user"] == "lin")
        .unwrap();
    let body = &created.body;
    assert_eq!(body["id"], json!(created.id));
    assert_eq!(body["type"], "user.created");
    assert_eq!(body["version"], 1);
    assert_eq!(body["connector"], "test");
    assert!(body["occurred_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["data"],
        json!({
            "attributes": {
                "user_name": "lin", "display_name": "林晓", "email": "lin@example.cn",
                "title": "工程师", "department": "研发部"
            },
            "active": true
        })
    );
    let link = events
        .iter()
        .find(|d| d.event == "manager.changed" && d.body["user"] == "lin")
        .unwrap();
    assert_eq!(link.body["data"], json!({ "manager": "boss2" }));

    let seen = events.len();
    world.wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].name = "林晓晓".into();
        org.users[i].title = None;
        let i = user_index(org, "zhou");
        org.users[i].manager = Some("lin".into());
        let i = user_index(org, "wang");
        org.users[i].status = Status::Disabled;
    });
    assert_applied(&world.run().await);
    world.assert_events_since(
        seen,
        &[
            // wang is deactivated: the link to wang goes first, and wang's own link too
            ("manager.changed", "leaver"),
            ("manager.changed", "wang"),
            ("manager.changed", "zhou"),
            ("user.deactivated", "wang"),
            ("user.updated", "lin"),
        ],
    );
    let events = world.receiver.events();
    let updated = events.iter().find(|d| d.event == "user.updated").unwrap();
    assert_eq!(
        updated.body["data"],
        json!({ "changes": [
            { "field": "display_name", "before": "林晓", "after": "林晓晓" },
            { "field": "title", "before": "工程师", "after": null }
        ]})
    );
    let cleared = events
        .iter()
        .find(|d| {
            d.event == "manager.changed"
                && d.body["user"] == "leaver"
                && d.body["data"]["manager"].is_null()
        })
        .expect("leaver's link to wang is removed");
    assert_eq!(cleared.body["data"], json!({ "manager": null }));

    let requests = world.receiver.counters().requests;
    let again = world.run().await;
    assert_applied(&again);
    assert!(again.steps.is_empty());
    assert_eq!(
        world.receiver.counters().requests,
        requests,
        "a rerun sent events"
    );

    let seen = world.receiver.events().len();
    world.wecom.update_org(|org| {
        let i = user_index(org, "wang");
        org.users[i].status = Status::Active;
    });
    assert_applied(&world.run().await);
    // The links are set again exactly as the first sync set them: same content, yet new
    // deliveries that a receiver skipping known ids must not drop.
    world.assert_events_since(
        seen,
        &[
            ("manager.changed", "leaver"),
            ("manager.changed", "wang"),
            ("user.reactivated", "wang"),
        ],
    );
}

#[tokio::test]
async fn deletions_are_events_too() {
    let policy = Policy {
        resigned: RemovalPolicy::Delete,
        ..Policy::default()
    };
    let world = World::new(policy, SECRET, Duration::from_secs(5), quick_retries()).await;
    assert_applied(&world.run().await);
    let seen = world.receiver.events().len();
    world.wecom.update_org(|org| {
        let i = user_index(org, "leaver");
        org.users[i].status = Status::Resigned;
    });
    assert_applied(&world.run().await);
    // Their own link goes with them: no manager.changed for someone being deleted.
    world.assert_events_since(seen, &[("user.deleted", "leaver")]);
}

/// 503s and 429s are retried with backoff until the receiver recovers; an acknowledgement lost
/// after the event was stored is retried with the same idempotency key, so the receiver stores
/// each event exactly once.
#[tokio::test]
async fn failures_are_retried_and_each_event_is_stored_once() {
    let world = World::default().await;
    world.receiver.set_behaviour(Behaviour::FailTimes {
        times: 3,
        status: 503,
    });
    let first = world.run().await;
    assert_applied(&first);
    let steps = first.steps.len() as u64;
    assert_eq!(world.receiver.events().len() as u64, steps);
    assert_eq!(world.receiver.counters().requests, steps + 3);

    world.receiver.set_behaviour(Behaviour::FailTimes {
        times: 2,
        status: 429,
    });
    world.wecom.update_org(|org| {
        let i = user_index(org, "lin");
        org.users[i].title = Some("架构师".into());
    });
    assert_applied(&world.run().await);

    world
        .receiver
        .set_behaviour(Behaviour::StoreThenFail { times: 2 });
    world.wecom.update_org(|org| {
        let i = user_index(org, "zhou");
        org.users[i].title = Some("架构师".into());
    });
    let before = world.receiver.events().len();
    assert_applied(&world.run().await);
    assert_eq!(world.receiver.events().len(), before + 1, "stored once");
    assert_eq!(world.receiver.counters().duplicates, 2);
}

/// Acknowledgements lost for a whole run: every delivery fails, nothing is recorded, and the
/// next run sends the same events with the same ids, which the receiver recognises.
#[tokio::test]
async fn delivery_ids_are_stable_across_runs() {
    let retry = RetryConfig {
        max_attempts: Some(2),
        ..quick_retries()
    };
    let world = World::new(Policy::default(), SECRET, Duration::from_secs(5), retry).await;
    world
        .receiver
        .set_behaviour(Behaviour::StoreThenFail { times: 1000 });
    let failed = world.run().await;
    assert!(matches!(
        failed.outcome,
        RunOutcome::PartiallyApplied { .. }
    ));
    assert_eq!(
        world.acknowledged(),
        0,
        "nothing unacknowledged is recorded"
    );
    // Each create sent reached the receiver and was stored once (its retry was a duplicate);
    // after a few deliveries ran out of retries the run sent no more.
    let sent = world.receiver.events().len();
    assert!(sent >= 3, "{sent}");
    assert_eq!(world.receiver.counters().duplicates, sent as u64);

    world.receiver.set_behaviour(Behaviour::Normal);
    assert_applied(&world.run().await);
    assert_eq!(
        world.receiver.counters().duplicates,
        2 * sent as u64,
        "the stored creates came again under the same ids"
    );
    assert_eq!(
        world.receiver.events().len(),
        12,
        "the rest of the creates and the links are new"
    );
}

/// A 200 whose body is neither empty nor JSON (a proxy's HTML page) is not an acknowledgement:
/// each step fails once with a clear error, nothing is recorded, and once the receiver answers
/// properly the next run sends the same deliveries again, which the receiver recognises.
#[tokio::test]
async fn a_200_with_a_garbage_body_fails_the_step_and_the_next_run_converges() {
    let world = World::default().await;
    world.receiver.set_behaviour(Behaviour::Garbage);
    let report = world.run().await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 7, "the creates were tried, the links held");
    assert!(
        errors.iter().all(
            |e| e.starts_with("malformed response: the receiver answered OK")
                && e.contains("is not an acknowledgement")
        ),
        "{errors:?}"
    );
    assert_eq!(
        world.receiver.counters().requests,
        7,
        "not retried in the run"
    );
    assert_eq!(
        world.acknowledged(),
        0,
        "nothing unacknowledged is recorded"
    );

    world.receiver.set_behaviour(Behaviour::Normal);
    assert_applied(&world.run().await);
    assert_eq!(world.acknowledged(), 7);
    assert_eq!(
        world.receiver.counters().duplicates,
        7,
        "same ids as before"
    );
    assert_eq!(world.receiver.events().len(), 12);
    assert!(world.run().await.steps.is_empty());
}

/// A receiver that accepts the connection and never answers: each delivery times out, is
/// retried, then fails; after a few deliveries in a row ran out of retries the rest of the run
/// is not sent (a receiver that is down must not cost every step its backoff). The snapshot
/// records nothing, and the next run delivers everything.
#[tokio::test]
async fn a_receiver_that_never_answers_fails_steps_and_the_next_run_delivers_them() {
    let retry = RetryConfig {
        max_attempts: Some(2),
        ..quick_retries()
    };
    let world = World::new(Policy::default(), SECRET, Duration::from_millis(200), retry).await;
    world.receiver.set_behaviour(Behaviour::Hang);
    let report = world.run().await;
    let RunOutcome::PartiallyApplied { failed } = report.outcome else {
        panic!("expected failed steps, got {:?}", report.outcome);
    };
    assert_eq!(failed, report.steps.len());
    let errors = failures(&report);
    assert_eq!(errors.len(), 7, "the creates were tried, the links held");
    let timed_out = errors
        .iter()
        .filter(|e| e.contains("gave up after 2 attempts") && e.contains("timed out"))
        .count();
    let not_sent = errors
        .iter()
        .filter(|e| e.contains("not sent: the receiver failed the last"))
        .count();
    assert_eq!(timed_out + not_sent, 7, "{errors:?}");
    assert!(timed_out >= 3 && not_sent >= 1, "{errors:?}");
    assert_eq!(
        world.receiver.counters().requests,
        2 * timed_out as u64,
        "skipped steps sent nothing"
    );
    assert_eq!(world.acknowledged(), 0);
    assert!(world.receiver.events().is_empty());

    world.receiver.set_behaviour(Behaviour::Normal);
    assert_applied(&world.run().await);
    assert_eq!(world.receiver.events().len(), 12);
}

/// 4xx other than 429 is final: one attempt per step, no retries.
#[tokio::test]
async fn a_client_error_is_final() {
    let world = World::default().await;
    world.receiver.set_behaviour(Behaviour::Always(422));
    let report = world.run().await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 7);
    assert!(
        errors.iter().all(|e| e.starts_with("HTTP 422")),
        "{errors:?}"
    );
    assert_eq!(world.receiver.counters().requests, 7, "not retried");
    assert_eq!(world.acknowledged(), 0);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver() {
    let world = World::new(
        Policy::default(),
        "not-the-shared-secret",
        Duration::from_secs(5),
        quick_retries(),
    )
    .await;
    let report = world.run().await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 7);
    assert!(
        errors.iter().all(|e| e.starts_with("HTTP 401")),
        "{errors:?}"
    );
    assert!(
        !orgsync::report::render_text(&report).contains("not-the-shared-secret"),
        "the secret leaked"
    );
    assert_eq!(world.receiver.counters().rejected, 7);
    assert!(world.receiver.events().is_empty());
    assert_eq!(world.acknowledged(), 0);
}

#[tokio::test]
async fn listing_is_not_supported() {
    let pusher = pusher(
        "http://127.0.0.1:9/hook",
        SECRET,
        Duration::from_secs(1),
        quick_retries(),
    );
    let error = pusher.list().await.expect_err("a webhook cannot be listed");
    assert!(matches!(error, PushError::Unsupported { .. }));
    assert!(
        error.to_string().contains("cannot list accounts"),
        "{error}"
    );
}

/// A target for `receiver` with this `attributes` table.
fn mapped_config(receiver: &ReceiverHandle, table: &[(&str, &str)]) -> WebhookTargetConfig {
    let mut config = WebhookTargetConfig::new(
        receiver.url().parse().unwrap(),
        SecretRef::Env("UNUSED".into()),
    );
    config.retry = quick_retries();
    config.attributes = table
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    config
}

/// Mapped payload fields beyond the roles travel among the attributes under their configured
/// names, in `user.created` and in the changes of `user.updated`.
#[tokio::test]
async fn mapped_fields_travel_in_the_payload_under_their_names() {
    let receiver = emulators::webhook::start(ReceiverConfig::new(SECRET))
        .await
        .unwrap();
    let config = mapped_config(
        &receiver,
        &[
            ("email", "{enterprise_email|or:{email}}"),
            ("title", "none"),
            ("cost_center", "custom.成本中心"),
            ("name.en", "english_name"),
        ],
    );
    let mapping = config.attribute_mapping().unwrap();
    let extras: Vec<Field> = mapping
        .extras()
        .iter()
        .map(|e| Field::Extra(e.name))
        .collect();
    assert_eq!(
        extras,
        [Field::named("cost_center"), Field::named("name.en")]
    );
    let pusher = WebhookPusher::new(config, Secret::new(SECRET), "test").unwrap();

    let attributes = Attributes::new("lin", "林晓")
        .with(Field::Email, Some("lin@corp.example.cn".into()))
        // Mapped to "none": left out of the payload even when handed over.
        .with(Field::Title, Some("工程师".into()))
        .with(extras[0], Some("CC-01".into()))
        .with(extras[1], Some("Lin Xiao".into()));
    let key = UserKey::new("lin");
    pusher.create(&key, &attributes, true).await.unwrap();
    pusher
        .update(
            &TargetId::new("lin"),
            &[
                FieldChange {
                    field: extras[0],
                    before: Some("CC-01".into()),
                    after: Some("CC-02".into()),
                },
                FieldChange {
                    field: extras[1],
                    before: Some("Lin Xiao".into()),
                    after: None,
                },
            ],
        )
        .await
        .unwrap();

    let events = receiver.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].event, "user.created");
    assert_eq!(
        events[0].body["data"],
        json!({
            "attributes": {
                "user_name": "lin", "display_name": "林晓", "email": "lin@corp.example.cn",
                "cost_center": "CC-01", "name.en": "Lin Xiao"
            },
            "active": true
        })
    );
    assert_eq!(events[1].event, "user.updated");
    assert_eq!(
        events[1].body["data"],
        json!({ "changes": [
            { "field": "cost_center", "before": "CC-01", "after": "CC-02" },
            { "field": "name.en", "before": "Lin Xiao", "after": null }
        ] })
    );
}

/// Through the engine: the planner evaluates the configured mapping and the events carry it.
#[tokio::test]
async fn a_configured_mapping_reaches_the_receiver_through_the_engine() {
    let receiver = emulators::webhook::start(ReceiverConfig::new(SECRET))
        .await
        .unwrap();
    let wecom = emulators::wecom::start(small_org(), Default::default())
        .await
        .unwrap();
    let config = mapped_config(
        &receiver,
        &[
            ("email", "{email|upper}"),
            ("title", "none"),
            ("dept.path", "department_path"),
            ("greeting", "{'你好'}, {name}"),
        ],
    );
    let policy = Policy {
        mapping: config.attribute_mapping().unwrap(),
        ..Policy::default()
    };
    let connector = connector_to(
        wecom_puller(&wecom, Some(AGENT_ID)),
        AnyPusher::Webhook(WebhookPusher::new(config, Secret::new(SECRET), "test").unwrap()),
        policy.without_guard(),
    );
    let engine = Engine::new(Arc::new(MemoryStore::new()));
    assert_applied(&engine.run(&connector, RunMode::Apply).await.unwrap());
    let created = receiver
        .events()
        .into_iter()
        .find(|d| d.event == "user.created" && d.body["user"] == "lin")
        .expect("lin's user.created");
    let attributes = &created.body["data"]["attributes"];
    assert_eq!(attributes["email"], "LIN@EXAMPLE.CN");
    assert_eq!(attributes["greeting"], "你好, 林晓");
    assert!(
        attributes["dept.path"]
            .as_str()
            .is_some_and(|p| p.ends_with("研发部")),
        "{attributes}"
    );
    assert!(attributes.get("title").is_none(), "{attributes}");
    let sent = receiver.events().len();
    assert!(
        engine
            .run(&connector, RunMode::Apply)
            .await
            .unwrap()
            .steps
            .is_empty()
    );
    assert_eq!(receiver.events().len(), sent, "a rerun sent events");
}

/// config/wecom-webhook.toml as an admin would use it, only the URL changed: `orgsync diff`
/// plans every in-scope person and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_config_diffs() {
    let world = World::default().await;
    let mut env = common::wecom_example_env(&world.wecom);
    env.push(("ORGSYNC__CONNECTORS__HQ__TARGET__URL", world.receiver.url()));
    let report = tokio::task::block_in_place(|| {
        common::diff_example("wecom-webhook.toml", &env, &[("webhook-secret", SECRET)])
    });
    assert_eq!(report["target"], "webhook");
    assert_eq!(report["outcome"]["state"], "planned");
    assert_eq!(report["counts"]["create"], 7, "{}", report["counts"]);
    assert_eq!(world.receiver.counters().requests, 0, "a diff sent events");
}

/// A receiver that answers 200 and then streams its body without end (65 MiB, then it holds the
/// connection open): the answer is refused once it passes the 64 MiB every answer is capped at,
/// long before the timeout, and the step fails instead of filling the memory.
#[tokio::test]
async fn an_endless_answer_is_refused_past_64_mib() {
    use axum::body::{Body, Bytes};
    use futures_util::StreamExt;
    async fn endless() -> axum::response::Response {
        let chunk = Bytes::from(vec![b' '; 1 << 20]);
        let stream = futures_util::stream::iter(
            std::iter::repeat_n(chunk, 65).map(Ok::<_, std::convert::Infallible>),
        )
        .chain(futures_util::stream::pending());
        axum::response::Response::new(Body::from_stream(stream))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(endless)).await });
    // Without the cap the read would end only at this timeout, as a retried timeout error.
    let pusher = pusher(&url, SECRET, Duration::from_secs(20), quick_retries());
    let attributes = orgsync::model::Attributes::new("a", "A");
    let error = pusher
        .create(&orgsync::model::UserKey::new("a"), &attributes, true)
        .await
        .expect_err("the answer is too large");
    assert!(
        matches!(&error, PushError::Malformed { detail } if detail.contains("larger than 64 MiB")),
        "{error}"
    );
}

/// A receiver cannot be listed by nature: a first sync skips adoption, and every renderer of
/// the report says so; once people are recorded the note is gone.
#[tokio::test]
async fn a_first_sync_says_existing_accounts_were_not_looked_for() {
    let world = World::default().await;
    let note = "cannot be listed";
    let dry = world
        .engine
        .run(&world.connector, RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.outcome, RunOutcome::Planned);
    let json = serde_json::to_value(&dry).unwrap();
    assert!(
        json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "target_not_listed"),
        "{json}"
    );
    for format in [
        orgsync::report::Format::Text,
        orgsync::report::Format::Markdown,
        orgsync::report::Format::Html,
    ] {
        let rendered = orgsync::report::render(&dry, format);
        assert!(rendered.contains(note), "{format:?}: {rendered}");
    }
    assert_applied(&world.run().await);
    let again = world.run().await;
    assert!(
        !orgsync::report::render_text(&again).contains(note),
        "{}",
        orgsync::report::render_text(&again)
    );
}

/// `check-config --online` on the example config: the upstream is checked, the receiver is not
/// (that would take an event) and the line says so; nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_online_says_a_receiver_is_not_checked() {
    let world = World::default().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("webhook-secret"), SECRET).unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/wecom-webhook.toml");
    let mut env = common::wecom_example_env(&world.wecom);
    env.push(("ORGSYNC__CONNECTORS__HQ__TARGET__URL", world.receiver.url()));
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .arg("--config")
            .arg(&config)
            .args(["check-config", "--online"])
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .env("ORGSYNC__STATE_DIR", dir.path().join("state"))
            .env("ORGSYNC_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    });
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{out}");
    assert!(out.contains("hq  upstream token  ok"), "{out}");
    assert!(
        out.contains("hq  target  not checked: a receiver cannot be checked"),
        "{out}"
    );
    assert!(!out.contains(SECRET), "{out}");
    assert_eq!(world.receiver.counters().requests, 0, "a check sent events");
}

/// Every group event through the pusher: signed (the receiver checks), stored with the group's
/// department id in the envelope, and the receiver's groups follow them. A lost
/// acknowledgement is retried under the same delivery id; the same change made again after it
/// was acknowledged is a new delivery.
#[tokio::test]
async fn group_events_are_signed_and_follow_the_delivery_id_rules() {
    use orgsync::model::{DepartmentId, TargetId, UserKey};
    use orgsync::pushers::{GroupWrite, PersonRef};

    let receiver = emulators::webhook::start(ReceiverConfig::new(SECRET))
        .await
        .unwrap();
    let sender = pusher(
        &receiver.url(),
        SECRET,
        Duration::from_secs(5),
        quick_retries(),
    );
    let (sales, east) = (DepartmentId::new("3"), DepartmentId::new("12"));
    let keys = ["lin", "wang", "zhou"].map(UserKey::new);
    // Target ids are not what a receiver sees: it knows people by upstream key.
    let ids = ["id-lin", "id-wang", "id-zhou"].map(TargetId::new);
    let people: Vec<PersonRef> = keys
        .iter()
        .zip(&ids)
        .map(|(key, id)| PersonRef { key, id })
        .collect();

    let write = GroupWrite {
        key: &sales,
        display_name: "销售部",
        parent: None,
        head: Some(people[1]),
    };
    let id = sender.create_group(&write).await.unwrap();
    assert_eq!(id.as_str(), "3", "a group's id is its department id");
    let east_write = GroupWrite {
        key: &east,
        display_name: "销售部 / 华东",
        parent: Some(&sales),
        head: None,
    };
    let east_id = sender.create_group(&east_write).await.unwrap();
    sender.add_members(&id, &sales, &people).await.unwrap();
    sender
        .remove_members(&id, &sales, &people[..1])
        .await
        .unwrap();
    let renamed = GroupWrite {
        display_name: "销售",
        head: Some(people[2]),
        ..write
    };
    assert_eq!(sender.update_group(&id, &renamed).await.unwrap(), None);
    sender.delete_group(&east_id, &east).await.unwrap();

    assert_eq!(receiver.counters().rejected, 0);
    let events = receiver.events();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|d| (d.event.as_str(), d.body["group"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("group.created", "3"),
            ("group.created", "12"),
            ("group.members_added", "3"),
            ("group.members_removed", "3"),
            ("group.updated", "3"),
            ("group.deleted", "12"),
        ]
    );
    let body = |i: usize| {
        let mut body = events[i].body.clone();
        let object = body.as_object_mut().unwrap();
        assert_eq!(object["id"], json!(events[i].id));
        assert!(
            object
                .remove("occurred_at")
                .unwrap()
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        object.remove("id");
        body
    };
    assert_eq!(
        body(1),
        json!({
            "type": "group.created", "version": 1, "connector": "test", "group": "12",
            "data": { "display_name": "销售部 / 华东", "parent": "3", "head": null }
        })
    );
    assert_eq!(
        body(2)["data"],
        json!({ "members": ["lin", "wang", "zhou"] })
    );
    assert_eq!(body(3)["data"], json!({ "members": ["lin"] }));
    assert_eq!(
        body(4)["data"],
        json!({ "display_name": "销售", "parent": null, "head": "zhou" })
    );
    assert_eq!(body(5)["data"], json!({}));

    let groups = receiver.groups();
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["3"]);
    let group = &groups["3"];
    assert_eq!(
        (
            group.display_name.as_str(),
            group.parent.as_deref(),
            group.head.as_deref()
        ),
        ("销售", None, Some("zhou"))
    );
    assert_eq!(group.members.iter().collect::<Vec<_>>(), ["wang", "zhou"]);

    // The acknowledgement is lost: the retry carries the same id and is stored once.
    receiver.set_behaviour(Behaviour::StoreThenFail { times: 1 });
    sender.add_members(&id, &sales, &people[..1]).await.unwrap();
    assert_eq!(receiver.counters().duplicates, 1);
    let events = receiver.events();
    assert_eq!(events.len(), 7, "stored once");
    // The same change after it was acknowledged is a new delivery.
    sender.add_members(&id, &sales, &people[..1]).await.unwrap();
    let again = receiver.events();
    assert_eq!(again.len(), 8);
    assert_ne!(again[7].id, again[6].id);
    assert_eq!(again[7].body["data"], again[6].body["data"]);
    assert!(receiver.groups()["3"].members.contains("lin"));

    // A sender with another secret is refused by the receiver, and nothing is stored.
    let forged = pusher(
        &receiver.url(),
        "not the secret",
        Duration::from_secs(5),
        quick_retries(),
    );
    let refused = forged.delete_group(&id, &sales).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(receiver.counters().rejected, 1);
    assert!(receiver.groups().contains_key("3"));
}
