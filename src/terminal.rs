//! Text on its way to a terminal. Names, error messages and anything else an upstream or a target
//! controls may carry control characters — an ESC sequence clears the screen, recolours it, sets
//! the window title or moves the cursor over what came before — and bidi overrides, which make one
//! name read like another. Every place that prints such text to a terminal passes it through
//! [`visible`]: the text report's cells, `explain`, `status`, `reports`, the CLI's error lines.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The text with every character a terminal would act on instead of showing — C0 and C1
/// controls (ESC, BEL, CR, line breaks…), DEL, and the bidi embeddings, overrides and isolates
/// U+202A–U+202E and U+2066–U+2069 — written as a visible escape such as `\u{1b}`.
/// Everything else, wide and combining characters included, is kept as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`visible`], but keeps line breaks: for messages of several lines the program itself
/// writes, whose parts from outside have been through [`visible`] or are known to be plain.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_hidden(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split('\n').map(visible).collect::<Vec<_>>().join("\n"))
}

/// A character a terminal acts on, or that reorders what follows it.
fn is_hidden(c: char) -> bool {
    // `is_control` is Unicode's Cc: U+0000–U+001F, U+007F and the C1 range U+0080–U+009F.
    c.is_control() || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_escapes_and_bidi_overrides_become_visible() {
        assert_eq!(visible("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(visible("x\u{202e}y\n"), "x\\u{202e}y\\u{a}");
        assert_eq!(visible("\u{7}\u{7f}\u{9b}"), "\\u{7}\\u{7f}\\u{9b}");
        assert_eq!(
            visible("\u{2066}\u{2069}\u{202a}"),
            "\\u{2066}\\u{2069}\\u{202a}"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in [
            "林晓 lin.xiao@example.cn",
            "Zoë Müller",
            "e\u{301}",
            "👩\u{200d}💻",
        ] {
            assert!(matches!(visible(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn line_breaks_can_be_kept_for_the_program_s_own_lines() {
        assert_eq!(visible_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
        assert_eq!(visible_lines("a\r\nb"), "a\\u{d}\nb");
    }
}
