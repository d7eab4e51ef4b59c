//! The HTTP opener against the DingTalk emulator's own crypto: its real deliveries through a
//! small receiver, and requests crafted with its `CallbackBuilder` (forged, replayed, sealed
//! with another key or for another app).

use super::*;
use crate::events::dingtalk_stream::stream_tests::emulator_pushing;
use crate::events::{Notice, StoredEvent};
use crate::model::{DepartmentId, UserKey};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emulators::dingtalk::EventPush;
use emulators::dingtalk::events::{CallbackBuilder, CallbackRequest, DeliveryOutcome};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_KEY: &str = "ding-emulated-app";
const TOKEN: &str = "callback-token";
const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
const OTHER_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn opener() -> DingtalkOpener {
    DingtalkOpener::new(
        APP_KEY,
        Secret::new(TOKEN),
        WechatCipher::new(AES_KEY).unwrap(),
    )
}

fn builder() -> CallbackBuilder {
    CallbackBuilder::new(TOKEN, AES_KEY, APP_KEY).unwrap()
}

/// Opens a crafted request as the receiver would.
fn open(request: &CallbackRequest, now: Timestamp) -> Result<Opened, Refusal> {
    let query: BTreeMap<String, String> = request.query.iter().cloned().collect();
    opener().open(
        &Incoming {
            method: IncomingMethod::Post,
            query: &query,
            headers: &BTreeMap::new(),
            body: request.body.as_bytes(),
        },
        now,
    )
}

fn event(opened: Opened) -> (Accepted, Reply) {
    match opened {
        Opened::Event { accepted, reply } => (accepted, reply),
        Opened::Handshake { .. } => panic!("a handshake, not an event"),
    }
}

#[test]
fn every_event_type_opens_to_its_notices_and_is_answered_with_the_encrypted_success() {
    let now = Timestamp::now();
    let cases = [
        (
            serde_json::json!({"EventType": "user_add_org", "UserId": ["u1", "u2"], "CorpId": "c", "TimeStamp": "1717000000000"}),
            vec![Notice::People {
                keys: vec![UserKey::new("u1"), UserKey::new("u2")],
            }],
        ),
        (
            serde_json::json!({"EventType": "user_leave_org", "UserId": ["u3"]}),
            vec![Notice::People {
                keys: vec![UserKey::new("u3")],
            }],
        ),
        (
            serde_json::json!({"EventType": "org_dept_remove", "DeptId": [42]}),
            vec![Notice::Departments {
                ids: vec![DepartmentId::new("42")],
            }],
        ),
        (
            serde_json::json!({"EventType": "label_conf_add"}),
            vec![Notice::Ignored {
                event_type: "label_conf_add".into(),
            }],
        ),
        (
            serde_json::json!({"EventType": "org_change"}),
            vec![Notice::Unknown {
                event_type: "org_change".into(),
            }],
        ),
    ];
    for (payload, notices) in cases {
        let sent = builder().timestamp_ms(1_717_000_000_500);
        let (accepted, reply) = event(open(&sent.seal(&payload), now).unwrap());
        assert_eq!(accepted.event.notices, notices, "{payload}");
        assert_eq!(accepted.sent_at.as_millisecond(), 1_717_000_000_500);
        assert_eq!(accepted.event.received_at, now);
        assert_eq!(
            accepted.dedupe,
            crate::hex::encode(&Sha256::digest(payload.to_string().as_bytes()))
        );
        sent.check_success(&reply.body).unwrap();
    }
}

#[test]
fn check_url_is_the_handshake() {
    let request = builder().seal(&serde_json::json!({"EventType": "check_url"}));
    match open(&request, Timestamp::now()).unwrap() {
        Opened::Handshake { reply } => builder().check_success(&reply.body).unwrap(),
        Opened::Event { .. } => panic!("check_url is not an event"),
    }
}

#[test]
fn forged_undecryptable_foreign_and_malformed_requests_are_refused() {
    let payload = serde_json::json!({"EventType": "user_add_org", "UserId": ["u1"]});
    let now = Timestamp::now();
    let forged = builder().signature("0123456789abcdef0123456789abcdef01234567");
    assert_eq!(
        open(&forged.seal(&payload), now).unwrap_err(),
        Refusal::Forged
    );
    let wrong_token = CallbackBuilder::new("other-token", AES_KEY, APP_KEY).unwrap();
    assert_eq!(
        open(&wrong_token.seal(&payload), now).unwrap_err(),
        Refusal::Forged
    );
    let wrong_key = CallbackBuilder::new(TOKEN, OTHER_KEY, APP_KEY).unwrap();
    assert_eq!(
        open(&wrong_key.seal(&payload), now).unwrap_err(),
        Refusal::Undecryptable
    );
    let foreign = CallbackBuilder::new(TOKEN, AES_KEY, "ding-other-app").unwrap();
    assert_eq!(
        open(&foreign.seal(&payload), now).unwrap_err(),
        Refusal::Foreign
    );

    let good = builder().seal(&payload);
    let mut no_nonce = good.clone();
    no_nonce.query.retain(|(k, _)| k != "nonce");
    assert_eq!(open(&no_nonce, now).unwrap_err().label(), "malformed");
    let mut not_json = good.clone();
    not_json.body = "encrypt=abc".into();
    assert_eq!(open(&not_json, now).unwrap_err().label(), "malformed");
    let query: BTreeMap<String, String> = good.query.iter().cloned().collect();
    let get = Incoming {
        method: IncomingMethod::Get,
        query: &query,
        headers: &BTreeMap::new(),
        body: good.body.as_bytes(),
    };
    assert_eq!(opener().open(&get, now).unwrap_err().label(), "malformed");
    // A correctly signed and sealed payload that is not an event.
    let nonsense = builder().seal(&serde_json::json!(["not", "an", "event"]));
    assert_eq!(open(&nonsense, now).unwrap_err().label(), "malformed");
}

#[test]
fn a_replay_keeps_its_old_timestamp_and_its_payloads_dedupe_key() {
    let payload = serde_json::json!({"EventType": "user_modify_org", "UserId": ["u1"]});
    let request = builder().timestamp_ms(1_600_000_000_000).seal(&payload);
    let now = Timestamp::now();
    let (first, _) = event(open(&request, now).unwrap());
    let (again, _) = event(open(&request, now).unwrap());
    assert_eq!(first.dedupe, again.dedupe, "the state drops the second");
    // The receiver refuses it as stale against events.max_age: the opener reports when it was sent.
    assert_eq!(first.sent_at.as_millisecond(), 1_600_000_000_000);
}

#[test]
fn the_config_needs_token_and_key_and_hides_them() {
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        crate::config::SecretRef::File(path)
    };
    let source = DingtalkSourceConfig::new(
        APP_KEY,
        secret("app", "s"),
        "https://oapi.dingtalk.com".parse().unwrap(),
    );
    let mut events: EventsConfig = toml::from_str("delivery = \"http\"").unwrap();
    let missing = DingtalkOpener::from_config(&source, &events).unwrap_err();
    assert!(missing.contains("events.token"), "{missing}");
    events.token = Some(secret("token", TOKEN));
    events.aes_key = Some(secret("key", "too-short"));
    let short = DingtalkOpener::from_config(&source, &events).unwrap_err();
    assert!(
        short.contains("aes_key") && !short.contains("too-short"),
        "{short}"
    );
    events.aes_key = Some(secret("key2", AES_KEY));
    let opener = DingtalkOpener::from_config(&source, &events).unwrap();
    let shown = format!("{opener:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains(AES_KEY),
        "{shown}"
    );
}

/// What the test receiver saw.
#[derive(Default)]
struct Received {
    events: Vec<StoredEvent>,
    handshakes: usize,
}

async fn receive(
    State(received): State<Arc<Mutex<Received>>>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> axum::response::Response {
    let incoming = Incoming {
        method: IncomingMethod::Post,
        query: &query,
        headers: &BTreeMap::new(),
        body: &body,
    };
    let reply = match opener().open(&incoming, Timestamp::now()) {
        Ok(Opened::Handshake { reply }) => {
            received.lock().unwrap().handshakes += 1;
            reply
        }
        Ok(Opened::Event { accepted, reply }) => {
            received.lock().unwrap().events.push(accepted.event);
            reply
        }
        Err(refusal) => return (StatusCode::FORBIDDEN, refusal.label()).into_response(),
    };
    ([("content-type", reply.content_type)], reply.body).into_response()
}

#[tokio::test]
async fn the_emulators_deliveries_are_opened_and_acknowledged_in_order() {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = axum::Router::new()
        .route("/events/dt", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let handle = emulator_pushing(EventPush::Http {
        url: format!("http://{addr}/events/dt"),
        token: TOKEN.into(),
        aes_key: AES_KEY.into(),
    })
    .await;
    handle.verify_callback_url().await.unwrap();
    assert_eq!(received.lock().unwrap().handshakes, 1);

    let visibility = handle.org().visibility();
    let visible: Vec<String> = handle
        .org()
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u))
        .map(|u| u.id.clone())
        .take(2)
        .collect();
    let (changed, removed) = (visible[0].clone(), visible[1].clone());
    {
        let (changed, removed) = (changed.clone(), removed.clone());
        handle.update_org(move |org| {
            let user = org.users.iter_mut().find(|u| u.id == changed).unwrap();
            user.title = Some("Chief Event Officer".into());
            org.users.retain(|u| u.id != removed);
        });
    }
    let deliveries = handle.wait_for_deliveries(2, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(delivery.outcome, DeliveryOutcome::Acknowledged);
        assert_eq!(delivery.attempts, 1);
    }
    let events = std::mem::take(&mut received.lock().unwrap().events);
    let seen: Vec<(&str, &[Notice])> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.notices.as_slice()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "user_modify_org",
                &[Notice::People {
                    keys: vec![UserKey::new(changed)]
                }][..]
            ),
            (
                "user_leave_org",
                &[Notice::People {
                    keys: vec![UserKey::new(removed)]
                }][..]
            ),
        ]
    );
    assert!(events.iter().all(|e| e.occurred_at.is_some()));
}
