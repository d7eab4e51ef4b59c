//! Cross-site request forgery: every POST carries its session's token (a hidden form field, or
//! the `X-CSRF-Token` header for scripts), and a request that says where it comes from (`Origin`,
//! else `Referer`) must come from the console itself. SameSite=Strict cookies already keep other
//! sites' forms out in current browsers; these checks do not rely on it.

use super::session::{Session, constant_time_eq};
use axum::http::{HeaderMap, header};

/// The header scripts send the token in.
pub const HEADER: &str = "x-csrf-token";
/// The form field pages send it in.
pub const FIELD: &str = "csrf";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfFailure {
    #[error("this form has no CSRF token; reload the page and try again")]
    MissingToken,
    #[error("this form's CSRF token is not this session's; reload the page and try again")]
    WrongToken,
    #[error("the request comes from another site (Origin/Referer); refused")]
    ForeignOrigin,
}

/// Where the console is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The configured external URL's origin (`https://console.example.com`).
    Origin(String),
    /// The `Host` the request was sent to, over http or https (a TLS proxy that keeps `Host`).
    Host(String),
    /// Neither: a request that states an origin is refused.
    Unknown,
}

pub fn expected_origin(headers: &HeaderMap, external: Option<&url::Url>) -> Expected {
    match external {
        Some(url) => Expected::Origin(url.origin().ascii_serialization()),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or(Expected::Unknown, |host| Expected::Host(host.to_owned())),
    }
}

impl Expected {
    fn accepts(&self, stated: &str) -> bool {
        match self {
            Expected::Origin(origin) => stated.eq_ignore_ascii_case(origin),
            Expected::Host(host) => ["http://", "https://"].iter().any(|scheme| {
                stated
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
            }),
            Expected::Unknown => false,
        }
    }
}

/// Whether the request's stated origin (if it states one) is the console's.
pub fn same_origin(headers: &HeaderMap, expected: &Expected) -> Result<(), CsrfFailure> {
    let stated = if let Some(origin) = headers.get(header::ORIGIN) {
        Some(origin.to_str().unwrap_or("null").to_owned())
    } else {
        headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .map(|r| match url::Url::parse(r) {
                Ok(url) => url.origin().ascii_serialization(),
                Err(_) => "null".to_owned(),
            })
    };
    match stated {
        None => Ok(()),
        Some(stated) if expected.accepts(&stated) => Ok(()),
        Some(_) => Err(CsrfFailure::ForeignOrigin),
    }
}

/// The whole check for a POST of a logged-in session: the token (field or header) and the origin.
pub fn check(
    session: &Session,
    field: Option<&str>,
    headers: &HeaderMap,
    expected: &Expected,
) -> Result<(), CsrfFailure> {
    same_origin(headers, expected)?;
    let presented = field.or_else(|| headers.get(HEADER).and_then(|h| h.to_str().ok()));
    match presented {
        None | Some("") => Err(CsrfFailure::MissingToken),
        Some(token) if constant_time_eq(token.as_bytes(), session.csrf.as_bytes()) => Ok(()),
        Some(_) => Err(CsrfFailure::WrongToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::web::session::{Role, Sessions};
    use axum::http::HeaderValue;
    use std::time::{Duration, Instant};

    fn session() -> Session {
        Sessions::new(Duration::from_secs(60))
            .open(Role::Operator, Instant::now())
            .unwrap()
            .1
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_token_must_be_the_sessions_own() {
        let s = session();
        let none = HeaderMap::new();
        let unknown = &Expected::Unknown;
        assert_eq!(check(&s, Some(&s.csrf), &none, unknown), Ok(()));
        assert_eq!(
            check(&s, None, &none, unknown),
            Err(CsrfFailure::MissingToken)
        );
        assert_eq!(
            check(&s, Some(""), &none, unknown),
            Err(CsrfFailure::MissingToken)
        );
        assert_eq!(
            check(&s, Some(&session().csrf), &none, unknown),
            Err(CsrfFailure::WrongToken)
        );
        let by_header = headers(&[(header::HeaderName::from_static(HEADER), &s.csrf)]);
        assert_eq!(check(&s, None, &by_header, unknown), Ok(()));
    }

    #[test]
    fn a_stated_origin_must_be_the_consoles() {
        let s = session();
        let console = &Expected::Host("127.0.0.1:8080".into());
        let ok = headers(&[(header::ORIGIN, "http://127.0.0.1:8080")]);
        assert_eq!(check(&s, Some(&s.csrf), &ok, console), Ok(()));
        for (name, value) in [
            (header::ORIGIN, "https://evil.example"),
            (header::ORIGIN, "null"),
            (header::REFERER, "https://evil.example/page"),
            (header::REFERER, "not a url"),
        ] {
            let foreign = headers(&[(name, value)]);
            assert_eq!(
                check(&s, Some(&s.csrf), &foreign, console),
                Err(CsrfFailure::ForeignOrigin),
                "{value}"
            );
        }
        let referer = headers(&[(header::REFERER, "http://127.0.0.1:8080/runs")]);
        assert_eq!(check(&s, Some(&s.csrf), &referer, console), Ok(()));
        // Behind a TLS proxy that keeps the Host header.
        let tls = headers(&[(header::ORIGIN, "https://127.0.0.1:8080")]);
        assert_eq!(check(&s, Some(&s.csrf), &tls, console), Ok(()));
        let other_port = headers(&[(header::ORIGIN, "http://127.0.0.1:8081")]);
        assert_eq!(
            check(&s, Some(&s.csrf), &other_port, console),
            Err(CsrfFailure::ForeignOrigin)
        );
        // An origin stated to a console that cannot tell its own is refused.
        assert_eq!(
            check(&s, Some(&s.csrf), &ok, &Expected::Unknown),
            Err(CsrfFailure::ForeignOrigin)
        );
    }

    #[test]
    fn the_expected_origin_follows_the_external_url() {
        let host = headers(&[(header::HOST, "127.0.0.1:8080")]);
        assert_eq!(
            expected_origin(&host, None),
            Expected::Host("127.0.0.1:8080".into())
        );
        let external = url::Url::parse("https://console.example.com/orgsync/").unwrap();
        assert_eq!(
            expected_origin(&host, Some(&external)),
            Expected::Origin("https://console.example.com".into())
        );
        assert_eq!(expected_origin(&HeaderMap::new(), None), Expected::Unknown);
    }
}
