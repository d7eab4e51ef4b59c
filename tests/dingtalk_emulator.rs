//! The DingTalk emulator's contract, checked over raw HTTP: what the notes say DingTalk answers.

mod common;

use common::small_org;
use emulators::dingtalk::{Ban, DingtalkConfig, DingtalkHandle, RosterAccess};
use emulators::fixture::{Org, Status};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

async fn connect(org: Org, config: DingtalkConfig) -> (DingtalkHandle, Client) {
    let dingtalk = emulators::dingtalk::start(org, config).await.unwrap();
    let http = reqwest::Client::new();
    let base = dingtalk.base_url();
    let answer: Value = http
        .get(format!("{base}/gettoken"))
        .query(&[
            ("appkey", dingtalk.config().app_key.as_str()),
            ("appsecret", dingtalk.config().app_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(answer["expires_in"], 7200);
    let token = answer["access_token"].as_str().unwrap().to_owned();
    (dingtalk, Client { http, base, token })
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .query(&[("access_token", &self.token)])
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn config() -> DingtalkConfig {
    DingtalkConfig {
        enforce_rate_limits: false,
        ..DingtalkConfig::default()
    }
}

#[tokio::test]
async fn partial_scope_refuses_the_root_and_out_of_scope_people() {
    let (_dingtalk, client) = connect(small_org(), config()).await;
    let scopes: Value = client
        .http
        .get(format!("{}/auth/scopes", client.base))
        .query(&[("access_token", &client.token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        scopes["auth_org_scopes"],
        json!({"authed_dept": [2, 3], "authed_user": ["ceo"]})
    );
    let root = client
        .post("/topapi/v2/department/listsub", json!({"dept_id": 1}))
        .await;
    assert_eq!(root["errcode"], 50004, "{root}");
    let outsider = client
        .post("/topapi/v2/user/get", json!({"userid": "outsider"}))
        .await;
    assert_eq!(outsider["errcode"], 50002, "{outsider}");
    let ceo = client
        .post("/topapi/v2/user/get", json!({"userid": "ceo"}))
        .await;
    assert_eq!(ceo["result"]["name"], "陈总", "{ceo}");
    let sales1 = client
        .post("/topapi/v2/user/get", json!({"userid": "sales1"}))
        .await;
    assert_eq!(
        sales1["result"]["manager_userid"], "outsider",
        "not filtered by scope"
    );
    let missing = client
        .post("/topapi/v2/department/get", json!({"dept_id": 99}))
        .await;
    assert_eq!(missing["errcode"], 60003);
}

#[tokio::test]
async fn listsub_omits_the_parent_and_user_list_pages_by_cursor() {
    let mut org = small_org();
    org.scope = Default::default();
    for i in 0..150 {
        org.users
            .push(common::person(&format!("x{i:03}"), "X", &[4], None));
    }
    let (_dingtalk, client) = connect(org, config()).await;
    let children = client
        .post("/topapi/v2/department/listsub", json!({"dept_id": 1}))
        .await;
    let ids: Vec<i64> = children["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3, 4]);

    let too_big = client
        .post(
            "/topapi/v2/user/list",
            json!({"dept_id": 4, "cursor": 0, "size": 101}),
        )
        .await;
    assert_eq!(too_big["errcode"], 40035, "size is capped at 100");
    let first = client
        .post(
            "/topapi/v2/user/list",
            json!({"dept_id": 4, "cursor": 0, "size": 100}),
        )
        .await;
    assert_eq!(first["result"]["has_more"], true);
    assert_eq!(first["result"]["next_cursor"], 100);
    assert_eq!(first["result"]["list"].as_array().unwrap().len(), 100);
    assert!(first["result"]["list"][0].get("manager_userid").is_none());
    let last = client
        .post(
            "/topapi/v2/user/list",
            json!({"dept_id": "4", "cursor": 100, "size": 100}),
        )
        .await;
    assert_eq!(last["result"]["has_more"], false);
    assert!(last["result"].get("next_cursor").is_none());
    assert_eq!(last["result"]["list"].as_array().unwrap().len(), 51);
}

#[tokio::test]
async fn tokens_are_reused_until_revoked_and_then_refused() {
    let (dingtalk, client) = connect(small_org(), config()).await;
    let again: Value = client
        .http
        .get(format!("{}/gettoken", client.base))
        .query(&[
            ("appkey", "ding-emulated-app"),
            ("appsecret", "emulated-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["access_token"], client.token.as_str());
    let new_api: Value = client
        .http
        .post(format!("{}/v1.0/oauth2/accessToken", client.base))
        .json(&json!({"appKey": "ding-emulated-app", "appSecret": "emulated-secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        new_api["accessToken"],
        client.token.as_str(),
        "one token for both hosts"
    );
    assert_eq!(new_api["expireIn"], 7200);
    dingtalk.expire_tokens();
    let refused = client
        .post("/topapi/v2/department/listsub", json!({"dept_id": 2}))
        .await;
    assert_eq!(refused["errcode"], 40014);
    let wrong: Value = client
        .http
        .get(format!("{}/gettoken", client.base))
        .query(&[("appkey", "ding-emulated-app"), ("appsecret", "nope")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        wrong["errcode"], 40089,
        "the corrections: bad credentials at gettoken"
    );
}

#[tokio::test]
async fn resigned_people_are_gone_except_from_the_leave_records() {
    let mut org = small_org();
    org.users
        .iter_mut()
        .find(|u| u.id == "leaver")
        .unwrap()
        .status = Status::Resigned;
    let (_dingtalk, client) = connect(org, config()).await;
    let gone = client
        .post("/topapi/v2/user/get", json!({"userid": "leaver"}))
        .await;
    assert_eq!(gone["errcode"], 60121);
    let records: Value = client
        .http
        .get(format!("{}/v1.0/contact/empLeaveRecords", client.base))
        .header("x-acs-dingtalk-access-token", &client.token)
        .query(&[
            ("startTime", "2024-01-01T00:00:00Z"),
            ("endTime", "2024-12-31T00:00:00Z"),
            ("nextToken", "0"),
            ("maxResults", "50"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records["records"][0]["userId"], "leaver", "{records}");
    assert_eq!(records["records"][0]["leaveTime"], "2024-03-01T09:30:00Z");
    let unauthenticated = client
        .http
        .get(format!("{}/v1.0/contact/empLeaveRecords", client.base))
        .query(&[("startTime", "2024-01-01T00:00:00Z")])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn the_twenty_first_call_in_a_window_is_refused_with_90018() {
    let (dingtalk, client) = connect(
        small_org(),
        DingtalkConfig {
            // A 1 s window 100 times longer: 21 quick calls always share one.
            rate_limit_speedup: 0.01,
            ..DingtalkConfig::default()
        },
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..21 {
        let answer = client
            .post("/topapi/v2/department/listsub", json!({"dept_id": 2}))
            .await;
        codes.push(answer["errcode"].as_i64().unwrap());
    }
    assert_eq!(codes[..20], [0; 20]);
    assert_eq!(codes[20], 90018);
    assert_eq!(dingtalk.rate_limit_rejections(), 1);
}

const ROSTER: &str = "/topapi/smartwork/hrm/employee/v2/list";

fn roster_body(ids: &str) -> Value {
    json!({"userid_list": ids, "field_filter_list": "sys00-reportManagerId,sys00-mainDeptId",
           "agentid": 2001})
}

/// The roster answers the current members among the ids, once each, with their manager (even
/// one outside the scope) and main department, in the notes' shape.
#[tokio::test]
async fn the_roster_answers_managers_and_main_departments() {
    let mut org = small_org();
    let leaver = org.users.iter_mut().find(|u| u.id == "leaver").unwrap();
    leaver.status = Status::Resigned;
    let (_dingtalk, client) = connect(org, config()).await;
    let answer = client
        .post(ROSTER, roster_body("sales1,ceo,leaver,nobody,sales1"))
        .await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(answer["success"], true);
    let people = answer["result"].as_array().unwrap();
    let ids: Vec<&str> = people
        .iter()
        .map(|p| p["userid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["sales1", "ceo"],
        "resigned and unknown ids are left out"
    );
    let fields = &people[0]["field_data_list"];
    assert_eq!(fields[0]["field_code"], "sys00-reportManagerId");
    assert_eq!(fields[0]["field_value_list"][0]["value"], "outsider");
    assert_eq!(fields[1]["field_code"], "sys00-mainDeptId");
    assert_eq!(fields[1]["field_value_list"][0]["value"], "3");
    assert_eq!(
        people[1]["field_data_list"][0]["field_value_list"],
        json!([])
    );
    let too_many = (0..101)
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert_ne!(
        client.post(ROSTER, roster_body(&too_many)).await["errcode"],
        0
    );
    let wrong_agent = json!({"userid_list": "ceo", "field_filter_list": "sys00-mainDeptId",
                             "agentid": 7});
    assert_ne!(client.post(ROSTER, wrong_agent).await["errcode"], 0);
}

#[tokio::test]
async fn the_roster_refuses_without_permission_and_past_the_quota() {
    let refused = DingtalkConfig {
        roster: RosterAccess::NotGranted,
        ..config()
    };
    let (_dingtalk, client) = connect(small_org(), refused).await;
    let answer = client.post(ROSTER, roster_body("ceo")).await;
    assert_eq!(answer["errcode"], 88, "{answer}");
    assert_eq!(answer["sub_code"], "60011");

    let quota = DingtalkConfig {
        roster_quota: Some(2),
        ..config()
    };
    let (_dingtalk, client) = connect(small_org(), quota).await;
    for _ in 0..2 {
        assert_eq!(client.post(ROSTER, roster_body("ceo")).await["errcode"], 0);
    }
    assert_eq!(
        client.post(ROSTER, roster_body("ceo")).await["errcode"],
        90020
    );
}

/// `user/get` marks the main department in `dept_position_list`; `dept_id_list` keeps the
/// fixture's order.
#[tokio::test]
async fn user_get_marks_the_main_department() {
    let mut org = small_org();
    let sales1 = org.users.iter_mut().find(|u| u.id == "sales1").unwrap();
    sales1.departments = vec![2, 3];
    sales1.main_department = Some(3);
    let (_dingtalk, client) = connect(org, config()).await;
    let answer = client
        .post("/topapi/v2/user/get", json!({"userid": "sales1"}))
        .await;
    assert_eq!(answer["result"]["dept_id_list"], json!([2, 3]));
    assert_eq!(
        answer["result"]["dept_position_list"],
        json!([{"dept_id": 2, "is_main": false}, {"dept_id": 3, "is_main": true}])
    );
}

/// Tokens revoked after N data calls answer 40001; the ban answers every data call in its form
/// and status while it lasts.
#[tokio::test]
async fn tokens_revoked_mid_pull_and_the_ban() {
    let (dingtalk, client) = connect(small_org(), config()).await;
    dingtalk.revoke_tokens_after(2);
    let listsub = || client.post("/topapi/v2/department/listsub", json!({"dept_id": 2}));
    assert_eq!(listsub().await["errcode"], 0);
    assert_eq!(listsub().await["errcode"], 0);
    assert_eq!(listsub().await["errcode"], 40001);

    dingtalk.ban(
        Ban::Json {
            status: 403,
            wait: 5,
        },
        std::time::Duration::from_secs(60),
    );
    let answer = client
        .http
        .get(format!("{}/auth/scopes", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["punish"], "deny");
    assert_eq!(body["wait"], 5);
    assert!(body.get("errcode").is_none());
    dingtalk.ban(Ban::Html(200), std::time::Duration::from_millis(50));
    let page = client
        .http
        .get(format!("{}/auth/scopes", client.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    let scopes: Value = client
        .http
        .get(format!("{}/auth/scopes", client.base))
        .query(&[("access_token", &client.token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        scopes["errcode"], 40001,
        "the ban is over; the token is still revoked"
    );
}
