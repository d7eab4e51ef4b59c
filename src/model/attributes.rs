use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A person's attributes as orgsync writes them to a target, independent of the target kind.
///
/// One slot per role (the seven [`Field::ROLES`] the planner and every target know), each value
/// inline when it is short (most names, numbers and titles): a directory of a million people
/// holds two copies of every person's attributes (the pull's and the snapshot's), so they must not
/// cost a map and an allocation per value. Attributes beyond the roles, mapped by the connector's
/// `[target.attributes]`, sit in a short vector sorted by their target name. Serialized as a map
/// of the fields that are set, roles first. `user_name` and `display_name` are always present
/// (see [`Attributes::new`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    roles: [Option<CompactString>; Field::ROLES.len()],
    extras: Vec<(AttrName, CompactString)>,
}

/// One target attribute orgsync manages: a role every target kind places somewhere of its own
/// (SCIM `userName`, LDAP `uid`, …), or an attribute the connector's mapping adds, by its target
/// name (a SCIM path, an LDAP attribute, a webhook payload field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    UserName,
    DisplayName,
    Email,
    Mobile,
    Title,
    EmployeeNumber,
    Department,
    Extra(AttrName),
}

/// The target name of a mapped attribute. Interned: the names come from the configuration (and
/// the snapshot, which holds what the configuration once mapped), so they are few, and every
/// person's attributes refer to them by pointer instead of holding a copy each.
#[derive(Clone, Copy)]
pub struct AttrName(&'static str);

// Interned: one pointer per distinct name, so equality and hashing go by the pointer (a million
// people's attributes are compared per run) and order by the text (stable across runs).
impl PartialEq for AttrName {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for AttrName {}

impl std::hash::Hash for AttrName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state);
    }
}

impl PartialOrd for AttrName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AttrName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self == other {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(other.0)
        }
    }
}

impl AttrName {
    pub fn new(name: &str) -> AttrName {
        static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let names = NAMES.get_or_init(Default::default);
        // A poisoned lock still holds a valid set: interning never leaves it half-changed.
        let mut names = names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = names.get(name) {
            return AttrName(known);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        AttrName(leaked)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One field's change, for update steps and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Field {
    /// The roles, in slot order.
    pub const ROLES: [Field; 7] = [
        Field::UserName,
        Field::DisplayName,
        Field::Email,
        Field::Mobile,
        Field::Title,
        Field::EmployeeNumber,
        Field::Department,
    ];
    /// The roles. Kept under the old name: code that walks "every field" of the lean model
    /// means the roles.
    pub const ALL: [Field; 7] = Field::ROLES;

    pub fn as_str(self) -> &'static str {
        match self {
            Field::UserName => "user_name",
            Field::DisplayName => "display_name",
            Field::Email => "email",
            Field::Mobile => "mobile",
            Field::Title => "title",
            Field::EmployeeNumber => "employee_number",
            Field::Department => "department",
            Field::Extra(name) => name.as_str(),
        }
    }

    /// The role of this name, if it names one.
    pub fn role(name: &str) -> Option<Field> {
        Field::ROLES.into_iter().find(|f| f.as_str() == name)
    }

    /// A role by its name, anything else as a mapped attribute of that target name.
    pub fn named(name: &str) -> Field {
        Field::role(name).unwrap_or_else(|| Field::Extra(AttrName::new(name)))
    }

    pub fn is_role(self) -> bool {
        !matches!(self, Field::Extra(_))
    }

    /// The role's slot in [`Attributes`]: its place in [`Field::ROLES`].
    fn slot(self) -> Option<usize> {
        match self {
            Field::UserName => Some(0),
            Field::DisplayName => Some(1),
            Field::Email => Some(2),
            Field::Mobile => Some(3),
            Field::Title => Some(4),
            Field::EmployeeNumber => Some(5),
            Field::Department => Some(6),
            Field::Extra(_) => None,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(deserializer)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom(
                "an attribute name cannot be empty",
            ));
        }
        Ok(Field::named(&name))
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

    /// Room for `n` mapped attributes, so filling them allocates once.
    pub fn with_room_for_extras(n: usize) -> Self {
        Attributes {
            roles: Default::default(),
            extras: Vec::with_capacity(n),
        }
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        match (field, field.slot()) {
            (_, Some(slot)) => self.roles[slot].as_deref(),
            // A few entries: a scan comparing pointers beats a search comparing text.
            (Field::Extra(name), None) => self
                .extras
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| value.as_str()),
            // Every role has a slot.
            _ => None,
        }
    }

    /// Sets or clears a field. Empty strings count as absent, so "" and a missing field never
    /// produce a change.
    pub fn set(&mut self, field: Field, value: Option<CompactString>) {
        let value = value.filter(|v| !v.is_empty());
        match (field, field.slot()) {
            (_, Some(slot)) => self.roles[slot] = value,
            (Field::Extra(name), None) => {
                let at = self.extras.binary_search_by(|(n, _)| n.cmp(&name));
                match (at, value) {
                    (Ok(at), Some(value)) => self.extras[at].1 = value,
                    (Ok(at), None) => {
                        self.extras.remove(at);
                    }
                    (Err(at), Some(value)) => self.extras.insert(at, (name, value)),
                    (Err(_), None) => {}
                }
            }
            _ => {}
        }
    }

    pub fn with(mut self, field: Field, value: Option<CompactString>) -> Self {
        self.set(field, value);
        self
    }

    pub fn user_name(&self) -> &str {
        self.get(Field::UserName).unwrap_or_default()
    }

    /// The fields that are set: roles in slot order, then mapped attributes by name.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ROLES
            .iter()
            .filter_map(|&field| Some((field, self.get(field)?)))
            .chain(
                self.extras
                    .iter()
                    .map(|(name, value)| (Field::Extra(*name), value.as_str())),
            )
    }

    /// The changes that turn `self` into the desired values of `fields` (the attributes the
    /// mapping manages), read field by field so the desired attributes need not be built to be
    /// compared. Fields outside `fields` are left alone whatever they hold.
    pub fn changes_to<'v>(
        &self,
        fields: &[Field],
        desired: impl Fn(Field) -> Option<Cow<'v, str>>,
    ) -> Vec<FieldChange> {
        fields
            .iter()
            .filter_map(|&field| {
                let before = self.get(field);
                let after = desired(field).filter(|v| !v.is_empty());
                (before != after.as_deref()).then(|| FieldChange {
                    field,
                    before: before.map(str::to_owned),
                    after: after.map(Cow::into_owned),
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
        let set = self.roles.iter().filter(|v| v.is_some()).count() + self.extras.len();
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
    fn reading_drops_empty_values_and_keeps_mapped_attributes_by_name() {
        let read: Attributes = serde_json::from_str(
            r#"{"user_name":"a","title":"","urn:x:costCenter":"CC-1","nickName":"A"}"#,
        )
        .expect("reads");
        assert_eq!(read.get(Field::Title), None);
        assert_eq!(read.user_name(), "a");
        assert_eq!(read.get(Field::named("urn:x:costCenter")), Some("CC-1"));
        let json = serde_json::to_string(&read).expect("serializes");
        assert_eq!(
            json,
            r#"{"user_name":"a","nickName":"A","urn:x:costCenter":"CC-1"}"#
        );
        let empty_name = serde_json::from_str::<Attributes>(r#"{"":"a"}"#);
        assert!(empty_name.is_err(), "{empty_name:?}");
    }

    #[test]
    fn slots_follow_role_order() {
        for (n, field) in Field::ROLES.iter().enumerate() {
            assert_eq!(field.slot(), Some(n), "{field}");
            assert_eq!(Field::role(field.as_str()), Some(*field));
        }
    }

    #[test]
    fn changes_cover_only_the_managed_fields() {
        let cost = Field::named("costCenter");
        let current = Attributes::new("a", "A")
            .with(Field::Title, Some("old".into()))
            .with(cost, Some("CC-1".into()));
        let changes = current.changes_to(&[Field::DisplayName, cost], |field| match field {
            Field::DisplayName => Some("A".into()),
            _ => Some("CC-2".into()),
        });
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, cost);
        assert_eq!(changes[0].after.as_deref(), Some("CC-2"));
        let mut updated = current.clone();
        updated.apply(&changes);
        assert_eq!(updated.get(Field::Title), Some("old"));
        assert_eq!(updated.get(cost), Some("CC-2"));
    }
}
