//! Upstream strings in Markdown: names are hostile input and must read as the text they are, not
//! as markup, in GitHub, GitLab, ticket systems and HTML e-mail alike.

/// Escapes one upstream string for a Markdown table cell or list item. HTML's `<`, `>` and `&`
/// become entities (so no tag or entity survives), every inline Markdown delimiter is
/// backslash-escaped, `|` cannot end a table cell, and line breaks and control characters, which
/// would end a row or hide text, are replaced.
///
/// GitHub's and GitLab's autolink extension turns `scheme://…` and `www.…` in plain text into
/// live links, so a name like `https://evil.example/login` would be one click from a ticket. The
/// extension matches the raw characters, and a backslash-escaped character is taken as text
/// before it looks: so the `:` of every `scheme://` and the `.` of `www.` are escaped, and read
/// the same once rendered. E-mail addresses are left as they are: they become
/// `mailto:` links to exactly the address shown, and reports show e-mail fields on purpose.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    // The three characters before this one, to find `www.` in any case.
    let mut before = ['\0'; 3];
    for (i, c) in text.char_indices() {
        let after_www = before.iter().all(|b| b.eq_ignore_ascii_case(&'w'));
        before = [before[1], before[2], c];
        match c {
            ':' if text[i + 1..].starts_with("//") => out.push_str("\\:"),
            '.' if after_www => out.push_str("\\."),
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

    /// The escaped text in a table cell, rendered as GitHub and GitLab render Markdown (comrak is
    /// cmark-gfm's port and GitLab's renderer): tables, strikethrough and the autolink extension.
    fn render(text: &str) -> String {
        let mut options = comrak::Options::default();
        options.extension.autolink = true;
        options.extension.table = true;
        options.extension.strikethrough = true;
        let markdown = format!("| a |\n| - |\n| {} |\n", escape(text));
        comrak::markdown_to_html(&markdown, &options)
    }

    #[test]
    fn urls_in_names_do_not_become_links() {
        for name in [
            "https://evil.example/login",
            "see http://evil.example",
            "www.evil.example",
            "WWW.evil.example",
            "(www.evil.example)",
            "*www.evil.example*",
            "_https://evil.example_",
            "~www.evil.example",
            "ftp://evil.example/x",
            "林晓https://evil.example",
        ] {
            let html = render(name);
            assert!(!html.contains("<a "), "{name:?} became a link: {html}");
        }
    }

    #[test]
    fn escaped_urls_read_as_they_were() {
        let html = render("Ana https://evil.example/a?b=c www.x.example");
        assert!(
            html.contains("<td>Ana https://evil.example/a?b=c www.x.example</td>"),
            "{html}"
        );
    }

    #[test]
    fn html_and_markdown_syntax_become_text() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("a|b `c` *d*"), "a\\|b \\`c\\` \\*d\\*");
        assert_eq!(escape("[x](http://e) #1"), "\\[x\\](http\\://e) \\#1");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("two\nlines\u{1b}"), "two lines\u{FFFD}");
        assert_eq!(
            escape("林晓 lin.xiao@example.cn"),
            "林晓 lin.xiao@example.cn"
        );
    }
}
