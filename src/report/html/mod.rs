//! One self-contained HTML page: no external assets, the report's data embedded as JSON and laid
//! out in the browser by app.js with `textContent` only. Upstream strings are hostile input; they
//! never pass through an HTML parser, and a Content-Security-Policy that admits only this page's
//! own script and style (by hash) stops anything that would.

mod data;

use super::Report;
use base64::Engine as _;
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("template.html");
const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("app.js");

pub fn render_html(report: &Report) -> String {
    let json = data::page_json(report);
    let csp = format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; img-src 'none'; base-uri 'none'; \
         form-action 'none'",
        hash_source(SCRIPT),
        hash_source(STYLE)
    );
    fill(
        TEMPLATE,
        &[
            ("csp", &csp),
            ("title", &escape_html(&super::view::title(report))),
            ("style", STYLE),
            ("data", &escape_json_for_script(&json)),
            ("script", SCRIPT),
        ],
    )
}

/// Replaces each `{{name}}` in one pass over the template, so a value that happens to contain
/// `{{…}}` (a hostile name) is never expanded.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (end, *v))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// For text between tags and inside attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON inside `<script type="application/json">`: `<` and `>` could close the element or open a
/// comment, `&` is escaped for good measure, and U+2028/U+2029 break older JavaScript parsers.
/// These characters only occur inside JSON strings, where `\uXXXX` means the same thing.
fn escape_json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A CSP source admitting exactly this inline content.
fn hash_source(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_cannot_close_the_script_element() {
        let json = serde_json::to_string("</script><img src=x onerror=alert(1)>&\u{2028}").unwrap();
        let escaped = escape_json_for_script(&json);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('&'));
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, "</script><img src=x onerror=alert(1)>&\u{2028}");
    }

    #[test]
    fn placeholders_in_values_are_not_expanded() {
        let out = fill("<t>{{a}}</t>{{b}}{{x}}", &[("a", "{{b}}"), ("b", "B")]);
        assert_eq!(out, "<t>{{b}}</t>B{{x}}");
    }

    #[test]
    fn html_escape() {
        assert_eq!(
            escape_html("<img src=x onerror=\"a('1')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }
}
