//! Runs the third-party SCIM 2.0 server `scim2-server` (PyPI) on loopback for one test.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "testtoken";

pub struct Scim2Server {
    child: Child,
    port: u16,
    /// Schema and resource-type files the server was started with, kept while it runs.
    _files: Option<tempfile::TempDir>,
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ORGSYNC_SCIM2_SERVER") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-scim/bin/scim2-server");
    assert!(
        local.exists(),
        "scim2-server is not installed: run `scripts/test`, which installs it into .venv-scim \
         (or set ORGSYNC_SCIM2_SERVER to its path)"
    );
    local
}

impl Scim2Server {
    /// Starts the server on a free port and waits until it answers.
    pub async fn start() -> Scim2Server {
        Self::start_with(&[], None).await
    }

    /// Starts the server serving orgsync's department extension for Groups as well as the RFC
    /// 7643 schemas (its own defaults, read from its package).
    pub async fn start_with_department_extension() -> Scim2Server {
        Self::start_with_extensions(&[("Group", department_schema())]).await
    }

    /// Starts the server serving [`CUSTOM_USER_SCHEMA`] as a User extension, beside the RFC
    /// 7643 schemas and the enterprise extension it serves by default.
    pub async fn start_with_custom_user_extension() -> Scim2Server {
        Self::start_with_extensions(&[("User", custom_user_schema())]).await
    }

    /// Starts the server with extension schemas added to resource types (by resource type id):
    /// scim2-server reads its schemas and resource types from the files `--schema` and
    /// `--resource-type` name, so its own defaults are copied with the extensions added.
    async fn start_with_extensions(extensions: &[(&str, Value)]) -> Scim2Server {
        let dir = tempfile::tempdir().unwrap();
        let resources = package_resources();
        let read = |name: &str| -> Value {
            serde_json::from_slice(&std::fs::read(resources.join(name)).unwrap()).unwrap()
        };
        let mut schemas = read("default-schemas.json");
        let mut types = read("default-resource-types.json");
        for (resource_type_id, schema) in extensions {
            let urn = schema["id"].clone();
            schemas.as_array_mut().unwrap().push(schema.clone());
            for resource_type in types.as_array_mut().unwrap() {
                if resource_type["id"] == *resource_type_id {
                    let listed = resource_type
                        .as_object_mut()
                        .unwrap()
                        .entry("schemaExtensions")
                        .or_insert_with(|| serde_json::json!([]));
                    listed
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({ "schema": urn, "required": false }));
                }
            }
        }
        let schema_file = dir.path().join("schemas.json");
        let types_file = dir.path().join("resource-types.json");
        std::fs::write(&schema_file, schemas.to_string()).unwrap();
        std::fs::write(&types_file, types.to_string()).unwrap();
        let args = [
            "--schema".to_owned(),
            schema_file.display().to_string(),
            "--resource-type".to_owned(),
            types_file.display().to_string(),
        ];
        Self::start_with(&args, Some(dir)).await
    }

    async fn start_with(extra: &[String], files: Option<tempfile::TempDir>) -> Scim2Server {
        // `--port 0` is not usable (the server cannot report the port it got): pick one first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            .args([
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--bearer-token",
                TOKEN,
            ])
            .arg("--dynamic-tenants")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scim2-server starts");
        let server = Scim2Server {
            child,
            port,
            _files: files,
        };
        let probe = format!("{}/ServiceProviderConfig", server.base_url("probe"));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = client.get(&probe).bearer_auth(TOKEN).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "scim2-server did not come up on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Each tenant is a separate, empty store.
    pub fn base_url(&self, tenant: &str) -> String {
        format!("http://127.0.0.1:{}/{tenant}/v2", self.port)
    }
}

pub const DEPARTMENT_SCHEMA: &str =
    "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";

/// A single-valued, writable string attribute of a schema (RFC 7643 §7).
fn string_attribute(name: &str, description: &str, case_exact: bool) -> Value {
    serde_json::json!({
        "name": name, "type": "string", "multiValued": false, "description": description,
        "required": false, "caseExact": case_exact, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none"
    })
}

/// The department extension's schema (RFC 7643 §7), as docs/scim.md describes it.
fn department_schema() -> Value {
    let string = |name: &str, description: &str| string_attribute(name, description, true);
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": DEPARTMENT_SCHEMA,
        "name": "DepartmentGroup",
        "description": "The department a Group stands for (orgsync)",
        "attributes": [
            {
                "name": "head", "type": "complex", "multiValued": false,
                "description": "The department's head", "required": false,
                "mutability": "readWrite", "returned": "default",
                "subAttributes": [
                    string("value", "The id of the head's User resource"),
                    string("externalId", "The head's externalId (their upstream key)")
                ]
            },
            string("parentDepartment", "The parent department's id: the externalId of its Group")
        ]
    })
}

pub const CUSTOM_USER_SCHEMA: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

/// A custom User extension as an application would define it (RFC 7643 §7): a string
/// `badge` and a complex `workplace` with a `site`.
fn custom_user_schema() -> Value {
    let string = |name: &str| string_attribute(name, name, false);
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": CUSTOM_USER_SCHEMA,
        "name": "AcmeUser",
        "description": "Acme's own User attributes",
        "attributes": [
            string("badge"),
            {
                "name": "workplace", "type": "complex", "multiValued": false,
                "description": "Where the user works", "required": false,
                "mutability": "readWrite", "returned": "default",
                "subAttributes": [string("site")]
            }
        ]
    })
}

/// One user's resource as a SCIM server returns it, read with a plain HTTP client (not
/// orgsync's pusher).
pub async fn user_json(base_url: &str, token: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base_url}/Users/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// scim2-server's own resource folder, found through the Python its launcher runs.
fn package_resources() -> PathBuf {
    let launcher = std::fs::read_to_string(binary()).expect("the scim2-server launcher reads");
    let python = launcher
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("#!"))
        .expect("the launcher starts with #!")
        .trim();
    let output = Command::new(python)
        .args([
            "-c",
            "import importlib.resources as r; print(r.files('scim2_server') / 'resources')",
        ])
        .output()
        .expect("scim2-server's Python runs");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// One account as the server holds it, read with a plain HTTP client (not orgsync's pusher).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub manager: Option<String>,
}

pub async fn accounts(base_url: &str) -> Vec<Account> {
    let client = reqwest::Client::new();
    let mut all = Vec::new();
    let mut start = 1;
    loop {
        let page: Value = client
            .get(format!("{base_url}/Users?startIndex={start}&count=1000"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        let fetched = resources.len();
        for r in resources {
            let text = |v: &Value| v.as_str().map(str::to_owned);
            all.push(Account {
                id: text(&r["id"]).unwrap(),
                external_id: text(&r["externalId"]),
                user_name: text(&r["userName"]).unwrap(),
                display_name: text(&r["displayName"]),
                active: r["active"].as_bool().unwrap_or(true),
                manager: text(&r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"]),
            });
        }
        let total = page["totalResults"].as_u64().unwrap() as usize;
        if fetched == 0 || all.len() >= total {
            return all;
        }
        start += fetched;
    }
}
