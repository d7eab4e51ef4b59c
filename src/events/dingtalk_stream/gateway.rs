//! `POST /v1.0/gateway/connections/open`: the app's credentials exchanged for a WebSocket
//! endpoint and a one-time ticket, before every connection.

use crate::config::{PlainHttp, Secret, transport};
use serde::{Deserialize, Serialize};
use url::Url;

pub(super) const OPEN_PATH: &str = "/v1.0/gateway/connections/open";

/// The contact API's host (`oapi`) does not serve the gateway: the new API's host does.
const OAPI_HOST: &str = "oapi.dingtalk.com";
const OPENAPI_BASE: &str = "https://api.dingtalk.com";

/// Where the gateway is asked for connections: DingTalk's new API host for the real `oapi`
/// host, else `api_base` itself (an emulator or a proxy serving both hosts' paths).
pub(super) fn gateway_url(api_base: &Url) -> Result<Url, String> {
    let base = if api_base.host_str() == Some(OAPI_HOST) {
        OPENAPI_BASE.to_owned()
    } else {
        api_base.as_str().trim_end_matches('/').to_owned()
    };
    Url::parse(&format!("{base}{OPEN_PATH}"))
        .map_err(|e| format!("the Stream gateway's URL cannot be formed from api_base: {e}"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenRequest<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    subscriptions: [Subscription; 1],
    ua: &'static str,
}

#[derive(Serialize)]
struct Subscription {
    #[serde(rename = "type")]
    kind: &'static str,
    topic: &'static str,
}

#[derive(Deserialize)]
struct OpenAnswer {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    ticket: String,
}

/// Why a connection could not be opened (never names the secret or the ticket).
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error("the gateway cannot be reached: {0}")]
    Transport(String),
    #[error(
        "the gateway answered HTTP {0} (wrong app_key or app_secret, or Stream mode not enabled)"
    )]
    Status(u16),
    #[error("the gateway's answer is unreadable: {0}")]
    Malformed(String),
    #[error("{0}")]
    Refused(String),
    #[error("the WebSocket cannot be opened: {0}")]
    Socket(String),
}

/// Asks the gateway for an endpoint and returns the WebSocket URL with its ticket.
pub(super) async fn open(
    http: &reqwest::Client,
    gateway: &Url,
    client_id: &str,
    client_secret: &Secret,
    plain: PlainHttp,
) -> Result<Url, OpenError> {
    let request = OpenRequest {
        client_id,
        client_secret: client_secret.expose(),
        subscriptions: [Subscription {
            kind: "EVENT",
            topic: "*",
        }],
        ua: concat!("orgsync/", env!("CARGO_PKG_VERSION")),
    };
    let response = http
        .post(gateway.clone())
        .json(&request)
        .send()
        .await
        .map_err(|e| OpenError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(OpenError::Status(status.as_u16()));
    }
    let body = crate::pullers::http::read_limited(response)
        .await
        .map_err(|e| OpenError::Transport(e.without_url().to_string()))?
        .ok_or_else(|| OpenError::Malformed(crate::pullers::http::too_large()))?;
    let answer: OpenAnswer =
        serde_json::from_slice(&body).map_err(|e| OpenError::Malformed(e.to_string()))?;
    if answer.endpoint.is_empty() || answer.ticket.is_empty() {
        return Err(OpenError::Malformed("no endpoint or ticket".into()));
    }
    let mut endpoint = Url::parse(&answer.endpoint)
        .map_err(|e| OpenError::Malformed(format!("the endpoint is not a URL: {e}")))?;
    check_endpoint(&endpoint, plain).map_err(OpenError::Refused)?;
    endpoint
        .query_pairs_mut()
        .append_pair("ticket", &answer.ticket);
    Ok(endpoint)
}

/// `wss://`, or plain `ws://` where the source allows plain http (loopback, or
/// `allow_plain_http = true`): the connection carries people's ids.
pub(super) fn check_endpoint(endpoint: &Url, plain: PlainHttp) -> Result<(), String> {
    match endpoint.scheme() {
        "wss" => Ok(()),
        "ws" if plain == PlainHttp::Allowed || transport::is_loopback(endpoint) => Ok(()),
        "ws" => Err(format!(
            "the gateway offered plain ws:// to {}, which is not loopback; refused unless the \
             source allows plain http (allow_plain_http = true)",
            endpoint.host_str().unwrap_or("an unnamed host")
        )),
        other => Err(format!(
            "the gateway offered a {other}:// endpoint, not wss://"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_oapi_host_asks_the_new_api_host() {
        let real = gateway_url(&Url::parse("https://oapi.dingtalk.com").unwrap()).unwrap();
        assert_eq!(
            real.as_str(),
            "https://api.dingtalk.com/v1.0/gateway/connections/open"
        );
        let emulated = gateway_url(&Url::parse("http://127.0.0.1:5000/").unwrap()).unwrap();
        assert_eq!(
            emulated.as_str(),
            "http://127.0.0.1:5000/v1.0/gateway/connections/open"
        );
    }

    #[test]
    fn plain_ws_only_to_loopback_or_when_allowed() {
        let remote = Url::parse("ws://gateway.example/connect").unwrap();
        let local = Url::parse("ws://127.0.0.1:9/connect").unwrap();
        let secure = Url::parse("wss://gateway.example/connect").unwrap();
        assert!(check_endpoint(&secure, PlainHttp::Refused).is_ok());
        assert!(check_endpoint(&local, PlainHttp::Refused).is_ok());
        assert!(check_endpoint(&remote, PlainHttp::Refused).is_err());
        assert!(check_endpoint(&remote, PlainHttp::Allowed).is_ok());
        let http = Url::parse("http://gateway.example/").unwrap();
        assert!(check_endpoint(&http, PlainHttp::Allowed).is_err());
    }
}
