//! ANSI colour, only when the caller says the output is a terminal (the CLI decides, honouring
//! `NO_COLOR`); reports written to files or pipes stay plain.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
}

pub(crate) fn paint(text: &str, style: Style, color: bool) -> String {
    let code = match style {
        Style::Plain => return text.to_owned(),
        _ if !color => return text.to_owned(),
        Style::Bold => "1",
        Style::Dim => "2",
        Style::Red => "31",
        Style::Green => "32",
        Style::Yellow => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
