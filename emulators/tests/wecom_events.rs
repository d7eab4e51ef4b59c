//! The WeCom emulator's change callbacks: what each kind of callback announces for an org
//! change, signed POSTs to a receiver on port 0, retries, and the URL verification. (That
//! orgsync's opener reads them is tested in orgsync, src/events/wecom_tests.rs.)

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use emulators::fixture::{Org, Status};
use emulators::wecom::events::{CallbackConfig, CallbackKind, Delivery, signed_request};
use emulators::wecom::{self, WecomConfig, WecomHandle};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "callback-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// One request the receiver got: its query and body.
type Received = (BTreeMap<String, String>, String);

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests answered 500 before the receiver starts answering `success`.
    failures: Arc<AtomicUsize>,
}

async fn answer(
    State(receiver): State<Receiver>,
    RawQuery(query): RawQuery,
    body: String,
) -> (StatusCode, &'static str) {
    let query = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    receiver.received.lock().unwrap().push((query, body));
    let failing = receiver
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        (StatusCode::INTERNAL_SERVER_ERROR, "busy")
    } else {
        (StatusCode::OK, "success")
    }
}

async fn start_receiver(failures: usize) -> (String, Receiver) {
    let receiver = Receiver::default();
    receiver.failures.store(failures, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/cb", axum::routing::any(answer))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver)
}

fn org() -> Org {
    serde_json::from_value(serde_json::json!({
        "departments": [
            {"id": 1, "name": "Corp"},
            {"id": 2, "parent": 1, "name": "Sales"},
            {"id": 3, "parent": 1, "name": "R&D"},
            {"id": 4, "parent": 1, "name": "Hidden"}
        ],
        "users": [
            {"id": "lin.xiao", "name": "Lin Xiao", "departments": [2], "title": "Seller"},
            {"id": "qiao.yu", "name": "Qiao Yu", "departments": [3]},
            {"id": "outside", "name": "Outside", "departments": [4]}
        ],
        "scope": {"departments": [2, 3]}
    }))
    .unwrap()
}

async fn emulator(url: &str, kind: CallbackKind) -> WecomHandle {
    let config = WecomConfig {
        callback: Some(CallbackConfig {
            url: url.to_owned(),
            token: TOKEN.into(),
            encoding_aes_key: KEY.into(),
            kind,
        }),
        ..WecomConfig::default()
    };
    wecom::start(org(), config).await.unwrap()
}

/// The same edits for every kind: a title change, a move, a rename, a parent change, a hire,
/// a departure, a disabled person, and a hire outside the app's range.
fn edit(org: &mut Org) {
    let user = |org: &Org, id: &str| org.users.iter().position(|u| u.id == id).unwrap();
    let lin = user(org, "lin.xiao");
    org.users[lin].title = Some("Lead".into());
    let qiao = user(org, "qiao.yu");
    org.users[qiao].departments = vec![2];
    org.users[qiao].status = Status::Disabled;
    org.departments[1].name = "Sales & Marketing".into();
    org.departments[2].parent = Some(2);
    org.users.push(
        serde_json::from_value(
            serde_json::json!({"id": "new.hire", "name": "New Hire", "departments": [3]}),
        )
        .unwrap(),
    );
    org.users.push(
        serde_json::from_value(
            serde_json::json!({"id": "hidden.hire", "name": "Hidden", "departments": [4]}),
        )
        .unwrap(),
    );
}

fn summary(deliveries: &[Delivery]) -> Vec<(String, u16, u32)> {
    deliveries
        .iter()
        .map(|d| (d.change_type.clone(), d.status, d.attempts))
        .collect()
}

fn has_field(xml: &str, name: &str) -> bool {
    xml.contains(&format!("<{name}>"))
}

fn expect(list: &[(&str, u16, u32)]) -> Vec<(String, u16, u32)> {
    list.iter()
        .map(|(change, status, attempts)| (change.to_string(), *status, *attempts))
        .collect()
}

#[tokio::test]
async fn ids_only_callbacks_send_ids_and_only_moves_and_reparenting() {
    let (url, receiver) = start_receiver(0).await;
    let wecom = emulator(&url, CallbackKind::IdsOnly).await;
    wecom.update_org(edit);
    let deliveries = wecom.wait_for_deliveries(3, Duration::from_secs(10)).await;
    // No rename (Sales), no title change (lin.xiao), nothing outside the range.
    assert_eq!(
        summary(&deliveries),
        expect(&[
            ("update_party", 200, 1),
            ("create_user", 200, 1),
            ("update_user", 200, 1),
        ])
    );
    let party = &deliveries[0].xml;
    assert!(
        party.contains("<Id><![CDATA[3]]></Id>")
            && party.contains("<ParentId><![CDATA[2]]></ParentId>")
    );
    assert!(!has_field(party, "Name"));
    let moved = &deliveries[2].xml;
    assert!(moved.contains("<UserID><![CDATA[qiao.yu]]></UserID>"));
    assert!(moved.contains("<Department><![CDATA[2]]></Department>"));
    assert!(!has_field(moved, "Status") && !has_field(moved, "Name"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn full_callbacks_send_every_change_with_the_changed_fields() {
    let (url, _receiver) = start_receiver(0).await;
    let wecom = emulator(&url, CallbackKind::Full).await;
    wecom.update_org(edit);
    let deliveries = wecom.wait_for_deliveries(5, Duration::from_secs(10)).await;
    let changes: Vec<&str> = deliveries.iter().map(|d| d.change_type.as_str()).collect();
    assert_eq!(
        changes,
        [
            "update_party",
            "update_party",
            "update_user",
            "create_user",
            "update_user"
        ]
    );
    let renamed = &deliveries[0].xml;
    assert!(
        renamed.contains("<Name><![CDATA[Sales & Marketing]]></Name>"),
        "{renamed}"
    );
    assert!(!has_field(renamed, "ParentId"));
    let title = &deliveries[2].xml;
    assert!(
        title.contains("<Position><![CDATA[Lead]]></Position>"),
        "{title}"
    );
    assert!(!has_field(title, "Name") && !has_field(title, "Department"));
    let hired = &deliveries[3].xml;
    for field in ["UserID", "Name", "Department", "MainDepartment", "Status"] {
        assert!(has_field(hired, field), "{field} in {hired}");
    }
    let disabled = &deliveries[4].xml;
    assert!(
        disabled.contains("<Status><![CDATA[2]]></Status>"),
        "{disabled}"
    );
}

#[tokio::test]
async fn a_self_built_apps_callback_only_says_who_entered_or_left_the_range() {
    let (url, _receiver) = start_receiver(0).await;
    let wecom = emulator(&url, CallbackKind::SelfBuiltApp).await;
    wecom.update_org(edit);
    let deliveries = wecom.wait_for_deliveries(2, Duration::from_secs(10)).await;
    let changes: Vec<&str> = deliveries.iter().map(|d| d.change_type.as_str()).collect();
    assert_eq!(changes, ["subscribe", "unsubscribe"]);
    assert!(
        deliveries[0]
            .xml
            .contains("<FromUserName><![CDATA[new.hire]]></FromUserName>")
    );
    assert!(
        deliveries[1]
            .xml
            .contains("<FromUserName><![CDATA[qiao.yu]]></FromUserName>")
    );
    assert!(
        deliveries[0]
            .xml
            .contains("<AgentID><![CDATA[1000002]]></AgentID>")
    );
    // Moving someone into the range is an entry too.
    wecom.update_org(|org| {
        let outside = org.users.iter_mut().find(|u| u.id == "outside").unwrap();
        outside.departments = vec![2];
    });
    let deliveries = wecom.wait_for_deliveries(3, Duration::from_secs(10)).await;
    assert!(
        deliveries[2]
            .xml
            .contains("<FromUserName><![CDATA[outside]]></FromUserName>")
    );
}

#[tokio::test]
async fn each_post_is_signed_over_its_ciphertext() {
    let (url, receiver) = start_receiver(0).await;
    let wecom = emulator(&url, CallbackKind::IdsOnly).await;
    wecom.update_org(|org| org.users.retain(|u| u.id != "qiao.yu"));
    wecom.wait_for_deliveries(1, Duration::from_secs(10)).await;
    let received = receiver.received.lock().unwrap();
    let (query, body) = &received[0];
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next())
        .unwrap();
    let mut parts = [TOKEN, &query["timestamp"], &query["nonce"], encrypt];
    parts.sort();
    let expected: String = Sha1::digest(parts.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(query["msg_signature"], expected);
    assert!(body.starts_with("<xml><ToUserName><![CDATA[ww-emulated-corp]]></ToUserName>"));
}

#[tokio::test]
async fn an_answer_other_than_success_is_retried_a_few_times() {
    let (url, receiver) = start_receiver(1).await;
    let wecom = emulator(&url, CallbackKind::IdsOnly).await;
    wecom.update_org(|org| org.users.retain(|u| u.id != "qiao.yu"));
    let deliveries = wecom.wait_for_deliveries(1, Duration::from_secs(10)).await;
    assert_eq!(summary(&deliveries), expect(&[("delete_user", 200, 2)]));
    assert_eq!(deliveries[0].body, "success");

    receiver.failures.store(100, Ordering::SeqCst);
    wecom.update_org(|org| org.users.retain(|u| u.id != "lin.xiao"));
    let deliveries = wecom.wait_for_deliveries(2, Duration::from_secs(10)).await;
    assert_eq!(
        summary(&deliveries[1..]),
        expect(&[("delete_user", 500, 4)])
    );
    assert_eq!(deliveries[1].body, "busy");
}

#[tokio::test]
async fn an_unreachable_url_is_recorded_without_an_answer() {
    // A port that was free a moment ago.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    drop(listener);
    let wecom = emulator(&url, CallbackKind::IdsOnly).await;
    assert!(wecom.verify_callback_url().await.is_err());
    wecom.update_org(|org| org.users.retain(|u| u.id != "qiao.yu"));
    let deliveries = wecom.wait_for_deliveries(1, Duration::from_secs(10)).await;
    assert_eq!(summary(&deliveries), expect(&[("delete_user", 0, 4)]));
}

#[tokio::test]
async fn url_verification_needs_the_decrypted_echostr_back() {
    // This receiver answers "success" to everything, never the echostr's plaintext.
    let (url, receiver) = start_receiver(0).await;
    let wecom = emulator(&url, CallbackKind::IdsOnly).await;
    assert_eq!(wecom.verify_callback_url().await, Ok(false));
    let received = receiver.received.lock().unwrap();
    let (query, _) = &received[0];
    for name in ["msg_signature", "timestamp", "nonce", "echostr"] {
        assert!(query.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn without_a_callback_nothing_is_sent() {
    let wecom = wecom::start(org(), WecomConfig::default()).await.unwrap();
    wecom.update_org(|org| org.users.clear());
    assert!(wecom.event_deliveries().is_empty());
    assert!(wecom.verify_callback_url().await.is_err());
}

#[test]
fn signed_requests_carry_the_signed_query_and_envelope() {
    let request = signed_request(TOKEN, KEY, "ww-corp", "<xml/>", 1_717_000_000);
    let names: Vec<&str> = request.query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["msg_signature", "timestamp", "nonce"]);
    assert_eq!(request.query[1].1, "1717000000");
    assert!(request.body.contains("<Encrypt><![CDATA["));
    let again = signed_request(TOKEN, KEY, "ww-corp", "<xml/>", 1_717_000_000);
    assert_ne!(
        request.body, again.body,
        "a random prefix in every ciphertext"
    );
}
