//! orgsync.toml(5) in roff, from docs/orgsync.toml.5.md: the few Markdown forms that file uses
//! (`##` sections, paragraphs, one key/default/meaning table, `code`, **bold**, [links](…)).
//! Anything else would be printed as text, never lost.

/// The page for version `version`.
pub fn to_roff(markdown: &str, version: &str) -> String {
    let mut out = format!(".TH ORGSYNC.TOML 5 \"\" \"orgsync {version}\" \"File formats\"\n");
    let mut in_comment = false;
    let mut in_paragraph = false;
    for line in markdown.lines() {
        if in_comment || line.starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        if line.starts_with("# ") {
            // The title: already in .TH.
            continue;
        }
        if let Some(section) = line.strip_prefix("## ") {
            out.push_str(&format!(".SH {}\n", escape(section)));
            in_paragraph = false;
        } else if line.trim().is_empty() {
            in_paragraph = false;
        } else if line.starts_with('|') {
            in_paragraph = false;
            push_row(&mut out, line);
        } else {
            if !in_paragraph {
                out.push_str(".PP\n");
                in_paragraph = true;
            }
            push_text_line(&mut out, &inline(line.trim()));
        }
    }
    out
}

/// One table row: the key as a tagged paragraph, the meaning below it, then the default. The
/// header and the `|---|` rule are skipped.
fn push_row(out: &mut String, line: &str) {
    let cells = cells(line);
    let [key, default, meaning] = cells.as_slice() else {
        push_text_line(out, &inline(line));
        return;
    };
    if key == "key" || key.chars().all(|c| c == '-') {
        return;
    }
    out.push_str(".TP\n");
    push_text_line(out, &inline(key));
    push_text_line(out, &inline(meaning));
    if !default.is_empty() {
        out.push_str(".br\n");
        push_text_line(out, &format!("Default: {}", inline(default)));
    }
}

/// The cells of a `| a | b | c |` row, split at the pipes not escaped as `\|`.
pub fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('|')) => {
                if let Some(cell) = cells.last_mut() {
                    cell.push('|');
                }
                chars.next();
            }
            ('|', _) => cells.push(String::new()),
            (c, _) => {
                if let Some(cell) = cells.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    cells
        .into_iter()
        .map(|cell| cell.trim().to_owned())
        .collect()
}

/// A line of text that roff must not read as a request (a leading `.` or `'`).
fn push_text_line(out: &mut String, text: &str) {
    if text.starts_with('.') || text.starts_with('\'') {
        out.push_str("\\&");
    }
    out.push_str(text);
    out.push('\n');
}

/// Markdown's inline forms in roff: `code` and **bold** in bold, a link as its text.
fn inline(text: &str) -> String {
    let text = unlink(text);
    let mut out = String::new();
    let mut bold = false;
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**") {
            out.push_str(if bold { "\\fR" } else { "\\fB" });
            bold = !bold;
            rest = after;
        } else if c == '`' {
            out.push_str(if bold { "\\fR" } else { "\\fB" });
            bold = !bold;
            rest = &rest[1..];
        } else {
            out.push_str(&escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    out
}

/// `[text](target)` becomes `text`.
fn unlink(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find("](") else {
            break;
        };
        let Some(end) = after_open[close + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after_open[..close]);
        rest = &after_open[close + 2 + end + 1..];
    }
    out.push_str(rest);
    out
}

/// roff's escapes: a backslash as `\e`, a hyphen as `\-` (so options and keys copy as typed).
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_becomes_a_tagged_paragraph_with_its_default() {
        let roff = to_roff(
            "# t\n\n## KEYS\n\n| key | default | meaning |\n|---|---|---|\n| `history.keep` | `200` | reports kept, see [the README](README.md#x) |\n",
            "1.0",
        );
        assert!(roff.contains(".SH KEYS\n"), "{roff}");
        assert!(
            roff.contains(
                ".TP\n\\fBhistory.keep\\fR\nreports kept, see the README\n.br\nDefault: \\fB200\\fR\n"
            ),
            "{roff}"
        );
        assert!(!roff.contains("| key |"), "{roff}");
    }

    #[test]
    fn text_that_looks_like_a_request_is_escaped() {
        let roff = to_roff(
            "## A\n\n.source.kind is read\n'quoted' and a \\ too\n",
            "1.0",
        );
        assert!(roff.contains("\\&.source.kind is read\n"), "{roff}");
        assert!(roff.contains("\\&'quoted' and a \\e too\n"), "{roff}");
    }

    #[test]
    fn escaped_pipes_stay_in_their_cell() {
        assert_eq!(cells("| a | `x\\|y` | c |"), ["a", "`x|y`", "c"]);
    }
}
