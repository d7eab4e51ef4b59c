//! Injected faults: refused writes are not applied; stalled writes are.

use std::time::Duration;

use emulators::scim::ScimFaults;
use serde_json::json;

use super::client::{create, patch_body, start_default, user_body};

#[tokio::test]
async fn server_errors_rotate_and_apply_nothing() {
    let (scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    scim.set_faults(ScimFaults {
        http_5xx_every: Some(1),
        ..ScimFaults::default()
    });
    let path = format!("/Users/{id}");
    let title = patch_body(json!([{ "op": "add", "path": "title", "value": "x" }]));

    client
        .post("/Users", &user_body("bob"))
        .await
        .scim_error(500);
    client.put(&path, &user_body("ann2")).await.scim_error(502);
    client.patch(&path, &title).await.scim_error(503);
    client.delete(&path).await.scim_error(500);
    let users = scim.users();
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].user_name.as_str(), users[0].version), ("ann", 1));

    // Reads are not write requests: they pass.
    assert_eq!(client.get(&path).await.status, 200);
    assert_eq!(scim.counters().errors, 4);

    scim.set_faults(ScimFaults::default());
    assert_eq!(client.patch(&path, &title).await.status, 204);
}

#[tokio::test]
async fn every_nth_write_is_throttled_with_retry_after() {
    let (scim, client) = start_default().await;
    scim.set_faults(ScimFaults {
        status_429_every: Some(2),
        ..ScimFaults::default()
    });
    assert_eq!(client.post("/Users", &user_body("a")).await.status, 201);
    let throttled = client.post("/Users", &user_body("b")).await;
    throttled.scim_error(429);
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(client.post("/Users", &user_body("c")).await.status, 201);
    let names: Vec<String> = scim
        .users()
        .into_iter()
        .map(|user| user.user_name)
        .collect();
    assert_eq!(names, ["a", "c"]);
    // The retry of the refused write goes through.
    client.post("/Users", &user_body("b")).await.scim_error(429);
    assert_eq!(client.post("/Users", &user_body("b")).await.status, 201);
}

#[tokio::test]
async fn apply_then_timeout_applies_the_write_but_answers_too_late() {
    let (scim, client) = start_default().await;
    scim.set_faults(ScimFaults {
        apply_then_timeout_every: Some(1),
        delay_after_apply: Duration::from_secs(3),
        ..ScimFaults::default()
    });
    let body = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann", "externalId": "e1" });
    let answer = client
        .send_within(Duration::from_millis(500), "POST", "/Users", &body)
        .await;
    assert!(answer.is_none(), "the answer should come too late");
    // The write happened: a retry hits uniqueness, and adoption by externalId finds the user.
    let adopted = scim.user_by_external_id("e1").expect("applied");
    scim.set_faults(ScimFaults::default());
    assert_eq!(
        client
            .post("/Users", &body)
            .await
            .scim_error(409)
            .as_deref(),
        Some("uniqueness")
    );
    assert_eq!(
        client.filter("externalId eq \"e1\"").await.json()["Resources"][0]["id"],
        adopted.id
    );
}

#[tokio::test]
async fn delay_slows_every_request() {
    let (scim, client) = start_default().await;
    scim.set_faults(ScimFaults {
        delay: Duration::from_millis(300),
        ..ScimFaults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(client.get("/Users").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let late = client
        .send_within(
            Duration::from_millis(100),
            "POST",
            "/Users",
            &user_body("a"),
        )
        .await;
    assert!(late.is_none());
}
