//! The demo's last step: a change upstream reaches the target in seconds. The emulated upstream
//! sends its change events (signed and encrypted as the platform does) to a receiver on
//! loopback, which checks them and stores them in the demo's state; after the window they are
//! coalesced and one focused run syncs the people they name — the daemon's path, in this process.

use crate::config::Secret;
use crate::engine::{Connector, Engine, RunContext};
use crate::events::coalesce::{Coalesced, coalesce};
use crate::events::receiver::{Endpoints, Receiver, router};
use crate::events::wechat_crypto::WechatCipher;
use crate::events::{Accepted, EventSink, Opener, Refusal, SinkError};
use crate::pullers::feishu::{DepartmentIdType, UserIdType};
use crate::report::Report;
use crate::state::{Acceptance, StateDb};
use emulators::fixture::Org;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const CONNECTOR: &str = "demo";
/// The callback's keys, as an admin copies them from the platform's console.
const TOKEN: &str = "demo-event-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The daemon's default window.
const WINDOW: Duration = Duration::from_secs(1);
const FULL_RUN_ABOVE: usize = 200;

/// The receiver's listener, bound before the upstream starts so the upstream knows its URL.
pub struct Listener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    pub async fn bind() -> std::io::Result<Listener> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok(Listener { listener, addr })
    }

    pub fn url(&self) -> String {
        format!("http://{}/events/{CONNECTOR}", self.addr)
    }
}

pub fn wecom_callback(url: String) -> emulators::wecom::events::CallbackConfig {
    emulators::wecom::events::CallbackConfig {
        url,
        token: TOKEN.into(),
        encoding_aes_key: AES_KEY.into(),
        // An older contacts-sync callback: every change, with its fields.
        kind: emulators::wecom::events::CallbackKind::Full,
    }
}

pub fn dingtalk_push(url: String) -> emulators::dingtalk::EventPush {
    emulators::dingtalk::EventPush::Http {
        url,
        token: TOKEN.into(),
        aes_key: AES_KEY.into(),
    }
}

pub fn feishu_push(url: String) -> emulators::feishu::EventPush {
    let mut push = emulators::feishu::EventPush::new(url, TOKEN);
    push.encrypt_key = Some(AES_KEY.into());
    push
}

pub fn wecom_opener(corp_id: &str) -> Result<Box<dyn Opener>, String> {
    Ok(Box::new(crate::events::wecom::WecomOpener::new(
        corp_id,
        Secret::new(TOKEN),
        AES_KEY,
    )?))
}

pub fn dingtalk_opener(app_key: &str) -> Result<Box<dyn Opener>, String> {
    Ok(Box::new(crate::events::dingtalk::DingtalkOpener::new(
        app_key,
        Secret::new(TOKEN),
        WechatCipher::new(AES_KEY)?,
    )))
}

pub fn feishu_opener(app_id: &str) -> Box<dyn Opener> {
    Box::new(crate::events::feishu::FeishuOpener::new(
        app_id,
        Secret::new(TOKEN),
        Some(Secret::new(AES_KEY)),
        UserIdType::default(),
        DepartmentIdType::default(),
    ))
}

/// Stores accepted events in the demo's state and wakes the demo.
struct DemoSink {
    store: Arc<StateDb>,
    arrived: Notify,
}

impl EventSink for DemoSink {
    fn accept(&self, connector: &str, accepted: Accepted) -> Result<Acceptance, SinkError> {
        let stored = self
            .store
            .accept_event(connector, &accepted.dedupe, &accepted.event)
            .map_err(|e| SinkError::Storage(e.to_string()))?;
        self.arrived.notify_one();
        Ok(stored)
    }

    fn refused(&self, connector: &str, refusal: &Refusal) {
        println!("  refused an event for {connector}: {refusal}");
    }
}

/// The receiver, serving until the demo ends.
pub struct Running {
    sink: Arc<DemoSink>,
    server: tokio::task::JoinHandle<()>,
}

pub fn serve(listener: Listener, opener: Box<dyn Opener>, store: Arc<StateDb>) -> Running {
    let sink = Arc::new(DemoSink {
        store,
        arrived: Notify::new(),
    });
    let mut endpoints = Endpoints::default();
    endpoints.insert(CONNECTOR, Arc::from(opener), Duration::from_secs(300));
    let receiver = Receiver::new(endpoints, Arc::clone(&sink) as Arc<dyn EventSink>);
    let app = router(receiver);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener.listener, app).await;
    });
    Running { sink, server }
}

impl Running {
    pub fn stop(self) {
        self.server.abort();
    }
}

/// A new hire (a copy of `template`'s place in the org, with a name and an address of their
/// own) and a leaver; their ids.
pub fn hire_and_leave(org: &mut Org, leaver: &str) -> Option<(String, String)> {
    let template = org
        .users
        .iter()
        .find(|u| u.id != leaver && u.manager.is_some())?
        .clone();
    let hire = emulators::fixture::User {
        id: "demo.newcomer".into(),
        name: "Demo Newcomer".into(),
        email: Some("demo.newcomer@example.com".into()),
        mobile: None,
        employee_no: None,
        ..template
    };
    let hired = hire.id.clone();
    org.users.push(hire);
    org.users.retain(|u| u.id != leaver);
    Some((hired, leaver.to_owned()))
}

/// What the events step showed.
pub struct Arrival {
    pub events: usize,
    pub first_event_after: Duration,
    pub report: Report,
    pub written_after: Duration,
}

/// Waits for the events a change made at `changed` sends, then runs what they call for, as the
/// daemon's worker does: gather for the window, coalesce, one run, consume.
pub async fn sync_what_arrives(
    running: &Running,
    engine: &Engine<StateDb>,
    connector: &Connector,
    changed: Instant,
    expected: usize,
) -> Result<Arrival, String> {
    let store = &running.sink.store;
    let deadline = changed + Duration::from_secs(15);
    let mut first = None;
    loop {
        let queued = store.queued_events(CONNECTOR).map_err(|e| e.to_string())?;
        if first.is_none() && !queued.is_empty() {
            first = Some(changed.elapsed());
            // The window opens at the first event.
            tokio::time::sleep(WINDOW).await;
            continue;
        }
        if queued.len() >= expected || (first.is_some() && Instant::now() > deadline) {
            break;
        }
        if Instant::now() > deadline {
            return Err("no event arrived from the emulated upstream in 15 s".into());
        }
        let _ =
            tokio::time::timeout(Duration::from_millis(200), running.sink.arrived.notified()).await;
    }
    let queued = store.queued_events(CONNECTOR).map_err(|e| e.to_string())?;
    let (seqs, events): (Vec<u64>, Vec<_>) = queued.into_iter().unzip();
    let Coalesced::Run(summary) = coalesce(&events, FULL_RUN_ABOVE) else {
        return Err("the events named nothing to sync".into());
    };
    let report = match &summary.reach {
        crate::report::EventsReach::People { keys } => {
            engine
                .sync_announced(connector, keys, &RunContext::default())
                .await
        }
        crate::report::EventsReach::Everyone { .. } => {
            engine.run(connector, crate::engine::RunMode::Apply).await
        }
    };
    let mut report = report.map_err(|e| e.to_string())?;
    let written_after = changed.elapsed();
    store
        .remove_events(CONNECTOR, &seqs)
        .map_err(|e| e.to_string())?;
    report.events = Some(summary);
    Ok(Arrival {
        events: events.len(),
        first_event_after: first.unwrap_or_default(),
        report,
        written_after,
    })
}
