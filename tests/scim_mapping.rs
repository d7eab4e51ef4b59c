//! SCIM attribute mapping against the SCIM emulator: each kind of mapped attribute created,
//! changed and cleared, read back through the pusher and from the emulator's store; and what a
//! strict service provider refuses.

mod common;

use common::scim_mapping::{
    BADGE, COST_CENTER, CUSTOM, HOME_EMAIL, MAPPING, SITE, WORK_PHONE, check_raw, round_trip,
};
use emulators::scim::{ScimConfig, ScimHandle, ScimUser};
use orgsync::model::{Attributes, Field, UserKey};
use orgsync::pushers::{PushError, Pusher};
use serde_json::{Value, json};

/// The attributes the emulator serves beyond its fixed ones, as a provider given the schemas.
fn served() -> Vec<String> {
    ["nickName", "name.familyName", COST_CENTER, BADGE, SITE]
        .map(str::to_owned)
        .to_vec()
}

async fn start(user_attributes: Vec<String>) -> ScimHandle {
    emulators::scim::start(ScimConfig {
        user_attributes,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

async fn get(base_url: String, token: String, id: String) -> Value {
    common::scim2_server::user_json(&base_url, &token, &id).await
}

/// The value of the first entry of this type, as the emulator stores it.
fn typed(
    values: &[String],
    kind: impl Fn(usize) -> Option<String>,
    wanted: &str,
) -> Option<String> {
    (0..values.len())
        .find(|&at| kind(at).as_deref() == Some(wanted))
        .map(|at| values[at].clone())
}

fn check_store(stage: &str, want: &Attributes, user: &ScimUser) {
    for name in served() {
        assert_eq!(
            user.extra.get(&name).map(String::as_str),
            want.get(Field::named(&name)),
            "{stage}: {name}"
        );
    }
    let phone = |kind| {
        typed(
            &user.phone_numbers,
            |at| user.phone_type(at).map(str::to_owned),
            kind,
        )
    };
    let email = |kind| {
        typed(
            &user.emails,
            |at| user.email_type(at).map(str::to_owned),
            kind,
        )
    };
    assert_eq!(
        phone("work").as_deref(),
        want.get(Field::named(WORK_PHONE)),
        "{stage}"
    );
    assert_eq!(
        phone("mobile").as_deref(),
        want.get(Field::Mobile),
        "{stage}"
    );
    assert_eq!(
        email("home").as_deref(),
        want.get(Field::named(HOME_EMAIL)),
        "{stage}"
    );
    assert_eq!(
        user.emails.first().map(String::as_str),
        want.get(Field::Email),
        "{stage}: primary"
    );
    assert_eq!(
        user.department.as_deref(),
        want.get(Field::Department),
        "{stage}"
    );
}

#[tokio::test]
async fn mapped_attributes_of_each_kind_round_trip_in_the_emulator() {
    let scim = start(served()).await;
    let pusher = common::scim_pusher_mapping(scim.base_url(), scim.bearer_token(), &MAPPING);
    round_trip(
        &pusher,
        |id| {
            get(
                scim.base_url().to_owned(),
                scim.bearer_token().to_owned(),
                id,
            )
        },
        |stage, want, raw| {
            check_raw(stage, want, raw);
            let stored = scim.user(raw["id"].as_str().unwrap()).expect("stored");
            check_store(stage, want, &stored);
        },
    )
    .await;
}

/// A service provider that does not serve the custom schema refuses the create, and nothing
/// is stored.
#[tokio::test]
async fn a_provider_without_the_custom_schema_refuses_the_create() {
    let scim = start(vec![COST_CENTER.to_owned()]).await;
    let pusher =
        common::scim_pusher_mapping(scim.base_url(), scim.bearer_token(), &[(BADGE, "key")]);
    let person = Attributes::new("a", "A").with(Field::named(BADGE), Some("B-1".into()));
    let error = pusher
        .create(&UserKey::new("a"), &person, true)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, PushError::Status { status: 400, .. }),
        "{error:?}"
    );
    assert!(scim.users().is_empty());
}

async fn post(scim: &ScimHandle, body: Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/Users", scim.base_url()))
        .bearer_auth(scim.bearer_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// RFC 7643 §3: `schemas` lists every extension the resource uses; a URN the provider does not
/// serve, or an attribute its schema lacks, is refused (400 invalidSyntax, as scim2-server).
#[tokio::test]
async fn extensions_must_be_served_and_listed() {
    let scim = start(served()).await;
    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    for body in [
        json!({ "schemas": [USER], "userName": "a", CUSTOM: { "badge": "x" } }),
        json!({ "schemas": [USER, "urn:example:other:2.0:User"], "userName": "a" }),
        json!({ "schemas": [USER, CUSTOM], "userName": "a", CUSTOM: { "rank": "x" } }),
        json!({ "schemas": [USER], "userName": "a", "name": { "givenName": "x" } }),
        json!({ "schemas": [USER], "userName": "a", "profileUrl": "x" }),
    ] {
        let (status, answer) = post(&scim, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["scimType"], "invalidSyntax", "{body}: {answer}");
    }
    let (status, created) = post(
        &scim,
        json!({ "schemas": [USER, CUSTOM], "userName": "a",
                CUSTOM: { "Badge": "x", "workplace": { "site": "s" } } }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created[CUSTOM],
        json!({ "badge": "x", "workplace": { "site": "s" } })
    );
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(CUSTOM))
    );
}

/// PATCH with a value filter: `replace` of an entry type no entry has is noTarget (RFC 7644
/// §3.5.2.3); `remove` of the type takes out exactly those entries.
#[tokio::test]
async fn value_filters_select_entries_by_type() {
    let scim = start(Vec::new()).await;
    let id = scim.insert_user(ScimUser {
        phone_numbers: vec!["1".into(), "2".into(), "3".into()],
        phone_types: vec![
            Some("work".into()),
            Some("mobile".into()),
            Some("Work".into()),
        ],
        ..ScimUser::new("a")
    });
    let patch = |operations: Value| {
        let url = format!("{}/Users/{id}", scim.base_url());
        let token = scim.bearer_token().to_owned();
        async move {
            let answer = reqwest::Client::new()
                .patch(url)
                .bearer_auth(token)
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": operations
                }))
                .send()
                .await
                .unwrap();
            answer.status().as_u16()
        }
    };
    let status = patch(
        json!([{ "op": "replace", "path": r#"phoneNumbers[type eq "home"].value"#, "value": "9" }]),
    )
    .await;
    assert_eq!(status, 400);
    let status = patch(json!([{ "op": "replace", "path": r#"phoneNumbers[type eq "mobile"].value"#, "value": "8" }])).await;
    assert_eq!(status, 204);
    let status =
        patch(json!([{ "op": "remove", "path": r#"phoneNumbers[type eq "work"]"# }])).await;
    assert_eq!(status, 204);
    let user = scim.user(&id).unwrap();
    assert_eq!(user.phone_numbers, ["8"]);
    assert_eq!(user.phone_type(0), Some("mobile"));
}

/// A PATCH without a path merges configured attributes from the value object: `name`'s and the
/// enterprise object's members, and a custom extension's object (RFC 7644 §3.5.2.3).
#[tokio::test]
async fn a_patch_without_a_path_merges_configured_attributes() {
    let scim = start(served()).await;
    let id = scim.insert_user(ScimUser::new("a"));
    let answer = reqwest::Client::new()
        .patch(format!("{}/Users/{id}", scim.base_url()))
        .bearer_auth(scim.bearer_token())
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": {
                "nickname": "A",
                "name": { "familyName": "F" },
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "costCenter": "C" },
                CUSTOM: { "badge": "B", "workplace": { "site": "S" } }
            } }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    let extra = scim.user(&id).unwrap().extra;
    let want: Vec<(&str, &str)> = vec![
        ("nickName", "A"),
        ("name.familyName", "F"),
        (COST_CENTER, "C"),
        (BADGE, "B"),
        (SITE, "S"),
    ];
    let mut got: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
}

/// Discovery tells the truth about the configured attributes: `/Schemas` describes them, and
/// `/ResourceTypes/User` lists the custom extension.
#[tokio::test]
async fn discovery_describes_the_configured_attributes() {
    let scim = start(served()).await;
    let read = |path: String| {
        let url = format!("{}{path}", scim.base_url());
        let token = scim.bearer_token().to_owned();
        async move {
            let answer = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200);
            answer.json::<Value>().await.unwrap()
        }
    };
    let names = |schema: &Value| -> Vec<String> {
        let mut names = Vec::new();
        for attribute in schema["attributes"].as_array().unwrap() {
            let name = attribute["name"].as_str().unwrap();
            names.push(name.to_owned());
            for sub in attribute["subAttributes"].as_array().into_iter().flatten() {
                names.push(format!("{name}.{}", sub["name"].as_str().unwrap()));
            }
        }
        names
    };
    let custom = names(&read(format!("/Schemas/{CUSTOM}")).await);
    assert_eq!(custom, ["badge", "workplace", "workplace.site"]);
    let core = names(&read("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User".into()).await);
    assert!(core.contains(&"nickName".to_owned()), "{core:?}");
    assert!(core.contains(&"name.familyName".to_owned()), "{core:?}");
    let enterprise = names(
        &read("/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()).await,
    );
    assert!(
        enterprise.contains(&"costCenter".to_owned()),
        "{enterprise:?}"
    );
    let user_type = read("/ResourceTypes/User".into()).await;
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == CUSTOM),
        "{user_type}"
    );
}
