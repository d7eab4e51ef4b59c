//! Upstream strings in Markdown: names are hostile input and must read as the text they are, not
//! as markup, in GitHub, GitLab, ticket systems and HTML e-mail alike.

/// Escapes one upstream string for a Markdown table cell or list item. HTML's `<`, `>` and `&`
/// become entities (so no tag or entity survives), every inline Markdown delimiter is
/// backslash-escaped, `|` cannot end a table cell, and line breaks and control characters, which
/// would end a row or hide text, are replaced.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Inline syntax (emphasis, code, links and images, strikethrough, math, issue
            // references) and the table separator. Parentheses and `!` only act next to `[`,
            // and block syntax (-, +, 1.) only at the start of a line, where an upstream string
            // never stands.
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '|' | '$' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069) => {
                out.push('\u{FFFD}')
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_and_markdown_syntax_become_text() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("a|b `c` *d*"), "a\\|b \\`c\\` \\*d\\*");
        assert_eq!(escape("[x](http://e) #1"), "\\[x\\](http://e) \\#1");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("two\nlines\u{1b}"), "two lines\u{FFFD}");
        assert_eq!(
            escape("林晓 lin.xiao@example.cn"),
            "林晓 lin.xiao@example.cn"
        );
    }
}
