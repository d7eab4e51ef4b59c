//! The Feishu emulator over real HTTP: token flow, envelopes, id schemes, paging caps, scope
//! errors, rate limits, faults, counters.
//!
//! Requests are written by hand on a `TcpStream` (the crate has no HTTP client dependency).

use std::time::Duration;

use emulators::faults::Faults;
use emulators::feishu::{self, FeishuConfig, FeishuHandle, PagingDefect};
use emulators::fixture::Org;
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

    /// The HTTP status and Feishu's `code`.
    fn code(&self) -> (u16, i64) {
        (self.status, self.json()["code"].as_i64().expect("code"))
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

async fn request(base_url: &str, method: &str, path: &str, headers: &str, body: &str) -> Reply {
    let host = base_url.strip_prefix("http://").expect("plain http");
    let stream = TcpStream::connect(host).await.expect("emulator accepts");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    write_all(&stream, request.as_bytes()).await;
    let raw = read_to_end(&stream).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header terminator");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
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
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

// ---- fixtures and helpers ----

/// ```text
/// 1 示例公司 (ceo, assistant)
/// ├─ 2 研发部 (rd.head)
/// │  └─ 3 平台组 (plat.head)          ← partial scope: 3, plus seller
/// │     └─ 5 基础设施组
/// └─ 4 销售部 (sales.head, seller)
/// ```
fn org(partial: bool) -> Org {
    let scope = if partial {
        json!({"departments": [3], "users": ["seller"]})
    } else {
        json!({"departments": [1], "users": []})
    };
    Org::from_json(
        &json!({
            "departments": [
                {"id": 1, "name": "示例公司", "leaders": ["ceo"]},
                {"id": 2, "parent": 1, "name": "研发部", "order": 100, "leaders": ["rd.head"]},
                {"id": 3, "parent": 2, "name": "平台组", "order": 90, "leaders": ["plat.head"]},
                {"id": 4, "parent": 1, "name": "销售部", "order": 80, "leaders": ["sales.head"]},
                {"id": 5, "parent": 3, "name": "基础设施组", "order": 70}
            ],
            "users": [
                {"id": "ceo", "name": "王总", "departments": [1]},
                {"id": "assistant", "name": "助理", "departments": [1], "manager": "ceo"},
                {"id": "rd.head", "name": "乔宇", "departments": [2], "manager": "ceo"},
                {"id": "plat.head", "name": "周明", "departments": [3], "manager": "rd.head",
                 "email": "zhou@example.cn", "mobile": "13900000001", "employee_no": "E7"},
                {"id": "dev", "name": "林晓", "departments": [2, 3], "main_department": 3,
                 "manager": "plat.head", "status": "disabled"},
                {"id": "newbie", "name": "新人", "departments": [3], "manager": "plat.head",
                 "status": "not_activated"},
                {"id": "gone", "name": "离职", "departments": [3], "manager": "plat.head",
                 "status": "resigned"},
                {"id": "sales.head", "name": "김민준", "departments": [4], "manager": "ceo"},
                {"id": "seller", "name": "山田 太郎", "departments": [4], "manager": "sales.head"}
            ],
            "scope": scope
        })
        .to_string(),
    )
    .unwrap()
}

fn quiet() -> FeishuConfig {
    FeishuConfig {
        enforce_rate_limits: false,
        ..FeishuConfig::default()
    }
}

const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";

async fn token_reply(feishu: &FeishuHandle, app_id: &str, secret: &str) -> Reply {
    let body = json!({"app_id": app_id, "app_secret": secret}).to_string();
    request(
        &feishu.base_url(),
        "POST",
        TOKEN_PATH,
        "Content-Type: application/json\r\n",
        &body,
    )
    .await
}

async fn token(feishu: &FeishuHandle) -> String {
    let config = feishu.config();
    let reply = token_reply(feishu, &config.app_id, &config.app_secret).await;
    assert_eq!(reply.code(), (200, 0));
    reply.json()["tenant_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get(feishu: &FeishuHandle, token: &str, path: &str) -> Reply {
    request(
        &feishu.base_url(),
        "GET",
        path,
        &format!("Authorization: Bearer {token}\r\n"),
        "",
    )
    .await
}

fn strings(items: &Value, key: &str) -> Vec<String> {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item[key].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ---- tests ----

#[tokio::test]
async fn token_flow_and_renewal_window() {
    let feishu = feishu::start(org(false), quiet()).await.unwrap();
    let config = feishu.config().clone();
    assert_eq!(
        token_reply(&feishu, "cli_other", &config.app_secret)
            .await
            .code(),
        (400, 10003)
    );
    assert_eq!(
        token_reply(&feishu, &config.app_id, "wrong").await.code(),
        (400, 10014)
    );
    let first = token_reply(&feishu, &config.app_id, &config.app_secret)
        .await
        .json();
    assert_eq!(first["msg"], "ok");
    assert_eq!(first["expire"], 7200);
    let token = first["tenant_access_token"].as_str().unwrap();
    assert!(token.starts_with("t-"));
    assert_eq!(
        self::token(&feishu).await,
        token,
        "more than 30 minutes left: the same token"
    );

    // A lifetime shorter than the window: every request mints a new token, old ones stay valid.
    let short = feishu::start(
        org(false),
        FeishuConfig {
            token_ttl: Duration::from_secs(600),
            ..quiet()
        },
    )
    .await
    .unwrap();
    let a = self::token(&short).await;
    let b = self::token(&short).await;
    assert_ne!(a, b);
    for t in [&a, &b] {
        let reply = get(&short, t, "/open-apis/contact/v3/scopes").await;
        assert_eq!(reply.code(), (200, 0));
    }
}

#[tokio::test]
async fn authorization_errors() {
    let feishu = feishu::start(org(false), quiet()).await.unwrap();
    let path = "/open-apis/contact/v3/scopes";
    let no_header = request(&feishu.base_url(), "GET", path, "", "").await;
    assert_eq!(no_header.code(), (400, 99991661));
    assert_eq!(get(&feishu, "abc", path).await.code(), (400, 99991671));
    assert_eq!(
        get(&feishu, "t-never-issued", path).await.code(),
        (401, 99991663)
    );
    let token = token(&feishu).await;
    assert_eq!(get(&feishu, &token, path).await.code(), (200, 0));
    feishu.expire_tokens();
    assert_eq!(get(&feishu, &token, path).await.code(), (401, 99991663));

    // A token killed by its call budget: 401 first, 400 the next time (the notes allow both).
    feishu.set_faults(Faults {
        token_expires_after_calls: Some(1),
        ..Faults::default()
    });
    let one = self::token(&feishu).await;
    assert_eq!(get(&feishu, &one, path).await.code(), (200, 0));
    assert_eq!(get(&feishu, &one, path).await.code(), (401, 99991663));
    let two = self::token(&feishu).await;
    assert_eq!(get(&feishu, &two, path).await.code(), (200, 0));
    assert_eq!(get(&feishu, &two, path).await.code(), (400, 99991663));
}

#[tokio::test]
async fn children_paging_ids_and_caps() {
    let feishu = feishu::start(org(false), quiet()).await.unwrap();
    let token = token(&feishu).await;
    let base = "/open-apis/contact/v3/departments/0/children?department_id_type=department_id";

    let all = get(
        &feishu,
        &token,
        &format!("{base}&fetch_child=true&page_size=3"),
    )
    .await
    .json();
    assert_eq!(all["code"], 0);
    assert_eq!(all["msg"], "success");
    let data = &all["data"];
    assert_eq!(strings(&data["items"], "department_id"), ["2", "3", "5"]);
    assert_eq!(data["has_more"], true);
    let page_token = data["page_token"].as_str().unwrap();
    let rest = get(
        &feishu,
        &token,
        &format!("{base}&fetch_child=true&page_size=3&page_token={page_token}"),
    )
    .await
    .json();
    assert_eq!(strings(&rest["data"]["items"], "department_id"), ["4"]);
    assert_eq!(rest["data"]["has_more"], false);
    assert!(
        rest["data"].get("page_token").is_none(),
        "no token on the last page"
    );

    let level = get(&feishu, &token, base).await.json();
    assert_eq!(
        strings(&level["data"]["items"], "department_id"),
        ["2", "4"]
    );
    let rd = &level["data"]["items"][0];
    assert_eq!(rd["parent_department_id"], "0");
    assert!(
        rd["open_department_id"]
            .as_str()
            .unwrap()
            .starts_with("od-")
    );
    assert!(rd["leader_user_id"].as_str().unwrap().starts_with("ou_"));
    assert_eq!(rd["leaders"][0]["leaderType"], 1);

    // Open ids by default; the child named by its open id.
    let open = rd["open_department_id"].as_str().unwrap();
    let below = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/departments/{open}/children"),
    )
    .await
    .json();
    assert_eq!(
        below["data"]["items"][0]["parent_department_id"], open,
        "parent ids follow department_id_type"
    );
    // The custom id of that department does not work as an open id.
    let wrong = get(
        &feishu,
        &token,
        "/open-apis/contact/v3/departments/2/children",
    )
    .await;
    assert_eq!(wrong.code(), (403, 40004));

    let capped = get(&feishu, &token, &format!("{base}&page_size=51")).await;
    assert_eq!(capped.code(), (400, 40011));
    let bad = get(&feishu, &token, &format!("{base}&page_token=garbage")).await;
    assert_eq!(bad.code(), (400, 40012));
    let flag = get(&feishu, &token, &format!("{base}&fetch_child=yes")).await;
    assert_eq!(flag.code(), (400, 99992402));
    let id_type = get(
        &feishu,
        &token,
        "/open-apis/contact/v3/scopes?user_id_type=email",
    )
    .await;
    assert_eq!(id_type.code(), (400, 99992402));

    let limited = feishu::start(
        org(false),
        FeishuConfig {
            recursive_fetch_limit: Some(2),
            ..quiet()
        },
    )
    .await
    .unwrap();
    let token = self::token(&limited).await;
    let refused = get(&limited, &token, &format!("{base}&fetch_child=true")).await;
    assert_eq!(refused.code(), (400, 43010));
}

#[tokio::test]
async fn members_statuses_and_the_root() {
    let feishu = feishu::start(org(false), quiet()).await.unwrap();
    let token = token(&feishu).await;
    let find = |department: &str, extra: &str| {
        format!(
            "/open-apis/contact/v3/users/find_by_department?department_id={department}\
             &department_id_type=department_id&user_id_type=user_id{extra}"
        )
    };
    let root = get(&feishu, &token, &find("0", "")).await.json();
    assert_eq!(
        strings(&root["data"]["items"], "user_id"),
        ["ceo", "assistant"]
    );
    assert_eq!(root["data"]["items"][1]["leader_user_id"], "ceo");
    assert_eq!(root["data"]["items"][0]["department_ids"], json!(["0"]));

    let platform = get(&feishu, &token, &find("3", "")).await.json();
    let items = &platform["data"]["items"];
    assert_eq!(
        strings(items, "user_id"),
        ["plat.head", "dev", "newbie", "gone"],
        "direct members only, not 基础设施组's"
    );
    let status = |i: usize| items[i]["status"].clone();
    assert_eq!(
        status(0),
        json!({"is_frozen": false, "is_resigned": false, "is_activated": true, "is_exited": false, "is_unjoin": false})
    );
    assert_eq!(status(1)["is_frozen"], true);
    assert_eq!(
        (
            status(2)["is_activated"].clone(),
            status(2)["is_unjoin"].clone()
        ),
        (json!(false), json!(true))
    );
    assert_eq!(status(3)["is_resigned"], true);
    assert_eq!(items[0]["email"], "zhou@example.cn");
    assert_eq!(items[0]["employee_no"], "E7");
    let dev = &items[1];
    assert_eq!(dev["department_ids"], json!(["2", "3"]));
    assert_eq!(dev["orders"][1]["is_primary_dept"], true);
    assert_eq!(dev["orders"][0]["is_primary_dept"], false);
    assert!(dev["open_id"].as_str().unwrap().starts_with("ou_"));
    assert!(dev["union_id"].as_str().unwrap().starts_with("on_"));

    let open = get(
        &feishu,
        &token,
        "/open-apis/contact/v3/users/find_by_department?department_id=0",
    )
    .await
    .json();
    let assistant = &open["data"]["items"][1];
    assert_eq!(
        assistant["leader_user_id"], open["data"]["items"][0]["open_id"],
        "leader ids follow user_id_type (open_id by default)"
    );

    let empty = get(&feishu, &token, &find("5", "")).await.json();
    assert_eq!(empty["data"]["has_more"], false);
    assert!(
        empty["data"].get("items").is_none(),
        "items left out when empty"
    );

    let single = get(
        &feishu,
        &token,
        "/open-apis/contact/v3/users/dev?user_id_type=user_id",
    )
    .await
    .json();
    assert_eq!(single["data"]["user"]["name"], "林晓");
    let batch = get(
        &feishu,
        &token,
        "/open-apis/contact/v3/users/batch?user_id_type=user_id&user_ids=dev&user_ids=nobody&user_ids=ceo",
    )
    .await
    .json();
    assert_eq!(strings(&batch["data"]["items"], "user_id"), ["dev", "ceo"]);
    let too_many: String = (0..51).map(|i| format!("&user_ids=u{i}")).collect();
    let refused = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/users/batch?user_id_type=user_id{too_many}"),
    )
    .await;
    assert_eq!(refused.code(), (400, 99992402));
    assert_eq!(
        get(&feishu, &token, &find("3", "&page_size=0"))
            .await
            .code(),
        (400, 40011)
    );

    feishu.update_org(|org| org.sensitive_fields = false);
    let hidden = get(&feishu, &token, &find("3", "")).await.json();
    assert!(hidden["data"]["items"][0].get("email").is_none());
    assert!(hidden["data"]["items"][0].get("mobile").is_none());
}

#[tokio::test]
async fn partial_scope() {
    let feishu = feishu::start(org(true), quiet()).await.unwrap();
    let token = token(&feishu).await;
    let ids = "user_id_type=user_id&department_id_type=department_id";
    let scopes = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/scopes?{ids}"),
    )
    .await
    .json();
    assert_eq!(
        scopes["data"],
        json!({"department_ids": ["3"], "user_ids": ["seller"], "group_ids": [], "has_more": false})
    );
    let root = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/departments/0/children?{ids}&fetch_child=true"),
    )
    .await;
    assert_eq!(
        root.code(),
        (403, 40004),
        "the root needs whole-tenant scope"
    );
    let rd = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/departments/2?{ids}"),
    )
    .await;
    assert_eq!(rd.code(), (403, 40004));
    let platform = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/departments/3?{ids}"),
    )
    .await
    .json();
    assert_eq!(platform["data"]["department"]["name"], "平台组");
    assert_eq!(platform["data"]["department"]["parent_department_id"], "2");
    let below = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/departments/3/children?{ids}&fetch_child=true"),
    )
    .await
    .json();
    assert_eq!(strings(&below["data"]["items"], "department_id"), ["5"]);

    let members = get(
        &feishu,
        &token,
        &format!("/open-apis/contact/v3/users/find_by_department?{ids}&department_id=3"),
    )
    .await
    .json();
    let head = &members["data"]["items"][0];
    assert_eq!(
        head["leader_user_id"], "rd.head",
        "an out-of-scope manager is still named"
    );
    let user = |id: &str| format!("/open-apis/contact/v3/users/{id}?{ids}");
    assert_eq!(get(&feishu, &token, &user("seller")).await.code(), (200, 0));
    assert_eq!(
        get(&feishu, &token, &user("rd.head")).await.code(),
        (400, 41050)
    );
    assert_eq!(
        get(&feishu, &token, &user("nobody")).await.code(),
        (400, 41012)
    );

    let redacting = feishu::start(
        org(true),
        FeishuConfig {
            redact_out_of_scope_leader: true,
            ..quiet()
        },
    )
    .await
    .unwrap();
    let token = self::token(&redacting).await;
    let members = get(
        &redacting,
        &token,
        &format!("/open-apis/contact/v3/users/find_by_department?{ids}&department_id=3"),
    )
    .await
    .json();
    assert!(members["data"]["items"][0].get("leader_user_id").is_none());
    assert_eq!(members["data"]["items"][1]["leader_user_id"], "plat.head");

    // Whole tenant: first-level departments and the people right under the root.
    let whole = feishu::start(org(false), quiet()).await.unwrap();
    let token = self::token(&whole).await;
    let scopes = get(
        &whole,
        &token,
        &format!("/open-apis/contact/v3/scopes?{ids}&page_size=3"),
    )
    .await
    .json();
    assert_eq!(scopes["data"]["department_ids"], json!(["2", "4"]));
    assert_eq!(scopes["data"]["user_ids"], json!(["ceo"]));
    assert_eq!(scopes["data"]["has_more"], true);
    let scope_capped = get(&whole, &token, "/open-apis/contact/v3/scopes?page_size=101").await;
    assert_eq!(scope_capped.code(), (400, 40011));
}

#[tokio::test]
async fn documented_rate_limits_are_enforced() {
    let feishu = feishu::start(org(false), FeishuConfig::default())
        .await
        .unwrap();
    let token = token(&feishu).await;
    let path = "/open-apis/contact/v3/users/find_by_department?department_id=0";
    let mut refused = None;
    for _ in 0..300 {
        let reply = get(&feishu, &token, path).await;
        if reply.status == 429 {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("more than 50 calls in a second are refused");
    assert_eq!(refused.code(), (429, 99991400));
    assert_eq!(refused.header("x-ogw-ratelimit-limit"), Some("50"));
    let reset: u64 = refused
        .header("x-ogw-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset <= 1, "{reset}");
    assert_eq!(feishu.rate_limit_rejections(), 1);
    // Per API: another endpoint still answers.
    let scopes = get(&feishu, &token, "/open-apis/contact/v3/scopes").await;
    assert_eq!(scopes.code(), (200, 0));
}

#[tokio::test]
async fn faults_counters_and_log_ids() {
    let feishu = feishu::start(org(false), quiet()).await.unwrap();
    let token = token(&feishu).await;
    let path = "/open-apis/contact/v3/departments/0/children";
    feishu.set_faults(Faults {
        http_5xx_every: Some(3),
        malformed_json_every: Some(2),
        rate_limit_every: Some(1),
        ..Faults::default()
    });
    let limited = get(&feishu, &token, path).await;
    assert_eq!(limited.code(), (429, 99991400));
    assert_eq!(limited.header("x-ogw-ratelimit-reset"), Some("1"));
    let truncated = get(&feishu, &token, path).await;
    assert_eq!(truncated.status, 200);
    assert!(serde_json::from_slice::<Value>(&truncated.body).is_err());
    let gateway = get(&feishu, &token, path).await;
    assert_eq!(gateway.status, 502);
    assert!(String::from_utf8_lossy(&gateway.body).contains("<html>"));
    assert!(gateway.header("x-tt-logid").is_some());

    feishu.set_faults(Faults::default());
    feishu.set_paging_defect(Some(PagingDefect::MissingToken));
    let defect = get(&feishu, &token, path).await.json();
    assert_eq!(defect["data"]["has_more"], true);
    assert!(defect["data"].get("page_token").is_none());
    feishu.set_paging_defect(None);

    let unknown = get(&feishu, &token, "/open-apis/contact/v3/users").await;
    assert_eq!(unknown.status, 404);
    let counts = feishu.call_counts();
    assert_eq!(counts[TOKEN_PATH], 1);
    assert_eq!(
        counts["/open-apis/contact/v3/departments/:department_id/children"],
        4
    );
    assert_eq!(counts["/open-apis/contact/v3/users"], 1);
    assert_eq!(feishu.total_calls(), 6);
    feishu.reset_calls();
    assert_eq!(feishu.total_calls(), 0);
}
