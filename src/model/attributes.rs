use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A person's attributes as orgsync writes them to a target, independent of the target kind.
///
/// One slot per [`Field`], each value inline when it is short (most names, numbers and titles):
/// a directory of a million people holds two copies of every person's attributes (the pull's and
/// the snapshot's), so they must not cost a map and an allocation per value. Serialized as a map
/// of the fields that are set, in field order. `user_name` and `display_name` are always present
/// (see [`Attributes::new`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Attributes([Option<CompactString>; Field::ALL.len()]);

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

    /// The field's slot in [`Attributes`]: its place in [`Field::ALL`].
    fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Attributes {
    pub fn new(
        user_name: impl Into<CompactString>,
        display_name: impl Into<CompactString>,
    ) -> Self {
        Attributes::default()
            .with(Field::UserName, Some(user_name.into()))
            .with(Field::DisplayName, Some(display_name.into()))
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.0[field.slot()].as_deref()
    }

    /// Sets or clears a field. Empty strings count as absent, so "" and a missing field never
    /// produce a change.
    pub fn set(&mut self, field: Field, value: Option<CompactString>) {
        self.0[field.slot()] = value.filter(|v| !v.is_empty());
    }

    pub fn with(mut self, field: Field, value: Option<CompactString>) -> Self {
        self.set(field, value);
        self
    }

    pub fn user_name(&self) -> &str {
        self.get(Field::UserName).unwrap_or_default()
    }

    /// The fields that are set, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL
            .iter()
            .filter_map(|&field| Some((field, self.get(field)?)))
    }

    /// The changes that turn `self` into the desired values, read field by field (so the desired
    /// attributes need not be built to be compared), in field order.
    pub fn changes_to<'v>(&self, desired: impl Fn(Field) -> Option<&'v str>) -> Vec<FieldChange> {
        Field::ALL
            .iter()
            .filter_map(|&field| {
                let before = self.get(field);
                let after = desired(field);
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
            self.set(
                change.field,
                change.after.as_deref().map(CompactString::from),
            );
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let set = self.0.iter().filter(|v| v.is_some()).count();
        let mut map = serializer.serialize_map(Some(set))?;
        for (field, value) in self.iter() {
            map.serialize_entry(&field, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Attributes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from attribute name to text")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::default();
                while let Some((field, value)) = map.next_entry::<Field, CompactString>()? {
                    attributes.set(field, Some(value));
                }
                Ok(attributes)
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_a_map_of_the_set_fields_in_field_order() {
        let attributes = Attributes::new("lin", "林晓")
            .with(Field::Department, Some("研发部".into()))
            .with(Field::Email, Some("lin@example.cn".into()))
            .with(Field::Title, Some("".into()));
        let json = serde_json::to_string(&attributes).expect("serializes");
        assert_eq!(
            json,
            r#"{"user_name":"lin","display_name":"林晓","email":"lin@example.cn","department":"研发部"}"#
        );
        let back: Attributes = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, attributes);
    }

    #[test]
    fn reading_drops_empty_values_and_refuses_unknown_fields() {
        let read: Attributes =
            serde_json::from_str(r#"{"user_name":"a","title":""}"#).expect("reads");
        assert_eq!(read.get(Field::Title), None);
        assert_eq!(read.user_name(), "a");
        let unknown = serde_json::from_str::<Attributes>(r#"{"nickname":"a"}"#);
        assert!(unknown.is_err(), "{unknown:?}");
    }

    #[test]
    fn slots_follow_field_order() {
        for (n, field) in Field::ALL.iter().enumerate() {
            assert_eq!(field.slot(), n, "{field}");
        }
    }
}
