//! The Bitrix24 emulator's protocol over real HTTP, as `shared/upstream-apis/bitrix24.md` describes
//! it: paths, envelopes, paging, batch, errors, OAuth refresh and faults.

mod common;

use common::{department, person};
use emulators::bitrix24::{self, Bitrix24Config, Bitrix24Handle};
use emulators::faults::Faults;
use emulators::fixture::{Org, Scope, Status};
use serde_json::{Value, json};
use std::time::Duration;

/// 1 (head "3") ─ 5 (head "zoe"); "3", "zoe" (in 5 and 1, main 5), a dismissed "31", an extranet "40".
fn org() -> Org {
    let mut users = vec![
        person("3", "Clara Chief", &[1], None),
        person("zoe", "Zoë Müller", &[1, 5], None),
        person("31", "Mark Olsen", &[5], None),
        person("40", "Gus Guest", &[5], None),
    ];
    users[1].main_department = Some(5);
    users[2].status = Status::Disabled;
    users[3].extranet = true;
    Org {
        departments: vec![
            department(1, None, "Northwind Ltd", &["3"]),
            department(5, Some(1), "Engineering", &["zoe", "3"]),
        ],
        users,
        scope: Scope::default(),
        sensitive_fields: true,
    }
}

async fn start(config: Bitrix24Config) -> Bitrix24Handle {
    bitrix24::start(org(), config).await.unwrap()
}

struct Reply {
    status: u16,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body }
}

async fn get(url: String) -> Reply {
    send(reqwest::Client::new().get(url)).await
}

async fn post_json(url: String, body: Value) -> Reply {
    send(reqwest::Client::new().post(url).json(&body)).await
}

fn error(reply: &Reply) -> (u16, &str) {
    (
        reply.status,
        reply.body["error"].as_str().unwrap_or("<none>"),
    )
}

#[tokio::test]
async fn webhook_paths_answer_rows_in_id_order_with_the_documented_fields() {
    let portal = start(Bitrix24Config::default()).await;
    let zoe = portal.user_id("zoe").unwrap();
    for suffix in ["user.get", "user.get.json"] {
        let url = format!("{}{suffix}?sort=ID&order=ASC", portal.base_url());
        let reply = get(url).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["total"], 4);
        assert!(reply.body.get("next").is_none(), "one page only");
        assert!(reply.body["time"]["operating_reset_at"].is_i64());
        let ids: Vec<&str> = reply.body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["ID"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["3", "31", "40", zoe.as_str()], "ID ascending");
    }
    let users = get(format!("{}user.get", portal.base_url())).await.body["result"].clone();
    let by_id = |id: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["ID"] == id)
            .unwrap()
            .clone()
    };
    let zoe_row = by_id(&zoe);
    assert_eq!(
        (&zoe_row["NAME"], &zoe_row["LAST_NAME"], &zoe_row["ACTIVE"]),
        (&json!("Zoë"), &json!("Müller"), &json!(true))
    );
    assert_eq!(
        zoe_row["UF_DEPARTMENT"],
        json!([5, 1]),
        "main department first"
    );
    assert_eq!(zoe_row["USER_TYPE"], "employee");
    assert_eq!(zoe_row["EMAIL"], "zoe@example.cn");
    assert!(zoe_row.get("manager").is_none() && zoe_row.get("UF_HEAD").is_none());
    assert_eq!(by_id("31")["ACTIVE"], false, "disabled → dismissed");
    let guest = by_id("40");
    assert_eq!(guest["USER_TYPE"], "extranet");
    assert!(
        guest.get("UF_DEPARTMENT").is_none(),
        "extranet users have no departments"
    );

    let departments = get(format!("{}department.get", portal.base_url()))
        .await
        .body;
    assert_eq!(
        departments["result"],
        json!([
            {"ID": "1", "NAME": "Northwind Ltd", "SORT": 1, "UF_HEAD": "3"},
            {"ID": "5", "NAME": "Engineering", "SORT": 5, "PARENT": "1", "UF_HEAD": zoe},
        ]),
        "the root has no PARENT; UF_HEAD is the first leader"
    );
    assert_eq!(portal.calls("user.get"), 3);
    assert_eq!(portal.calls("department.get"), 1);
}

#[tokio::test]
async fn paging_by_start_and_without_it() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 120,
        departments: 3,
        ..Default::default()
    });
    let portal = bitrix24::start(org, Bitrix24Config::default())
        .await
        .unwrap();
    let page = |query: &str| {
        let url = format!("{}user.get?{query}", portal.base_url());
        async move { get(url).await.body }
    };
    let first = page("").await;
    assert_eq!(
        (first["total"].clone(), first["next"].clone()),
        (json!(120), json!(50))
    );
    assert_eq!(
        page("").await["result"],
        first["result"],
        "no start: the first page again"
    );
    let last = page("start=100").await;
    assert_eq!(last["result"].as_array().unwrap().len(), 20);
    assert!(last.get("next").is_none());
    // JSON body and form body work like the query string.
    let by_json = post_json(
        format!("{}user.get", portal.base_url()),
        json!({"start": 100}),
    )
    .await;
    assert_eq!(by_json.body["result"], last["result"]);
    let uncounted = page("start=-1").await;
    assert!(uncounted.get("total").is_none() && uncounted.get("next").is_none());
    assert_eq!(
        portal.page_requests(),
        [None, None, Some(100), Some(100), Some(-1)].map(|start| ("user.get".to_owned(), start))
    );
}

#[tokio::test]
async fn batch_runs_commands_in_order_and_reports_each_outcome() {
    let portal = start(Bitrix24Config::default()).await;
    let reply = post_json(
        format!("{}batch", portal.base_url()),
        json!({"halt": 0, "cmd": {
            "u": "user.get?start=0",
            "d": "department.get.json?start=0",
            "nested": "batch?cmd[x]=user.get",
            "gone": "no.such.method",
        }}),
    )
    .await;
    assert_eq!(reply.status, 200);
    let result = &reply.body["result"];
    assert_eq!(result["result"]["u"].as_array().unwrap().len(), 4);
    assert_eq!(result["result_total"], json!({"u": 4, "d": 2}));
    assert_eq!(result["result_next"], json!([]), "PHP's empty map");
    assert_eq!(
        result["result_error"]["nested"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
    assert_eq!(
        result["result_error"]["gone"]["error"],
        "ERROR_METHOD_NOT_FOUND"
    );
    assert_eq!(portal.calls("batch"), 1);
    assert_eq!(
        (
            portal.batched_calls("user.get"),
            portal.batched_calls("department.get")
        ),
        (1, 1)
    );
    let ordered: Vec<Option<i64>> = portal.page_requests().into_iter().map(|(_, s)| s).collect();
    assert_eq!(ordered, [Some(0), Some(0)]);

    // halt=1 stops at the first failure; form-encoded commands run in the order sent.
    let form = "halt=1&cmd[a]=department.get&cmd[b]=nope&cmd[c]=user.get";
    let reply = send(
        reqwest::Client::new()
            .post(format!("{}batch", portal.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    let result = &reply.body["result"];
    assert!(result["result"]["a"].is_array());
    assert_eq!(
        result["result_error"]["b"]["error"],
        "ERROR_METHOD_NOT_FOUND"
    );
    assert!(result["result"].get("c").is_none(), "halted");

    let too_many: serde_json::Map<String, Value> = (0..51)
        .map(|i| (format!("c{i}"), json!("user.get")))
        .collect();
    let reply = post_json(
        format!("{}batch", portal.base_url()),
        json!({"cmd": too_many}),
    )
    .await;
    assert_eq!(error(&reply), (400, "ERROR_BATCH_LENGTH_EXCEEDED"));
}

#[tokio::test]
async fn errors_for_wrong_codes_unknown_methods_and_missing_scopes() {
    let portal = start(Bitrix24Config {
        scopes: vec!["department".into()],
        ..Bitrix24Config::default()
    })
    .await;
    let wrong = format!("{}/rest/1/wrong-code/user.get", portal.portal_url());
    assert_eq!(error(&get(wrong).await), (401, "NO_AUTH_FOUND"));
    let other_user = format!(
        "{}/rest/2/{}/user.get",
        portal.portal_url(),
        portal.config().webhook_code
    );
    assert_eq!(error(&get(other_user).await), (401, "NO_AUTH_FOUND"));
    let unknown = format!("{}no.such.method", portal.base_url());
    assert_eq!(error(&get(unknown).await), (404, "ERROR_METHOD_NOT_FOUND"));
    let rest3 = format!(
        "{}/rest/api/1/code/humanresources.node.list",
        portal.portal_url()
    );
    assert_eq!(error(&get(rest3).await), (404, "ERROR_METHOD_NOT_FOUND"));
    let scope = format!("{}user.get", portal.base_url());
    assert_eq!(error(&get(scope).await), (401, "insufficient_scope"));
    assert_eq!(
        get(format!("{}department.get", portal.base_url()))
            .await
            .status,
        200
    );
}

/// Without both `sort` and `order`, pages of one listing come in orders of their own: read by
/// `start`, they repeat some people and miss others. With both, `ID` order.
#[tokio::test]
async fn pages_are_unordered_unless_sort_and_order_are_both_sent() {
    let org = emulators::generator::generate(&emulators::generator::GeneratorConfig {
        people: 120,
        departments: 3,
        ..Default::default()
    });
    let portal = bitrix24::start(org, Bitrix24Config::default())
        .await
        .unwrap();
    let ids = |query: String| {
        let url = format!("{}user.get?{query}", portal.base_url());
        async move {
            get(url).await.body["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["ID"].as_str().unwrap().parse::<u64>().unwrap())
                .collect::<Vec<u64>>()
        }
    };
    for order in ["", "sort=ID&", "order=ASC&"] {
        let mut seen = Vec::new();
        for start in [0, 50, 100] {
            seen.extend(ids(format!("{order}start={start}")).await);
        }
        assert_eq!(seen.len(), 120);
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() < 120, "{order:?}: pages covered everyone");
    }
    let mut sorted = Vec::new();
    for start in [0, 50, 100] {
        sorted.extend(ids(format!("sort=ID&order=ASC&start={start}")).await);
    }
    assert!(sorted.windows(2).all(|w| w[0] < w[1]) && sorted.len() == 120);
    let descending = ids("SORT=ID&ORDER=DESC".into()).await;
    assert_eq!(descending[0], *sorted.last().unwrap());
}

/// An invitee is `ACTIVE` with no `LAST_LOGIN`; only `user.search`'s `CONFIRM_CODE` filter
/// tells them apart (`user.get` drops that filter), unless the portal predates it.
#[tokio::test]
async fn invitees_show_only_through_user_search_by_confirm_code() {
    let mut org = org();
    org.users[0].status = Status::NotActivated;
    let invitee = |config: Bitrix24Config| {
        let org = org.clone();
        async move {
            let portal = bitrix24::start(org, config).await.unwrap();
            let list = |query: &str| {
                let url = format!("{}{query}", portal.base_url());
                async move {
                    let body = get(url).await.body;
                    let ids: Vec<String> = body["result"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|u| u["ID"].as_str().unwrap().to_owned())
                        .collect();
                    (body["total"].as_u64().unwrap(), ids)
                }
            };
            let everyone = list("user.get?sort=ID&order=ASC").await;
            let row = get(format!("{}user.get?FILTER[ID]=3", portal.base_url())).await;
            let pending = list("user.search?FILTER[!CONFIRM_CODE]=0&sort=ID&order=ASC").await;
            let accepted = list("user.search?FILTER[CONFIRM_CODE]=0&sort=ID&order=ASC").await;
            let by_get = list("user.get?FILTER[!CONFIRM_CODE]=0&sort=ID&order=ASC").await;
            (everyone, row.body, pending, accepted, by_get)
        }
    };
    let (everyone, row, pending, accepted, by_get) = invitee(Bitrix24Config::default()).await;
    assert_eq!(everyone.0, 4);
    let row = row["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["ID"] == "3")
        .unwrap()
        .clone();
    assert_eq!(
        (&row["ACTIVE"], &row["LAST_LOGIN"]),
        (&json!(true), &Value::Null)
    );
    assert!(row.get("CONFIRM_CODE").is_none(), "never shown");
    assert_eq!(pending, (1, vec!["3".to_owned()]));
    assert_eq!(accepted.0, 3);
    assert!(!accepted.1.contains(&"3".to_owned()));
    assert_eq!(by_get, everyone, "user.get drops the filter");
    let old = Bitrix24Config {
        confirm_code_filter: bitrix24::ConfirmCodeFilter::Ignored,
        ..Bitrix24Config::default()
    };
    let (everyone, _, pending, accepted, _) = invitee(old).await;
    assert_eq!((&pending, &accepted), (&everyone, &everyone));
}

/// Refusals and blocks come back as 401 (`OPERATION_TIME_LIMIT` as 429, with its `time` block).
#[tokio::test]
async fn portal_errors_take_their_real_statuses() {
    let portal = start(Bitrix24Config::default()).await;
    let url = || format!("{}user.get", portal.base_url());
    for (fault, code) in [
        (
            bitrix24::PortalError::InvalidCredentials,
            "INVALID_CREDENTIALS",
        ),
        (bitrix24::PortalError::AccessDenied, "ACCESS_DENIED"),
        (bitrix24::PortalError::OverloadLimit, "OVERLOAD_LIMIT"),
    ] {
        portal.set_portal_error(Some(fault));
        assert_eq!(error(&get(url()).await), (401, code));
    }
    portal.set_portal_error(Some(bitrix24::PortalError::OperationTimeLimit {
        reset_in_secs: 30,
    }));
    let reply = get(url()).await;
    assert_eq!(error(&reply), (429, "OPERATION_TIME_LIMIT"));
    let time = &reply.body["time"];
    let wait = time["operating_reset_at"].as_f64().unwrap() - time["finish"].as_f64().unwrap();
    assert!((29.0..=31.0).contains(&wait), "{time}");
    assert!(time["operating"].as_f64().unwrap() > 480.0);
    portal.set_portal_error(None);
    assert_eq!(get(url()).await.status, 200);
}

#[tokio::test]
async fn oauth_tokens_refresh_rotate_and_expire() {
    let portal = start(Bitrix24Config {
        access_token_ttl: Duration::from_secs(3600),
        ..Bitrix24Config::default()
    })
    .await;
    let config = portal.config().clone();
    let refresh = |refresh_token: String, secret: String| {
        let url = portal.oauth_url();
        let client_id = config.client_id.clone();
        async move {
            send(reqwest::Client::new().get(url).query(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
                ("refresh_token", refresh_token.as_str()),
            ]))
            .await
        }
    };
    let installed = portal.refresh_token();
    let wrong_secret = refresh(installed.clone(), "nope".into()).await;
    assert_eq!(error(&wrong_secret), (401, "invalid_client"));
    let granted = refresh(installed.clone(), config.client_secret.clone()).await;
    assert_eq!(granted.status, 200);
    assert_eq!(granted.body["expires_in"], 3600);
    assert_eq!(granted.body["scope"], "user,department,user.userfield");
    let rotated = granted.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, installed);
    assert_eq!(portal.refresh_token(), rotated);
    let reused = refresh(installed, config.client_secret.clone()).await;
    assert_eq!(
        error(&reused),
        (400, "invalid_grant"),
        "a used refresh token is spent"
    );

    let token = granted.body["access_token"].as_str().unwrap().to_owned();
    let call = |auth: Option<String>| {
        let url = format!("{}user.get", portal.rest_url());
        async move {
            match auth {
                Some(auth) => post_json(url, json!({"auth": auth})).await,
                None => get(url).await,
            }
        }
    };
    assert_eq!(call(Some(token.clone())).await.status, 200);
    let in_query = get(format!("{}user.get.json?auth={token}", portal.rest_url())).await;
    assert_eq!(in_query.status, 200, "auth in the query string");
    assert_eq!(error(&call(None).await), (401, "NO_AUTH_FOUND"));
    assert_eq!(
        error(&call(Some("forged".into())).await),
        (401, "NO_AUTH_FOUND")
    );
    portal.expire_tokens();
    assert_eq!(error(&call(Some(token)).await), (401, "expired_token"));

    // A token that dies after one call.
    let fresh = refresh(rotated, config.client_secret.clone()).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    portal.set_faults(Faults {
        token_expires_after_calls: Some(1),
        ..Faults::default()
    });
    assert_eq!(call(Some(fresh.clone())).await.status, 200);
    assert_eq!(error(&call(Some(fresh)).await), (401, "expired_token"));
    assert_eq!(portal.calls("oauth/token"), 4);
}

#[tokio::test]
async fn access_tokens_expire_after_their_lifetime() {
    let portal = start(Bitrix24Config {
        access_token_ttl: Duration::ZERO,
        ..Bitrix24Config::default()
    })
    .await;
    let config = portal.config().clone();
    let granted = send(reqwest::Client::new().get(portal.oauth_url()).query(&[
        ("grant_type", "refresh_token"),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.as_str()),
        ("refresh_token", portal.refresh_token().as_str()),
    ]))
    .await;
    let token = granted.body["access_token"].as_str().unwrap();
    let reply = get(format!("{}user.get?auth={token}", portal.rest_url())).await;
    assert_eq!(error(&reply), (401, "expired_token"));
}

#[tokio::test]
async fn faults_take_bitrix24_shapes() {
    let portal = start(Bitrix24Config::default()).await;
    let url = || format!("{}department.get", portal.base_url());
    portal.set_faults(Faults {
        rate_limit_every: Some(1),
        ..Faults::default()
    });
    assert_eq!(error(&get(url()).await), (503, "QUERY_LIMIT_EXCEEDED"));
    portal.set_faults(Faults {
        concurrency_limit_every: Some(1),
        ..Faults::default()
    });
    assert_eq!(error(&get(url()).await), (429, "OPERATION_TIME_LIMIT"));
    portal.set_faults(Faults {
        http_5xx_every: Some(1),
        ..Faults::default()
    });
    let gateway = get(url()).await;
    assert_eq!(gateway.status, 502);
    assert!(gateway.body.as_str().unwrap().starts_with("<html>"));
    portal.set_faults(Faults {
        malformed_json_every: Some(2),
        ..Faults::default()
    });
    let whole = get(url()).await;
    assert_eq!(whole.body["total"], 2);
    let cut = get(url()).await;
    assert_eq!(cut.status, 200);
    let text = cut.body.as_str().expect("not JSON");
    assert!(text.starts_with("{\"result\":"), "{text}");
    assert_eq!(portal.total_calls(), 5);
    assert_eq!(portal.rate_limit_rejections(), 0);
}
