//! The WeCom emulator over real HTTP: token flow, scope filtering, error codes, faults, counters.
//!
//! Requests are written by hand on a `TcpStream` (the crate has no HTTP client dependency), which also
//! shows the emulator works with any HTTP/1.1 client.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use emulators::faults::Faults;
use emulators::fixture::Org;
use emulators::generator::{self, GeneratorConfig};
use emulators::wecom::{self, ListAccess, WecomConfig, WecomHandle, WecomTag};
use serde_json::{Value, json};
use tokio::net::TcpStream;

// ---- a minimal HTTP/1.1 client ----

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn errcode(&self) -> i64 {
        assert_eq!(self.status, 200, "WeCom answers errors with HTTP 200");
        self.json()["errcode"]
            .as_i64()
            .expect("errcode is an integer")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

async fn get(base_url: &str, path_and_query: &str) -> Reply {
    let host = base_url
        .strip_prefix("http://")
        .expect("plain http base URL");
    let stream = TcpStream::connect(host)
        .await
        .expect("emulator accepts connections");
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    write_all(&stream, request.as_bytes()).await;
    let raw = read_to_end(&stream).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header terminator");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut reply = Reply {
        status,
        headers: headers.to_owned(),
        body: raw[split + 4..].to_vec(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        reply.body = dechunk(&reply.body);
    }
    reply
}

// The crate's tokio has no `io-util`, so read and write with the readiness API.

async fn write_all(stream: &TcpStream, mut data: &[u8]) {
    while !data.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("write failed: {e}"),
        }
    }
}

async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        stream.readable().await.unwrap();
        match stream.try_read(&mut chunk) {
            Ok(0) => return raw,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

// ---- fixtures ----

/// ```text
/// 1 示例公司 (ceo)
/// ├─ 2 研发部 (rd.head)
/// │  └─ 3 平台组 (plat.head, rd.head)      ← scope
/// │     └─ 5 基础设施组 (infra.head)
/// └─ 4 销售部 (sales.head)                  seller ← scope (individually)
/// ```
fn sample_org() -> Org {
    let fixture = json!({
        "departments": [
            {"id": 1, "name": "示例公司", "leaders": ["ceo"]},
            {"id": 2, "parent": 1, "name": "研发部", "name_en": "R&D", "order": 100, "leaders": ["rd.head"]},
            {"id": 3, "parent": 2, "name": "平台组", "name_en": "Platform", "order": 90,
             "leaders": ["plat.head", "rd.head"]},
            {"id": 4, "parent": 1, "name": "销售部", "order": 80, "leaders": ["sales.head"]},
            {"id": 5, "parent": 3, "name": "基础设施组", "order": 70, "leaders": ["infra.head"]}
        ],
        "users": [
            {"id": "ceo", "name": "王总", "departments": [1]},
            {"id": "rd.head", "name": "乔宇", "departments": [2], "manager": "ceo"},
            {"id": "plat.head", "name": "周明", "title": "平台负责人", "departments": [3], "manager": "rd.head"},
            {"id": "dev", "name": "林晓", "email": "dev@example.cn", "mobile": "13900000001",
             "title": "后端工程师", "employee_no": "E0042", "departments": [4, 3], "main_department": 3,
             "manager": "plat.head"},
            {"id": "infra.head", "name": "Zoë Müller", "departments": [5], "manager": "plat.head",
             "status": "disabled"},
            {"id": "newbie", "name": "林晓", "departments": [3], "manager": "plat.head", "status": "not_activated"},
            {"id": "gone", "name": "José Ñúñez", "departments": [3], "manager": "plat.head", "status": "resigned"},
            {"id": "sales.head", "name": "김민준", "departments": [4], "manager": "ceo"},
            {"id": "seller", "name": "山田 太郎", "departments": [4], "manager": "sales.head"}
        ],
        "scope": {"departments": [3], "users": ["seller"]},
        "sensitive_fields": true
    });
    Org::from_json(&fixture.to_string()).expect("sample fixture is valid")
}

const GETTOKEN: &str = "/cgi-bin/gettoken?corpid=ww-emulated-corp&corpsecret=emulated-secret";

async fn start_sample() -> WecomHandle {
    wecom::start(sample_org(), WecomConfig::default())
        .await
        .unwrap()
}

async fn token(wecom: &WecomHandle) -> String {
    let reply = get(&wecom.base_url(), GETTOKEN).await.json();
    assert_eq!(reply["errcode"], 0, "{reply}");
    reply["access_token"].as_str().unwrap().to_owned()
}

/// GET a data endpoint with a fresh-or-cached token.
async fn call(wecom: &WecomHandle, token: &str, path_and_query: &str) -> Reply {
    let separator = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    get(
        &wecom.base_url(),
        &format!("{path_and_query}{separator}access_token={token}"),
    )
    .await
}

fn ids(items: &Value, key: &str) -> Vec<Value> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].clone())
        .collect()
}

// ---- token flow ----

#[tokio::test]
async fn gettoken_checks_credentials_and_reuses_the_token() {
    let wecom = start_sample().await;
    let base = wecom.base_url();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with('/'));

    let first = get(&base, GETTOKEN).await.json();
    assert_eq!(
        (first["errcode"].as_i64(), first["errmsg"].as_str()),
        (Some(0), Some("ok"))
    );
    assert_eq!(first["expires_in"], 7200);
    let token = first["access_token"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() <= 512);
    assert_eq!(
        get(&base, GETTOKEN).await.json()["access_token"],
        token,
        "same token while valid"
    );

    let wrong = [
        (
            "/cgi-bin/gettoken?corpid=ww-emulated-corp&corpsecret=nope",
            40001,
        ),
        (
            "/cgi-bin/gettoken?corpid=other&corpsecret=emulated-secret",
            40013,
        ),
        ("/cgi-bin/gettoken?corpsecret=emulated-secret", 41002),
        ("/cgi-bin/gettoken?corpid=ww-emulated-corp", 41004),
    ];
    for (path, code) in wrong {
        assert_eq!(get(&base, path).await.errcode(), code, "{path}");
    }
}

#[tokio::test]
async fn data_calls_need_a_live_token() {
    let wecom = start_sample().await;
    let base = wecom.base_url();
    assert_eq!(
        get(&base, "/cgi-bin/department/list").await.errcode(),
        41001
    );
    assert_eq!(
        get(&base, "/cgi-bin/department/list?access_token=")
            .await
            .errcode(),
        41001
    );
    assert_eq!(
        call(&wecom, "forged", "/cgi-bin/department/list")
            .await
            .errcode(),
        40014
    );

    let old = token(&wecom).await;
    assert_eq!(
        call(&wecom, &old, "/cgi-bin/department/list")
            .await
            .errcode(),
        0
    );
    wecom.expire_tokens();
    assert_eq!(
        call(&wecom, &old, "/cgi-bin/department/list")
            .await
            .errcode(),
        40014
    );
    let new = token(&wecom).await;
    assert_ne!(new, old);
    assert_eq!(
        call(&wecom, &new, "/cgi-bin/department/list")
            .await
            .errcode(),
        0
    );
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let config = WecomConfig {
        token_ttl: Duration::from_millis(300),
        ..WecomConfig::default()
    };
    let wecom = wecom::start(sample_org(), config).await.unwrap();
    let first = get(&wecom.base_url(), GETTOKEN).await.json();
    assert_eq!(first["expires_in"], 1, "sub-second lifetimes round up");
    let old = first["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        call(&wecom, &old, "/cgi-bin/department/list")
            .await
            .errcode(),
        42001
    );
    let new = token(&wecom).await;
    assert_ne!(new, old, "an expired token is not handed out again");
    assert_eq!(
        call(&wecom, &new, "/cgi-bin/department/list")
            .await
            .errcode(),
        0
    );
}

#[tokio::test]
async fn tokens_die_after_the_configured_number_of_calls_alternating_codes() {
    let wecom = start_sample().await;
    wecom.set_faults(Faults {
        token_expires_after_calls: Some(2),
        ..Faults::default()
    });
    let path = "/cgi-bin/department/simplelist";

    let one = token(&wecom).await;
    assert_eq!(call(&wecom, &one, path).await.errcode(), 0);
    assert_eq!(call(&wecom, &one, path).await.errcode(), 0);
    assert_eq!(call(&wecom, &one, path).await.errcode(), 42001);
    assert_eq!(
        call(&wecom, &one, path).await.errcode(),
        42001,
        "a dead token stays dead"
    );

    let two = token(&wecom).await;
    assert_ne!(two, one);
    assert_eq!(call(&wecom, &two, path).await.errcode(), 0);
    assert_eq!(call(&wecom, &two, path).await.errcode(), 0);
    assert_eq!(
        call(&wecom, &two, path).await.errcode(),
        40014,
        "the next death is reported as invalid"
    );

    let three = token(&wecom).await;
    wecom.set_faults(Faults::default());
    for _ in 0..5 {
        assert_eq!(call(&wecom, &three, path).await.errcode(), 0);
    }
}

// ---- departments ----

#[tokio::test]
async fn department_list_is_the_visible_tree_with_visible_leaders() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;

    let all = call(&wecom, &token, "/cgi-bin/department/list")
        .await
        .json();
    assert_eq!(all["errcode"], 0);
    let departments = &all["department"];
    assert_eq!(ids(departments, "id"), vec![json!(3), json!(5)]);
    assert_eq!(
        departments[0],
        json!({"id": 3, "name": "平台组", "name_en": "Platform", "department_leader": ["plat.head"],
               "parentid": 2, "order": 90}),
        "rd.head is a head of 3 but outside the scope"
    );
    assert_eq!(departments[1]["parentid"], 3);
    assert!(
        departments[1].get("name_en").is_none(),
        "name_en only when present"
    );

    let subtree = call(&wecom, &token, "/cgi-bin/department/list?id=5")
        .await
        .json();
    assert_eq!(ids(&subtree["department"], "id"), vec![json!(5)]);

    let simple = call(&wecom, &token, "/cgi-bin/department/simplelist")
        .await
        .json();
    assert_eq!(
        simple["department_id"],
        json!([{"id": 3, "parentid": 2, "order": 90}, {"id": 5, "parentid": 3, "order": 70}])
    );

    let one = call(&wecom, &token, "/cgi-bin/department/get?id=5")
        .await
        .json();
    assert_eq!(
        one["department"]["department_leader"],
        json!(["infra.head"]),
        "disabled but visible"
    );
}

#[tokio::test]
async fn whole_org_scope_shows_the_root_with_parentid_zero() {
    let wecom = start_sample().await;
    wecom.update_org(|org| org.scope = Default::default());
    let token = token(&wecom).await;
    let all = call(&wecom, &token, "/cgi-bin/department/list")
        .await
        .json();
    assert_eq!(
        ids(&all["department"], "id"),
        vec![json!(1), json!(2), json!(3), json!(5), json!(4)]
    );
    assert_eq!(all["department"][0]["parentid"], 0);
    assert_eq!(
        all["department"][2]["department_leader"],
        json!(["plat.head", "rd.head"])
    );
}

#[tokio::test]
async fn department_errors() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    let cases = [
        ("/cgi-bin/department/list?id=2", 60011),
        ("/cgi-bin/department/list?id=1", 60011),
        ("/cgi-bin/department/list?id=99", 60123),
        ("/cgi-bin/department/list?id=abc", 40058),
        ("/cgi-bin/department/simplelist?id=4", 60011),
        ("/cgi-bin/department/get?id=4", 60011),
        ("/cgi-bin/department/get?id=99", 60123),
        ("/cgi-bin/department/get", 40058),
        ("/cgi-bin/department/get?id=9999999999999999999999", 40058),
    ];
    for (path, code) in cases {
        assert_eq!(call(&wecom, &token, path).await.errcode(), code, "{path}");
    }
}

// ---- users ----

#[tokio::test]
async fn user_list_filters_departments_and_direct_leaders_to_the_scope() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    let reply = call(&wecom, &token, "/cgi-bin/user/list?department_id=3")
        .await
        .json();
    assert_eq!(reply["errcode"], 0);
    let users = &reply["userlist"];
    assert_eq!(
        ids(users, "userid"),
        vec![
            json!("plat.head"),
            json!("dev"),
            json!("newbie"),
            json!("gone")
        ]
    );

    let head = &users[0];
    assert_eq!(
        head["direct_leader"],
        json!([]),
        "rd.head is outside the scope"
    );
    assert_eq!(head["is_leader_in_dept"], json!([1]));
    assert_eq!(head["position"], "平台负责人");

    let dev = &users[1];
    assert_eq!(dev["department"], json!([3]), "department 4 is invisible");
    assert_eq!(dev["order"], json!([0]));
    assert_eq!(dev["is_leader_in_dept"], json!([0]));
    assert_eq!(dev["main_department"], 3);
    assert_eq!(dev["direct_leader"], json!(["plat.head"]));
    assert_eq!(
        (dev["email"].as_str(), dev["mobile"].as_str()),
        (Some("dev@example.cn"), Some("13900000001"))
    );
    assert_eq!(dev["status"], 1);
    assert!(
        dev["extattr"].is_object() && dev["open_userid"].is_string(),
        "unknown extras are present"
    );

    assert_eq!(
        (users[2]["status"].as_i64(), users[3]["status"].as_i64()),
        (Some(4), Some(5))
    );
    assert_eq!(
        users[2]["email"], "",
        "sensitive fields arrive empty when unset"
    );

    let nested = call(&wecom, &token, "/cgi-bin/user/list?department_id=5")
        .await
        .json();
    assert_eq!(
        ids(&nested["userlist"], "userid"),
        vec![json!("infra.head")],
        "direct members only"
    );
    assert_eq!(nested["userlist"][0]["status"], 2);

    let simple = call(&wecom, &token, "/cgi-bin/user/simplelist?department_id=3")
        .await
        .json();
    assert_eq!(
        simple["userlist"][1],
        json!({"userid": "dev", "name": "林晓", "department": [3]})
    );
}

#[tokio::test]
async fn individually_scoped_users_are_readable_only_by_id() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;

    let agent = call(&wecom, &token, "/cgi-bin/agent/get?agentid=1000002")
        .await
        .json();
    assert_eq!(agent["errcode"], 0);
    assert_eq!(agent["allow_partys"]["partyid"], json!([3]));
    assert_eq!(
        agent["allow_userinfos"]["user"],
        json!([{"userid": "seller"}])
    );
    assert_eq!(agent["allow_tags"]["tagid"], json!([]));
    assert_eq!(agent["close"], 0);

    let seller = call(&wecom, &token, "/cgi-bin/user/get?userid=seller")
        .await
        .json();
    assert_eq!(seller["errcode"], 0);
    assert_eq!(seller["name"], "山田 太郎");
    assert_eq!(seller["department"], json!([]));
    assert!(
        seller.get("main_department").is_none(),
        "main department 4 is invisible"
    );
    assert_eq!(seller["direct_leader"], json!([]));
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/list?department_id=4")
            .await
            .errcode(),
        60011
    );
}

#[tokio::test]
async fn user_errors_and_case_insensitive_userids() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    let cases = [
        ("/cgi-bin/user/get?userid=sales.head", 60011),
        ("/cgi-bin/user/get?userid=ceo", 60011),
        ("/cgi-bin/user/get?userid=nobody", 60111),
        ("/cgi-bin/user/get", 41009),
        ("/cgi-bin/user/list?department_id=1", 60011),
        ("/cgi-bin/user/list?department_id=42", 60123),
        ("/cgi-bin/user/list?department_id=x", 40058),
        ("/cgi-bin/user/list", 40058),
        ("/cgi-bin/user/simplelist?department_id=2", 60011),
        ("/cgi-bin/agent/get?agentid=7", 40056),
        ("/cgi-bin/agent/get", 40058),
        ("/cgi-bin/user/get?userid=%ZZ", 60111),
    ];
    for (path, code) in cases {
        assert_eq!(call(&wecom, &token, path).await.errcode(), code, "{path}");
    }
    let dev = call(&wecom, &token, "/cgi-bin/user/get?userid=DEV")
        .await
        .json();
    assert_eq!(dev["userid"], "dev");
}

#[tokio::test]
async fn apps_without_sensitive_fields_get_no_email_or_mobile() {
    let wecom = start_sample().await;
    wecom.update_org(|org| org.sensitive_fields = false);
    let token = token(&wecom).await;
    let dev = call(&wecom, &token, "/cgi-bin/user/get?userid=dev")
        .await
        .json();
    assert_eq!(dev["errcode"], 0);
    assert!(
        dev.get("email").is_none() && dev.get("mobile").is_none(),
        "{dev}"
    );
}

#[tokio::test]
async fn org_updates_are_served_immediately() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    wecom.update_org(|org| {
        org.users.retain(|u| u.id != "gone");
        org.scope.departments.push(4);
    });
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/get?userid=gone")
            .await
            .errcode(),
        60111
    );
    let dev = call(&wecom, &token, "/cgi-bin/user/get?userid=dev")
        .await
        .json();
    assert_eq!(dev["department"], json!([4, 3]));
    assert_eq!(wecom.org().scope.departments, vec![3, 4]);
}

// ---- faults ----

#[tokio::test]
async fn rate_and_concurrency_limits_hit_every_nth_data_call() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    wecom.set_faults(Faults {
        rate_limit_every: Some(3),
        concurrency_limit_every: Some(4),
        ..Faults::default()
    });
    let mut codes = Vec::new();
    // Eight different requests (a retry of a faulted request would be spared).
    for n in 0..8 {
        let path = format!("/cgi-bin/department/simplelist?n={n}");
        codes.push(call(&wecom, &token, &path).await.errcode());
        // Token requests are not data calls and never faulted.
        assert_eq!(get(&wecom.base_url(), GETTOKEN).await.errcode(), 0);
    }
    assert_eq!(codes, vec![0, 0, 45009, 45033, 0, 45009, 0, 45033]);
}

#[tokio::test]
async fn http_5xx_answers_a_gateway_html_page() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    wecom.set_faults(Faults {
        http_5xx_every: Some(2),
        ..Faults::default()
    });
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/list?department_id=3")
            .await
            .errcode(),
        0
    );
    let failed = call(&wecom, &token, "/cgi-bin/user/list?department_id=3").await;
    assert_eq!(failed.status, 502);
    assert!(
        failed
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    assert!(String::from_utf8_lossy(&failed.body).contains("<html>"));
}

#[tokio::test]
async fn malformed_json_is_a_cut_off_real_answer() {
    let wecom = start_sample().await;
    let token = token(&wecom).await;
    wecom.set_faults(Faults {
        malformed_json_every: Some(1),
        ..Faults::default()
    });
    let reply = call(&wecom, &token, "/cgi-bin/user/list?department_id=3").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with(b"{\"errcode\":0"),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    wecom.set_faults(Faults::default());
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/list?department_id=3")
            .await
            .errcode(),
        0
    );
}

#[tokio::test]
async fn delay_slows_every_call() {
    let wecom = start_sample().await;
    wecom.set_faults(Faults {
        delay: Duration::from_millis(200),
        ..Faults::default()
    });
    let started = Instant::now();
    let token = token(&wecom).await;
    call(&wecom, &token, "/cgi-bin/department/list").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(wecom.faults().delay, Duration::from_millis(200));
}

// ---- counters and lifecycle ----

#[tokio::test]
async fn every_call_is_counted_per_path() {
    let wecom = start_sample().await;
    token(&wecom).await;
    let live = token(&wecom).await;
    call(&wecom, &live, "/cgi-bin/user/list?department_id=3").await;
    call(&wecom, &live, "/cgi-bin/user/list?department_id=99").await;
    call(&wecom, "bad", "/cgi-bin/department/list").await;
    let unknown = get(&wecom.base_url(), "/cgi-bin/no/such/api").await;
    assert_eq!(unknown.status, 404);

    assert_eq!(wecom.calls("/cgi-bin/gettoken"), 2);
    assert_eq!(wecom.calls("/cgi-bin/user/list"), 2);
    assert_eq!(wecom.calls("/cgi-bin/department/list"), 1);
    assert_eq!(wecom.calls("/cgi-bin/no/such/api"), 1);
    assert_eq!(wecom.calls("/cgi-bin/user/get"), 0);
    assert_eq!(wecom.total_calls(), 6);
    assert_eq!(wecom.call_counts().len(), 4);
    wecom.reset_calls();
    assert_eq!(wecom.total_calls(), 0);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let wecom = start_sample().await;
    let addr = wecom.addr();
    wecom.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());

    let wecom = start_sample().await;
    let addr = wecom.addr();
    drop(wecom);
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "server still listening after drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- a full pull of a generated org, the way a connector does it ----

#[tokio::test]
async fn full_pull_of_a_generated_org_costs_d_plus_two_calls() {
    let org = generator::generate(&GeneratorConfig {
        people: 500,
        departments: 40,
        ..GeneratorConfig::default()
    });
    let visibility = org.visibility();
    let expected: BTreeSet<String> = org
        .users
        .iter()
        .filter(|u| visibility.is_user_visible(u))
        .map(|u| u.id.clone())
        .collect();
    let wecom = wecom::start(org, WecomConfig::default()).await.unwrap();

    let token = token(&wecom).await;
    let departments = call(&wecom, &token, "/cgi-bin/department/list")
        .await
        .json();
    let department_ids: Vec<i64> = departments["department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(department_ids.len(), visibility.departments.len());

    let mut users: HashMap<String, Value> = HashMap::new();
    for id in &department_ids {
        let reply = call(
            &wecom,
            &token,
            &format!("/cgi-bin/user/list?department_id={id}"),
        )
        .await
        .json();
        assert_eq!(reply["errcode"], 0);
        for user in reply["userlist"].as_array().unwrap() {
            users.insert(user["userid"].as_str().unwrap().to_owned(), user.clone());
        }
    }
    assert_eq!(users.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(wecom.total_calls(), department_ids.len() as u64 + 2);

    // Heads of the top in-scope departments report to someone outside the scope.
    let orphans = users
        .values()
        .filter(|u| u["direct_leader"] == json!([]))
        .count();
    assert!(orphans > 0);
    for user in users.values() {
        for leader in user["direct_leader"].as_array().unwrap() {
            assert!(
                users.contains_key(leader.as_str().unwrap()),
                "direct_leader {leader} is visible"
            );
        }
    }
}

// ---- tags, refused lists, the hourly block ----

/// The sample org with its range also shared with tag 7 (seller's manager and department 2's
/// subtree) and tag 8 (empty); tag 9 exists but is not in the range.
fn tagged_config() -> WecomConfig {
    WecomConfig {
        tags: vec![
            WecomTag {
                id: 7,
                name: "销售与研发".into(),
                users: vec!["sales.head".into()],
                departments: vec![2],
            },
            WecomTag {
                id: 8,
                name: "空".into(),
                users: Vec::new(),
                departments: Vec::new(),
            },
            WecomTag {
                id: 9,
                name: "other".into(),
                users: vec!["ceo".into()],
                departments: vec![1],
            },
        ],
        allow_tags: vec![7, 8, 404],
        ..WecomConfig::default()
    }
}

#[tokio::test]
async fn tags_in_the_range_make_their_people_and_subtrees_visible() {
    let wecom = wecom::start(sample_org(), tagged_config()).await.unwrap();
    let token = token(&wecom).await;

    let agent = call(&wecom, &token, "/cgi-bin/agent/get?agentid=1000002")
        .await
        .json();
    assert_eq!(agent["allow_tags"]["tagid"], json!([7, 8, 404]));

    let tag = call(&wecom, &token, "/cgi-bin/tag/get?tagid=7")
        .await
        .json();
    assert_eq!(tag["errcode"], 0, "{tag}");
    assert_eq!(tag["tagname"], "销售与研发");
    assert_eq!(
        tag["userlist"],
        json!([{"userid": "sales.head", "name": "김민준"}])
    );
    assert_eq!(tag["partylist"], json!([2]));
    let empty = call(&wecom, &token, "/cgi-bin/tag/get?tagid=8")
        .await
        .json();
    assert_eq!(
        (empty["userlist"].clone(), empty["partylist"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/tag/get?tagid=404")
            .await
            .errcode(),
        40068
    );
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/tag/get?tagid=x")
            .await
            .errcode(),
        40058
    );

    // Department 2 (through tag 7) and its subtree are visible now; 4 still is not.
    let list = call(&wecom, &token, "/cgi-bin/department/list")
        .await
        .json();
    let mut visible: Vec<i64> = ids(&list["department"], "id")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    visible.sort_unstable();
    assert_eq!(visible, vec![2, 3, 5]);
    let head = call(&wecom, &token, "/cgi-bin/user/get?userid=sales.head")
        .await
        .json();
    assert_eq!(head["errcode"], 0, "{head}");
    // seller's manager is visible through the tag now.
    let seller = call(&wecom, &token, "/cgi-bin/user/get?userid=seller")
        .await
        .json();
    assert_eq!(seller["direct_leader"], json!(["sales.head"]));
    // Tag 9 is not in the range: ceo stays invisible.
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/get?userid=ceo")
            .await
            .errcode(),
        60011
    );
}

#[tokio::test]
async fn refused_lists_answer_48002_and_the_simple_reads_still_work() {
    let config = WecomConfig {
        list_access: ListAccess::Refused,
        ..WecomConfig::default()
    };
    let wecom = wecom::start(sample_org(), config).await.unwrap();
    let token = token(&wecom).await;
    for path in [
        "/cgi-bin/department/list",
        "/cgi-bin/user/list?department_id=3",
    ] {
        assert_eq!(call(&wecom, &token, path).await.errcode(), 48002, "{path}");
    }
    let simple = call(&wecom, &token, "/cgi-bin/department/simplelist")
        .await
        .json();
    assert_eq!(simple["errcode"], 0);
    assert_eq!(
        ids(&simple["department_id"], "id"),
        vec![json!(3), json!(5)]
    );
    let get = call(&wecom, &token, "/cgi-bin/department/get?id=5")
        .await
        .json();
    assert_eq!(get["department"]["name"], "基础设施组");
    let users = call(&wecom, &token, "/cgi-bin/user/simplelist?department_id=3")
        .await
        .json();
    assert_eq!(users["errcode"], 0);
    assert!(
        users["userlist"][0].get("status").is_none(),
        "ids and names only"
    );
    // Scope still applies to the simple reads.
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/user/simplelist?department_id=4")
            .await
            .errcode(),
        60011
    );
}

#[tokio::test]
async fn an_api_over_its_hourly_limit_is_blocked_for_the_whole_block() {
    let config = WecomConfig {
        hourly_limit: 3,
        hourly_block: Duration::from_millis(400),
        ..WecomConfig::default()
    };
    let wecom = wecom::start(sample_org(), config).await.unwrap();
    let token = token(&wecom).await;
    let list = "/cgi-bin/department/list";
    for _ in 0..3 {
        assert_eq!(call(&wecom, &token, list).await.errcode(), 0);
    }
    let blocked_at = Instant::now();
    assert_eq!(call(&wecom, &token, list).await.errcode(), 45009);
    // Another API keeps its own hour.
    assert_eq!(
        call(&wecom, &token, "/cgi-bin/department/simplelist")
            .await
            .errcode(),
        0
    );
    while blocked_at.elapsed() < Duration::from_millis(300) {
        assert_eq!(call(&wecom, &token, list).await.errcode(), 45009);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        call(&wecom, &token, list).await.errcode(),
        0,
        "the block is over"
    );
    assert!(wecom.hourly_block_rejections() >= 2);
    assert_eq!(
        wecom.rate_limit_rejections(),
        wecom.hourly_block_rejections()
    );
}
