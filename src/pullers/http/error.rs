use crate::config::ProcessMode;
use crate::pullers::Platform;

/// Why a pull failed. Messages name the platform and endpoint (a path, never a URL: URLs carry
/// tokens and secrets as query parameters) so an operator knows where to look.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PullError {
    #[error("cannot set up the HTTP client: {detail}")]
    Setup { detail: String },
    #[error("{platform} {endpoint}: request failed: {detail}")]
    Transport {
        platform: Platform,
        endpoint: String,
        detail: String,
        retryable: bool,
    },
    #[error("{platform} {endpoint}: HTTP status {status}")]
    HttpStatus {
        platform: Platform,
        endpoint: String,
        status: u16,
    },
    #[error("{platform} {endpoint}: malformed response: {detail}")]
    Malformed {
        platform: Platform,
        endpoint: String,
        detail: String,
    },
    #[error("{platform} {endpoint}: error code {code}: {message}")]
    Api {
        platform: Platform,
        endpoint: String,
        code: i64,
        message: String,
        retryable: bool,
    },
    #[error(
        "{platform}: the credentials were refused (code {code}: {message}); check the configured secret and ids"
    )]
    Credentials {
        platform: Platform,
        code: i64,
        message: String,
    },
    #[error("{platform} {endpoint}: {detail}")]
    Paging {
        platform: Platform,
        endpoint: String,
        detail: String,
    },
    /// The platform asked orgsync to stop calling for a while (a ban, a blocked method, an
    /// exhausted hourly budget): retried, never sooner than `wait`.
    #[error("{platform} {endpoint}: throttled ({detail}); waiting at least {} s", wait.as_secs())]
    Throttled {
        platform: Platform,
        endpoint: String,
        detail: String,
        wait: std::time::Duration,
    },
    #[error("{platform} {endpoint}: gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        platform: Platform,
        endpoint: String,
        attempts: usize,
        last: Box<PullError>,
    },
    /// The next retry would wait past the run's time budget (`retry.budget`, or
    /// `retry.interactive_budget` for a run from a terminal).
    #[error(
        "{platform} {endpoint}: gave up: the next try would wait {} s, more than the {} s left of \
         this {} run's retry budget of {} s (retry.{}); last error: {last}",
        secs(wait), left.as_secs(), mode_name(mode), budget.as_secs(), budget_key(mode)
    )]
    OverBudget {
        platform: Platform,
        endpoint: String,
        wait: std::time::Duration,
        left: std::time::Duration,
        budget: std::time::Duration,
        mode: ProcessMode,
        last: Box<PullError>,
    },
}

fn secs(d: &std::time::Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
}

fn mode_name(mode: &ProcessMode) -> &'static str {
    match mode {
        ProcessMode::Interactive => "interactive",
        ProcessMode::Service => "service",
    }
}

fn budget_key(mode: &ProcessMode) -> &'static str {
    match mode {
        ProcessMode::Interactive => "interactive_budget; the daemon waits longer",
        ProcessMode::Service => "budget",
    }
}

impl PullError {
    /// The error for the log. A malformed answer's detail is serde's message, which quotes the
    /// value it could not read (`invalid type: string "林晓"…`) — people's data — so the log
    /// keeps only where and what kind; the run's report keeps the whole message.
    pub fn for_log(&self) -> String {
        match self {
            PullError::Malformed {
                platform, endpoint, ..
            } => format!("{platform} {endpoint}: malformed response"),
            PullError::Exhausted {
                platform,
                endpoint,
                attempts,
                last,
            } => format!(
                "{platform} {endpoint}: gave up after {attempts} attempts; last error: {}",
                last.for_log()
            ),
            PullError::OverBudget { last, .. } => {
                let whole = self.to_string();
                let head = whole
                    .split("; last error: ")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                format!("{head}; last error: {}", last.for_log())
            }
            other => other.to_string(),
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PullError::Transport { retryable, .. } | PullError::Api { retryable, .. } => *retryable,
            PullError::HttpStatus { status, .. } => *status == 429 || *status >= 500,
            PullError::Throttled { .. } => true,
            // Truncated or garbled bodies come from gateways and dropped connections.
            PullError::Malformed { .. } => true,
            PullError::Setup { .. }
            | PullError::Credentials { .. }
            | PullError::Paging { .. }
            | PullError::Exhausted { .. }
            | PullError::OverBudget { .. } => false,
        }
    }

    /// The code counted in metrics for an error answer (`None` for errors that are not answers).
    pub fn metric_code(&self) -> Option<String> {
        match self {
            PullError::Transport { .. } => Some("transport".into()),
            PullError::HttpStatus { status, .. } => Some(format!("http_{status}")),
            PullError::Malformed { .. } => Some("malformed".into()),
            PullError::Api { code, .. } | PullError::Credentials { code, .. } => {
                Some(code.to_string())
            }
            PullError::Paging { .. } => Some("paging".into()),
            PullError::Throttled { .. } => Some("throttled".into()),
            PullError::Setup { .. }
            | PullError::Exhausted { .. }
            | PullError::OverBudget { .. } => None,
        }
    }

    /// The shortest wait before this error's request may be sent again, when the platform set one.
    pub fn min_wait(&self) -> Option<std::time::Duration> {
        match self {
            PullError::Throttled { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    pub fn transport(platform: Platform, endpoint: &str, error: reqwest::Error) -> Self {
        let retryable =
            error.is_timeout() || error.is_connect() || error.is_request() || error.is_body();
        // `without_url` matters: the URL holds access tokens and secrets.
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        PullError::Transport {
            platform,
            endpoint: endpoint.to_owned(),
            detail,
            retryable,
        }
    }

    /// Describes a body that is not the JSON expected, with a hint when it is an HTML page.
    pub fn malformed(
        platform: Platform,
        endpoint: &str,
        body: &[u8],
        error: &serde_json::Error,
    ) -> Self {
        let trimmed = body
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .copied()
            .next();
        let detail = match trimmed {
            None => "empty body".to_owned(),
            Some(b'<') => "an HTML page instead of JSON (a gateway or proxy error?)".to_owned(),
            Some(_) => error.to_string(),
        };
        PullError::Malformed {
            platform,
            endpoint: endpoint.to_owned(),
            detail,
        }
    }
}
