//! The DingTalk-like manager guard: a manager cannot be deleted or deactivated while linked.

use emulators::scim::{ManagerGuard, ScimConfig};
use serde_json::json;

use super::client::{
    ENTERPRISE, create, full_user_body, patch_body, start, start_default, user_body,
};

async fn strict() -> (emulators::scim::ScimHandle, super::client::Client) {
    start(ScimConfig {
        manager_guard: ManagerGuard::Strict,
        ..ScimConfig::default()
    })
    .await
}

#[tokio::test]
async fn strict_guard_refuses_until_the_links_are_cleared() {
    let (scim, client) = strict().await;
    let boss = create(&client, &user_body("boss")).await;
    let ann = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", Some(&boss)),
    )
    .await;
    let bob = create(
        &client,
        &full_user_body("bob", "2", "bob@example.com", Some(&boss)),
    )
    .await;
    let boss_path = format!("/Users/{boss}");
    let deactivate = patch_body(json!([{ "op": "replace", "path": "active", "value": false }]));

    let reply = client.delete(&boss_path).await;
    assert_eq!(reply.scim_error(409).as_deref(), Some("mutability"));
    let detail = reply.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&ann) && detail.contains(&bob), "{detail}");
    assert_eq!(
        client
            .patch(&boss_path, &deactivate)
            .await
            .scim_error(409)
            .as_deref(),
        Some("mutability")
    );
    let mut inactive = user_body("boss");
    inactive["active"] = json!(false);
    assert_eq!(
        client
            .put(&boss_path, &inactive)
            .await
            .scim_error(409)
            .as_deref(),
        Some("mutability")
    );
    let boss_now = scim.user(&boss).unwrap();
    assert!(boss_now.active);
    assert_eq!(boss_now.version, 1);
    assert_eq!(scim.counters().conflicts, 3);

    // Other edits of the manager, and deactivating a report, are fine.
    let rename = patch_body(json!([{ "op": "replace", "path": "displayName", "value": "Boss" }]));
    assert_eq!(client.patch(&boss_path, &rename).await.status, 204);
    assert_eq!(
        client
            .patch(&format!("/Users/{ann}"), &deactivate)
            .await
            .status,
        204
    );

    // One link left still blocks.
    let unlink = patch_body(json!([{ "op": "remove", "path": format!("{ENTERPRISE}:manager") }]));
    assert_eq!(
        client.patch(&format!("/Users/{ann}"), &unlink).await.status,
        204
    );
    client.delete(&boss_path).await.scim_error(409);

    let move_to_ann = patch_body(
        json!([{ "op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": { "value": ann } }]),
    );
    assert_eq!(
        client
            .patch(&format!("/Users/{bob}"), &move_to_ann)
            .await
            .status,
        204
    );
    assert_eq!(client.patch(&boss_path, &deactivate).await.status, 204);
    assert_eq!(client.delete(&boss_path).await.status, 204);
    assert!(scim.user(&boss).is_none());
    assert!(scim.dangling_managers().is_empty());
}

#[tokio::test]
async fn a_self_link_does_not_block() {
    let (scim, client) = strict().await;
    let id = create(&client, &user_body("solo")).await;
    let link_self = patch_body(
        json!([{ "op": "add", "path": format!("{ENTERPRISE}:manager"), "value": { "value": id } }]),
    );
    assert_eq!(
        client
            .patch(&format!("/Users/{id}"), &link_self)
            .await
            .status,
        204
    );
    assert_eq!(client.delete(&format!("/Users/{id}")).await.status, 204);
    assert!(scim.users().is_empty());
}

#[tokio::test]
async fn without_the_guard_managers_go_and_links_dangle() {
    let (scim, client) = start_default().await;
    let boss = create(&client, &user_body("boss")).await;
    let ann = create(
        &client,
        &full_user_body("ann", "1", "ann@example.com", Some(&boss)),
    )
    .await;
    let deactivate = patch_body(json!([{ "op": "replace", "path": "active", "value": false }]));
    assert_eq!(
        client
            .patch(&format!("/Users/{boss}"), &deactivate)
            .await
            .status,
        204
    );
    assert_eq!(client.delete(&format!("/Users/{boss}")).await.status, 204);
    assert_eq!(scim.dangling_managers(), [(ann, boss)]);
}
