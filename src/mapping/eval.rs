//! Evaluating an expression for one person. Pure: no IO, and nothing fails; a field the person
//! lacks makes the value empty.

use super::expr::{Expr, Part, Pipe, Source, Value};
use super::pinyin;
use super::source::SourceField;
use crate::model::User;
use std::borrow::Cow;

/// What an expression can read about one person: their record, and what the planner worked out
/// from the rest of the directory.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub user: &'a User,
    /// The userName without a mapping (the key, or the e-mail under `user_name = "email"`).
    pub user_name: &'a str,
    /// The main department's name and path; `None` when it is not in scope.
    pub department: Option<&'a str>,
    pub department_path: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn field(&self, field: SourceField) -> Option<&'a str> {
        let user = self.user;
        let value = match field {
            SourceField::Key => Some(user.key.as_str()),
            SourceField::UserName => Some(self.user_name),
            SourceField::Name => Some(user.display_name.as_str()),
            SourceField::Email => user.email.as_deref(),
            SourceField::Mobile => user.mobile.as_deref(),
            SourceField::Title => user.title.as_deref(),
            SourceField::EmployeeNumber => user.employee_no.as_deref(),
            SourceField::Department => self.department,
            SourceField::DepartmentPath => self.department_path,
            SourceField::Profile(field) => user.profile.get(field),
        };
        value.filter(|v| !v.is_empty())
    }
}

impl Expr {
    /// The value for one person; `None` when empty. A lone field is borrowed, not copied.
    pub fn eval<'a>(&self, subject: &Subject<'a>) -> Option<Cow<'a, str>> {
        let value = self.eval_parts(subject)?;
        match self.rule {
            None => Some(value),
            Some(rule) => match rule.apply(&value) {
                Some(ruled) if ruled == value => Some(value),
                ruled => ruled.map(Cow::Owned),
            },
        }
    }

    fn eval_parts<'a>(&self, subject: &Subject<'a>) -> Option<Cow<'a, str>> {
        match self.parts.as_slice() {
            [Part::Value(value)] => value.eval(subject),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(text) => out.push_str(text),
                        Part::Value(value) => out.push_str(&value.eval(subject)?),
                    }
                }
                (!out.is_empty()).then_some(Cow::Owned(out))
            }
        }
    }
}

impl Value {
    fn eval<'a>(&self, subject: &Subject<'a>) -> Option<Cow<'a, str>> {
        let mut value: Option<Cow<'a, str>> = match &self.source {
            Source::Field(field) => subject.field(*field).map(Cow::Borrowed),
            Source::Custom(name) => subject.user.profile.custom(name).map(Cow::Borrowed),
            Source::Text(text) => Some(Cow::Owned(text.clone())),
        };
        for pipe in &self.pipes {
            value = match (pipe, value) {
                (Pipe::Default(text), None) => Some(Cow::Owned(text.clone())),
                (Pipe::Or(alternative), None) => alternative.eval(subject),
                (_, None) => None,
                (Pipe::Default(_) | Pipe::Or(_), Some(v)) => Some(v),
                (Pipe::Lower, Some(v)) => Some(lower(v)),
                (Pipe::Upper, Some(v)) => Some(Cow::Owned(v.to_uppercase())),
                (Pipe::Trim, Some(v)) => Some(trim(v)),
                (Pipe::Pinyin, Some(v)) => Some(Cow::Owned(pinyin::romanize(&v))),
                (Pipe::Replace(from, to), Some(v)) => Some(Cow::Owned(v.replace(from, to))),
            }
            .filter(|v| !v.is_empty());
        }
        value
    }
}

fn lower(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.chars().any(char::is_uppercase) {
        Cow::Owned(value.to_lowercase())
    } else {
        value
    }
}

fn trim(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(v.trim()),
        Cow::Owned(v) => Cow::Owned(v.trim().to_owned()),
    }
}
