//! Listing: paging with the page-size cap, and each supported filter.

use emulators::scim::{ScimConfig, ScimUser};
use serde_json::{Value, json};

use super::client::{
    ENTERPRISE, USER, create, encode, full_user_body, start, start_default, user_body,
};

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_are_one_based_and_capped() {
    let (scim, client) = start(ScimConfig {
        max_page_size: 10,
        ..ScimConfig::default()
    })
    .await;
    for n in 0..25 {
        scim.insert_user(ScimUser::new(format!("user{n:02}")));
    }
    let all: Vec<String> = scim.users().into_iter().map(|user| user.id).collect();

    let page = |query: &'static str| {
        let client = &client;
        async move {
            let reply = client.get(&format!("/Users{query}")).await;
            assert_eq!(reply.status, 200, "{query}");
            assert_eq!(reply.header("content-type"), Some("application/scim+json"));
            reply.json()
        }
    };

    // No count: capped at max_page_size, like scim2-server's 1000.
    let first = page("").await;
    assert_eq!(
        first["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(
        (
            first["totalResults"].as_u64(),
            first["startIndex"].as_u64(),
            first["itemsPerPage"].as_u64()
        ),
        (Some(25), Some(1), Some(10))
    );
    assert_eq!(ids(&first), all[..10]);

    let capped = page("?count=100").await;
    assert_eq!(ids(&capped), all[..10]);

    let last = page("?startIndex=21&count=10").await;
    assert_eq!(
        (last["startIndex"].as_u64(), last["itemsPerPage"].as_u64()),
        (Some(21), Some(5))
    );
    assert_eq!(ids(&last), all[20..]);

    let middle = page("?startIndex=4&count=3").await;
    assert_eq!(ids(&middle), all[3..6]);

    let beyond = page("?startIndex=26").await;
    assert_eq!(
        (
            beyond["totalResults"].as_u64(),
            beyond["itemsPerPage"].as_u64()
        ),
        (Some(25), Some(0))
    );
    assert_eq!(beyond["Resources"], json!([]));

    // RFC 7644 §3.4.2.4: startIndex < 1 means 1; a negative count means 0.
    assert_eq!(ids(&page("?startIndex=0&count=2").await), all[..2]);
    let none = page("?count=-3").await;
    assert_eq!(
        (none["totalResults"].as_u64(), none["itemsPerPage"].as_u64()),
        (Some(25), Some(0))
    );

    for bad in [
        "?startIndex=abc",
        "?count=1.5",
        "?count=",
        "?startIndex=99999999999999999999999",
    ] {
        let reply = client.get(&format!("/Users{bad}")).await;
        assert_eq!(
            reply.scim_error(400).as_deref(),
            Some("invalidValue"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn each_supported_filter_selects_the_right_users() {
    let (scim, client) = start_default().await;
    let boss = create(
        &client,
        &full_user_body("Boss", "ext-boss", "boss@example.com", None),
    )
    .await;
    let ann = create(
        &client,
        &full_user_body("Ann", "ext-ann", "Ann@Example.com", Some(&boss)),
    )
    .await;
    let mut body = full_user_body("bob", "ext-bob", "bob@example.com", Some(&boss));
    body["active"] = json!(false);
    body["emails"] = json!([{ "value": "bob@example.com" }, { "value": "robert@example.com" }]);
    let bob = create(&client, &body).await;
    assert_eq!(scim.users().len(), 3);

    let cases: Vec<(String, Vec<&String>)> = vec![
        (r#"externalId eq "ext-ann""#.into(), vec![&ann]),
        // externalId is case-exact (RFC 7643 §3.1).
        (r#"externalId eq "EXT-ANN""#.into(), vec![]),
        // userName is not (RFC 7643 §4.1.1).
        (r#"userName eq "ANN""#.into(), vec![&ann]),
        (r#"username EQ "bob""#.into(), vec![&bob]),
        (r#"emails.value eq "ann@example.com""#.into(), vec![&ann]),
        (r#"emails eq "ROBERT@example.com""#.into(), vec![&bob]),
        (
            format!(r#"{ENTERPRISE}:manager.value eq "{boss}""#),
            vec![&ann, &bob],
        ),
        (format!(r#"id eq "{bob}""#), vec![&bob]),
        ("active eq true".into(), vec![&boss, &ann]),
        ("active eq false".into(), vec![&bob]),
        (
            format!(r#"{ENTERPRISE}:manager.value eq "{boss}" and active eq true"#),
            vec![&ann],
        ),
        (
            r#"userName eq "ann" or userName eq "bob""#.into(),
            vec![&ann, &bob],
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "boss""#.into(),
            vec![&boss],
        ),
        (r#"userName eq "nobody""#.into(), vec![]),
    ];
    for (filter, expected) in cases {
        let list = client.filter(&filter).await.json();
        assert_eq!(
            list["totalResults"].as_u64(),
            Some(expected.len() as u64),
            "{filter}"
        );
        assert_eq!(
            ids(&list),
            expected.into_iter().cloned().collect::<Vec<_>>(),
            "{filter}"
        );
    }
}

#[tokio::test]
async fn filter_literals_are_json_strings() {
    let (_scim, client) = start_default().await;
    let hostile = r#"o"brien \ and eq "x" or userName pr"#;
    let id = create(&client, &user_body(hostile)).await;
    create(&client, &user_body("plain")).await;

    let literal = serde_json::to_string(hostile).unwrap();
    let list = client
        .filter(&format!("userName eq {literal}"))
        .await
        .json();
    assert_eq!(ids(&list), [id.as_str()]);
    let list = client
        .filter(r#"userName eq "o\u0022brien \\ and eq \"x\" or userName pr""#)
        .await
        .json();
    assert_eq!(ids(&list), [id.as_str()]);
}

#[tokio::test]
async fn unsupported_filters_are_refused_not_ignored() {
    let (_scim, client) = start_default().await;
    create(&client, &user_body("ann")).await;
    for filter in [
        "userName",
        r#"userName eq "ann"#,
        r#"nickName eq "ann""#,
        r#"userName gt "a""#,
        r#"emails[type eq "work"].value eq "a@e""#,
        r#"active eq "true""#,
        "userName eq ann",
        r#"userName eq "ann" and"#,
        r#"userName eq "bad \q escape""#,
        "",
    ] {
        let reply = client
            .get(&format!("/Users?filter={}", encode(filter)))
            .await;
        assert_eq!(
            reply.scim_error(400).as_deref(),
            Some("invalidFilter"),
            "{filter}"
        );
    }
    // The schemas a list answer carries for each resource stay the full set.
    let list = client.get("/Users").await.json();
    assert_eq!(list["Resources"][0]["schemas"], json!([USER]));
}
