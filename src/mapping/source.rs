//! The fields a mapping can read from an upstream person, under platform-neutral names.

use crate::model::ProfileField;
use std::fmt;

/// A standard field of an upstream person. Each platform fills the ones it returns (README,
/// "Source fields"); a field the platform does not return is simply empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceField {
    /// The upstream id (WeCom/DingTalk `userid`, Feishu `user_id`, Bitrix24 `ID`).
    Key,
    /// The userName orgsync uses without a mapping: the key, or the e-mail under
    /// `policy.user_name = "email"`.
    UserName,
    Name,
    Email,
    Mobile,
    Title,
    EmployeeNumber,
    /// The main department's name.
    Department,
    /// The main department's path from the top of the authorized scope, joined with ` / `.
    DepartmentPath,
    Profile(ProfileField),
}

impl SourceField {
    const PLAIN: [SourceField; 9] = [
        SourceField::Key,
        SourceField::UserName,
        SourceField::Name,
        SourceField::Email,
        SourceField::Mobile,
        SourceField::Title,
        SourceField::EmployeeNumber,
        SourceField::Department,
        SourceField::DepartmentPath,
    ];

    /// Every source field, in the order the README lists them.
    pub fn all() -> impl Iterator<Item = SourceField> {
        SourceField::PLAIN
            .into_iter()
            .chain(ProfileField::ALL.into_iter().map(SourceField::Profile))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceField::Key => "key",
            SourceField::UserName => "user_name",
            SourceField::Name => "name",
            SourceField::Email => "email",
            SourceField::Mobile => "mobile",
            SourceField::Title => "title",
            SourceField::EmployeeNumber => "employee_number",
            SourceField::Department => "department",
            SourceField::DepartmentPath => "department_path",
            SourceField::Profile(field) => field.as_str(),
        }
    }

    /// A field by its name; `display_name` is accepted for `name` (the role of that name).
    pub fn parse(name: &str) -> Option<SourceField> {
        if name == "display_name" {
            return Some(SourceField::Name);
        }
        SourceField::all().find(|f| f.as_str() == name)
    }

    /// The names, for error messages.
    pub fn names() -> String {
        SourceField::all()
            .map(SourceField::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for SourceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
