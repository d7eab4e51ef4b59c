//! The console's page frame and the headers every answer carries. Every piece of outside text
//! (names, errors, connector names) goes through `esc` before it reaches a page.

use super::session::Role;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) use crate::report::escape_html as esc;

/// What every page needs to know about who is looking.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub role: Role,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// The path the console is served under (empty, or e.g. `/orgsync` behind a proxy).
    pub base: String,
}

impl Viewer {
    pub fn can_operate(&self) -> bool {
        self.role == Role::Operator
    }

    /// A link inside the console.
    pub fn href(&self, path: &str) -> String {
        esc(&format!("{}{path}", self.base))
    }

    /// A form that POSTs to `path` with the session's CSRF token and one button.
    pub fn button(&self, path: &str, fields: &[(&str, &str)], label: &str, class: &str) -> String {
        let hidden: String = fields
            .iter()
            .map(|(name, value)| {
                format!(
                    r#"<input type="hidden" name="{}" value="{}">"#,
                    esc(name),
                    esc(value)
                )
            })
            .collect();
        format!(
            r#"<form class="inline" method="post" action="{action}"><input type="hidden" name="csrf" value="{csrf}">{hidden}<button type="submit" class="{class}">{label}</button></form>"#,
            action = self.href(path),
            csrf = esc(&self.csrf),
            label = esc(label),
            class = esc(class),
        )
    }
}

const NAV: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/runs", "Runs"),
    ("/plans", "Approvals"),
    ("/people", "People"),
    ("/health", "Health"),
];

/// A whole page: `title` is plain text, `body` is HTML built from escaped parts.
pub fn page(viewer: &Viewer, current: &str, title: &str, body: &str) -> Response {
    let nav: String = NAV
        .iter()
        .map(|(path, label)| {
            let here = if *path == current {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<a href="{}"{here}>{label}</a>"#, viewer.href(path))
        })
        .collect();
    let logout = viewer.button("/logout", &[], "Log out", "link");
    let html = frame(
        &viewer.base,
        title,
        &format!(
            r#"<header><nav aria-label="Console">{nav}</nav><div class="who">Signed in as <strong>{role}</strong> {logout}</div></header>
<main id="main"><h1>{title}</h1>
{body}
</main>"#,
            role = viewer.role.as_str(),
            title = esc(title),
        ),
    );
    html_response(StatusCode::OK, html)
}

/// The document around `content`; used by the login page too.
pub fn frame(base: &str, title: &str, content: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · orgsync</title>
<link rel="stylesheet" href="{base}/assets/console.css">
<script src="{base}/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
{content}
</body>
</html>
"##,
        title = esc(title),
        base = esc(base),
    )
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// The policy for the console's own pages: nothing from outside, scripts and styles only from
/// the console's files, never in a frame.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to an answer that has not set its own policy (the HTML report
/// carries its own, with hashes of its inline script and style).
pub async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages carry people's names: never kept by a browser or a proxy. Assets set their own.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A short message page for errors (no session needed: it shows no data).
pub fn message(base: &str, status: StatusCode, title: &str, text: &str) -> Response {
    let html = frame(
        base,
        title,
        &format!(
            r#"<main id="main" class="narrow"><h1>{}</h1><p>{}</p><p><a href="{}/">Back to the console</a></p></main>"#,
            esc(title),
            esc(text),
            esc(base)
        ),
    );
    html_response(status, html)
}

/// A timestamp as people read it: UTC, to the second.
pub fn when(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_escaped_in_pages_and_forms() {
        let viewer = Viewer {
            role: Role::Operator,
            csrf: "t\"ok".into(),
            base: String::new(),
        };
        let form = viewer.button("/x", &[("user", "<img src=x onerror=alert(1)>")], "Go", "");
        assert!(!form.contains("<img"), "{form}");
        assert!(
            form.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{form}"
        );
        assert!(form.contains(r#"value="t&quot;ok""#), "{form}");
        let page = frame("", "王芳 <b>", "");
        assert!(
            page.contains("<title>王芳 &lt;b&gt; · orgsync</title>"),
            "{page}"
        );
        assert!(page.contains(r#"<meta charset="utf-8">"#));
    }
}
