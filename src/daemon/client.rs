//! The CLI's side of the admin API, over the Unix socket.

use super::types::{
    ConnectorView, ErrorBody, Job, JobOutput, PendingPlanView, RunView, SyncAccepted, SyncRequest,
};
use crate::history::RunSummary;
use crate::report::Report;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;

/// A connection to a running daemon.
pub struct Client {
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error (its message).
    #[error("{message}")]
    Refused { status: u16, message: String },
    #[error("cannot talk to the orgsync daemon: {0}")]
    Transport(String),
}

const BASE: &str = "http://orgsync";

/// Why a daemon's socket did not answer, in the admin's terms: the innermost cause of reqwest's
/// error ("client error (Connect)" says nothing), named for the two usual cases.
fn unanswered(socket: &Path, error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let io = cause
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind);
    let path = socket.display();
    match io {
        Some(std::io::ErrorKind::ConnectionRefused) => format!(
            "nothing listens on {path} (a daemon that stopped without removing its socket?)"
        ),
        Some(std::io::ErrorKind::PermissionDenied) => format!(
            "{path} is not open to this user (the daemon's socket is for its user and group)"
        ),
        _ => format!("{path} does not answer: {cause}"),
    }
}

impl Client {
    /// A client when a daemon answers on `socket`; `None` when there is no socket file, so the
    /// caller runs in-process. A socket that exists but does not answer (a crashed daemon, or one
    /// this user may not reach) is an error the caller reports before falling back.
    pub async fn connect(socket: &Path) -> Result<Option<Client>, ClientError> {
        if !socket.exists() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .unix_socket(socket)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let response = http
            .get(format!("{BASE}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| ClientError::Transport(unanswered(socket, &e)))?;
        if !response.status().is_success() {
            return Err(ClientError::Refused {
                status: response.status().as_u16(),
                message: format!("{} answers {}", socket.display(), response.status()),
            });
        }
        Ok(Some(Client { http }))
    }

    pub async fn sync(
        &self,
        connector: &str,
        request: &SyncRequest,
    ) -> Result<SyncAccepted, ClientError> {
        let response = self
            .http
            .post(format!("{BASE}/connectors/{connector}/sync"))
            .json(request)
            .send()
            .await;
        decode(response).await
    }

    /// Hands a job to the daemon; the answer names its run.
    pub async fn submit(&self, connector: &str, job: &Job) -> Result<SyncAccepted, ClientError> {
        let response = self
            .http
            .post(format!("{BASE}/connectors/{connector}/jobs"))
            .json(job)
            .send()
            .await;
        decode(response).await
    }

    /// What a finished run produced besides its report.
    pub async fn output(&self, run_id: &str) -> Result<JobOutput, ClientError> {
        decode(
            self.http
                .get(format!("{BASE}/runs/{run_id}/output"))
                .send()
                .await,
        )
        .await
    }

    pub async fn pending_plans(&self) -> Result<Vec<PendingPlanView>, ClientError> {
        decode(self.http.get(format!("{BASE}/plans")).send().await).await
    }

    pub async fn approve(&self, run_id: &str) -> Result<SyncAccepted, ClientError> {
        decode(
            self.http
                .post(format!("{BASE}/plans/{run_id}/approve"))
                .send()
                .await,
        )
        .await
    }

    pub async fn dismiss(&self, run_id: &str) -> Result<(), ClientError> {
        let response = self
            .http
            .post(format!("{BASE}/plans/{run_id}/dismiss"))
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        if response.status().is_success() {
            return Ok(());
        }
        decode::<serde_json::Value>(Ok(response)).await.map(|_| ())
    }

    pub async fn run(&self, run_id: &str) -> Result<RunView, ClientError> {
        decode(self.http.get(format!("{BASE}/runs/{run_id}")).send().await).await
    }

    pub async fn report(&self, run_id: &str) -> Result<Report, ClientError> {
        decode(
            self.http
                .get(format!("{BASE}/runs/{run_id}/report?format=json"))
                .send()
                .await,
        )
        .await
    }

    pub async fn connectors(&self) -> Result<Vec<ConnectorView>, ClientError> {
        decode(self.http.get(format!("{BASE}/connectors")).send().await).await
    }

    pub async fn runs(
        &self,
        connector: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(name) = connector {
            query.push(("connector", name.to_owned()));
        }
        decode(
            self.http
                .get(format!("{BASE}/runs"))
                .query(&query)
                .send()
                .await,
        )
        .await
    }
}

async fn decode<T: DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ClientError> {
    let response = response.map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        return Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&body)
        .map_err(|e| ClientError::Transport(format!("unexpected answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket file left by a daemon that is gone: the warning says nothing listens there.
    #[tokio::test]
    async fn a_socket_nobody_listens_on_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        assert!(socket.exists(), "the file outlives its listener");
        let error = match Client::connect(&socket).await {
            Err(error) => error.to_string(),
            Ok(_) => panic!("a socket without a listener answered"),
        };
        assert!(
            error.contains(&format!("nothing listens on {}", socket.display())),
            "{error}"
        );
    }
}
