//! The Stream client against the DingTalk emulator's gateway: events reach the sink and are
//! acknowledged only after it accepted them, a failed store is delivered again, a dropped
//! connection and a gateway's `disconnect` are reconnected with a fresh ticket, pings are
//! answered, wrong credentials never connect.

use super::StreamClient;
use crate::config::SecretRef;
use crate::events::{Accepted, EventSink, Notice, Refusal, SinkError};
use crate::model::UserKey;
use crate::pullers::dingtalk::DingtalkSourceConfig;
use crate::state::Acceptance;
use emulators::dingtalk::stream::StreamEventState;
use emulators::dingtalk::{self, DingtalkConfig, DingtalkHandle, EventPush};
use emulators::generator::{GeneratorConfig, generate};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

/// Keeps what it accepts; refuses to store while `failures` is above zero.
#[derive(Default)]
struct TestSink {
    accepted: Mutex<Vec<Accepted>>,
    seen: Mutex<HashSet<String>>,
    failures: AtomicUsize,
    refused: Mutex<Vec<&'static str>>,
    /// Run inside `accept`, before it returns (what the gateway knows at that moment).
    during_accept: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl EventSink for TestSink {
    fn accept(&self, _connector: &str, accepted: Accepted) -> Result<Acceptance, SinkError> {
        if let Some(check) = self.during_accept.lock().unwrap().as_ref() {
            check();
        }
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SinkError::Storage("disk full".into()));
        }
        if !self.seen.lock().unwrap().insert(accepted.dedupe.clone()) {
            return Ok(Acceptance::Duplicate);
        }
        self.accepted.lock().unwrap().push(accepted);
        Ok(Acceptance::Stored(1))
    }

    fn refused(&self, _connector: &str, refusal: &Refusal) {
        self.refused.lock().unwrap().push(refusal.label());
    }
}

/// The DingTalk emulator on a small org, everyone in scope, no rate limit, pushing `events`.
pub(crate) async fn emulator_pushing(events: EventPush) -> DingtalkHandle {
    let org = generate(&GeneratorConfig {
        people: 12,
        departments: 3,
        out_of_scope_share: 0.0,
        ..GeneratorConfig::default()
    });
    let config = DingtalkConfig {
        enforce_rate_limits: false,
        events: Some(events),
        ..DingtalkConfig::default()
    };
    dingtalk::start(org, config).await.unwrap()
}

async fn emulator() -> DingtalkHandle {
    emulator_pushing(EventPush::Stream).await
}

fn source(handle: &DingtalkHandle, secret: &str, dir: &tempfile::TempDir) -> DingtalkSourceConfig {
    let path = dir.path().join("app_secret");
    std::fs::write(&path, secret).unwrap();
    DingtalkSourceConfig::new(
        handle.config().app_key.clone(),
        SecretRef::File(path),
        handle.base_url().parse().unwrap(),
    )
}

/// Starts the client; dropping the sender (or sending) stops it.
fn run(
    client: StreamClient,
    sink: Arc<TestSink>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(sink, async {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// Changes one visible person's title: one `user_modify_org`. Returns their id.
fn change_someone(handle: &DingtalkHandle, nth: usize) -> String {
    let org = handle.org();
    let visibility = org.visibility();
    let id = org
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u))
        .nth(nth)
        .unwrap()
        .id
        .clone();
    let changed = id.clone();
    handle.update_org(move |org| {
        let user = org.users.iter_mut().find(|u| u.id == changed).unwrap();
        user.title = Some(format!("changed {}", user.title.as_deref().unwrap_or("")));
    });
    id
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn events_reach_the_sink_and_are_acknowledged_only_after_it_accepted() {
    let handle = Arc::new(emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(TestSink::default());
    let acked_during_accept = Arc::new(AtomicUsize::new(0));
    {
        let (handle, acked) = (handle.clone(), acked_during_accept.clone());
        *sink.during_accept.lock().unwrap() = Some(Box::new(move || {
            let settled = handle
                .stream_events()
                .iter()
                .filter(|e| e.state == StreamEventState::Acknowledged)
                .count();
            acked.fetch_add(settled, Ordering::SeqCst);
        }));
    }
    let client = StreamClient::new("dt".into(), &source(&handle, "emulated-secret", &dir)).unwrap();
    let (stop, task) = run(client, sink.clone());
    until("a connection", || handle.stream_connections() == 1).await;

    let first = change_someone(&handle, 0);
    let events = handle.wait_for_stream_acks(1, WAIT).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, StreamEventState::Acknowledged);
    assert_eq!(events[0].sends, 1);
    let accepted = sink.accepted.lock().unwrap().pop().unwrap();
    assert_eq!(
        accepted.dedupe, events[0].event_id,
        "de-duplicated by eventId"
    );
    assert_eq!(accepted.event.event_type, "user_modify_org");
    assert_eq!(
        accepted.event.notices,
        vec![Notice::People {
            keys: vec![UserKey::new(first)]
        }]
    );
    assert!(
        (jiff::Timestamp::now() - accepted.sent_at)
            .get_seconds()
            .abs()
            < 60
    );
    assert_eq!(
        acked_during_accept.load(Ordering::SeqCst),
        0,
        "the gateway had the ACK before the sink returned"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn an_event_the_sink_cannot_store_is_answered_later_and_delivered_again() {
    let handle = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(TestSink::default());
    sink.failures.store(1, Ordering::SeqCst);
    let client = StreamClient::new("dt".into(), &source(&handle, "emulated-secret", &dir)).unwrap();
    let (_stop, _task) = run(client, sink.clone());

    change_someone(&handle, 1);
    let events = handle.wait_for_stream_acks(1, WAIT).await;
    assert_eq!(events[0].state, StreamEventState::Acknowledged);
    assert_eq!(events[0].refusals, 1, "the first answer was not SUCCESS");
    assert_eq!(events[0].sends, 2, "delivered again after the refusal");
    assert_eq!(sink.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_with_a_fresh_ticket_and_nothing_is_lost() {
    let handle = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(TestSink::default());
    let client = StreamClient::new("dt".into(), &source(&handle, "emulated-secret", &dir)).unwrap();
    let (_stop, _task) = run(client, sink.clone());
    until("a connection", || handle.stream_connections() == 1).await;

    handle.drop_stream_connections();
    change_someone(&handle, 2);
    let events = handle.wait_for_stream_acks(1, WAIT).await;
    assert_eq!(events[0].state, StreamEventState::Acknowledged);
    assert_eq!(
        handle.stream_connections(),
        2,
        "a second ticket, a second connection"
    );
    assert_eq!(sink.accepted.lock().unwrap().len(), 1);

    handle.ask_stream_to_reconnect();
    until("a reconnect after disconnect", || {
        handle.stream_connections() == 3
    })
    .await;
    change_someone(&handle, 3);
    handle.wait_for_stream_acks(2, WAIT).await;
    assert_eq!(sink.accepted.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_gateways_pings_are_answered() {
    let handle = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let client = StreamClient::new("dt".into(), &source(&handle, "emulated-secret", &dir)).unwrap();
    let (_stop, _task) = run(client, Arc::new(TestSink::default()));
    until("two pongs", || handle.stream_pongs() >= 2).await;
}

#[tokio::test]
async fn a_wrong_secret_never_connects_and_the_client_still_stops_on_shutdown() {
    let handle = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let client = StreamClient::new("dt".into(), &source(&handle, "wrong-secret", &dir)).unwrap();
    let (stop, task) = run(client, Arc::new(TestSink::default()));
    until("a refused open", || {
        handle.calls(emulators::dingtalk::stream::OPEN) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(handle.stream_connections(), 0);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[test]
fn the_clients_debug_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    std::fs::write(&path, "very-secret-value").unwrap();
    let source = DingtalkSourceConfig::new(
        "ding-app",
        SecretRef::File(path),
        "https://oapi.dingtalk.com".parse().unwrap(),
    );
    let client = StreamClient::new("dt".into(), &source).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert!(shown.contains("api.dingtalk.com"), "{shown}");
}
