//! The `filter` query parameter (RFC 7644 §3.4.2.2), for the attributes the emulator stores.
//!
//! Supported: `eq ne co sw ew pr`, `and`, `or`, `not (…)`, parentheses; string literals are JSON
//! strings (escapes included), booleans are `true`/`false`. Everything else — ordering operators,
//! value paths like `emails[type eq "work"]`, unknown attributes, a type mismatch — is 400
//! `invalidFilter`, never a silently empty or full list.

use super::ScimUser;
use super::error::ScimError;
use super::schema::{self, Attr, Target};
use super::store::fold;

/// Deep enough for any real filter, shallow enough that hostile nesting cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    Compare(Attr, Op, Literal),
    Present(Attr),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Literal {
    Str(String),
    Bool(bool),
}

impl Filter {
    pub(crate) fn parse(input: &str) -> Result<Self, ScimError> {
        let mut parser = Parser {
            tokens: tokenize(input)?,
            next: 0,
        };
        let filter = parser.expr(0)?;
        match parser.tokens.get(parser.next) {
            None => Ok(filter),
            Some(token) => Err(invalid(format!(
                "unexpected {token:?} after a complete filter"
            ))),
        }
    }

    /// An equality every match must satisfy, so a list can start from the store's index instead
    /// of scanning every user.
    pub(crate) fn required_equality(&self) -> Option<(Attr, &str)> {
        match self {
            Filter::Compare(attr, Op::Eq, Literal::Str(value)) => Some((*attr, value)),
            Filter::And(a, b) => a.required_equality().or_else(|| b.required_equality()),
            _ => None,
        }
    }

    pub(crate) fn matches(&self, user: &ScimUser) -> bool {
        match self {
            Filter::And(a, b) => a.matches(user) && b.matches(user),
            Filter::Or(a, b) => a.matches(user) || b.matches(user),
            Filter::Not(inner) => !inner.matches(user),
            Filter::Present(Attr::Active) => true,
            Filter::Present(attr) => strings(user, *attr).any(|value| !value.is_empty()),
            // Parsing admits booleans only for `active`, and only with eq/ne.
            Filter::Compare(_, op, Literal::Bool(wanted)) => {
                (user.active == *wanted) == (*op == Op::Eq)
            }
            Filter::Compare(attr, Op::Ne, Literal::Str(wanted)) => {
                !any_string(user, *attr, Op::Eq, wanted)
            }
            Filter::Compare(attr, op, Literal::Str(wanted)) => any_string(user, *attr, *op, wanted),
        }
    }
}

/// Whether any value of `attr` satisfies `op` against `wanted`, folding case unless the attribute
/// is case-exact. Equality, the common case (one lookup per pushed user), allocates nothing.
fn any_string(user: &ScimUser, attr: Attr, op: Op, wanted: &str) -> bool {
    let exact = attr.case_exact();
    let mut values = strings(user, attr);
    if matches!(op, Op::Eq | Op::Ne) {
        return values.any(|value| {
            if exact {
                value == wanted
            } else {
                lower_chars(value).eq(lower_chars(wanted))
            }
        });
    }
    let fold_case = |s: &str| if exact { s.to_owned() } else { fold(s) };
    let wanted = fold_case(wanted);
    values.any(|value| {
        let value = fold_case(value);
        match op {
            Op::Co => value.contains(&wanted),
            Op::Sw => value.starts_with(&wanted),
            _ => value.ends_with(&wanted),
        }
    })
}

/// [`fold`], lazily.
fn lower_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(char::to_lowercase)
}

/// The string values of an attribute; multi-valued attributes compare on each `value`.
fn strings(user: &ScimUser, attr: Attr) -> impl Iterator<Item = &str> {
    let (single, many): (Option<&str>, &[String]) = match attr {
        Attr::Id => (Some(&user.id), &[]),
        Attr::UserName => (Some(&user.user_name), &[]),
        Attr::ExternalId => (user.external_id.as_deref(), &[]),
        Attr::DisplayName => (user.display_name.as_deref(), &[]),
        Attr::NameFormatted => (user.formatted_name.as_deref(), &[]),
        Attr::Title => (user.title.as_deref(), &[]),
        Attr::EmployeeNumber => (user.employee_number.as_deref(), &[]),
        Attr::Department => (user.department.as_deref(), &[]),
        Attr::Manager | Attr::ManagerValue => (user.manager_id.as_deref(), &[]),
        Attr::Emails => (None, &user.emails),
        Attr::PhoneNumbers => (None, &user.phone_numbers),
        Attr::Active => (None, &[]),
    };
    single.into_iter().chain(many.iter().map(String::as_str))
}

pub(crate) fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(detail)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// An attribute path, operator, keyword or bare literal (`true`, `42`).
    Word(String),
    /// A decoded JSON string literal.
    Str(String),
    Open,
    Close,
}

pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut escaped = false;
                let end = loop {
                    let Some((at, c)) = chars.next() else {
                        return Err(invalid("unterminated string literal"));
                    };
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break at,
                        _ => {}
                    }
                };
                let literal: String = serde_json::from_str(&input[start..=end])
                    .map_err(|err| invalid(format!("bad string literal: {err}")))?;
                tokens.push(Token::Str(literal));
            }
            _ => {
                let mut end = input.len();
                while let Some(&(at, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        end = at;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(input[start..end].to_owned()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
}

impl Parser {
    fn expr(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth > MAX_DEPTH {
            return Err(invalid("filter is nested too deeply"));
        }
        let mut left = self.and_expr(depth)?;
        while self.eat_keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and_expr(depth)?));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth)?;
        while self.eat_keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if self.eat_keyword("not") {
            self.expect(&Token::Open, "\"(\" after not")?;
            let inner = self.expr(depth + 1)?;
            self.expect(&Token::Close, "\")\"")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat(&Token::Open) {
            let inner = self.expr(depth + 1)?;
            self.expect(&Token::Close, "\")\"")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, ScimError> {
        let path = match self.bump() {
            Some(Token::Word(path)) => path,
            other => return Err(invalid(format!("expected an attribute, found {other:?}"))),
        };
        let attr = filter_attr(&path)?;
        let op = match self.bump() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            other => {
                return Err(invalid(format!(
                    "expected an operator after {path}, found {other:?}"
                )));
            }
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(attr)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" | "ge" | "lt" | "le" => {
                return Err(invalid(format!("operator {op:?} is not supported")));
            }
            _ => return Err(invalid(format!("unknown operator {op:?}"))),
        };
        let literal = match self.bump() {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Word(word)) => match word.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => {
                    return Err(invalid(format!(
                        "unsupported literal {word:?}: quote strings"
                    )));
                }
            },
            other => {
                return Err(invalid(format!(
                    "expected a value after {op:?}, found {other:?}"
                )));
            }
        };
        let comparable = match (&literal, attr) {
            (Literal::Bool(_), Attr::Active) => matches!(op, Op::Eq | Op::Ne),
            (Literal::Str(_), Attr::Active) | (Literal::Bool(_), _) => false,
            (Literal::Str(_), _) => true,
        };
        if comparable {
            Ok(Filter::Compare(attr, op, literal))
        } else {
            Err(invalid(format!(
                "{path} cannot be compared with {op:?} to {literal:?}"
            )))
        }
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += usize::from(token.is_some());
        token
    }

    fn eat(&mut self, wanted: &Token) -> bool {
        let found = self.tokens.get(self.next) == Some(wanted);
        self.next += usize::from(found);
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.next), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        self.next += usize::from(found);
        found
    }

    fn expect(&mut self, wanted: &Token, what: &str) -> Result<(), ScimError> {
        if self.eat(wanted) {
            Ok(())
        } else {
            Err(invalid(format!("expected {what}")))
        }
    }
}

/// Resolves a filter attribute; `emails.value` and `phoneNumbers.value` name the multi-valued
/// attribute's values, as does the bare attribute (RFC 7644 §3.4.2.2).
fn filter_attr(path: &str) -> Result<Attr, ScimError> {
    let target = match path.len().checked_sub(".value".len()) {
        Some(cut) if path.is_char_boundary(cut) && path[cut..].eq_ignore_ascii_case(".value") => {
            match schema::resolve(&path[..cut]) {
                found @ Some(Target::Attr(Attr::Emails | Attr::PhoneNumbers)) => found,
                _ => schema::resolve(path),
            }
        }
        _ => schema::resolve(path),
    };
    match target {
        Some(Target::Attr(attr)) => Ok(attr),
        _ => Err(invalid(format!("cannot filter on {path:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> ScimUser {
        ScimUser {
            id: "u1".into(),
            external_id: Some("Ext-1".into()),
            emails: vec!["Ann@Example.com".into(), "a2@example.com".into()],
            manager_id: Some("m1".into()),
            ..ScimUser::new("Ann")
        }
    }

    fn eval(filter: &str) -> bool {
        Filter::parse(filter).unwrap().matches(&user())
    }

    #[test]
    fn compares_with_each_attributes_case_rules() {
        assert!(eval(r#"userName eq "ANN""#));
        assert!(eval(r#"externalId eq "Ext-1""#));
        assert!(!eval(r#"externalId eq "ext-1""#));
        assert!(eval(r#"emails eq "ann@example.com""#));
        assert!(eval(r#"Emails.Value eq "A2@EXAMPLE.COM""#));
        assert!(eval(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#
        ));
        assert!(eval(r#"id eq "u1""#));
        assert!(eval("active eq true"));
        assert!(!eval("active EQ false"));
        assert!(eval(r#"userName sw "an" and not (title pr)"#));
        assert!(eval(
            r#"userName eq "x" or (externalId eq "Ext-1" and active ne false)"#
        ));
    }

    #[test]
    fn decodes_json_string_literals() {
        let mut hostile = user();
        hostile.user_name = "a \"quoted\" \\ name and eq".into();
        let filter = Filter::parse(r#"userName eq "a \"quoted\" \\ name and eq""#).unwrap();
        assert!(filter.matches(&hostile));
        let filter = Filter::parse(r#"userName eq "\u0041nn""#).unwrap();
        assert!(filter.matches(&user()));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName eq "unterminated"#,
            r#"userName eq "a" and"#,
            r#"userName eq "a")"#,
            r#"(userName eq "a""#,
            r#"userName gt "a""#,
            r#"nickName eq "a""#,
            r#"emails[type eq "work"] eq "a""#,
            r#"active eq "true""#,
            "userName eq true",
            "userName eq null",
            "active co true",
            r#"name eq "a""#,
            r#"userName eq "bad \x escape""#,
        ] {
            let err = Filter::parse(bad).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidFilter),
                "{bad}"
            );
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).is_err());
    }
}
