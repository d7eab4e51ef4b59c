//! Source expressions: what a mapped target attribute holds, parsed once from the configuration.
//!
//! ```text
//! title                                 a field
//! custom.成本中心                        a custom field, by the platform's name (Feishu: its id)
//! {name} ({english_name})               a template: text with fields in braces
//! {email|lower}                         pipes transform a value, left to right
//! {enterprise_email|or:{email}|or:{user_name}@example.com}
//! {'Employee'}                          fixed text
//! ```
//!
//! A template is empty when one of its fields is empty (after its pipes): `or:` and `default:`
//! are how a template says what to do then.

use super::source::SourceField;
use compact_str::CompactString;
use std::fmt;

/// A parsed source expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub(super) parts: Vec<Part>,
    /// A rule the target imposes on the whole value, after the template (Active Directory's
    /// sAMAccountName rules); none for expressions as written.
    pub(super) rule: Option<ValueRule>,
}

/// A target's rule for a value: applied to the expression's result, it says the longest value
/// the target takes, so numbered values are shortened to fit too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRule {
    /// Characters Active Directory refuses replaced, at most 20 characters.
    SamAccountName,
}

impl ValueRule {
    pub fn max_chars(self) -> usize {
        match self {
            ValueRule::SamAccountName => crate::pushers::ldap::SAM_MAX_CHARS,
        }
    }

    pub fn apply(self, value: &str) -> Option<String> {
        match self {
            ValueRule::SamAccountName => crate::pushers::ldap::sam_account_name(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Text(String),
    Value(Value),
}

/// One placeholder: where the value comes from and how it is transformed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Value {
    pub(super) source: Source,
    pub(super) pipes: Vec<Pipe>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    Field(SourceField),
    Custom(CompactString),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Pipe {
    Lower,
    Upper,
    Trim,
    Pinyin,
    /// Fixed text when the value is empty.
    Default(String),
    /// Another template when the value is empty.
    Or(Expr),
    Replace(String, String),
}

/// Why an expression could not be read. Shown after the attribute's name, so it says what is
/// wrong in the expression alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PIPES: &str = "lower, upper, trim, pinyin, default:TEXT, or:TEMPLATE, replace:FROM:TO";

impl Expr {
    /// A field reference (`title`, `custom.NAME`) or, when it holds a brace, a template.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ExprError(
                "is empty: give a field, a template, or \"none\" to leave the attribute alone"
                    .into(),
            ));
        }
        if text.contains(['{', '}']) {
            return template(text);
        }
        let source = source(text).map_err(|e| {
            ExprError(format!(
                "{e}; fixed text goes in a template as {{'{text}'}}"
            ))
        })?;
        Ok(Expr {
            parts: vec![Part::Value(Value {
                source,
                pipes: Vec::new(),
            })],
            rule: None,
        })
    }

    /// Just one field, untransformed: the mapping that reads a value without copying it.
    pub fn field(field: SourceField) -> Expr {
        Expr {
            parts: vec![Part::Value(Value {
                source: Source::Field(field),
                pipes: Vec::new(),
            })],
            rule: None,
        }
    }

    /// The same expression with the target's rule applied to its result.
    pub fn with_rule(mut self, rule: ValueRule) -> Expr {
        self.rule = Some(rule);
        self
    }

    /// The target's rule, if it imposes one.
    pub fn rule(&self) -> Option<ValueRule> {
        self.rule
    }

    /// Every source this expression reads, `or:` alternatives included.
    pub(super) fn sources(&self) -> Vec<&Source> {
        let mut sources = Vec::new();
        for part in &self.parts {
            if let Part::Value(value) = part {
                sources.push(&value.source);
                for pipe in &value.pipes {
                    if let Pipe::Or(alternative) = pipe {
                        sources.extend(alternative.sources());
                    }
                }
            }
        }
        sources
    }

    /// The custom fields this expression reads.
    pub fn custom_fields(&self) -> impl Iterator<Item = &str> {
        self.sources().into_iter().filter_map(|s| match s {
            Source::Custom(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// True when the expression reads this standard field.
    pub fn reads(&self, field: SourceField) -> bool {
        self.sources()
            .into_iter()
            .any(|s| *s == Source::Field(field))
    }

    /// True when the expression is one field, read as it is.
    pub fn as_field(&self) -> Option<SourceField> {
        match self.parts.as_slice() {
            [
                Part::Value(Value {
                    source: Source::Field(field),
                    pipes,
                }),
            ] if pipes.is_empty() && self.rule.is_none() => Some(*field),
            _ => None,
        }
    }
}

fn source(text: &str) -> Result<Source, ExprError> {
    let text = text.trim();
    if let Some(name) = text.strip_prefix("custom.") {
        if name.is_empty() {
            return Err(ExprError("`custom.` needs the custom field's name".into()));
        }
        return Ok(Source::Custom(name.into()));
    }
    if let Some(quoted) = text.strip_prefix('\'') {
        return match quoted.strip_suffix('\'') {
            Some(inner) => Ok(Source::Text(inner.to_owned())),
            None => Err(ExprError(format!("`{text}`: fixed text must end with '"))),
        };
    }
    SourceField::parse(text).map(Source::Field).ok_or_else(|| {
        ExprError(format!(
            "`{text}` is not a field (fields: {}; custom fields: custom.NAME)",
            SourceField::names()
        ))
    })
}

/// Text with `{…}` placeholders; `{{` and `}}` are literal braces.
fn template(text: &str) -> Result<Expr, ExprError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("}}") {
            literal.push(c);
            rest = &rest[2..];
        } else if c == '{' {
            let end = closing_brace(rest)
                .ok_or_else(|| ExprError(format!("`{text}`: a `{{` is never closed")))?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Value(placeholder(&rest[1..end])?));
            rest = &rest[end + 1..];
        } else if c == '}' {
            return Err(ExprError(format!(
                "`{text}`: a `}}` closes nothing (write `}}}}` for a brace)"
            )));
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(Expr { parts, rule: None })
}

/// The byte offset of the brace closing the one `text` starts with, skipping nested
/// placeholders and quoted text.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// `head|pipe|pipe:arg`, split at the `|` that are outside nested braces and quotes.
fn placeholder(text: &str) -> Result<Value, ExprError> {
    let mut pieces = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    for (at, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => depth = depth.saturating_sub(1),
            '|' if !quoted && depth == 0 => {
                pieces.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    let source = source(pieces[0])?;
    let pipes = pieces[1..]
        .iter()
        .map(|piece| pipe(piece))
        .collect::<Result<_, _>>()?;
    Ok(Value { source, pipes })
}

fn pipe(text: &str) -> Result<Pipe, ExprError> {
    let (name, arg) = match text.split_once(':') {
        Some((name, arg)) => (name.trim(), Some(arg)),
        None => (text.trim(), None),
    };
    match (name, arg) {
        ("lower", None) => Ok(Pipe::Lower),
        ("upper", None) => Ok(Pipe::Upper),
        ("trim", None) => Ok(Pipe::Trim),
        ("pinyin", None) => Ok(Pipe::Pinyin),
        ("default", Some(text)) => Ok(Pipe::Default(text.to_owned())),
        ("or", Some(alternative)) if !alternative.trim().is_empty() => {
            Ok(Pipe::Or(template(alternative)?))
        }
        ("replace", Some(args)) => match args.split_once(':') {
            Some((from, to)) if !from.is_empty() => {
                Ok(Pipe::Replace(from.to_owned(), to.to_owned()))
            }
            _ => Err(ExprError(format!(
                "`|{text}`: replace takes the text to find and its replacement, as replace:FROM:TO"
            ))),
        },
        ("lower" | "upper" | "trim" | "pinyin", Some(_)) => {
            Err(ExprError(format!("`|{text}`: {name} takes no argument")))
        }
        ("default" | "or", _) => Err(ExprError(format!(
            "`|{text}`: {name} needs what to use instead, as {name}:…"
        ))),
        _ => Err(ExprError(format!(
            "`|{text}` is not a transform (transforms: {PIPES})"
        ))),
    }
}
