//! Create, read, replace and delete; uniqueness; strict bodies; the test-side handle.

use emulators::scim::{ScimConfig, ScimUser};
use serde_json::json;

use super::client::{
    ENTERPRISE, USER, create, full_user_body, insert, start, start_default, user_body,
};

#[tokio::test]
async fn create_answers_201_with_location_etag_and_meta() {
    let (scim, client) = start_default().await;
    let manager = create(&client, &user_body("boss")).await;
    let reply = client
        .post(
            "/Users",
            &full_user_body("ann", "wx-ann", "Ann@Example.com", Some(&manager)),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("content-type"), Some("application/scim+json"));
    assert_eq!(reply.header("etag"), Some("W/\"1\""));
    let body = reply.json();
    let id = body["id"].as_str().unwrap();
    let location = format!("{}/Users/{id}", scim.base_url());
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert_eq!(body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(body["userName"], "ann");
    assert_eq!(body["externalId"], "wx-ann");
    assert_eq!(body["active"], true);
    assert_eq!(
        body["emails"],
        json!([{ "value": "Ann@Example.com", "type": "work", "primary": true }])
    );
    assert_eq!(body[ENTERPRISE]["manager"]["value"], manager);
    assert_eq!(
        body[ENTERPRISE]["manager"]["$ref"],
        format!("{}/Users/{manager}", scim.base_url())
    );
    assert_eq!(body[ENTERPRISE]["department"], "R&D");
    let meta = &body["meta"];
    assert_eq!(meta["resourceType"], "User");
    assert_eq!(meta["location"], location);
    assert_eq!(meta["version"], "W/\"1\"");
    assert!(meta["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(meta["created"], meta["lastModified"]);

    let stored = scim.user(id).unwrap();
    assert_eq!(stored.manager_id.as_deref(), Some(manager.as_str()));
    assert_eq!(stored.employee_number.as_deref(), Some("wx-ann"));
    assert_eq!(stored.version, 1);
    assert_eq!(scim.user_by_external_id("wx-ann"), Some(stored));
    assert_eq!(scim.users().len(), 2);
    assert!(scim.dangling_managers().is_empty());

    // A user without extension attributes lists only the core schema.
    assert_eq!(
        client.get(&format!("/Users/{manager}")).await.json()["schemas"],
        json!([USER])
    );
}

#[tokio::test]
async fn user_name_and_email_are_unique_case_insensitively() {
    let (scim, client) = start_default().await;
    create(
        &client,
        &full_user_body("Ann", "1", "ann@example.com", None),
    )
    .await;

    let clash = client.post("/Users", &user_body("aNN")).await;
    assert_eq!(clash.scim_error(409).as_deref(), Some("uniqueness"));
    let clash = client
        .post(
            "/Users",
            &full_user_body("ann2", "2", "ANN@example.COM", None),
        )
        .await;
    assert_eq!(clash.scim_error(409).as_deref(), Some("uniqueness"));
    assert_eq!(scim.users().len(), 1);
    assert_eq!(scim.counters().conflicts, 2);
    assert_eq!(scim.counters().errors, 0);

    // externalId is not unique on the server side, like scim2-server: idempotency is the client's job.
    create(
        &client,
        &full_user_body("ann3", "1", "ann3@example.com", None),
    )
    .await;
    // A user may list the same address twice; only another user's copy clashes.
    let mut body = full_user_body("ann4", "4", "ann4@example.com", None);
    body["emails"] = json!([{ "value": "a4@example.com" }, { "value": "A4@example.com" }]);
    create(&client, &body).await;
}

#[tokio::test]
async fn emails_may_repeat_when_uniqueness_is_off() {
    let (scim, client) = start(ScimConfig {
        unique_emails: false,
        ..ScimConfig::default()
    })
    .await;
    create(
        &client,
        &full_user_body("a", "1", "shared@example.com", None),
    )
    .await;
    create(
        &client,
        &full_user_body("b", "2", "shared@example.com", None),
    )
    .await;
    assert_eq!(scim.users().len(), 2);
    // userName stays unique regardless.
    client.post("/Users", &user_body("A")).await.scim_error(409);
}

#[tokio::test]
async fn bodies_must_follow_the_published_schema() {
    let (scim, client) = start_default().await;
    let cases = [
        (
            json!({ "schemas": [USER], "userName": "a", "nickName": "x" }),
            400,
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", "name": { "givenName": "A" } }),
            400,
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", "emails": [{ "value": "a@e", "kind": "x" }] }),
            400,
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", ENTERPRISE: { "costCenter": "1" } }),
            400,
            "invalidSyntax",
        ),
        (json!({ "userName": "a" }), 400, "invalidSyntax"),
        (
            json!({ "schemas": [USER, "urn:example:custom"], "userName": "a" }),
            400,
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", ENTERPRISE: { "department": "x" } }),
            400,
            "invalidSyntax",
        ),
        (json!({ "schemas": [USER] }), 400, "invalidValue"),
        (
            json!({ "schemas": [USER], "userName": "  " }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": 7 }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", "active": "yes" }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", "emails": "a@e" }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "a", "emails": [{ "value": "a@e", "primary": true }, { "value": "b@e", "primary": true }] }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER, ENTERPRISE], "userName": "a", ENTERPRISE: { "manager": "id" } }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER, ENTERPRISE], "userName": "a", ENTERPRISE: { "manager": { "value": "" } } }),
            400,
            "invalidValue",
        ),
    ];
    for (body, status, scim_type) in cases {
        let reply = client.post("/Users", &body).await;
        assert_eq!(
            reply.scim_error(status).as_deref(),
            Some(scim_type),
            "{body}"
        );
    }

    let reply = client
        .send("POST", "/Users", &[], Some("{\"schemas\": ["))
        .await;
    assert_eq!(reply.scim_error(400).as_deref(), Some("invalidSyntax"));
    let body = user_body("a").to_string();
    let reply = client
        .send(
            "POST",
            "/Users",
            &[("Content-Type", "text/plain")],
            Some(&body),
        )
        .await;
    reply.scim_error(415);
    let reply = client
        .send(
            "POST",
            "/Users",
            &[("Content-Type", "application/json; charset=utf-8")],
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 201);

    // Read-only members are ignored, not refused (RFC 7643 §2.2).
    let body = json!({ "schemas": [USER], "id": "mine", "meta": { "version": "W/\"9\"" }, "userName": "b" });
    let reply = client.post("/Users", &body).await;
    assert_eq!(reply.status, 201);
    assert_ne!(reply.json()["id"], "mine");
    assert_eq!(reply.json()["meta"]["version"], "W/\"1\"");
    assert_eq!(scim.users().len(), 2);
}

#[tokio::test]
async fn get_answers_the_user_or_404() {
    let (_scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    let reply = client.get(&format!("/Users/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("etag"), Some("W/\"1\""));
    assert_eq!(reply.json()["userName"], "ann");

    let reply = client
        .send(
            "GET",
            &format!("/Users/{id}"),
            &[("If-None-Match", "W/\"1\"")],
            None,
        )
        .await;
    assert_eq!(reply.status, 304);
    client.get("/Users/no-such-id").await.scim_error(404);
}

#[tokio::test]
async fn put_replaces_and_honours_if_match() {
    let (scim, client) = start_default().await;
    let id = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", Some("m")),
    )
    .await;
    let path = format!("/Users/{id}");

    // Attributes left out of a PUT are cleared.
    let mut body = user_body("ann.b");
    body["title"] = json!("Engineer");
    let reply = client.put(&path, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("etag"), Some("W/\"2\""));
    let user = scim.user(&id).unwrap();
    assert_eq!(
        user,
        ScimUser {
            id: id.clone(),
            title: Some("Engineer".into()),
            version: 2,
            ..ScimUser::new("ann.b")
        }
    );

    // The same content again changes nothing, so the version stays.
    assert_eq!(
        client.put(&path, &body).await.header("etag"),
        Some("W/\"2\"")
    );

    let stale = client
        .send(
            "PUT",
            &path,
            &[("If-Match", "W/\"1\"")],
            Some(&user_body("stale").to_string()),
        )
        .await;
    stale.scim_error(412);
    assert_eq!(scim.user(&id).unwrap().user_name, "ann.b");
    let current = client
        .send(
            "PUT",
            &path,
            &[("If-Match", "W/\"2\"")],
            Some(&user_body("fresh").to_string()),
        )
        .await;
    assert_eq!(current.status, 200);
    assert_eq!(current.json()["meta"]["version"], "W/\"3\"");

    client
        .put("/Users/missing", &user_body("x"))
        .await
        .scim_error(404);
    create(&client, &user_body("other")).await;
    assert_eq!(
        client
            .put(&path, &user_body("OTHER"))
            .await
            .scim_error(409)
            .as_deref(),
        Some("uniqueness")
    );
    assert_eq!(
        client
            .put(
                &path,
                &json!({ "schemas": [USER], "userName": "x", "nick": 1 })
            )
            .await
            .scim_error(400)
            .as_deref(),
        Some("invalidSyntax")
    );
    assert_eq!(scim.user(&id).unwrap().user_name, "fresh");
}

#[tokio::test]
async fn delete_removes_and_leaves_dangling_links_visible() {
    let (scim, client) = start_default().await;
    let boss = create(&client, &user_body("boss")).await;
    let ann = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", Some(&boss)),
    )
    .await;

    let stale = client
        .send(
            "DELETE",
            &format!("/Users/{boss}"),
            &[("If-Match", "W/\"7\"")],
            None,
        )
        .await;
    stale.scim_error(412);
    let reply = client.delete(&format!("/Users/{boss}")).await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    client.get(&format!("/Users/{boss}")).await.scim_error(404);
    client
        .delete(&format!("/Users/{boss}"))
        .await
        .scim_error(404);
    assert_eq!(scim.dangling_managers(), [(ann.clone(), boss.clone())]);

    // A link to an id that never existed is accepted too, like scim2-server, and reported.
    let carl = create(
        &client,
        &full_user_body("carl", "3", "c@example.com", Some("ghost")),
    )
    .await;
    assert_eq!(
        scim.dangling_managers(),
        [(ann, boss), (carl, "ghost".to_owned())]
    );
}

#[tokio::test]
async fn inserted_users_are_visible_and_block_their_names() {
    let (scim, client) = start_default().await;
    let id = insert(&scim, "Pre.Existing", "ext-9");
    assert_eq!(scim.user_by_external_id("ext-9").unwrap().id, id);
    assert_eq!(scim.user(&id).unwrap().version, 1);
    let reply = client.post("/Users", &user_body("pre.existing")).await;
    assert_eq!(reply.scim_error(409).as_deref(), Some("uniqueness"));
    let found = client.filter("externalId eq \"ext-9\"").await.json();
    assert_eq!(found["Resources"][0]["id"], id);
    // Ids are never reused.
    client.delete(&format!("/Users/{id}")).await;
    assert_ne!(insert(&scim, "again", "ext-9"), id);
}

#[tokio::test]
async fn concurrent_creates_of_one_name_yield_one_user() {
    let (scim, client) = start_default().await;
    let client = std::sync::Arc::new(client);
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.post("/Users", &user_body("race")).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 15);
    assert_eq!(scim.users().len(), 1);
}

#[tokio::test]
async fn counters_count_requests_by_method_and_reset() {
    let (scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    client.get("/Users").await;
    client.put(&format!("/Users/{id}"), &user_body("ann")).await;
    client
        .patch(
            &format!("/Users/{id}"),
            &super::client::patch_body(json!([{"op":"replace","path":"title","value":"x"}])),
        )
        .await;
    client.get("/Users/missing").await;
    client.delete(&format!("/Users/{id}")).await;
    let counters = scim.counters();
    assert_eq!(
        (
            counters.gets,
            counters.posts,
            counters.puts,
            counters.patches,
            counters.deletes
        ),
        (2, 1, 1, 1, 1)
    );
    assert_eq!((counters.conflicts, counters.errors), (0, 1));
    scim.reset_counters();
    assert_eq!(scim.counters(), emulators::scim::ScimCounters::default());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let (scim, client) = start_default().await;
    create(&client, &user_body("ann")).await;
    let authority = scim
        .base_url()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    scim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(authority).await.is_err());
}
