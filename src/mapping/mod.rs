//! The attribute mapping: which target attributes orgsync manages and what each one holds.
//!
//! Each target kind reads its `[target.attributes]` table into a [`Mapping`]: a key that names
//! one of the target's places for a role (SCIM `userName`, LDAP `mail`, …) changes what that role
//! holds; any other key adds a mapped attribute by its target name. The planner evaluates the
//! expressions and compares only what the mapping manages. No IO here, and evaluation cannot fail.

mod eval;
mod expr;
mod pinyin;
mod source;
mod table;
#[cfg(test)]
mod tests;

pub use eval::Subject;
pub use expr::{Expr, ExprError, ValueRule};
pub use source::SourceField;
pub use table::table;

use crate::model::{AttrName, Field};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a role holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RoleMapping {
    /// What it held before mappings existed (userName from `policy.user_name`, the others from
    /// the upstream field of the role's name).
    #[default]
    Default,
    Mapped {
        expr: Expr,
        text: String,
    },
    /// Neither written nor compared: the target's value is left alone.
    None,
}

/// A connector's attribute mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    roles: [RoleMapping; Field::ROLES.len()],
    extras: Vec<Extra>,
    /// The fields compared and written, roles first: cached, the planner asks once per person.
    managed: Vec<Field>,
    /// The configuration key that set each field, for errors and `explain`.
    keys: BTreeMap<Field, String>,
}

/// An attribute beyond the roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Extra {
    pub name: AttrName,
    pub expr: Expr,
    pub text: String,
}

/// A mapping the configuration cannot have; names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attributes.{key:?}: {detail}")]
pub struct MappingError {
    pub key: String,
    pub detail: String,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            roles: Default::default(),
            extras: Vec::new(),
            managed: Field::ROLES.to_vec(),
            keys: BTreeMap::new(),
        }
    }
}

impl Mapping {
    /// Sets what `field` holds, from the configuration's `key = value`. `"none"` leaves the
    /// attribute alone; anything else is an [`Expr`].
    pub fn set(&mut self, key: &str, field: Field, value: &str) -> Result<(), MappingError> {
        self.set_with(key, field, value, None)
    }

    /// As [`Mapping::set`], with the target's `rule` applied to the value (Active Directory's
    /// sAMAccountName rules on the userName).
    pub fn set_with(
        &mut self,
        key: &str,
        field: Field,
        value: &str,
        rule: Option<ValueRule>,
    ) -> Result<(), MappingError> {
        let error = |detail: String| MappingError {
            key: key.to_owned(),
            detail,
        };
        if let Some(other) = self.keys.get(&field) {
            return Err(error(format!(
                "maps the same attribute as attributes.{other:?} ({field}); keep one of them"
            )));
        }
        let none = value.trim() == "none";
        let mapped = if none {
            None
        } else {
            let expr = Expr::parse(value).map_err(|e| error(e.to_string()))?;
            Some(match rule {
                Some(rule) => expr.with_rule(rule),
                None => expr,
            })
        };
        match (field, mapped) {
            (Field::UserName, None) => {
                return Err(error(
                    "cannot be \"none\": every account needs a userName".into(),
                ));
            }
            (Field::Extra(name), Some(expr)) => self.extras.push(Extra {
                name,
                expr,
                text: value.trim().to_owned(),
            }),
            (Field::Extra(_), None) => {}
            (role, None) => self.roles[slot(role)] = RoleMapping::None,
            (role, Some(expr)) => {
                self.roles[slot(role)] = RoleMapping::Mapped {
                    expr,
                    text: value.trim().to_owned(),
                }
            }
        }
        self.keys.insert(field, key.to_owned());
        self.extras.sort_by_key(|e| e.name);
        self.managed = Field::ROLES
            .into_iter()
            .filter(|&role| self.roles[slot(role)] != RoleMapping::None)
            .chain(self.extras.iter().map(|e| Field::Extra(e.name)))
            .collect();
        Ok(())
    }

    pub fn role(&self, role: Field) -> &RoleMapping {
        match role {
            Field::Extra(_) => &RoleMapping::None,
            role => &self.roles[slot(role)],
        }
    }

    /// The mapped attributes beyond the roles, by name.
    pub fn extras(&self) -> &[Extra] {
        &self.extras
    }

    /// The fields orgsync writes and compares: the roles not mapped to "none", then the extras.
    pub fn managed(&self) -> &[Field] {
        &self.managed
    }

    pub fn manages(&self, field: Field) -> bool {
        self.managed.contains(&field)
    }

    /// The expression a field is mapped to; `None` for a role left at its default, or unmanaged.
    pub fn expression(&self, field: Field) -> Option<(&Expr, &str)> {
        match field {
            Field::Extra(name) => self
                .extras
                .iter()
                .find(|e| e.name == name)
                .map(|e| (&e.expr, e.text.as_str())),
            role => match &self.roles[slot(role)] {
                RoleMapping::Mapped { expr, text } => Some((expr, text.as_str())),
                _ => None,
            },
        }
    }

    /// The longest value the target takes for a field, when its rule says (numbered values are
    /// shortened to fit).
    pub fn max_chars(&self, field: Field) -> Option<usize> {
        self.expression(field)
            .and_then(|(expr, _)| expr.rule())
            .map(ValueRule::max_chars)
    }

    /// The configuration key that set a field, when one did.
    pub fn key(&self, field: Field) -> Option<&str> {
        self.keys.get(&field).map(String::as_str)
    }

    /// Every custom field the mapping reads.
    pub fn custom_fields(&self) -> BTreeSet<&str> {
        self.expressions()
            .flat_map(|expr| expr.custom_fields())
            .collect()
    }

    /// True when some expression reads this standard field.
    pub fn reads(&self, field: SourceField) -> bool {
        self.expressions().any(|expr| expr.reads(field))
    }

    /// True when nothing differs from the mapping of a connector that has none.
    pub fn is_default(&self) -> bool {
        self.keys.is_empty()
    }

    fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.roles
            .iter()
            .filter_map(|role| match role {
                RoleMapping::Mapped { expr, .. } => Some(expr),
                _ => None,
            })
            .chain(self.extras.iter().map(|e| &e.expr))
    }
}

impl fmt::Display for RoleMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleMapping::Default => f.write_str("(default)"),
            RoleMapping::Mapped { text, .. } => f.write_str(text),
            RoleMapping::None => f.write_str("none"),
        }
    }
}

fn slot(role: Field) -> usize {
    Field::ROLES
        .iter()
        .position(|r| *r == role)
        .unwrap_or_default()
}
