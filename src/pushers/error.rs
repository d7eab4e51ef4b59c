use std::time::Duration;

/// Why a target refused or failed a write.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    #[error("cannot set up the target client: {detail}")]
    Setup { detail: String },
    #[error("request failed: {detail}")]
    Transport { detail: String, retryable: bool },
    /// The target says the value is taken by another account (SCIM 409 uniqueness).
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    #[error("HTTP {status}{}: {detail}", scim_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Status {
        status: u16,
        scim_type: Option<String>,
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error("malformed response: {detail}")]
    Malformed { detail: String },
    #[error("gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        attempts: usize,
        last: Box<PushError>,
    },
}

impl PushError {
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Transport { retryable, .. } => *retryable,
            PushError::Status { status, .. } => *status == 429 || *status >= 500,
            PushError::Setup { .. }
            | PushError::Conflict { .. }
            | PushError::Malformed { .. }
            | PushError::Exhausted { .. } => false,
        }
    }

    /// The wait the target asked for (Retry-After), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PushError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn transport(error: reqwest::Error) -> Self {
        let retryable =
            error.is_timeout() || error.is_connect() || error.is_request() || error.is_body();
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        PushError::Transport { detail, retryable }
    }
}
