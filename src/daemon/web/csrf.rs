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

/// Where the console is served from, as an origin (`https://console.example.com`): the
/// configured external URL's, else the `Host` the request was sent to, over plain HTTP.
pub fn expected_origin(headers: &HeaderMap, external: Option<&url::Url>) -> Option<String> {
    match external {
        Some(url) => Some(url.origin().ascii_serialization()),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| format!("http://{host}")),
    }
}

/// Whether the request's stated origin (if it states one) is `expected`.
pub fn same_origin(headers: &HeaderMap, expected: Option<&str>) -> Result<(), CsrfFailure> {
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
    match (stated, expected) {
        (None, _) => Ok(()),
        (Some(stated), Some(expected)) if stated.eq_ignore_ascii_case(expected) => Ok(()),
        (Some(_), _) => Err(CsrfFailure::ForeignOrigin),
    }
}

/// The whole check for a POST of a logged-in session: the token (field or header) and the origin.
pub fn check(
    session: &Session,
    field: Option<&str>,
    headers: &HeaderMap,
    expected: Option<&str>,
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
        assert_eq!(check(&s, Some(&s.csrf), &none, None), Ok(()));
        assert_eq!(check(&s, None, &none, None), Err(CsrfFailure::MissingToken));
        assert_eq!(
            check(&s, Some(""), &none, None),
            Err(CsrfFailure::MissingToken)
        );
        assert_eq!(
            check(&s, Some(&session().csrf), &none, None),
            Err(CsrfFailure::WrongToken)
        );
        let by_header = headers(&[(header::HeaderName::from_static(HEADER), &s.csrf)]);
        assert_eq!(check(&s, None, &by_header, None), Ok(()));
    }

    #[test]
    fn a_stated_origin_must_be_the_consoles() {
        let s = session();
        let console = Some("http://127.0.0.1:8080");
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
    }

    #[test]
    fn the_expected_origin_follows_the_external_url() {
        let host = headers(&[(header::HOST, "127.0.0.1:8080")]);
        assert_eq!(
            expected_origin(&host, None).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let external = url::Url::parse("https://console.example.com/orgsync/").unwrap();
        assert_eq!(
            expected_origin(&host, Some(&external)).as_deref(),
            Some("https://console.example.com")
        );
    }
}
