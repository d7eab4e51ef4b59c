//! `/Groups`: create, read, filter, PATCH of members, name and the department extension,
//! uniqueness, members that must be users, deleted users leaving their groups, faults.

use emulators::scim::{GroupHead, ScimFaults, ScimGroup};
use serde_json::{Value, json};

use super::client::{Client, create, encode, patch_body, start_default, user_body};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const DEPARTMENT: &str = "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";

fn group_body(name: &str, external_id: &str) -> Value {
    json!({ "schemas": [GROUP], "displayName": name, "externalId": external_id })
}

async fn create_group(client: &Client, body: &Value) -> String {
    let reply = client.post("/Groups", body).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["id"].as_str().unwrap().to_owned()
}

async fn list(client: &Client, query: &str) -> Value {
    let reply = client.get(&format!("/Groups?{query}")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

fn filter(filter: &str) -> String {
    format!("filter={}", encode(filter))
}

#[tokio::test]
async fn create_read_filter_and_delete() {
    let (scim, client) = start_default().await;
    let ann = create(&client, &user_body("ann")).await;
    let mut body = group_body("Sales", "7");
    body["schemas"] = json!([GROUP, DEPARTMENT]);
    body["members"] = json!([{ "value": ann, "type": "User" }]);
    body[DEPARTMENT] =
        json!({ "head": { "value": ann, "externalId": "k-ann" }, "parentDepartment": "1" });
    let reply = client.post("/Groups", &body).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("etag"), Some("W/\"1\""));
    let created = reply.json();
    let id = created["id"].as_str().unwrap().to_owned();
    let location = format!("{}/Groups/{id}", scim.base_url());
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert_eq!(created["schemas"], json!([GROUP, DEPARTMENT]));
    assert_eq!(created["members"][0]["value"], ann);
    assert_eq!(created["members"][0]["type"], "User");
    assert_eq!(
        created[DEPARTMENT],
        json!({ "head": { "value": ann, "externalId": "k-ann" }, "parentDepartment": "1" })
    );
    assert_eq!(created["meta"]["resourceType"], "Group");
    assert_eq!(
        scim.group(&id).unwrap(),
        ScimGroup {
            id: id.clone(),
            external_id: Some("7".into()),
            members: [ann.clone()].into(),
            head: Some(GroupHead {
                value: ann.clone(),
                external_id: Some("k-ann".into())
            }),
            parent_department: Some("1".into()),
            version: 1,
            ..ScimGroup::new("Sales")
        }
    );
    let other = create_group(&client, &group_body("Support", "8")).await;
    assert_eq!(
        client.get(&format!("/Groups/{other}")).await.json()["schemas"],
        json!([GROUP]),
        "the extension is listed only when set"
    );

    // Lookups: externalId exactly, displayName caselessly, without members when excluded.
    let found = list(&client, &filter(r#"externalId eq "7""#)).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id);
    assert_eq!(
        list(&client, &filter(r#"externalId eq "07""#)).await["totalResults"],
        0
    );
    let found = list(
        &client,
        &format!(
            "{}&excludedAttributes=members",
            filter(r#"displayName eq "SALES""#)
        ),
    )
    .await;
    assert_eq!(found["Resources"][0]["id"], id);
    assert_eq!(found["Resources"][0]["members"], Value::Null);
    assert_eq!(found["Resources"][0]["displayName"], "Sales");
    let found = list(&client, &filter(&format!(r#"members.value eq "{ann}""#))).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(list(&client, "").await["totalResults"], 2);
    let only = client
        .get(&format!("/Groups/{id}?attributes=members"))
        .await
        .json();
    assert_eq!(only["displayName"], Value::Null);
    assert_eq!(only["members"][0]["value"], ann);
    let bad = client
        .get(&format!("/Groups?{}", filter(r#"displayName co "a""#)))
        .await;
    assert_eq!(bad.scim_error(400).as_deref(), Some("invalidFilter"));

    assert_eq!(client.delete(&format!("/Groups/{id}")).await.status, 204);
    client
        .delete(&format!("/Groups/{id}"))
        .await
        .scim_error(404);
    client.get(&format!("/Groups/{id}")).await.scim_error(404);
    assert_eq!(scim.groups().len(), 1);
}

#[tokio::test]
async fn names_are_unique_and_members_must_be_users() {
    let (scim, client) = start_default().await;
    let id = create_group(&client, &group_body("Sales", "7")).await;
    let clash = client.post("/Groups", &group_body("sALES", "9")).await;
    assert_eq!(clash.scim_error(409).as_deref(), Some("uniqueness"));
    let other = create_group(&client, &group_body("Support", "8")).await;
    let rename = patch_body(json!([{ "op": "replace", "path": "displayName", "value": "SALES" }]));
    let clash = client.patch(&format!("/Groups/{other}"), &rename).await;
    assert_eq!(clash.scim_error(409).as_deref(), Some("uniqueness"));
    let mut stranger = group_body("Ops", "10");
    stranger["members"] = json!([{ "value": "no-such-user" }]);
    client.post("/Groups", &stranger).await.scim_error(400);
    let add =
        patch_body(json!([{ "op": "add", "path": "members", "value": [{ "value": "nobody" }] }]));
    client
        .patch(&format!("/Groups/{id}"), &add)
        .await
        .scim_error(400);
    let mut unknown = group_body("Ops", "10");
    unknown["owners"] = json!([]);
    client.post("/Groups", &unknown).await.scim_error(400);
    let mut unlisted = group_body("Ops", "10");
    unlisted[DEPARTMENT] = json!({ "parentDepartment": "1" });
    client.post("/Groups", &unlisted).await.scim_error(400);
    assert_eq!(scim.groups().len(), 2);
}

#[tokio::test]
async fn patch_adds_and_removes_members_and_sets_the_extension() {
    let (scim, client) = start_default().await;
    let ann = create(&client, &user_body("ann")).await;
    let bob = create(&client, &user_body("bob")).await;
    let id = create_group(&client, &group_body("Sales", "7")).await;
    let path = format!("/Groups/{id}");
    let add = patch_body(json!([{ "op": "add", "path": "members",
        "value": [{ "value": ann }, { "value": bob }] }]));
    assert_eq!(client.patch(&path, &add).await.status, 204);
    assert_eq!(scim.group(&id).unwrap().members.len(), 2);
    // Adding members already there changes nothing, not even the version.
    let again = client.patch(&path, &add).await;
    assert_eq!((again.status, again.header("etag")), (204, Some("W/\"2\"")));

    let remove_ann =
        patch_body(json!([{ "op": "remove", "path": format!("members[value eq \"{ann}\"]") }]));
    assert_eq!(client.patch(&path, &remove_ann).await.status, 204);
    assert_eq!(scim.group(&id).unwrap().members, [bob.clone()].into());
    // A member that is not there is no target; nothing of the request is applied.
    let both = patch_body(json!([
        { "op": "remove", "path": format!("members[value eq \"{bob}\"]") },
        { "op": "remove", "path": format!("members[value eq \"{ann}\"]") }
    ]));
    let missing = client.patch(&path, &both).await;
    assert_eq!(missing.scim_error(400).as_deref(), Some("noTarget"));
    assert_eq!(scim.group(&id).unwrap().members, [bob.clone()].into());

    let extension = patch_body(json!([
        { "op": "replace", "path": "displayName", "value": "Sales EU" },
        { "op": "replace", "path": format!("{DEPARTMENT}:head"), "value": { "value": bob, "externalId": "k-bob" } },
        { "op": "replace", "path": format!("{DEPARTMENT}:parentDepartment"), "value": "1" }
    ]));
    let reply = client
        .send(
            "PATCH",
            &format!("{path}?excludedAttributes=members"),
            &[],
            Some(&extension.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["schemas"], json!([GROUP, DEPARTMENT]));
    assert_eq!(body["displayName"], "Sales EU");
    assert_eq!(body[DEPARTMENT]["head"]["value"], bob);
    let clear = patch_body(json!([
        { "op": "remove", "path": format!("{DEPARTMENT}:head") },
        { "op": "remove", "path": format!("{DEPARTMENT}:parentDepartment") }
    ]));
    assert_eq!(client.patch(&path, &clear).await.status, 204);
    let group = scim.group(&id).unwrap();
    assert_eq!((group.head, group.parent_department), (None, None));
    assert_eq!(client.get(&path).await.json()["schemas"], json!([GROUP]));
    let head_stranger = patch_body(
        json!([{ "op": "replace", "path": format!("{DEPARTMENT}:head"),
        "value": { "value": "nobody" } }]),
    );
    client.patch(&path, &head_stranger).await.scim_error(400);
}

#[tokio::test]
async fn a_deleted_user_leaves_every_group() {
    let (scim, client) = start_default().await;
    let ann = create(&client, &user_body("ann")).await;
    let bob = create(&client, &user_body("bob")).await;
    let mut body = group_body("Sales", "7");
    body["schemas"] = json!([GROUP, DEPARTMENT]);
    body["members"] = json!([{ "value": ann }, { "value": bob }]);
    body[DEPARTMENT] = json!({ "head": { "value": ann } });
    let id = create_group(&client, &body).await;
    // A user lists the groups they are in (read-only: a PUT of what was read ignores it, a
    // PATCH of it is refused).
    let read = client.get(&format!("/Users/{bob}")).await.json();
    assert_eq!(read["groups"][0]["value"], id);
    assert_eq!(read["groups"][0]["display"], "Sales");
    assert_eq!(read["groups"][0]["type"], "direct");
    assert_eq!(
        client.put(&format!("/Users/{bob}"), &read).await.status,
        200
    );
    let write_groups =
        patch_body(json!([{ "op": "add", "path": "groups", "value": [{ "value": id }] }]));
    let refused = client.patch(&format!("/Users/{bob}"), &write_groups).await;
    assert_eq!(refused.scim_error(400).as_deref(), Some("mutability"));
    assert_eq!(client.delete(&format!("/Users/{ann}")).await.status, 204);
    let group = scim.group(&id).unwrap();
    assert_eq!(group.members, [bob].into());
    assert_eq!(group.head, None);
    assert_eq!(group.version, 2);
}

#[tokio::test]
async fn faults_apply_to_group_writes() {
    let (scim, client) = start_default().await;
    let id = create_group(&client, &group_body("Sales", "7")).await;
    scim.set_faults(ScimFaults {
        http_5xx_every: Some(1),
        ..ScimFaults::default()
    });
    client
        .post("/Groups", &group_body("Support", "8"))
        .await
        .scim_error(500);
    let rename = patch_body(json!([{ "op": "replace", "path": "displayName", "value": "X" }]));
    client
        .patch(&format!("/Groups/{id}"), &rename)
        .await
        .scim_error(502);
    client
        .delete(&format!("/Groups/{id}"))
        .await
        .scim_error(503);
    assert_eq!(scim.groups().len(), 1);
    assert_eq!(scim.groups()[0].display_name, "Sales");
    assert_eq!(client.get(&format!("/Groups/{id}")).await.status, 200);
}
