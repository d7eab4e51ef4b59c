use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A person's attributes as orgsync writes them to a target, independent of the target kind.
///
/// Kept as a map so that diffs, reports and the snapshot treat every field the same way;
/// `user_name` and `display_name` are always present (see [`Attributes::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(BTreeMap<Field, String>);

/// One target attribute orgsync manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    UserName,
    DisplayName,
    Email,
    Mobile,
    Title,
    EmployeeNumber,
    Department,
}

/// One field's change, for update steps and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::UserName,
        Field::DisplayName,
        Field::Email,
        Field::Mobile,
        Field::Title,
        Field::EmployeeNumber,
        Field::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::UserName => "user_name",
            Field::DisplayName => "display_name",
            Field::Email => "email",
            Field::Mobile => "mobile",
            Field::Title => "title",
            Field::EmployeeNumber => "employee_number",
            Field::Department => "department",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Attributes {
    pub fn new(user_name: impl Into<String>, display_name: impl Into<String>) -> Self {
        let mut values = BTreeMap::new();
        values.insert(Field::UserName, user_name.into());
        values.insert(Field::DisplayName, display_name.into());
        Attributes(values)
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }

    /// Sets or clears a field. Empty strings count as absent, so "" and a missing field never
    /// produce a change.
    pub fn set(&mut self, field: Field, value: Option<String>) {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => {
                self.0.insert(field, v);
            }
            None => {
                self.0.remove(&field);
            }
        }
    }

    pub fn with(mut self, field: Field, value: Option<String>) -> Self {
        self.set(field, value);
        self
    }

    pub fn user_name(&self) -> &str {
        self.get(Field::UserName).unwrap_or_default()
    }

    /// The changes that turn `self` into `desired`, in field order.
    pub fn changes_to(&self, desired: &Attributes) -> Vec<FieldChange> {
        Field::ALL
            .iter()
            .filter_map(|&field| {
                let before = self.get(field);
                let after = desired.get(field);
                (before != after).then(|| FieldChange {
                    field,
                    before: before.map(str::to_owned),
                    after: after.map(str::to_owned),
                })
            })
            .collect()
    }

    pub fn apply(&mut self, changes: &[FieldChange]) {
        for change in changes {
            self.set(change.field, change.after.clone());
        }
    }
}
