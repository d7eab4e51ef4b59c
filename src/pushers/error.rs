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
    /// An LDAP server answered with a result code (RFC 4511 §4.1.9); `detail` names the
    /// operation and the entry.
    #[error("{detail} (LDAP {code} {})", ldap_result_name(*code))]
    Directory { code: u32, detail: String },
    /// The target kind cannot do this at all (a webhook cannot list accounts).
    #[error("not supported: {detail}")]
    Unsupported { detail: String },
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
            // busy, unavailable: the server asks to come back later.
            PushError::Directory { code, .. } => matches!(code, 51 | 52),
            PushError::Setup { .. }
            | PushError::Unsupported { .. }
            | PushError::Conflict { .. }
            | PushError::Malformed { .. }
            | PushError::Exhausted { .. } => false,
        }
    }

    /// The error for the log: what kind of failure it was, without the target's own words or the
    /// entry it names, which quote people's values (`email "ana@…" is already in use`, a DN made
    /// of a name). The journal keeps ids; the run's report keeps the whole message for admins.
    pub fn for_log(&self) -> String {
        match self {
            // Set-up and transport messages are orgsync's and the HTTP stack's (URLs stripped).
            PushError::Setup { .. }
            | PushError::Transport { .. }
            | PushError::Unsupported { .. } => self.to_string(),
            PushError::Conflict { .. } => {
                "conflict: a unique value is held by another account".into()
            }
            PushError::Status {
                status, scim_type, ..
            } => match scim_type {
                Some(t) => format!("HTTP {status} ({t})"),
                None => format!("HTTP {status}"),
            },
            PushError::Malformed { .. } => "malformed response".into(),
            PushError::Directory { code, .. } => {
                format!("LDAP {code} {}", ldap_result_name(*code))
            }
            PushError::Exhausted { attempts, last } => format!(
                "gave up after {attempts} attempts; last error: {}",
                last.for_log()
            ),
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

/// The RFC 4511 name of an LDAP result code, for error messages people can search for.
pub fn ldap_result_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        _ => "unknown",
    }
}

/// A target's answer, read whole up to the size every answer is capped at (64 MiB): past it the
/// answer is refused as malformed rather than filling the memory.
pub(crate) async fn read_capped(response: reqwest::Response) -> Result<bytes::Bytes, PushError> {
    crate::pullers::http::read_limited(response)
        .await
        .map_err(PushError::transport)?
        .ok_or_else(|| PushError::Malformed {
            detail: crate::pullers::http::too_large(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_form_keeps_the_kind_and_drops_the_target_s_words() {
        let errors = [
            PushError::Conflict {
                detail: "email \"ana@personal.example\" is already in use".into(),
            },
            PushError::Status {
                status: 400,
                scim_type: Some("invalidValue".into()),
                detail: "displayName 'Ana Personal' is too long".into(),
                retry_after: None,
            },
            PushError::Directory {
                code: 68,
                detail: "add cn=Ana Personal,ou=people".into(),
            },
            PushError::Exhausted {
                attempts: 3,
                last: Box::new(PushError::Malformed {
                    detail: "expected `,` near \"Ana Personal\"".into(),
                }),
            },
        ];
        let logged: Vec<String> = errors.iter().map(PushError::for_log).collect();
        assert_eq!(
            logged,
            [
                "conflict: a unique value is held by another account",
                "HTTP 400 (invalidValue)",
                "LDAP 68 entryAlreadyExists",
                "gave up after 3 attempts; last error: malformed response",
            ]
        );
        for (error, logged) in errors.iter().zip(&logged) {
            assert!(
                !logged.contains("Ana") && !logged.contains("ana@"),
                "{logged}"
            );
            assert!(
                error.to_string().contains("na"),
                "the full message keeps them"
            );
        }
    }
}
