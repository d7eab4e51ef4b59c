//! The fuzz targets' bodies (fuzz/fuzz_targets/*.rs call the same functions) run under proptest
//! in every test run: arbitrary bytes, and JSON built from the fields the parsers look for (so
//! the inputs get past the first `{`), whole, truncated or behind an HTML page. No input may
//! panic. cargo-fuzz needs a nightly toolchain; this smoke run is what CI does instead.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every field name the wire types of the four upstreams and SCIM read, plus batch keys.
const KEYS: &[&str] = &[
    "ACTIVE",
    "EMAIL",
    "ID",
    "LAST_NAME",
    "NAME",
    "PARENT",
    "PERSONAL_MOBILE",
    "UF_DEPARTMENT",
    "UF_HEAD",
    "USER_TYPE",
    "WORK_POSITION",
    "access_token",
    "active",
    "allow_partys",
    "allow_userinfos",
    "auth_org_scopes",
    "authed_dept",
    "authed_user",
    "code",
    "data",
    "department",
    "department_id",
    "department_ids",
    "departments",
    "dept_id",
    "dept_id_list",
    "detail",
    "direct_leader",
    "email",
    "emails",
    "employee_no",
    "enterprise_email",
    "errcode",
    "errmsg",
    "error",
    "error_description",
    "expire",
    "expires_in",
    "has_more",
    "id",
    "items",
    "job_title",
    "leader_user_id",
    "list",
    "main_department",
    "manager_userid",
    "mobile",
    "msg",
    "name",
    "next_cursor",
    "open_department_id",
    "open_id",
    "orders",
    "org_email",
    "page_token",
    "parent_department_id",
    "parent_id",
    "parentid",
    "partyid",
    "position",
    "refresh_token",
    "result",
    "result_error",
    "result_next",
    "result_total",
    "status",
    "sub_code",
    "sub_msg",
    "tenant_access_token",
    "title",
    "union_id",
    "user",
    "user_id",
    "user_ids",
    "userid",
    "userlist",
    "value",
    "is_frozen",
    "is_resigned",
    "is_activated",
    "is_exited",
    "is_unjoin",
    "is_deleted",
    "totalResults",
    "Resources",
    "itemsPerPage",
    "startIndex",
    "userName",
    "externalId",
    "displayName",
    "phoneNumbers",
    "employeeNumber",
    "scimType",
    "primary",
    "type",
    "formatted",
    "manager",
    "schemas",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "u0",
    "d0",
    "0",
    "1",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..60).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9]{0,3}".prop_map(Value::String),
        prop::sample::select(KEYS).prop_map(|k| Value::String(k.into())),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// An object with some of these fields, each a leaf or, sometimes, any JSON.
fn record(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let value = prop_oneof![4 => leaf(), 1 => json()];
    prop::collection::vec((prop::sample::select(keys), value), 0..keys.len() + 2).prop_map(
        |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    )
}

fn records(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(record(keys), 0..6).prop_map(Value::Array)
}

const WECOM_USER: &[&str] = &[
    "userid",
    "name",
    "department",
    "main_department",
    "position",
    "direct_leader",
    "status",
    "email",
    "mobile",
];
const WECOM_DEPARTMENT: &[&str] = &["id", "name", "parentid"];
const DINGTALK_USER: &[&str] = &[
    "userid",
    "name",
    "active",
    "dept_id_list",
    "manager_userid",
    "title",
    "email",
    "org_email",
    "mobile",
    "job_number",
];
const DINGTALK_DEPARTMENT: &[&str] = &["dept_id", "name", "parent_id"];
const FEISHU_USER: &[&str] = &[
    "user_id",
    "open_id",
    "union_id",
    "name",
    "email",
    "enterprise_email",
    "mobile",
    "department_ids",
    "leader_user_id",
    "job_title",
    "employee_no",
    "status",
    "orders",
];
const FEISHU_DEPARTMENT: &[&str] = &[
    "department_id",
    "open_department_id",
    "parent_department_id",
    "name",
    "status",
];
const BITRIX24_USER: &[&str] = &[
    "ID",
    "NAME",
    "LAST_NAME",
    "EMAIL",
    "PERSONAL_MOBILE",
    "WORK_POSITION",
    "ACTIVE",
    "UF_DEPARTMENT",
    "USER_TYPE",
];
const BITRIX24_DEPARTMENT: &[&str] = &["ID", "NAME", "PARENT", "UF_HEAD"];
const SCIM_USER: &[&str] = &[
    "id",
    "externalId",
    "userName",
    "displayName",
    "name",
    "emails",
    "phoneNumbers",
    "title",
    "active",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

fn counter() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..200).prop_map(Value::from),
        (0u64..200).prop_map(|n| Value::String(n.to_string())),
        leaf()
    ]
}

/// Answers shaped like each platform's, with the records' fields filled at random.
fn shaped() -> impl Strategy<Value = Value> {
    use serde_json::json;
    prop_oneof![
        (records(WECOM_USER), records(WECOM_DEPARTMENT), leaf()).prop_map(|(users, departments, code)| {
            json!({"errcode": 0, "errmsg": "ok", "userlist": users, "department": departments, "userid": code})
        }),
        (records(DINGTALK_USER), any::<bool>(), leaf()).prop_map(|(list, more, cursor)| {
            json!({"errcode": 0, "result": {"list": list, "has_more": more, "next_cursor": cursor}})
        }),
        records(DINGTALK_DEPARTMENT).prop_map(|result| json!({"errcode": 0, "result": result})),
        record(DINGTALK_USER).prop_map(|mut user| {
            user["errcode"] = json!(0);
            user
        }),
        (records(FEISHU_USER), record(FEISHU_USER), any::<bool>(), leaf()).prop_map(
            |(items, user, more, token)| {
                json!({"code": 0, "data": {"items": items, "user": user, "has_more": more, "page_token": token}})
            }
        ),
        records(FEISHU_DEPARTMENT).prop_map(|items| json!({"code": 0, "data": {"items": items}})),
        (records(BITRIX24_USER), records(BITRIX24_DEPARTMENT), counter(), counter(), counter(), counter())
            .prop_map(|(users, departments, ut, dt, un, dn)| {
                json!({"result": {"result": {"u0": users, "d0": departments},
                    "result_error": [], "result_total": {"u0": ut, "d0": dt},
                    "result_next": {"u0": un, "d0": dn}}})
            }),
        (records(SCIM_USER), counter()).prop_map(|(resources, total)| {
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": total, "Resources": resources})
        }),
    ]
}

/// A body: raw bytes, or JSON (shaped like an answer or not) whole, cut short, or behind an HTML
/// error page.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        4 => shaped().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (shaped(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let bytes = serde_json::to_vec(&v).unwrap();
            let at = cut.index(bytes.len() + 1);
            bytes[..at].to_vec()
        }),
        1 => (json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let bytes = serde_json::to_vec(&v).unwrap();
            let at = cut.index(bytes.len() + 1);
            bytes[..at].to_vec()
        }),
        1 => json().prop_map(|v| format!("<html><body>502 Bad Gateway</body></html>{v}").into_bytes()),
    ]
}

/// Cases per parser; `ORGSYNC_FUZZ_CASES` raises it for a longer local run.
fn cases() -> u32 {
    std::env::var("ORGSYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn smoke(name: &'static str, parse: fn(&[u8])) {
    smoke_with(name, body, parse);
}

fn smoke_with<S: Strategy<Value = Vec<u8>> + 'static>(
    name: &'static str,
    inputs: fn() -> S,
    parse: fn(&[u8]),
) {
    // Building the nested strategies' values takes more stack than a test thread has in a debug
    // build; the parsers themselves stay shallow (serde_json stops at depth 128).
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || run_smoke(name, inputs(), parse))
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("{name}: a parser panicked (see above)"));
}

fn run_smoke(name: &str, inputs: impl Strategy<Value = Vec<u8>>, parse: fn(&[u8])) {
    let executions = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    runner
        .run(&inputs, |bytes| {
            executions.fetch_add(1, Ordering::Relaxed);
            parse(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "fuzz smoke {name}: {} executions without a panic in {:.1} s",
        executions.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn wecom_wire() {
    smoke("wecom", orgsync::pullers::wecom::fuzz::parse);
}

#[test]
fn dingtalk_wire() {
    smoke("dingtalk", orgsync::pullers::dingtalk::fuzz::parse);
}

#[test]
fn feishu_wire() {
    smoke("feishu", orgsync::pullers::feishu::fuzz::parse);
}

#[test]
fn bitrix24_wire() {
    smoke("bitrix24", orgsync::pullers::bitrix24::fuzz::parse);
}

#[test]
fn scim_responses() {
    smoke("scim", orgsync::pushers::scim::fuzz::parse);
}

/// Lines of the example configs, shuffled, dropped, repeated and given odd values.
const EXAMPLES: [&str; 4] = [
    include_str!("../config/wecom-scim.toml"),
    include_str!("../config/dingtalk-scim.toml"),
    include_str!("../config/feishu-scim.toml"),
    include_str!("../config/bitrix24-scim.toml"),
];

fn config_text() -> impl Strategy<Value = Vec<u8>> {
    let lines: Vec<&'static str> = EXAMPLES
        .iter()
        .flat_map(|t| t.lines())
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| !l.is_empty())
        .collect();
    let line = prop_oneof![
        4 => prop::sample::select(lines),
        1 => Just("[connectors.hq.source]"),
        1 => Just("[connectors.hq.target]"),
        1 => Just("[connectors.hq.policy]"),
    ]
    .prop_map(str::to_owned);
    let odd = (
        prop::sample::select(KEYS),
        prop_oneof![
            Just("\"\"".to_owned()),
            Just("-1".to_owned()),
            Just("1e400".to_owned()),
            Just("\"0s\"".to_owned()),
            Just("\"99999999999999999999d\"".to_owned()),
            Just("\"env:\"".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
            "\"[a-z0-9:/._-]{0,20}\"",
        ],
    )
        .prop_map(|(k, v)| format!("{k} = {v}"));
    prop::collection::vec(prop_oneof![3 => line, 1 => odd], 0..40)
        .prop_map(|lines| lines.join("\n").into_bytes())
}

/// Config files: TOML text (as far as it is UTF-8) through the same loader and validation.
#[test]
fn config_loader() {
    smoke_with("config", config_text, orgsync::config::fuzz_parse);
    smoke("config-bytes", orgsync::config::fuzz_parse);
}
