//! The WeCom opener on requests made by another implementation (the WeCom emulator's own crypto,
//! `emulators::wecom::events`), on the published example of wechatpy's tests, and end to end: the
//! emulator's callbacks POSTed to a receiver on port 0 that calls the opener.

use super::*;
use crate::events::wechat_crypto::{WechatCipher, signature};
use emulators::wecom::events::{CallbackConfig, CallbackKind, SignedRequest, signed_request};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "callback-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OTHER_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ";
const CORP: &str = "ww-test-corp";
const SENT: i64 = 1_717_000_100;

fn opener() -> WecomOpener {
    WecomOpener::new(CORP, Secret::new(TOKEN), KEY).unwrap()
}

fn now() -> Timestamp {
    Timestamp::from_second(SENT + 1).unwrap()
}

fn event_xml(fields: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>1717000000</CreateTime><MsgType><![CDATA[event]]></MsgType>{fields}</xml>"
    )
}

fn contact(change: &str, fields: &str) -> String {
    event_xml(&format!(
        "<Event><![CDATA[change_contact]]></Event><ChangeType>{change}</ChangeType>{fields}"
    ))
}

fn open_post(opener: &WecomOpener, request: &SignedRequest) -> Result<Opened, Refusal> {
    let query: BTreeMap<String, String> = request.query.iter().cloned().collect();
    let headers = BTreeMap::new();
    opener.open(
        &Incoming {
            method: IncomingMethod::Post,
            query: &query,
            headers: &headers,
            body: request.body.as_bytes(),
        },
        now(),
    )
}

fn accept(xml: &str) -> Accepted {
    match open_post(&opener(), &signed_request(TOKEN, KEY, CORP, xml, SENT)) {
        Ok(Opened::Event { accepted, reply }) => {
            assert_eq!(reply.body, b"success");
            accepted
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

fn people(keys: &[&str]) -> Notice {
    Notice::People {
        keys: keys.iter().map(|k| UserKey::new(*k)).collect(),
    }
}

fn departments(ids: &[&str]) -> Notice {
    Notice::Departments {
        ids: ids.iter().map(|i| DepartmentId::new(*i)).collect(),
    }
}

#[test]
fn each_user_change_names_the_person_and_a_new_userid() {
    let created = accept(&contact(
        "create_user",
        "<UserID><![CDATA[lin.xiao]]></UserID><Department><![CDATA[2,7]]></Department>",
    ));
    assert_eq!(created.event.event_type, "change_contact/create_user");
    assert_eq!(created.event.notices, vec![people(&["lin.xiao"])]);

    let renamed = accept(&contact(
        "update_user",
        "<UserID><![CDATA[lin.xiao]]></UserID><NewUserID><![CDATA[lin.xiao2]]></NewUserID>",
    ));
    assert_eq!(renamed.event.event_type, "change_contact/update_user");
    assert_eq!(
        renamed.event.notices,
        vec![people(&["lin.xiao", "lin.xiao2"])]
    );

    let deleted = accept(&contact("delete_user", "<UserID>qiao.yu</UserID>"));
    assert_eq!(deleted.event.event_type, "change_contact/delete_user");
    assert_eq!(deleted.event.notices, vec![people(&["qiao.yu"])]);
}

#[test]
fn each_department_change_names_the_department() {
    for change in ["create_party", "update_party", "delete_party"] {
        let accepted = accept(&contact(change, "<Id>7</Id><ParentId>2</ParentId>"));
        assert_eq!(
            accepted.event.event_type,
            format!("change_contact/{change}")
        );
        assert_eq!(accepted.event.notices, vec![departments(&["7"])]);
    }
}

#[test]
fn a_tag_change_names_its_members_and_departments() {
    let accepted = accept(&contact(
        "update_tag",
        "<TagId>7</TagId><AddUserItems><![CDATA[a,b]]></AddUserItems>\
         <DelUserItems><![CDATA[c]]></DelUserItems><AddPartyItems><![CDATA[4]]></AddPartyItems>\
         <DelPartyItems><![CDATA[5,6]]></DelPartyItems>",
    ));
    assert_eq!(
        accepted.event.notices,
        vec![people(&["a", "b", "c"]), departments(&["4", "5", "6"])]
    );
    let members_only = accept(&contact(
        "update_tag",
        "<TagId>7</TagId><DelUserItems>c</DelUserItems>",
    ));
    assert_eq!(members_only.event.notices, vec![people(&["c"])]);
    let nothing = accept(&contact("update_tag", "<TagId>7</TagId>"));
    assert_eq!(
        nothing.event.notices,
        vec![Notice::Ignored {
            event_type: "change_contact/update_tag".into()
        }]
    );
}

#[test]
fn the_apps_subscriptions_name_the_sender() {
    for event in ["subscribe", "unsubscribe"] {
        let xml = format!(
            "<xml><ToUserName>{CORP}</ToUserName><FromUserName><![CDATA[new.hire]]></FromUserName>\
             <CreateTime>1717000000</CreateTime><MsgType>event</MsgType><Event>{event}</Event>\
             <AgentID>1000002</AgentID></xml>"
        );
        let accepted = accept(&xml);
        assert_eq!(accepted.event.event_type, event);
        assert_eq!(accepted.event.notices, vec![people(&["new.hire"])]);
    }
}

#[test]
fn other_events_are_ignored_and_unknown_changes_are_unknown() {
    let entered = accept(&event_xml("<Event>enter_agent</Event><EventKey/>"));
    assert_eq!(
        entered.event.notices,
        vec![Notice::Ignored {
            event_type: "enter_agent".into()
        }]
    );
    let message = accept(&format!(
        "<xml><ToUserName>{CORP}</ToUserName><FromUserName>someone</FromUserName>\
         <CreateTime>1717000000</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>"
    ));
    assert_eq!(message.event.event_type, "message/text");
    assert!(matches!(
        message.event.notices[..],
        [Notice::Ignored { .. }]
    ));
    let unknown = accept(&contact("merge_user", "<UserID>x</UserID>"));
    assert_eq!(
        unknown.event.notices,
        vec![Notice::Unknown {
            event_type: "change_contact/merge_user".into()
        }]
    );
    let unknown_event = accept(&event_xml("<Event>contact_sync_v9</Event>"));
    assert!(matches!(
        unknown_event.event.notices[..],
        [Notice::Unknown { .. }]
    ));
}

#[test]
fn times_and_dedupe_come_from_the_request_and_the_payload() {
    let xml = contact("delete_user", "<UserID>x</UserID>");
    let first = accept(&xml);
    assert_eq!(first.sent_at, Timestamp::from_second(SENT).unwrap());
    assert_eq!(first.event.received_at, now());
    assert_eq!(
        first.event.occurred_at,
        Some(Timestamp::from_second(1_717_000_000).unwrap())
    );
    assert_eq!(
        first.dedupe,
        crate::hex::encode(&Sha256::digest(xml.as_bytes()))
    );
    // The same payload sent again (WeCom's retry): the same key, whatever the new signature.
    assert_eq!(accept(&xml).dedupe, first.dedupe);
    assert_ne!(
        accept(&contact("delete_user", "<UserID>y</UserID>")).dedupe,
        first.dedupe
    );
}

#[test]
fn nested_fields_and_references_are_read_carefully() {
    let accepted = accept(&contact(
        "update_user",
        "<UserID>a&amp;b&#x41;</UserID><ExtAttr><Item><Name>n</Name><Type>0</Type>\
         <Text><Value>v</Value></Text></Item></ExtAttr>",
    ));
    assert_eq!(accepted.event.notices, vec![people(&["a&bA"])]);
}

#[test]
fn a_forged_signature_or_token_is_refused_before_anything_is_decrypted() {
    let xml = contact("delete_user", "<UserID>x</UserID>");
    let mut forged = signed_request(TOKEN, KEY, CORP, &xml, SENT);
    forged.query[0].1 = "0".repeat(40);
    assert_eq!(open_post(&opener(), &forged).unwrap_err(), Refusal::Forged);
    let wrong_token = signed_request("another-token", KEY, CORP, &xml, SENT);
    assert_eq!(
        open_post(&opener(), &wrong_token).unwrap_err(),
        Refusal::Forged
    );
    // A replay with a new timestamp but the old signature.
    let mut replayed = signed_request(TOKEN, KEY, CORP, &xml, SENT);
    replayed.query[1].1 = (SENT + 3600).to_string();
    assert_eq!(
        open_post(&opener(), &replayed).unwrap_err(),
        Refusal::Forged
    );
    // Garbage inside a forged request is never looked at: still Forged, not Malformed.
    let mut garbage = signed_request(TOKEN, KEY, CORP, "<not xml", SENT);
    garbage.query[0].1 = "f".repeat(40);
    assert_eq!(open_post(&opener(), &garbage).unwrap_err(), Refusal::Forged);
}

#[test]
fn a_wrong_key_is_undecryptable_and_another_corp_is_foreign() {
    let xml = contact("delete_user", "<UserID>x</UserID>");
    let wrong_key = signed_request(TOKEN, OTHER_KEY, CORP, &xml, SENT);
    assert_eq!(
        open_post(&opener(), &wrong_key).unwrap_err(),
        Refusal::Undecryptable
    );
    let foreign = signed_request(TOKEN, KEY, "ww-other-corp", &xml, SENT);
    assert_eq!(
        open_post(&opener(), &foreign).unwrap_err(),
        Refusal::Foreign
    );
}

#[test]
fn malformed_requests_are_refused_as_malformed() {
    let good = signed_request(
        TOKEN,
        KEY,
        CORP,
        &contact("delete_user", "<UserID>x</UserID>"),
        SENT,
    );
    let with_body = |body: &str| SignedRequest {
        query: good.query.clone(),
        body: body.to_owned(),
    };
    for body in [
        "",
        "not xml",
        "<xml><Encrypt>abc",
        "<xml><ToUserName>x</ToUserName></xml>",
        "<other><Encrypt>abc</Encrypt></other>",
        "<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><Encrypt>&e;</Encrypt></xml>",
        "<xml><Encrypt>&unknown;</Encrypt></xml>",
        "<xml><Encrypt>a</Encrypt></xml><xml/>",
        "<xml>&amp;<Encrypt>a</Encrypt></xml>",
        "<xml><![CDATA[x]]><Encrypt>a</Encrypt></xml>",
        "<xml>stray<Encrypt>a</Encrypt></xml>",
    ] {
        let refusal = open_post(&opener(), &with_body(body)).unwrap_err();
        assert!(
            matches!(refusal, Refusal::Malformed(_)),
            "{body:?}: {refusal:?}"
        );
    }
    let mut no_nonce = good.clone();
    no_nonce.query.retain(|(name, _)| name != "nonce");
    assert!(matches!(
        open_post(&opener(), &no_nonce),
        Err(Refusal::Malformed(_))
    ));
    let mut bad_time = good.clone();
    bad_time.query[1].1 = "soon".into();
    assert!(matches!(
        open_post(&opener(), &bad_time),
        Err(Refusal::Malformed(_))
    ));
    // Signed and decrypted, but not an event document.
    for payload in [
        "<not xml",
        "<xml><MsgType>event</MsgType></xml>",
        "plain text",
    ] {
        let request = signed_request(TOKEN, KEY, CORP, payload, SENT);
        assert!(
            matches!(open_post(&opener(), &request), Err(Refusal::Malformed(_))),
            "{payload}"
        );
    }
    let no_user = signed_request(TOKEN, KEY, CORP, &contact("update_user", ""), SENT);
    assert!(matches!(
        open_post(&opener(), &no_user),
        Err(Refusal::Malformed(_))
    ));
}

/// A URL verification request's query.
fn query_of(pairs: [(&str, String); 4]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn get<'a>(
    query: &'a BTreeMap<String, String>,
    headers: &'a BTreeMap<String, String>,
) -> Incoming<'a> {
    Incoming {
        method: IncomingMethod::Get,
        query,
        headers,
        body: b"",
    }
}

/// wechatpy's published URL verification (its tests/test_work_crypto.py).
#[test]
fn the_published_url_verification_is_answered_with_its_plaintext() {
    let echostr =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
    let query = query_of([
        (
            "msg_signature",
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96".into(),
        ),
        ("timestamp", "1411443780".into()),
        ("nonce", "437374425".into()),
        ("echostr", echostr.into()),
    ]);
    let headers = BTreeMap::new();
    let request = get(&query, &headers);
    let key = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    let published = WecomOpener::new("wx49f0ab532d5d035a", Secret::new("123456"), key).unwrap();
    match published.open(&request, now()) {
        Ok(Opened::Handshake { reply }) => assert_eq!(reply.body, b"5927782489442352469"),
        other => panic!("expected a handshake, got {other:?}"),
    }
    let other_corp = WecomOpener::new("ww-other", Secret::new("123456"), key).unwrap();
    assert_eq!(
        other_corp.open(&request, now()).unwrap_err(),
        Refusal::Foreign
    );
    let other_token = WecomOpener::new("wx49f0ab532d5d035a", Secret::new("1234567"), key).unwrap();
    assert_eq!(
        other_token.open(&request, now()).unwrap_err(),
        Refusal::Forged
    );
    // Without an echostr a GET is malformed.
    let mut no_echo = query.clone();
    no_echo.remove("echostr");
    let request = Incoming {
        query: &no_echo,
        ..request
    };
    assert!(matches!(
        published.open(&request, now()),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn a_handshake_made_by_this_crate_round_trips() {
    let echostr = WechatCipher::new(KEY).unwrap().encrypt(b"8832", CORP);
    let query = query_of([
        ("msg_signature", signature(TOKEN, "1", "2", &echostr)),
        ("timestamp", "1".into()),
        ("nonce", "2".into()),
        ("echostr", echostr),
    ]);
    let headers = BTreeMap::new();
    let request = get(&query, &headers);
    match opener().open(&request, now()) {
        Ok(Opened::Handshake { reply }) => assert_eq!(reply.body, b"8832"),
        other => panic!("expected a handshake, got {other:?}"),
    }
}

#[test]
fn from_config_requires_the_token_and_the_key_and_names_the_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    let key = dir.path().join("key");
    std::fs::write(&token, TOKEN).unwrap();
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let source: WecomSourceConfig = toml::from_str(&format!(
        "corp_id = \"{CORP}\"\nsecret = \"env:UNUSED\"\nagent_id = 1"
    ))
    .unwrap();
    let events = |text: &str| -> EventsConfig { toml::from_str(text).unwrap() };
    let token_line = format!("token = \"file:{}\"", token.display());
    let key_line = format!("aes_key = \"file:{}\"", key.display());

    let opener =
        WecomOpener::from_config(&source, &events(&format!("{token_line}\n{key_line}"))).unwrap();
    assert_eq!(opener.corp_id, CORP);
    let debug = format!("{opener:?}");
    assert!(!debug.contains(TOKEN) && !debug.contains(KEY), "{debug}");

    let missing_key = WecomOpener::from_config(&source, &events(&token_line)).unwrap_err();
    assert!(
        missing_key.contains("events.aes_key is missing"),
        "{missing_key}"
    );
    let missing_token = WecomOpener::from_config(&source, &events(&key_line)).unwrap_err();
    assert!(
        missing_token.contains("events.token is missing"),
        "{missing_token}"
    );
    std::fs::write(&key, "short").unwrap();
    let short = WecomOpener::from_config(&source, &events(&format!("{token_line}\n{key_line}")))
        .unwrap_err();
    assert!(
        short.contains("events.aes_key") && short.contains("43"),
        "{short}"
    );
    assert!(!short.contains("short"), "{short}");
}

// ---- end to end: the emulator's callbacks into a receiver that calls the opener ----

/// What the receiver accepted, and its address.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    _server: tokio::task::JoinHandle<()>,
}

async fn receiver(opener: WecomOpener) -> Receiver {
    use axum::extract::{RawQuery, State};
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;

    type Shared = (Arc<WecomOpener>, Arc<Mutex<Vec<Accepted>>>);
    async fn handle(
        State((opener, accepted)): State<Shared>,
        method: Method,
        RawQuery(query): RawQuery,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let query: BTreeMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let headers = BTreeMap::new();
        let method = if method == Method::GET {
            IncomingMethod::Get
        } else {
            IncomingMethod::Post
        };
        let request = Incoming {
            method,
            query: &query,
            headers: &headers,
            body: &body,
        };
        match opener.open(&request, Timestamp::now()) {
            Ok(Opened::Handshake { reply }) => reply.body.into_response(),
            Ok(Opened::Event {
                accepted: event,
                reply,
            }) => {
                accepted.lock().unwrap().push(event);
                reply.body.into_response()
            }
            Err(refusal) => (StatusCode::BAD_REQUEST, refusal.label()).into_response(),
        }
    }

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/events/wecom", axum::routing::any(handle))
        .with_state((Arc::new(opener), accepted.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events/wecom", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url,
        accepted,
        _server: server,
    }
}

fn org() -> emulators::fixture::Org {
    serde_json::from_value(serde_json::json!({
        "departments": [
            {"id": 1, "name": "Corp"},
            {"id": 2, "parent": 1, "name": "Sales"},
            {"id": 3, "parent": 1, "name": "R&D"}
        ],
        "users": [
            {"id": "lin.xiao", "name": "Lin Xiao", "departments": [2], "title": "Seller"},
            {"id": "qiao.yu", "name": "Qiao Yu", "departments": [3]}
        ]
    }))
    .unwrap()
}

async fn emulator(url: &str, kind: CallbackKind, key: &str) -> emulators::wecom::WecomHandle {
    let config = emulators::wecom::WecomConfig {
        corpid: CORP.into(),
        callback: Some(CallbackConfig {
            url: url.to_owned(),
            token: TOKEN.into(),
            encoding_aes_key: key.into(),
            kind,
        }),
        ..Default::default()
    };
    emulators::wecom::start(org(), config).await.unwrap()
}

#[tokio::test]
async fn the_emulators_callbacks_are_verified_and_accepted() {
    let receiver = receiver(opener()).await;
    let wecom = emulator(&receiver.url, CallbackKind::IdsOnly, KEY).await;
    assert_eq!(wecom.verify_callback_url().await, Ok(true));

    wecom.update_org(|org| {
        org.users[0].departments = vec![3];
        org.users.retain(|u| u.id != "qiao.yu");
        org.users.push(
            serde_json::from_value(serde_json::json!(
                {"id": "new.hire", "name": "New Hire", "departments": [2]}
            ))
            .unwrap(),
        );
        org.departments[2].parent = Some(2);
    });
    let deliveries = wecom.wait_for_deliveries(4, Duration::from_secs(10)).await;
    let answers: Vec<(&str, u16, &str)> = deliveries
        .iter()
        .map(|d| (d.change_type.as_str(), d.status, d.body.as_str()))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("update_party", 200, "success"),
            ("update_user", 200, "success"),
            ("create_user", 200, "success"),
            ("delete_user", 200, "success"),
        ]
    );
    let notices: Vec<(String, Vec<Notice>)> = receiver
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.event.event_type.clone(), a.event.notices.clone()))
        .collect();
    assert_eq!(
        notices,
        vec![
            (
                "change_contact/update_party".into(),
                vec![departments(&["3"])]
            ),
            (
                "change_contact/update_user".into(),
                vec![people(&["lin.xiao"])]
            ),
            (
                "change_contact/create_user".into(),
                vec![people(&["new.hire"])]
            ),
            (
                "change_contact/delete_user".into(),
                vec![people(&["qiao.yu"])]
            ),
        ]
    );
}

#[tokio::test]
async fn the_emulators_self_built_app_subscriptions_are_accepted() {
    let receiver = receiver(opener()).await;
    let wecom = emulator(&receiver.url, CallbackKind::SelfBuiltApp, KEY).await;
    wecom.update_org(|org| {
        org.users[1].status = emulators::fixture::Status::Disabled;
        org.users[0].title = Some("Lead".into());
    });
    let deliveries = wecom.wait_for_deliveries(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(
        (deliveries[0].status, deliveries[0].body.as_str()),
        (200, "success")
    );
    let accepted = receiver.accepted.lock().unwrap();
    assert_eq!(accepted[0].event.event_type, "unsubscribe");
    assert_eq!(accepted[0].event.notices, vec![people(&["qiao.yu"])]);
}

#[tokio::test]
async fn a_receiver_with_another_key_refuses_every_callback() {
    let receiver = receiver(opener()).await;
    let wecom = emulator(&receiver.url, CallbackKind::Full, OTHER_KEY).await;
    assert_eq!(wecom.verify_callback_url().await, Ok(false));
    wecom.update_org(|org| org.users[0].title = Some("Lead".into()));
    let deliveries = wecom.wait_for_deliveries(1, Duration::from_secs(20)).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (deliveries[0].status, deliveries[0].body.as_str()),
        (400, "undecryptable")
    );
    assert!(deliveries[0].attempts > 1, "refused callbacks are retried");
    assert!(receiver.accepted.lock().unwrap().is_empty());
}
