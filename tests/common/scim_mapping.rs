//! One SCIM attribute-mapping scenario, run against the SCIM emulator and scim2-server: create a
//! person with a mapped attribute of each kind, change each, clear each, reading the account
//! back through the pusher's listing (drift is seen in every kind) and the raw resource.

use orgsync::model::{Attributes, Field, UserKey};
use orgsync::pushers::scim::ScimPusher;
use orgsync::pushers::{Pusher, TargetAccount};
use serde_json::Value;
use std::borrow::Cow;
use std::future::Future;

pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CUSTOM: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
pub const COST_CENTER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter";
pub const BADGE: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User:badge";
pub const SITE: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User:workplace.site";
pub const WORK_PHONE: &str = r#"phoneNumbers[type eq "work"].value"#;
pub const HOME_EMAIL: &str = r#"emails[type eq "home"].value"#;

/// `[target.attributes]`: one key of each kind (the values are the planner's business).
pub const MAPPING: [(&str, &str); 7] = [
    ("nickName", "english_name"),
    ("name.familyName", "name"),
    (COST_CENTER, "custom.成本中心"),
    (BADGE, "custom.badge"),
    (SITE, "work_place"),
    (WORK_PHONE, "telephone"),
    (HOME_EMAIL, "enterprise_email"),
];

fn extra(name: &str) -> Field {
    Field::named(name)
}

pub fn first() -> Attributes {
    Attributes::new("lin", "林晓")
        .with(Field::Email, Some("lin@example.cn".into()))
        .with(Field::Mobile, Some("13800000004".into()))
        .with(Field::Department, Some("平台组".into()))
        .with(extra("nickName"), Some("Lin".into()))
        .with(extra("name.familyName"), Some("林".into()))
        .with(extra(COST_CENTER), Some("CC-1".into()))
        .with(extra(BADGE), Some("B-7".into()))
        .with(extra(SITE), Some("北京".into()))
        .with(extra(WORK_PHONE), Some("010-1234".into()))
        .with(extra(HOME_EMAIL), Some("lin@home.example".into()))
}

pub fn changed() -> Attributes {
    Attributes::new("lin", "林晓")
        .with(Field::Email, Some("xiao@example.cn".into()))
        .with(Field::Mobile, Some("13900000004".into()))
        .with(Field::Department, Some("平台组".into()))
        .with(extra("nickName"), Some("Xiao".into()))
        .with(extra("name.familyName"), Some("Lin".into()))
        .with(extra(COST_CENTER), Some("CC-2".into()))
        .with(extra(BADGE), Some("B-8".into()))
        .with(extra(SITE), Some("上海".into()))
        .with(extra(WORK_PHONE), Some("021-5678".into()))
        .with(extra(HOME_EMAIL), Some("xiao@home.example".into()))
}

/// Every mapped attribute cleared; the roles kept.
pub fn cleared() -> Attributes {
    Attributes::new("lin", "林晓")
        .with(Field::Email, Some("xiao@example.cn".into()))
        .with(Field::Mobile, Some("13900000004".into()))
        .with(Field::Department, Some("平台组".into()))
}

fn managed() -> Vec<Field> {
    Field::ROLES
        .into_iter()
        .chain(MAPPING.iter().map(|(key, _)| extra(key)))
        .collect()
}

async fn listed(pusher: &ScimPusher, key: &UserKey) -> TargetAccount {
    pusher
        .list()
        .await
        .expect("lists")
        .into_iter()
        .find(|account| account.external_id.as_ref() == Some(key))
        .expect("the account is listed")
}

/// Runs create → change → clear; `raw` reads the resource as the server holds it and `check`
/// is called with each stage's name, expected attributes and that resource.
pub async fn round_trip<R, F>(
    pusher: &ScimPusher,
    raw: R,
    check: impl Fn(&str, &Attributes, &Value),
) where
    R: Fn(String) -> F,
    F: Future<Output = Value>,
{
    let key = UserKey::new("lin");
    let id = pusher.create(&key, &first(), true).await.expect("creates");
    let account = listed(pusher, &key).await;
    assert_eq!(account.attributes, first(), "read back after the create");
    check("create", &first(), &raw(id.as_str().to_owned()).await);

    for (stage, desired) in [("change", changed()), ("clear", cleared())] {
        let before = listed(pusher, &key).await.attributes;
        let changes = before.changes_to(&managed(), |field| desired.get(field).map(Cow::Borrowed));
        assert!(!changes.is_empty(), "{stage}: something to change");
        pusher.update(&id, &changes).await.expect(stage);
        let account = listed(pusher, &key).await;
        assert_eq!(account.attributes, desired, "read back after the {stage}");
        check(stage, &desired, &raw(id.as_str().to_owned()).await);
    }
}

/// The parts of a raw resource the mapping places, checked against the expected attributes.
pub fn check_raw(stage: &str, want: &Attributes, user: &Value) {
    let get = |name: &str| {
        want.get(extra(name))
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let schemas: Vec<&str> = user["schemas"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(schemas.contains(&ENTERPRISE), "{stage}: {schemas:?}");
    if want.get(extra(BADGE)).is_some() {
        assert!(schemas.contains(&CUSTOM), "{stage}: {schemas:?}");
    }
    assert_eq!(user["nickName"], get("nickName"), "{stage}");
    assert_eq!(
        user["name"]["familyName"],
        get("name.familyName"),
        "{stage}"
    );
    assert_eq!(user["name"]["formatted"], "林晓", "{stage}");
    assert_eq!(user[ENTERPRISE]["costCenter"], get(COST_CENTER), "{stage}");
    assert_eq!(user[ENTERPRISE]["department"], "平台组", "{stage}");
    assert_eq!(user[CUSTOM]["badge"], get(BADGE), "{stage}");
    assert_eq!(user[CUSTOM]["workplace"]["site"], get(SITE), "{stage}");
    let typed = |attr: &str, kind: &str| -> Vec<Value> {
        user[attr]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["type"] == kind)
                    .map(|e| e["value"].clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    let one = |value: Value| if value.is_null() { vec![] } else { vec![value] };
    assert_eq!(
        typed("phoneNumbers", "work"),
        one(get(WORK_PHONE)),
        "{stage}"
    );
    assert_eq!(typed("emails", "home"), one(get(HOME_EMAIL)), "{stage}");
    let mobile = want.get(Field::Mobile).map(Value::from).unwrap();
    assert_eq!(typed("phoneNumbers", "mobile"), vec![mobile], "{stage}");
    let email = want.get(Field::Email).map(Value::from).unwrap();
    assert_eq!(typed("emails", "work"), vec![email.clone()], "{stage}");
    let primary: Vec<&Value> = user["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .map(|e| &e["value"])
        .collect();
    assert_eq!(
        primary,
        vec![&email],
        "{stage}: the role's e-mail is the primary one"
    );
}
