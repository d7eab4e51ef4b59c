//! Bearer-token check for the TCP listener. The comparison takes the same time wherever the
//! tokens differ: both sides are hashed to fixed-length digests, then compared without an early exit.

use super::handlers::error;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct TokenCheck {
    digest: [u8; 32],
}

impl TokenCheck {
    pub fn new(token: &crate::config::Secret) -> Self {
        TokenCheck {
            digest: Sha256::digest(token.expose().as_bytes()).into(),
        }
    }

    fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&digest, &self.digest)
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub async fn require_token(
    State(check): State<Arc<TokenCheck>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if check.accepts(token) => next.run(request).await,
        Some(_) => error(StatusCode::UNAUTHORIZED, "the bearer token is wrong"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "this listener needs `Authorization: Bearer <token>` (daemon.tcp_token)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_token() {
        let check = TokenCheck::new(&crate::config::Secret::new("s3cret"));
        assert!(check.accepts("s3cret"));
        assert!(!check.accepts("s3cret "));
        assert!(!check.accepts("s3cre"));
        assert!(!check.accepts(""));
    }
}
