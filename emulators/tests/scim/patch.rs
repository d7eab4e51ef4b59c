//! PATCH: every supported form, 204 answers, atomicity and preconditions.

use serde_json::json;

use super::client::{ENTERPRISE, create, full_user_body, patch_body, start_default, user_body};

#[tokio::test]
async fn each_path_form_updates_the_user() {
    let (scim, client) = start_default().await;
    let boss = create(&client, &user_body("boss")).await;
    let id = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", None),
    )
    .await;
    let path = format!("/Users/{id}");

    let reply = client
        .patch(
            &path,
            &patch_body(json!([
                { "op": "Replace", "path": "active", "value": false },
                { "op": "replace", "path": "userName", "value": "ann.a" },
                { "op": "replace", "path": "displayName", "value": "Ann A" },
                { "op": "replace", "path": "name.formatted", "value": "Ann Anders" },
                { "op": "add", "path": "title", "value": "Lead" },
                { "op": "add", "path": "emails", "value": [{ "value": "aa@example.com", "type": "work" }] },
                { "op": "replace", "path": "phoneNumbers", "value": [{ "value": "+86 10 1234", "type": "work" }] },
                { "op": "replace", "path": "externalId", "value": "2" },
                { "op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": { "value": boss } },
                { "op": "replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "E-2" },
                { "op": "REPLACE", "path": format!("{ENTERPRISE}:department"), "value": "Sales" },
            ])),
        )
        .await;
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("etag"), Some("W/\"2\""));

    let user = scim.user(&id).unwrap();
    assert!(!user.active);
    assert_eq!(user.user_name, "ann.a");
    assert_eq!(user.display_name.as_deref(), Some("Ann A"));
    assert_eq!(user.formatted_name.as_deref(), Some("Ann Anders"));
    assert_eq!(user.title.as_deref(), Some("Lead"));
    assert_eq!(user.emails, ["ann@example.com", "aa@example.com"]);
    assert_eq!(user.phone_numbers, ["+86 10 1234"]);
    assert_eq!(user.external_id.as_deref(), Some("2"));
    assert_eq!(user.manager_id.as_deref(), Some(boss.as_str()));
    assert_eq!(user.employee_number.as_deref(), Some("E-2"));
    assert_eq!(user.department.as_deref(), Some("Sales"));
    assert_eq!(user.version, 2);

    let reply = client
        .patch(
            &path,
            &patch_body(json!([
                { "op": "remove", "path": format!("{ENTERPRISE}:manager") },
                { "op": "remove", "path": "title" },
                { "op": "remove", "path": "phoneNumbers" },
                { "op": "add", "path": "emails", "value": [{ "value": "new@example.com", "primary": true }] },
            ])),
        )
        .await;
    assert_eq!(reply.status, 204);
    let user = scim.user(&id).unwrap();
    assert_eq!(user.manager_id, None);
    assert_eq!(user.title, None);
    assert!(user.phone_numbers.is_empty());
    assert_eq!(
        user.emails,
        ["new@example.com", "ann@example.com", "aa@example.com"]
    );
    let rendered = client.get(&path).await.json();
    assert_eq!(
        rendered["emails"][0],
        json!({ "value": "new@example.com", "type": "work", "primary": true })
    );
    assert_eq!(rendered[ENTERPRISE].get("manager"), None);
}

#[tokio::test]
async fn a_value_object_without_path_is_merged() {
    let (scim, client) = start_default().await;
    let boss = create(&client, &user_body("boss")).await;
    let id = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", None),
    )
    .await;
    let reply = client
        .patch(
            &format!("/Users/{id}"),
            &patch_body(json!([{
                "op": "replace",
                "value": {
                    "displayName": "Ann",
                    "active": false,
                    "name": { "formatted": "Ann B" },
                    ENTERPRISE: { "manager": { "value": boss }, "department": "Ops" },
                }
            }])),
        )
        .await;
    assert_eq!(reply.status, 204);
    let user = scim.user(&id).unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Ann"));
    assert!(!user.active);
    assert_eq!(user.formatted_name.as_deref(), Some("Ann B"));
    assert_eq!(user.manager_id.as_deref(), Some(boss.as_str()));
    assert_eq!(user.department.as_deref(), Some("Ops"));
    // Members not named are left alone (RFC 7644 §3.5.2.3).
    assert_eq!(user.employee_number.as_deref(), Some("1"));
    assert_eq!(user.emails, ["ann@example.com"]);

    // manager.value as a path takes a plain id.
    let reply = client
        .patch(
            &format!("/Users/{id}"),
            &patch_body(json!([{ "op": "replace", "path": format!("{ENTERPRISE}:manager.value"), "value": "other" }])),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(scim.user(&id).unwrap().manager_id.as_deref(), Some("other"));
}

#[tokio::test]
async fn attributes_parameter_asks_for_the_resource() {
    let (_scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    let reply = client
        .patch(
            &format!("/Users/{id}?attributes=title"),
            &patch_body(json!([{ "op": "add", "path": "title", "value": "Dr" }])),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("etag"), Some("W/\"2\""));
    assert_eq!(reply.json()["title"], "Dr");
}

#[tokio::test]
async fn a_failing_operation_applies_nothing() {
    let (scim, client) = start_default().await;
    create(
        &client,
        &full_user_body("taken", "9", "taken@example.com", None),
    )
    .await;
    let id = create(&client, &user_body("ann")).await;
    let path = format!("/Users/{id}");
    let before = scim.user(&id).unwrap();

    let cases = [
        (
            json!([{ "op": "replace", "path": "title", "value": "x" }, { "op": "replace", "path": "nickName", "value": "y" }]),
            400,
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "title", "value": "x" }, { "op": "remove", "path": "userName" }]),
            400,
            "mutability",
        ),
        (
            json!([{ "op": "replace", "path": "title", "value": "x" }, { "op": "replace", "path": "userName", "value": "TAKEN" }]),
            409,
            "uniqueness",
        ),
        (
            json!([{ "op": "add", "path": "emails", "value": [{ "value": "Taken@example.com" }] }]),
            409,
            "uniqueness",
        ),
        (
            json!([{ "op": "move", "path": "title", "value": "x" }]),
            400,
            "invalidSyntax",
        ),
        (json!([{ "op": "remove" }]), 400, "noTarget"),
        (
            json!([{ "op": "replace", "path": "id", "value": "x" }]),
            400,
            "mutability",
        ),
        // A value filter that matches no entry (RFC 7644 §3.5.2.3).
        (
            json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "x" }]),
            400,
            "noTarget",
        ),
        // A filter on anything but the type is beyond this service provider.
        (
            json!([{ "op": "replace", "path": "emails[value eq \"a\"].value", "value": "x" }]),
            400,
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "value": { "title": "x", "nickName": "y" } }]),
            400,
            "invalidSyntax",
        ),
        (json!([]), 400, "invalidSyntax"),
    ];
    for (operations, status, scim_type) in cases {
        let reply = client.patch(&path, &patch_body(operations.clone())).await;
        assert_eq!(
            reply.scim_error(status).as_deref(),
            Some(scim_type),
            "{operations}"
        );
        assert_eq!(scim.user(&id).unwrap(), before, "{operations}");
    }
    let wrong_schema =
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [] });
    client.patch(&path, &wrong_schema).await.scim_error(400);
    client
        .patch(
            "/Users/missing",
            &patch_body(json!([{ "op": "remove", "path": "title" }])),
        )
        .await
        .scim_error(404);
}

#[tokio::test]
async fn if_match_guards_patch_and_no_op_keeps_the_version() {
    let (scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    let path = format!("/Users/{id}");
    let body = patch_body(json!([{ "op": "replace", "path": "title", "value": "x" }])).to_string();

    let stale = client
        .send("PATCH", &path, &[("If-Match", "W/\"0\"")], Some(&body))
        .await;
    stale.scim_error(412);
    assert_eq!(scim.user(&id).unwrap().title, None);

    let ok = client
        .send("PATCH", &path, &[("If-Match", "W/\"1\"")], Some(&body))
        .await;
    assert_eq!((ok.status, ok.header("etag")), (204, Some("W/\"2\"")));
    let again = client
        .send("PATCH", &path, &[("If-Match", "*")], Some(&body))
        .await;
    assert_eq!((again.status, again.header("etag")), (204, Some("W/\"2\"")));
    assert_eq!(scim.user(&id).unwrap().version, 2);
}
