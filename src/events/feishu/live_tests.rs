//! The opener behind a small axum receiver on port 0, fed by what the Feishu emulator really
//! sends when its org changes: its crypto and ours must agree.

use super::*;
use crate::events::Notice;
use crate::model::{DepartmentId, UserKey};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use emulators::feishu::{self, EventPush, FeishuConfig, FeishuHandle};
use emulators::fixture::{Org, User};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "vtok-live";
const KEY: &str = "ekey-live";
const WAIT: Duration = Duration::from_secs(10);

struct Receiver {
    opener: FeishuOpener,
    accepted: Mutex<Vec<Accepted>>,
    refused: Mutex<Vec<Refusal>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let query = BTreeMap::new();
    let incoming = Incoming {
        method: IncomingMethod::Post,
        query: &query,
        headers: &headers,
        body: &body,
    };
    match receiver.opener.open(&incoming, Timestamp::now()) {
        Ok(Opened::Handshake { reply }) => (StatusCode::OK, reply.body),
        Ok(Opened::Event { accepted, reply }) => {
            receiver.accepted.lock().unwrap().push(accepted);
            (StatusCode::OK, reply.body)
        }
        Err(refusal) => {
            let label = refusal.label().as_bytes().to_vec();
            receiver.refused.lock().unwrap().push(refusal);
            (StatusCode::UNAUTHORIZED, label)
        }
    }
}

async fn start_receiver(opener: FeishuOpener) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        opener,
        accepted: Mutex::default(),
        refused: Mutex::default(),
    });
    let app = Router::new()
        .route("/events/feishu", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events/feishu", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

fn org() -> Org {
    Org::from_json(
        &json!({
            "departments": [
                {"id": 1, "name": "示例公司", "leaders": ["ceo"]},
                {"id": 2, "parent": 1, "name": "研发部", "leaders": ["rd.head"]},
                {"id": 3, "parent": 1, "name": "销售部"}
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

async fn emulator(url: String, token: &str, key: Option<&str>) -> FeishuHandle {
    let config = FeishuConfig {
        enforce_rate_limits: false,
        events: Some(EventPush {
            encrypt_key: key.map(str::to_owned),
            retry_delays: vec![Duration::from_millis(20); 2],
            ..EventPush::new(url, token)
        }),
        ..FeishuConfig::default()
    };
    feishu::start(org(), config).await.unwrap()
}

fn live_opener(
    app_id: &str,
    key: Option<&str>,
    user: UserIdType,
    department: DepartmentIdType,
) -> FeishuOpener {
    FeishuOpener::new(
        app_id,
        Secret::new(TOKEN),
        key.map(Secret::new),
        user,
        department,
    )
}

/// Hires one person, moves another to a new manager, removes a third and renames a department.
fn change_org(org: &mut Org) {
    org.users.push(User {
        id: "new".into(),
        name: "新人".into(),
        ..org.users[2].clone()
    });
    if let Some(dev) = org.users.iter_mut().find(|u| u.id == "dev") {
        dev.manager = Some("ceo".into());
    }
    org.users.retain(|u| u.id != "rd.head");
    org.departments[2].name = "销售中心".into();
}

#[tokio::test]
async fn the_emulators_encrypted_events_open_to_the_people_and_departments_they_name() {
    let app_id = FeishuConfig::default().app_id;
    for key in [Some(KEY), None] {
        let opener = live_opener(
            &app_id,
            key,
            UserIdType::UserId,
            DepartmentIdType::DepartmentId,
        );
        let (receiver, url) = start_receiver(opener).await;
        let feishu = emulator(url, TOKEN, key).await;
        feishu
            .verify_url()
            .await
            .unwrap_or_else(|e| panic!("key {key:?}: {e}"));
        feishu.update_org(change_org);
        assert!(
            feishu.wait_for_event_deliveries(4, WAIT).await,
            "key {key:?}: {:?}",
            receiver.refused.lock().unwrap()
        );

        let accepted = receiver.accepted.lock().unwrap();
        let notices: Vec<(&str, &[Notice])> = accepted
            .iter()
            .map(|a| (a.event.event_type.as_str(), a.event.notices.as_slice()))
            .collect();
        let people = |key: &str| {
            vec![Notice::People {
                keys: vec![UserKey::new(key)],
            }]
        };
        assert_eq!(
            notices,
            [
                (
                    "contact.department.updated_v3",
                    &[Notice::Departments {
                        ids: vec![DepartmentId::new("3")]
                    }][..]
                ),
                ("contact.user.updated_v3", &people("dev")[..]),
                ("contact.user.created_v3", &people("new")[..]),
                ("contact.user.deleted_v3", &people("rd.head")[..]),
            ],
            "key {key:?}"
        );
        let deliveries = feishu.event_deliveries();
        for (accepted, delivery) in accepted.iter().zip(&deliveries) {
            assert_eq!(accepted.dedupe, delivery.event_id);
            assert!(accepted.event.occurred_at.is_some());
            let age = (Timestamp::now() - accepted.sent_at).get_seconds();
            assert!(
                (0..60).contains(&age),
                "sent_at is the request's time: {age} s ago"
            );
        }
        // A replayed delivery opens to the same dedupe key (the state refuses it).
        let replay = &deliveries[1].request;
        let headers = replay
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let query = BTreeMap::new();
        let again = receiver.opener.open(
            &Incoming {
                method: IncomingMethod::Post,
                query: &query,
                headers: &headers,
                body: &replay.body,
            },
            Timestamp::now(),
        );
        match again {
            Ok(Opened::Event {
                accepted: replayed, ..
            }) => assert_eq!(replayed.dedupe, accepted[1].dedupe),
            other => panic!("a replay still opens: {other:?}"),
        }
        assert!(receiver.refused.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn open_and_union_ids_key_the_people_of_the_emulators_events() {
    let app_id = FeishuConfig::default().app_id;
    for user_id_type in [UserIdType::OpenId, UserIdType::UnionId] {
        let opener = live_opener(
            &app_id,
            Some(KEY),
            user_id_type,
            DepartmentIdType::OpenDepartmentId,
        );
        let (receiver, url) = start_receiver(opener).await;
        let feishu = emulator(url, TOKEN, Some(KEY)).await;
        feishu.update_org(change_org);
        assert!(feishu.wait_for_event_deliveries(4, WAIT).await);
        let accepted = receiver.accepted.lock().unwrap();
        for (accepted, delivery) in accepted.iter().zip(feishu.event_deliveries()) {
            let object = &delivery.payload["event"]["object"];
            let expected = match accepted.event.event_type.as_str() {
                "contact.department.updated_v3" => Notice::Departments {
                    ids: vec![DepartmentId::new(
                        object["open_department_id"].as_str().unwrap(),
                    )],
                },
                _ => Notice::People {
                    keys: vec![UserKey::new(
                        object[user_id_type.as_str()].as_str().unwrap(),
                    )],
                },
            };
            assert_eq!(accepted.event.notices, [expected], "{user_id_type:?}");
        }
        let prefix = if user_id_type == UserIdType::OpenId {
            "ou_"
        } else {
            "on_"
        };
        assert!(
            accepted
                .iter()
                .flat_map(|a| &a.event.notices)
                .all(|n| match n {
                    Notice::People { keys } => keys.iter().all(|k| k.as_str().starts_with(prefix)),
                    Notice::Departments { ids } =>
                        ids.iter().all(|d| d.as_str().starts_with("od-")),
                    _ => false,
                })
        );
    }
}

#[tokio::test]
async fn a_scope_change_from_the_emulator_is_a_scope_notice() {
    let app_id = FeishuConfig::default().app_id;
    let opener = live_opener(
        &app_id,
        Some(KEY),
        UserIdType::UserId,
        DepartmentIdType::OpenDepartmentId,
    );
    let (receiver, url) = start_receiver(opener).await;
    let feishu = emulator(url, TOKEN, Some(KEY)).await;
    feishu.update_org(|org| org.scope.departments = vec![2]);
    assert!(feishu.wait_for_event_deliveries(1, WAIT).await);
    let accepted = receiver.accepted.lock().unwrap();
    assert_eq!(accepted[0].event.event_type, "contact.scope.updated_v3");
    assert_eq!(accepted[0].event.notices, [Notice::Scope]);
}

#[tokio::test]
async fn a_wrong_key_token_or_app_is_refused_and_retried_by_the_platform() {
    let app_id = FeishuConfig::default().app_id;
    let cases = [
        (
            "another key",
            live_opener(
                &app_id,
                Some("another-key"),
                UserIdType::UserId,
                DepartmentIdType::OpenDepartmentId,
            ),
            TOKEN,
            Refusal::Forged,
        ),
        (
            "another token",
            live_opener(
                &app_id,
                Some(KEY),
                UserIdType::UserId,
                DepartmentIdType::OpenDepartmentId,
            ),
            "vtok-other",
            Refusal::Forged,
        ),
        (
            "another app",
            live_opener(
                "cli_other",
                Some(KEY),
                UserIdType::UserId,
                DepartmentIdType::OpenDepartmentId,
            ),
            TOKEN,
            Refusal::Foreign,
        ),
    ];
    for (case, opener, token, refusal) in cases {
        let (receiver, url) = start_receiver(opener).await;
        let feishu = emulator(url, token, Some(KEY)).await;
        feishu.update_org(|org| org.users[2].name = "林晓晓".into());
        tokio::time::timeout(WAIT, async {
            while feishu.event_deliveries().len() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{case}: three attempts"));
        assert!(
            feishu.event_deliveries().iter().all(|d| !d.delivered()),
            "{case}"
        );
        assert!(receiver.accepted.lock().unwrap().is_empty(), "{case}");
        assert_eq!(
            *receiver.refused.lock().unwrap(),
            vec![refusal; 3],
            "{case}"
        );
    }
    // The challenge with the wrong key cannot be decrypted; with the wrong token it is forged.
    let (_, url) = start_receiver(live_opener(
        &app_id,
        Some("another-key"),
        UserIdType::UserId,
        DepartmentIdType::OpenDepartmentId,
    ))
    .await;
    assert!(
        emulator(url, TOKEN, Some(KEY))
            .await
            .verify_url()
            .await
            .is_err()
    );
    let (_, url) = start_receiver(live_opener(
        &app_id,
        None,
        UserIdType::UserId,
        DepartmentIdType::OpenDepartmentId,
    ))
    .await;
    assert!(
        emulator(url, "vtok-other", None)
            .await
            .verify_url()
            .await
            .is_err()
    );
}
