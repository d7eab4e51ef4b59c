//! Aligned terminal tables. Widths are measured in terminal columns (CJK takes two), and colour is
//! added after padding so escape codes never count towards a width.

use super::style::{Style, paint};
use crate::terminal::visible;
use std::fmt::Write as _;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Longest cell shown, in columns; longer upstream values are cut with "…" (JSON has them whole).
const MAX_CELL: usize = 60;
/// For the free-text cells that end a row (attribute lists, why a step failed).
const MAX_LONG_CELL: usize = 240;

pub(crate) struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    pub(crate) fn new(text: impl AsRef<str>, style: Style) -> Self {
        Cell {
            text: truncate(&visible(text.as_ref()), MAX_CELL),
            style,
        }
    }

    pub(crate) fn plain(text: impl AsRef<str>) -> Self {
        Cell::new(text, Style::Plain)
    }

    pub(crate) fn long(text: impl AsRef<str>, style: Style) -> Self {
        Cell {
            text: truncate(&visible(text.as_ref()), MAX_LONG_CELL),
            style,
        }
    }
}

pub(crate) struct Row {
    cells: Vec<Cell>,
    /// A line under the row for what does not fit a column (why a step failed).
    detail: Option<Cell>,
}

pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Row>,
}

impl Table {
    pub(crate) fn new(headers: Vec<&'static str>) -> Self {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(Row {
            cells,
            detail: None,
        });
    }

    /// Attaches a detail line to the last row.
    pub(crate) fn detail(&mut self, detail: Cell) {
        if let Some(row) = self.rows.last_mut() {
            row.detail = Some(detail);
        }
    }

    pub(crate) fn write(&self, out: &mut String, color: bool) {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.cells.iter().enumerate() {
                widths[i] = widths[i].max(display_width(&cell.text));
            }
        }
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::new(h, Style::Dim))
            .collect();
        write_line(out, &header, &widths, color);
        for row in &self.rows {
            write_line(out, &row.cells, &widths, color);
            if let Some(detail) = &row.detail {
                let _ = writeln!(out, "      {}", paint(&detail.text, detail.style, color));
            }
        }
    }
}

fn write_line(out: &mut String, cells: &[Cell], widths: &[usize], color: bool) {
    let mut line = String::from("  ");
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        line.push_str(&paint(&cell.text, cell.style, color));
        if i < last {
            line.push_str(&" ".repeat(widths[i] - display_width(&cell.text) + 2));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Terminal columns, as terminals count them (Unicode's East Asian Width, emoji presentation,
/// ZWJ sequences and flags as one picture, combining marks and zero-width characters as none):
/// the `unicode-width` tables, not a hand-made list that misses whole blocks.
pub(crate) fn display_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// One character's columns, for cutting a cell; control characters are escaped before this.
fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

fn truncate(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut width = 0;
    for c in text.chars() {
        width += char_width(c);
        if width > max - 1 {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_count_terminal_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("林晓"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
    }

    #[test]
    fn emoji_and_combining_marks_take_their_terminal_columns() {
        // Emoji outside the two blocks a hand-made table knew: transport, symbols, newer ones.
        assert_eq!(display_width("🚀"), 2);
        assert_eq!(display_width("🫠"), 2);
        assert_eq!(display_width("☕"), 2);
        // A ZWJ sequence and a flag are one picture, two columns.
        assert_eq!(display_width("👩\u{200d}💻"), 2);
        assert_eq!(display_width("🇨🇳"), 2);
        // Combining marks outside U+0300–U+036F: Thai, Devanagari, Arabic, an enclosing circle.
        assert_eq!(display_width("ก\u{e31}"), 1);
        assert_eq!(display_width("क\u{94d}"), 1);
        assert_eq!(display_width("ب\u{651}"), 1);
        assert_eq!(display_width("a\u{20dd}"), 1);
        let mut table = Table::new(vec!["NAME", "USER"]);
        table.row(vec![Cell::plain("Ana 🚀"), Cell::plain("ana")]);
        table.row(vec![Cell::plain("Somchai ก\u{e31}"), Cell::plain("som")]);
        let mut out = String::new();
        table.write(&mut out, false);
        assert_eq!(
            out,
            "  NAME       USER\n  Ana 🚀     ana\n  Somchai กั  som\n"
        );
    }

    #[test]
    fn control_and_bidi_characters_in_cells_are_escaped() {
        assert_eq!(Cell::plain("a\u{1b}[31mb").text, "a\\u{1b}[31mb");
        assert_eq!(Cell::plain("x\u{202e}y\n").text, "x\\u{202e}y\\u{a}");
    }

    #[test]
    fn long_cells_are_cut_to_the_column_limit() {
        let cut = truncate(&"林".repeat(40), 60);
        assert_eq!(display_width(&cut), 59);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn columns_align_with_wide_characters() {
        let mut table = Table::new(vec!["NAME", "USER"]);
        table.row(vec![Cell::plain("林晓"), Cell::plain("lin")]);
        table.row(vec![Cell::plain("Zoë"), Cell::plain("zoe")]);
        let mut out = String::new();
        table.write(&mut out, false);
        assert_eq!(out, "  NAME  USER\n  林晓  lin\n  Zoë   zoe\n");
    }
}
