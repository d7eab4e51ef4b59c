//! The opener against requests built by the Feishu emulator's own crypto (two implementations
//! that must agree) and against the platform's published vector.

use super::*;
use crate::events::Notice;
use crate::model::{DepartmentId, UserKey};
use emulators::feishu::{EventCrafter, EventRequest};
use serde_json::json;
use std::collections::BTreeMap;

const APP: &str = "cli_a1b2c3";
const TOKEN: &str = "vtok-test";
const KEY: &str = "ekey-test";
const SENT: i64 = 1_717_000_000;
const CREATED_MS: i64 = 1_716_999_999_123;

fn opener(key: Option<&str>, user: UserIdType, department: DepartmentIdType) -> FeishuOpener {
    FeishuOpener::new(
        APP,
        Secret::new(TOKEN),
        key.map(Secret::new),
        user,
        department,
    )
}

fn default_opener(key: Option<&str>) -> FeishuOpener {
    opener(key, UserIdType::UserId, DepartmentIdType::OpenDepartmentId)
}

fn crafter(key: Option<&str>) -> EventCrafter {
    EventCrafter::new(APP, TOKEN, key.map(str::to_owned))
}

fn open_with(
    opener: &FeishuOpener,
    method: IncomingMethod,
    request: &EventRequest,
) -> Result<Opened, Refusal> {
    let query = BTreeMap::new();
    let headers: BTreeMap<String, String> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    let incoming = Incoming {
        method,
        query: &query,
        headers: &headers,
        body: &request.body,
    };
    opener.open(&incoming, Timestamp::from_second(SENT + 1).unwrap())
}

fn open(opener: &FeishuOpener, request: &EventRequest) -> Result<Opened, Refusal> {
    open_with(opener, IncomingMethod::Post, request)
}

fn event_of(result: Result<Opened, Refusal>) -> Accepted {
    match result {
        Ok(Opened::Event { accepted, reply }) => {
            assert_eq!(reply.body, br#"{"msg":"success"}"#);
            accepted
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

fn user_event(crafter: &EventCrafter, event_id: &str, event_type: &str) -> serde_json::Value {
    crafter.envelope(
        event_id,
        event_type,
        CREATED_MS,
        json!({
            "object": { "open_id": "ou_lin", "union_id": "on_lin", "user_id": "lin.xiao",
                        "name": "林晓", "department_ids": ["od-1"] },
            "old_object": { "department_ids": ["od-2"] },
        }),
    )
}

#[test]
fn decrypts_the_platforms_published_vector() {
    // From Feishu's "receive and process events" guide: key "test key" → "hello world".
    let encrypted = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
    let plain = crypto::decrypt(&crypto::aes_key("test key"), encrypted);
    assert_eq!(plain.as_deref(), Some(&b"hello world"[..]));
    assert_eq!(
        crypto::decrypt(&crypto::aes_key("other key"), encrypted),
        None
    );
    assert_eq!(
        crypto::decrypt(&crypto::aes_key("test key"), "AAAA"),
        None,
        "shorter than an IV"
    );
    assert_eq!(
        crypto::decrypt(&crypto::aes_key("test key"), "not base64!"),
        None
    );
}

#[test]
fn the_signature_is_the_documented_digest_and_agrees_with_the_emulators() {
    let body = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
    let ours = crypto::signature("1717000000", "abc123", "test key", body);
    // sha256("1717000000" + "abc123" + "test key" + body), computed with Python's hashlib.
    assert_eq!(
        crate::hex::encode(&ours),
        "7f8d744d0f1d0b8257c0084c77c1523db6cff277bd7b7210f9ac1577c2d960c4"
    );
    let theirs = emulators::feishu::signature("1717000000", "abc123", "test key", body);
    assert!(crypto::signature_matches(&theirs, &ours));
    assert!(crypto::signature_matches(&theirs.to_uppercase(), &ours));
    assert!(!crypto::signature_matches(&theirs[..62], &ours));
    assert!(!crypto::signature_matches("zz", &ours));
}

#[test]
fn url_challenge_is_echoed_when_the_token_matches_plain_and_encrypted() {
    for key in [None, Some(KEY)] {
        let reply = match open(&default_opener(key), &crafter(key).challenge("c-42")) {
            Ok(Opened::Handshake { reply }) => reply,
            other => panic!("key {key:?}: expected a handshake, got {other:?}"),
        };
        let echoed: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(echoed, json!({ "challenge": "c-42" }));
        let stranger = EventCrafter::new(APP, "another-token", key.map(str::to_owned));
        assert_eq!(
            open(&default_opener(key), &stranger.challenge("c-42")).unwrap_err(),
            Refusal::Forged,
            "key {key:?}: a challenge with another token"
        );
    }
    let wrong_key = crafter(Some("another-key")).challenge("c-42");
    assert_eq!(
        open(&default_opener(Some(KEY)), &wrong_key).unwrap_err(),
        Refusal::Undecryptable
    );
}

#[test]
fn an_encrypted_signed_event_is_accepted_with_its_id_and_times() {
    let crafter = crafter(Some(KEY));
    let payload = user_event(&crafter, "evt-1", "contact.user.updated_v3");
    let accepted = event_of(open(
        &default_opener(Some(KEY)),
        &crafter.request(&payload, SENT),
    ));
    assert_eq!(accepted.dedupe, "evt-1");
    assert_eq!(accepted.sent_at, Timestamp::from_second(SENT).unwrap());
    assert_eq!(
        accepted.event.occurred_at,
        Some(Timestamp::from_millisecond(CREATED_MS).unwrap())
    );
    assert_eq!(
        accepted.event.received_at,
        Timestamp::from_second(SENT + 1).unwrap()
    );
    assert_eq!(accepted.event.event_type, "contact.user.updated_v3");
    assert_eq!(
        accepted.event.notices,
        vec![Notice::People {
            keys: vec![UserKey::new("lin.xiao")]
        }]
    );
}

#[test]
fn forged_signatures_are_refused() {
    let crafter = crafter(Some(KEY));
    let opener = default_opener(Some(KEY));
    let genuine = crafter.request(
        &user_event(&crafter, "evt-1", "contact.user.created_v3"),
        SENT,
    );

    let mut wrong_signature = genuine.clone();
    wrong_signature.set_header("X-Lark-Signature", "00".repeat(32));
    assert_eq!(
        open(&opener, &wrong_signature).unwrap_err(),
        Refusal::Forged
    );

    let mut moved_in_time = genuine.clone();
    moved_in_time.set_header("X-Lark-Request-Timestamp", (SENT + 600).to_string());
    assert_eq!(open(&opener, &moved_in_time).unwrap_err(), Refusal::Forged);

    let other = crafter.request(
        &user_event(&crafter, "evt-2", "contact.user.deleted_v3"),
        SENT,
    );
    let mut swapped_body = genuine.clone();
    swapped_body.body = other.body;
    assert_eq!(open(&opener, &swapped_body).unwrap_err(), Refusal::Forged);

    let mut unsigned = genuine.clone();
    unsigned.headers.clear();
    assert_eq!(
        open(&opener, &unsigned).unwrap_err(),
        Refusal::Forged,
        "only the challenge may be unsigned"
    );

    let mut half_signed = genuine;
    half_signed
        .headers
        .retain(|(name, _)| name != "X-Lark-Request-Nonce");
    assert_eq!(open(&opener, &half_signed).unwrap_err(), Refusal::Forged);
}

#[test]
fn a_wrong_encrypt_key_is_refused() {
    let opener = default_opener(Some(KEY));
    let impostor = crafter(Some("another-key"));
    let request = impostor.request(
        &user_event(&impostor, "evt-1", "contact.user.created_v3"),
        SENT,
    );
    assert_eq!(
        open(&opener, &request).unwrap_err(),
        Refusal::Forged,
        "signed under the wrong key"
    );

    // Signed with the right key around a payload encrypted under another: not decryptable.
    let encrypted = emulators::feishu::encrypt("another-key", br#"{"schema":"2.0"}"#, [7; 16]);
    let body = json!({ "encrypt": encrypted }).to_string().into_bytes();
    let signature = emulators::feishu::signature("1717000000", "n1", KEY, &body);
    let request = EventRequest {
        headers: vec![
            ("X-Lark-Request-Timestamp".into(), "1717000000".into()),
            ("X-Lark-Request-Nonce".into(), "n1".into()),
            ("X-Lark-Signature".into(), signature),
        ],
        body,
    };
    assert_eq!(open(&opener, &request).unwrap_err(), Refusal::Undecryptable);
}

#[test]
fn a_wrong_token_is_forged_and_another_app_is_foreign() {
    for key in [None, Some(KEY)] {
        let opener = default_opener(key);
        let stranger = EventCrafter::new(APP, "another-token", key.map(str::to_owned));
        let request =
            stranger.request(&user_event(&stranger, "e", "contact.user.created_v3"), SENT);
        assert_eq!(
            open(&opener, &request).unwrap_err(),
            Refusal::Forged,
            "key {key:?}"
        );
        let other_app = EventCrafter::new("cli_other", TOKEN, key.map(str::to_owned));
        let request = other_app.request(
            &user_event(&other_app, "e", "contact.user.created_v3"),
            SENT,
        );
        assert_eq!(
            open(&opener, &request).unwrap_err(),
            Refusal::Foreign,
            "key {key:?}"
        );
    }
}

#[test]
fn a_replayed_or_retried_event_keeps_its_dedupe_key() {
    let crafter = crafter(Some(KEY));
    let opener = default_opener(Some(KEY));
    let payload = user_event(&crafter, "evt-7", "contact.user.updated_v3");
    let first = crafter.request(&payload, SENT);
    let replayed = event_of(open(&opener, &first));
    let again = event_of(open(&opener, &first));
    assert_eq!(replayed.dedupe, again.dedupe);
    // The platform's retry: the same event in a new request, signed later.
    let retry = event_of(open(&opener, &crafter.request(&payload, SENT + 15)));
    assert_eq!(retry.dedupe, "evt-7");
    assert_eq!(retry.sent_at, Timestamp::from_second(SENT + 15).unwrap());
    let other = event_of(open(
        &opener,
        &crafter.request(
            &user_event(&crafter, "evt-8", "contact.user.updated_v3"),
            SENT,
        ),
    ));
    assert_ne!(other.dedupe, retry.dedupe);
}

#[test]
fn without_an_encrypt_key_plaintext_events_carry_their_create_time() {
    let crafter = crafter(None);
    let opener = default_opener(None);
    let payload = user_event(&crafter, "evt-1", "contact.user.deleted_v3");
    let accepted = event_of(open(&opener, &crafter.request(&payload, SENT)));
    assert_eq!(
        accepted.sent_at,
        Timestamp::from_millisecond(CREATED_MS).unwrap()
    );
    assert_eq!(accepted.dedupe, "evt-1");

    let encrypted = self::crafter(Some(KEY)).request(&payload, SENT);
    assert_eq!(
        open(&opener, &encrypted).unwrap_err(),
        Refusal::Undecryptable
    );
    let plain = crafter.request(&payload, SENT);
    assert!(matches!(
        open(&default_opener(Some(KEY)), &plain).unwrap_err(),
        Refusal::Malformed(_)
    ));
}

#[test]
fn bad_requests_are_refused_without_panicking() {
    let opener = default_opener(None);
    let crafter = crafter(None);
    let payload = user_event(&crafter, "evt-1", "contact.user.created_v3");
    let request = crafter.request(&payload, SENT);
    assert!(matches!(
        open_with(&opener, IncomingMethod::Get, &request),
        Err(Refusal::Malformed(_))
    ));
    for body in [
        &b""[..],
        b"[]",
        b"{",
        b"\xff\xfe",
        br#"{"header": 5}"#,
        br#"{"encrypt": 5}"#,
        br#"{}"#,
    ] {
        let request = EventRequest {
            headers: Vec::new(),
            body: body.to_vec(),
        };
        assert!(
            matches!(open(&opener, &request), Err(Refusal::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let mut no_id = payload.clone();
    no_id["header"]["event_id"] = json!("");
    assert!(matches!(
        open(&opener, &crafter.request(&no_id, SENT)),
        Err(Refusal::Malformed(_))
    ));
    let mut no_time = payload;
    no_time["header"]["create_time"] = json!("soon");
    assert!(matches!(
        open(&opener, &crafter.request(&no_time, SENT)),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn schema_one_events_are_checked_by_token_and_unknown() {
    let opener = default_opener(None);
    let body = json!({ "uuid": "u-1", "ts": "1717000000.123", "token": TOKEN, "type": "event_callback",
                       "event": { "type": "user_update" } });
    let request = EventRequest {
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    };
    let accepted = event_of(open(&opener, &request));
    assert_eq!(accepted.dedupe, "u-1");
    assert_eq!(
        accepted.sent_at,
        Timestamp::from_second(1_717_000_000).unwrap()
    );
    assert_eq!(
        accepted.event.notices,
        vec![Notice::Unknown {
            event_type: "schema 1.0 user_update".into()
        }]
    );
    let mut forged = body;
    forged["token"] = json!("another-token");
    let request = EventRequest {
        headers: Vec::new(),
        body: forged.to_string().into_bytes(),
    };
    assert_eq!(open(&opener, &request).unwrap_err(), Refusal::Forged);
}

#[test]
fn each_event_type_names_what_the_connector_keys_by() {
    let crafter = crafter(None);
    let people = |key: &str| {
        vec![Notice::People {
            keys: vec![UserKey::new(key)],
        }]
    };
    for (user_id_type, key) in [
        (UserIdType::UserId, "lin.xiao"),
        (UserIdType::OpenId, "ou_lin"),
        (UserIdType::UnionId, "on_lin"),
    ] {
        let opener = opener(None, user_id_type, DepartmentIdType::OpenDepartmentId);
        for event_type in [
            "contact.user.created_v3",
            "contact.user.updated_v3",
            "contact.user.deleted_v3",
        ] {
            let payload = user_event(&crafter, "e", event_type);
            let accepted = event_of(open(&opener, &crafter.request(&payload, SENT)));
            assert_eq!(
                accepted.event.notices,
                people(key),
                "{event_type} by {user_id_type:?}"
            );
        }
    }
    // Without the employee-id permission an event has no user_id: only a full run can tell.
    let opener_by_user_id = default_opener(None);
    let mut no_user_id = user_event(&crafter, "e", "contact.user.created_v3");
    no_user_id["event"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("user_id");
    let accepted = event_of(open(
        &opener_by_user_id,
        &crafter.request(&no_user_id, SENT),
    ));
    assert_eq!(
        accepted.event.notices,
        vec![Notice::Unknown {
            event_type: "contact.user.created_v3".into()
        }]
    );
    // An admin changed the user_id: both the old and the new key are re-read.
    let mut renamed = user_event(&crafter, "e", "contact.user.updated_v3");
    renamed["event"]["old_object"]["user_id"] = json!("lin.old");
    let accepted = event_of(open(&opener_by_user_id, &crafter.request(&renamed, SENT)));
    assert_eq!(
        accepted.event.notices,
        vec![Notice::People {
            keys: vec![UserKey::new("lin.xiao"), UserKey::new("lin.old")]
        }]
    );

    for (department_id_type, id) in [
        (DepartmentIdType::OpenDepartmentId, "od-7"),
        (DepartmentIdType::DepartmentId, "7"),
    ] {
        let opener = opener(None, UserIdType::UserId, department_id_type);
        for event_type in [
            "contact.department.created_v3",
            "contact.department.updated_v3",
            "contact.department.deleted_v3",
        ] {
            let payload = crafter.envelope(
                "e",
                event_type,
                CREATED_MS,
                json!({
                    "object": { "department_id": "7", "open_department_id": "od-7", "name": "研发",
                                "parent_department_id": "0", "status": { "is_deleted": false } },
                    "old_object": { "name": "开发" },
                }),
            );
            let accepted = event_of(open(&opener, &crafter.request(&payload, SENT)));
            assert_eq!(
                accepted.event.notices,
                vec![Notice::Departments {
                    ids: vec![DepartmentId::new(id)]
                }],
                "{event_type} by {department_id_type:?}"
            );
        }
    }

    let opener = default_opener(None);
    let notices_of = |event_type: &str| {
        let payload = crafter.envelope("e", event_type, CREATED_MS, json!({}));
        event_of(open(&opener, &crafter.request(&payload, SENT)))
            .event
            .notices
    };
    assert_eq!(notices_of("contact.scope.updated_v3"), vec![Notice::Scope]);
    for ignored in [
        "contact.employee_type_enum.created_v3",
        "contact.employee_type_enum.actived_v3",
        "contact.custom_attr_event.updated_v3",
    ] {
        assert_eq!(
            notices_of(ignored),
            vec![Notice::Ignored {
                event_type: ignored.into()
            }]
        );
    }
    for unknown in ["im.message.receive_v1", "contact.user_group.created_v3", ""] {
        assert_eq!(
            notices_of(unknown),
            vec![Notice::Unknown {
                event_type: unknown.into()
            }]
        );
    }
}

#[test]
fn config_needs_the_verification_token_and_debug_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        crate::config::SecretRef::File(path)
    };
    let source = FeishuSourceConfig::new(
        APP,
        write("secret", "s"),
        "https://open.feishu.cn".parse().unwrap(),
    );
    let mut events: EventsConfig = toml::from_str("").unwrap();
    let error = FeishuOpener::from_config(&source, &events).unwrap_err();
    assert!(error.contains("verification_token"), "{error}");

    events.verification_token = Some(write("token", "super-secret-token\n"));
    events.encrypt_key = Some(write("key", "super-secret-key"));
    let opener = FeishuOpener::from_config(&source, &events).unwrap();
    let debug = format!("{opener:?}");
    assert!(!debug.contains("super-secret"), "{debug}");
    let crafter = EventCrafter::new(APP, "super-secret-token", Some("super-secret-key".into()));
    let payload = user_event(&crafter, "evt-1", "contact.user.created_v3");
    event_of(open(&opener, &crafter.request(&payload, SENT)));

    events.token = Some(write("wecom", "t"));
    let error = FeishuOpener::from_config(&source, &events).unwrap_err();
    assert!(
        error.contains("verification_token and encrypt_key"),
        "{error}"
    );
    events.token = None;
    events.encrypt_key = Some(crate::config::SecretRef::File(dir.path().join("missing")));
    let error = FeishuOpener::from_config(&source, &events).unwrap_err();
    assert!(error.starts_with("encrypt_key: "), "{error}");
}
