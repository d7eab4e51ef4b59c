//! Hostile input never crashes the emulator: it answers 4xx and keeps serving.

use serde_json::json;

use super::client::{create, encode, start_default, user_body};

#[tokio::test]
async fn hostile_requests_get_client_errors() {
    let (scim, client) = start_default().await;
    let id = create(&client, &user_body("ann")).await;
    let path = format!("/Users/{id}");
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_filter = format!("{}userName pr{}", "(".repeat(5_000), ")".repeat(5_000));
    let bodies = [
        "",
        "null",
        "\"text\"",
        "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"\\ud800\"}",
        &deep_json,
        "{\"schemas\":[1],\"userName\":\"x\"}",
        "{\"schemas\":\"urn:ietf:params:scim:schemas:core:2.0:User\",\"userName\":\"x\"}",
    ];
    for body in bodies {
        for (method, target) in [
            ("POST", "/Users"),
            ("PUT", path.as_str()),
            ("PATCH", path.as_str()),
        ] {
            let reply = client.send(method, target, &[], Some(body)).await;
            assert_eq!(
                reply.status,
                400,
                "{method} {}",
                &body[..body.len().min(40)]
            );
        }
    }
    let gets = [
        format!("/Users?filter={}", encode(&deep_filter)),
        "/Users?filter=%FF%FE".to_owned(),
        "/Users/%FF".to_owned(),
        "/Users?startIndex=-99999999999".to_owned(),
        format!("/Users?filter={}", encode("userName eq \"\u{0}\"")),
    ];
    for target in gets {
        let reply = client.get(&target).await;
        assert!(
            (200..500).contains(&reply.status),
            "{target}: {}",
            reply.status
        );
    }
    let reply = client.send("POST", "/Users/x", &[], Some("{}")).await;
    reply.scim_error(405);
    let reply = client
        .send(
            "PUT",
            &path,
            &[("If-Match", "W/\"1\"\u{7f}")],
            Some(&user_body("b").to_string()),
        )
        .await;
    assert!(matches!(reply.status, 400 | 412), "{}", reply.status);

    assert_eq!(scim.user(&id).unwrap().user_name, "ann");
    assert_eq!(client.get(&path).await.json()["userName"], json!("ann"));
}
