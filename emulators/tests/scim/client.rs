//! A tiny HTTP/1.1 client over `TcpStream` (the crate has no HTTP client dependency): one request per
//! connection with `Connection: close`, so the answer is everything up to EOF.

use std::time::Duration;

use emulators::scim::{ScimConfig, ScimHandle, ScimUser};
use serde_json::{Value, json};
use tokio::net::TcpStream;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Long enough for a loaded CI machine, short enough that a hung server fails the test.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    authority: String,
    prefix: String,
    token: Option<String>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "status {} body is not JSON ({err}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a SCIM error answer (RFC 7644 §3.12) and returns its `scimType`, if any.
    pub fn scim_error(&self, status: u16) -> Option<String> {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
        let body = self.json();
        assert_eq!(body["schemas"], json!([ERROR]));
        assert_eq!(body["status"], status.to_string());
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        body["scimType"].as_str().map(str::to_owned)
    }
}

impl Client {
    pub fn new(scim: &ScimHandle) -> Self {
        let rest = scim
            .base_url()
            .strip_prefix("http://")
            .expect("http base url");
        let (authority, prefix) = rest.split_at(rest.find('/').expect("base url has a path"));
        Self {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
            token: Some(scim.bearer_token().to_owned()),
        }
    }

    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, &[], Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, &[], Some(&body.to_string())).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send("PATCH", path, &[], Some(&body.to_string())).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], None).await
    }

    /// `GET /Users?filter=…` with the filter percent-encoded.
    pub async fn filter(&self, filter: &str) -> Reply {
        self.get(&format!("/Users?filter={}", encode(filter))).await
    }

    /// Sends a request under the base path with `Authorization` (if any) and, with a body,
    /// `Content-Type: application/scim+json` unless `headers` sets it.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, headers, body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
    }

    /// Like [`Client::send`], but gives up after `limit` and returns `None`, as a client with a
    /// request timeout would.
    pub async fn send_within(
        &self,
        limit: Duration,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Option<Reply> {
        tokio::time::timeout(
            limit,
            self.exchange(method, path, &[], Some(&body.to_string())),
        )
        .await
        .ok()
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/scim+json\r\n",
            self.prefix, self.authority
        );
        if let Some(token) = &self.token {
            head += &format!("Authorization: Bearer {token}\r\n");
        }
        let sets_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !sets_type {
            head += "Content-Type: application/scim+json\r\n";
        }
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        let body = body.unwrap_or_default();
        head += &format!("Content-Length: {}\r\n\r\n", body.len());

        let stream = TcpStream::connect(&self.authority).await.expect("connect");
        write_all(&stream, format!("{head}{body}").as_bytes())
            .await
            .expect("write request");
        parse_reply(&read_to_end(&stream).await.expect("read answer"))
    }
}

// tokio's `io-util` feature (AsyncReadExt/AsyncWriteExt) is not enabled in this workspace, so the
// client drives the socket with readiness + try_read/try_write.
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

async fn read_to_end(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0; 16 * 1024];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(read) => raw.extend_from_slice(&chunk[..read]),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let reply = Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert!(
        reply.header("transfer-encoding").is_none(),
        "chunked answers are not expected from buffered bodies"
    );
    if let Some(length) = reply.header("content-length") {
        assert_eq!(
            length.parse::<usize>().ok(),
            Some(reply.body.len()),
            "Content-Length"
        );
    }
    reply
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Starts an emulator with `config` and a client for it.
pub async fn start(config: ScimConfig) -> (ScimHandle, Client) {
    let scim = emulators::scim::start(config)
        .await
        .expect("start emulator");
    let client = Client::new(&scim);
    (scim, client)
}

pub async fn start_default() -> (ScimHandle, Client) {
    start(ScimConfig::default()).await
}

/// A minimal valid User body.
pub fn user_body(user_name: &str) -> Value {
    json!({ "schemas": [USER], "userName": user_name })
}

/// A User body with an email and the enterprise extension.
pub fn full_user_body(
    user_name: &str,
    external_id: &str,
    email: &str,
    manager: Option<&str>,
) -> Value {
    let mut body = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "displayName": user_name.to_uppercase(),
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "active": true,
        ENTERPRISE: { "employeeNumber": external_id, "department": "R&D" },
    });
    if let Some(manager) = manager {
        body[ENTERPRISE]["manager"] = json!({ "value": manager });
    }
    body
}

pub fn patch_body(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// Creates a user through the API and returns its id.
pub async fn create(client: &Client, body: &Value) -> String {
    let reply = client.post("/Users", body).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["id"].as_str().expect("id").to_owned()
}

/// Inserts a user behind the API's back and returns its id.
pub fn insert(scim: &ScimHandle, user_name: &str, external_id: &str) -> String {
    scim.insert_user(ScimUser {
        external_id: Some(external_id.to_owned()),
        ..ScimUser::new(user_name)
    })
}
