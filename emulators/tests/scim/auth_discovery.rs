//! Authentication on every path, and the discovery endpoints.

use emulators::scim::ScimConfig;
use serde_json::json;

use super::client::{ENTERPRISE, USER, start, start_default, user_body};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const DEPARTMENT: &str = "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";

#[tokio::test]
async fn every_path_needs_the_bearer_token() {
    let (scim, client) = start_default().await;
    let anonymous = super::client::Client::new(&scim).with_token(None);
    let wrong = super::client::Client::new(&scim).with_token(Some("guess"));

    for path in ["/ServiceProviderConfig", "/Users", "/Users/x", "/Nowhere"] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.scim_error(401), None, "{path}");
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer"))
        );
        wrong.get(path).await.scim_error(401);
    }
    // Writes are refused before they reach the store.
    anonymous
        .post("/Users", &user_body("ann"))
        .await
        .scim_error(401);
    assert!(scim.users().is_empty());

    // Another scheme carrying the right token is still refused.
    let basic = format!("Basic {}", scim.bearer_token());
    let reply = anonymous
        .send("GET", "/Users", &[("Authorization", &basic)], None)
        .await;
    reply.scim_error(401);

    // The scheme name is case-insensitive (RFC 7235 §2.1).
    let lower = format!("bearer {}", scim.bearer_token());
    let reply = anonymous
        .send("GET", "/Users", &[("Authorization", &lower)], None)
        .await;
    assert_eq!(reply.status, 200);

    client.get("/Nowhere").await.scim_error(404);
    assert_eq!(client.get("/ServiceProviderConfig").await.status, 200);
    assert!(scim.counters().errors >= 10);
}

#[tokio::test]
async fn a_custom_token_replaces_the_default() {
    let (scim, client) = start(ScimConfig {
        bearer_token: "s3cret".into(),
        ..ScimConfig::default()
    })
    .await;
    assert_eq!(client.get("/Users").await.status, 200);
    let default = super::client::Client::new(&scim).with_token(Some("scim-emulated-token"));
    default.get("/Users").await.scim_error(401);
    assert!(!format!("{:?}", ScimConfig::default()).contains("scim-emulated-token"));
}

#[tokio::test]
async fn discovery_states_the_real_capabilities() {
    let (_scim, client) = start(ScimConfig {
        max_page_size: 50,
        ..ScimConfig::default()
    })
    .await;

    let reply = client.get("/ServiceProviderConfig").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/scim+json"));
    let config = reply.json();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(
        config["filter"],
        json!({ "supported": true, "maxResults": 50 })
    );
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["sort"]["supported"], false);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let schemas = client.get("/Schemas").await.json();
    assert_eq!(schemas["totalResults"], 4);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|schema| schema["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, ENTERPRISE, GROUP, DEPARTMENT]);
    let enterprise = client.get(&format!("/Schemas/{ENTERPRISE}")).await.json();
    let names: Vec<&str> = enterprise["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attr| attr["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["employeeNumber", "department", "manager"]);
    client.get("/Schemas/urn:nope").await.scim_error(404);

    let types = client.get("/ResourceTypes").await.json();
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    assert_eq!(
        client.get("/ResourceTypes/User").await.json()["schema"],
        USER
    );
    let group = client.get("/ResourceTypes/Group").await.json();
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schemaExtensions"][0]["schema"], DEPARTMENT);
    let department = client.get(&format!("/Schemas/{DEPARTMENT}")).await.json();
    let names: Vec<&str> = department["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attr| attr["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["head", "parentDepartment"]);
    client.get("/ResourceTypes/Nope").await.scim_error(404);
}
