//! The Feishu emulator's event subscription: org updates sent as v2 contact events, in order,
//! retried until answered 200, encrypted like the platform's published vector, and the URL
//! challenge. A small axum receiver on port 0 records what arrives.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use emulators::feishu::{self, DeliveryOutcome, EventPush, FeishuConfig, FeishuHandle};
use emulators::fixture::{Org, User};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// What the receiver got, and the statuses it answers next (200 once they run out).
#[derive(Default)]
struct Receiver {
    received: Mutex<Vec<(HeaderMap, Vec<u8>)>>,
    script: Mutex<VecDeque<u16>>,
    /// Answers this many requests only after 3.5 s (past Feishu's 3 s).
    slow: Mutex<u32>,
}

impl Receiver {
    fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    receiver
        .received
        .lock()
        .unwrap()
        .push((headers, body.to_vec()));
    let slow = {
        let mut slow = receiver.slow.lock().unwrap();
        let this_one = *slow > 0;
        *slow = slow.saturating_sub(1);
        this_one
    };
    if slow {
        tokio::time::sleep(Duration::from_millis(3500)).await;
    }
    let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
    let reply = match serde_json::from_slice::<Value>(&body) {
        Ok(plain) if plain["type"] == "url_verification" => {
            json!({ "challenge": plain["challenge"] })
        }
        _ => json!({ "msg": "success" }),
    };
    (StatusCode::from_u16(status).unwrap(), reply.to_string())
}

async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let app = Router::new()
        .route("/events", post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/events")
}

fn org() -> Org {
    Org::from_json(
        &json!({
            "departments": [
                {"id": 1, "name": "示例公司", "leaders": ["ceo"]},
                {"id": 2, "parent": 1, "name": "研发部", "leaders": ["rd.head"]}
            ],
            "users": [
                {"id": "ceo", "name": "王总", "departments": [1]},
                {"id": "rd.head", "name": "乔宇", "departments": [2], "manager": "ceo"},
                {"id": "dev", "name": "林晓", "departments": [2], "manager": "rd.head"}
            ],
            "scope": {"departments": [1], "users": []}
        })
        .to_string(),
    )
    .unwrap()
}

async fn emulator(url: String, encrypt_key: Option<&str>) -> FeishuHandle {
    let push = EventPush {
        encrypt_key: encrypt_key.map(str::to_owned),
        retry_delays: vec![Duration::from_millis(50); 4],
        ..EventPush::new(url, "vtok")
    };
    let config = FeishuConfig {
        enforce_rate_limits: false,
        events: Some(push),
        ..FeishuConfig::default()
    };
    feishu::start(org(), config).await.unwrap()
}

#[test]
fn encryption_reproduces_the_platforms_published_vector() {
    // Feishu's guide: "hello world" under the key "test key"; the IV is the blob's first 16 bytes.
    let published = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
    let blob = base64::engine::general_purpose::STANDARD
        .decode(published)
        .unwrap();
    let iv: [u8; 16] = blob[..16].try_into().unwrap();
    assert_eq!(feishu::encrypt("test key", b"hello world", iv), published);
    assert_ne!(feishu::encrypt("other key", b"hello world", iv), published);
}

#[tokio::test]
async fn org_changes_arrive_in_order_as_v2_contact_events() {
    let receiver = Arc::new(Receiver::default());
    let feishu = emulator(start_receiver(receiver.clone()).await, None).await;
    feishu.update_org(|org| {
        org.users.push(User {
            id: "new".into(),
            name: "新人".into(),
            departments: vec![2],
            manager: Some("rd.head".into()),
            ..org.users[2].clone()
        });
        org.users
            .iter_mut()
            .find(|u| u.id == "dev")
            .unwrap()
            .manager = Some("ceo".into());
        org.users.retain(|u| u.id != "rd.head");
        org.departments[1].name = "研发中心".into();
    });
    assert!(
        feishu.wait_for_event_deliveries(4, WAIT).await,
        "{:?}",
        feishu.event_deliveries()
    );
    let bodies = receiver.bodies();
    let types: Vec<&str> = bodies
        .iter()
        .map(|b| b["header"]["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "contact.department.updated_v3",
            "contact.user.updated_v3",
            "contact.user.created_v3",
            "contact.user.deleted_v3",
        ]
    );
    let ids: std::collections::BTreeSet<&str> = bodies
        .iter()
        .map(|b| b["header"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "every event has its own id");
    for body in &bodies {
        assert_eq!(body["schema"], "2.0");
        assert_eq!(body["header"]["token"], "vtok");
        assert_eq!(body["header"]["app_id"], feishu.config().app_id.as_str());
        let created: i64 = body["header"]["create_time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(created > 1_700_000_000_000, "milliseconds: {created}");
    }

    let department = &bodies[0]["event"];
    assert_eq!(department["object"]["name"], "研发中心");
    assert_eq!(department["object"]["department_id"], "2");
    assert!(
        department["object"]["open_department_id"]
            .as_str()
            .unwrap()
            .starts_with("od-")
    );
    assert_eq!(department["old_object"], json!({ "name": "研发部" }));

    let dev = &bodies[1]["event"];
    assert_eq!(dev["object"]["user_id"], "dev");
    assert!(
        dev["object"]["open_id"]
            .as_str()
            .unwrap()
            .starts_with("ou_")
    );
    assert!(
        dev["object"]["union_id"]
            .as_str()
            .unwrap()
            .starts_with("on_")
    );
    // rd.head (deleted below) reported to the CEO, dev's new manager, and was dev's old one.
    let rd_head = &bodies[3]["event"]["object"];
    assert_eq!(dev["object"]["leader_user_id"], rd_head["leader_user_id"]);
    assert_eq!(dev["old_object"]["leader_user_id"], rd_head["open_id"]);
    assert_eq!(
        dev["old_object"].as_object().unwrap().len(),
        1,
        "only the changed field: {}",
        dev["old_object"]
    );

    let created = &bodies[2]["event"];
    assert_eq!(created["object"]["user_id"], "new");
    assert_eq!(
        created["object"]["department_ids"][0],
        department["object"]["open_department_id"]
    );
    assert!(created.get("old_object").is_none());

    let deleted = &bodies[3]["event"];
    assert_eq!(deleted["object"]["user_id"], "rd.head");
    assert_eq!(
        deleted["old_object"]["department_ids"],
        deleted["object"]["department_ids"]
    );
}

#[tokio::test]
async fn a_scope_change_is_announced() {
    let receiver = Arc::new(Receiver::default());
    let feishu = emulator(start_receiver(receiver.clone()).await, None).await;
    feishu.update_org(|org| org.scope.departments = vec![2]);
    assert!(feishu.wait_for_event_deliveries(1, WAIT).await);
    let bodies = receiver.bodies();
    assert_eq!(
        bodies[0]["header"]["event_type"],
        "contact.scope.updated_v3"
    );
    assert_eq!(
        bodies[0]["event"]["added"]["departments"][0]["department_id"],
        "2"
    );
    assert!(bodies[0]["event"]["removed"]["departments"][0]["open_department_id"].is_string());
}

#[tokio::test]
async fn a_delivery_not_answered_200_is_retried_and_the_next_waits_for_it() {
    let receiver = Arc::new(Receiver::default());
    receiver.script.lock().unwrap().extend([500, 503]);
    let feishu = emulator(start_receiver(receiver.clone()).await, None).await;
    feishu.update_org(|org| org.users[2].name = "林晓晓".into());
    feishu.update_org(|org| org.users[2].name = "林晓".into());
    assert!(feishu.wait_for_event_deliveries(2, WAIT).await);
    let deliveries = feishu.event_deliveries();
    let outcomes: Vec<(u32, DeliveryOutcome)> = deliveries
        .iter()
        .map(|d| (d.attempt, d.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, DeliveryOutcome::Answered(500)),
            (2, DeliveryOutcome::Answered(503)),
            (3, DeliveryOutcome::Answered(200)),
            (1, DeliveryOutcome::Answered(200)),
        ]
    );
    assert_eq!(
        deliveries[0].event_id, deliveries[2].event_id,
        "a retry is the same event"
    );
    assert_eq!(deliveries[0].request, deliveries[2].request);
    assert_ne!(deliveries[2].event_id, deliveries[3].event_id);
    let names: Vec<Value> = receiver
        .bodies()
        .iter()
        .map(|b| b["event"]["object"]["name"].clone())
        .collect();
    assert_eq!(names, ["林晓晓", "林晓晓", "林晓晓", "林晓"], "in order");
}

#[tokio::test]
async fn an_unreachable_url_is_retried_then_given_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    drop(listener);
    let feishu = emulator(url, None).await;
    feishu.update_org(|org| org.users[2].name = "林晓晓".into());
    tokio::time::timeout(WAIT, async {
        while feishu.event_deliveries().len() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let deliveries = feishu.event_deliveries();
    assert_eq!(deliveries.len(), 5, "the first attempt and four retries");
    assert!(
        deliveries
            .iter()
            .all(|d| matches!(d.outcome, DeliveryOutcome::Unreachable(_)))
    );
    assert!(
        !feishu
            .wait_for_event_deliveries(1, Duration::from_millis(100))
            .await
    );
}

#[tokio::test]
async fn encrypted_events_are_signed_bodies_of_one_encrypt_field() {
    let receiver = Arc::new(Receiver::default());
    let feishu = emulator(start_receiver(receiver.clone()).await, Some("ekey")).await;
    feishu.update_org(|org| org.users[2].name = "林晓晓".into());
    assert!(feishu.wait_for_event_deliveries(1, WAIT).await);
    let (headers, body) = receiver.received.lock().unwrap()[0].clone();
    let outer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(outer.as_object().unwrap().len(), 1, "{outer}");
    assert!(
        !String::from_utf8_lossy(&body).contains("林晓晓"),
        "the payload is encrypted"
    );
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp: i64 = header("x-lark-request-timestamp").parse().unwrap();
    assert!(
        timestamp > 1_700_000_000 && timestamp < 10_000_000_000,
        "seconds: {timestamp}"
    );
    let signature = header("x-lark-signature");
    assert_eq!(signature.len(), 64);
    assert_eq!(
        signature,
        feishu::signature(
            &timestamp.to_string(),
            &header("x-lark-request-nonce"),
            "ekey",
            &body
        )
    );
}

#[tokio::test]
async fn verify_url_sends_the_challenge_and_checks_the_echo() {
    let receiver = Arc::new(Receiver::default());
    let feishu = emulator(start_receiver(receiver.clone()).await, None).await;
    feishu.verify_url().await.unwrap();
    let challenge = &receiver.bodies()[0];
    assert_eq!(challenge["type"], "url_verification");
    assert_eq!(challenge["token"], "vtok");

    receiver.script.lock().unwrap().push_back(401);
    let error = feishu.verify_url().await.unwrap_err();
    assert!(error.contains("401"), "{error}");
    assert!(
        feishu.event_deliveries().is_empty(),
        "a challenge is no event"
    );

    let plain = feishu::start(org(), FeishuConfig::default()).await.unwrap();
    assert!(plain.verify_url().await.is_err(), "no subscription");
    assert!(plain.event_crafter().is_none());
}

#[tokio::test]
async fn an_answer_later_than_3_s_is_a_failed_delivery() {
    let receiver = Arc::new(Receiver::default());
    *receiver.slow.lock().unwrap() = 1;
    let feishu = emulator(start_receiver(receiver.clone()).await, None).await;
    feishu.update_org(|org| org.users[2].name = "林晓晓".into());
    assert!(feishu.wait_for_event_deliveries(1, WAIT).await);
    let outcomes: Vec<DeliveryOutcome> = feishu
        .event_deliveries()
        .into_iter()
        .map(|d| d.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [DeliveryOutcome::TimedOut, DeliveryOutcome::Answered(200)]
    );
}
