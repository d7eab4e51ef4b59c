//! The DingTalk emulator's events on their own: which payloads an org change makes, HTTP pushes
//! retried and failed when the receiver does not answer the encrypted "success", the Stream
//! gateway's credential check and one-time tickets. (orgsync's side of both deliveries is tested
//! in `src/events/dingtalk_tests.rs` and `src/events/dingtalk_stream/stream_tests.rs`.)

use emulators::dingtalk::events::{DeliveryOutcome, payloads};
use emulators::dingtalk::{self, DingtalkConfig, EventPush};
use emulators::fixture::{Department, Org, Status};
use emulators::generator::{GeneratorConfig, generate};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn org() -> Org {
    generate(&GeneratorConfig {
        people: 12,
        departments: 3,
        out_of_scope_share: 0.0,
        ..GeneratorConfig::default()
    })
}

fn kinds(payloads: &[Value]) -> Vec<&str> {
    payloads
        .iter()
        .map(|p| p["EventType"].as_str().unwrap())
        .collect()
}

#[test]
fn org_changes_become_dingtalk_payloads_with_ids_only() {
    let old = org();
    let mut new = old.clone();
    let root = new.departments[0].id;
    new.departments.push(Department {
        parent: Some(root),
        name: "Events".into(),
        id: 9_001,
        ..new.departments[0].clone()
    });
    new.users[0].status = Status::Resigned;
    new.users[1].status = Status::NotActivated;
    let mut activated = new.clone();
    activated.users[1].status = Status::Active;
    let made = payloads(&old, &new, 1_717_000_000_000);
    assert_eq!(
        kinds(&made),
        vec!["org_dept_create", "user_leave_org", "user_modify_org"]
    );
    assert_eq!(made[0]["DeptId"], json!([9_001]));
    assert_eq!(made[1]["UserId"], json!([new.users[0].id]));
    assert_eq!(made[1]["TimeStamp"], "1717000000000");
    assert!(made[1].get("Name").is_none(), "ids only");
    assert_eq!(
        kinds(&payloads(&new, &activated, 0)),
        vec!["user_active_org"]
    );
    let mut rescoped = old.clone();
    rescoped.scope.users.push("someone".into());
    assert_eq!(kinds(&payloads(&old, &rescoped, 0)), vec!["org_change"]);
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_the_encrypted_success_gets_retries_then_a_failure() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "success" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = DingtalkConfig {
        enforce_rate_limits: false,
        events: Some(EventPush::Http {
            url: format!("http://{addr}/cb"),
            token: "t".into(),
            aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        }),
        ..DingtalkConfig::default()
    };
    let handle = dingtalk::start(org(), config).await.unwrap();
    assert!(handle.verify_callback_url().await.is_err());
    handle.update_org(|org| org.users[0].title = Some("new".into()));
    let deliveries = handle.wait_for_deliveries(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].attempts, 3);
    assert!(
        matches!(&deliveries[0].outcome, DeliveryOutcome::Failed(why) if why.contains("not JSON"))
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        6,
        "3 for check_url, 3 for the event"
    );
}

#[tokio::test]
async fn the_gateway_checks_the_apps_credentials_and_tickets_are_used_once() {
    let handle = dingtalk::start(org(), DingtalkConfig::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let open = format!("{}{}", handle.base_url(), dingtalk::stream::OPEN);
    let body = |secret: &str| {
        json!({"clientId": "ding-emulated-app", "clientSecret": secret,
               "subscriptions": [{"type": "EVENT", "topic": "*"}], "ua": "test"})
        .to_string()
    };
    let refused = client
        .post(&open)
        .header("content-type", "application/json")
        .body(body("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let answer = client
        .post(&open)
        .header("content-type", "application/json")
        .body(body("emulated-secret"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let endpoint = answer["endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with("ws://127.0.0.1:"), "{endpoint}");
    assert!(!answer["ticket"].as_str().unwrap().is_empty());
    let ticket = answer["ticket"].as_str().unwrap();
    let upgrade = |ticket: &str| {
        client
            .get(format!(
                "{}?ticket={ticket}",
                endpoint.replacen("ws://", "http://", 1)
            ))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    assert_eq!(upgrade("forged").await.unwrap().status().as_u16(), 401);
    assert_eq!(handle.stream_connections(), 0);
    assert_eq!(upgrade(ticket).await.unwrap().status().as_u16(), 101);
    assert_eq!(
        upgrade(ticket).await.unwrap().status().as_u16(),
        401,
        "used once"
    );
    assert_eq!(handle.stream_connections(), 1);
}
