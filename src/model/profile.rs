use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a person's record holds beyond the fields every platform has (name, e-mail, mobile, title,
/// employee number, departments): the standard fields only some platforms return, and the
/// platform's custom fields by name.
///
/// Sparse on purpose: most people have few of these, and a pull of a million people holds a
/// million profiles, so an empty one is a vector that never allocated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Profile(Vec<(ProfileKey, CompactString)>);

/// One entry of a [`Profile`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKey {
    Standard(ProfileField),
    /// A custom field, by the name (or id, on Feishu) the platform gives it.
    Custom(CompactString),
}

/// Standard fields some platforms return, under one platform-neutral name each. Values are
/// normalised by the pullers where the platforms disagree: dates as `YYYY-MM-DD`, gender as
/// `male` / `female`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileField {
    EnglishName,
    EnterpriseEmail,
    Telephone,
    EmployeeType,
    Gender,
    WorkPlace,
    HireDate,
    Avatar,
}

impl ProfileField {
    pub const ALL: [ProfileField; 8] = [
        ProfileField::EnglishName,
        ProfileField::EnterpriseEmail,
        ProfileField::Telephone,
        ProfileField::EmployeeType,
        ProfileField::Gender,
        ProfileField::WorkPlace,
        ProfileField::HireDate,
        ProfileField::Avatar,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::EnglishName => "english_name",
            ProfileField::EnterpriseEmail => "enterprise_email",
            ProfileField::Telephone => "telephone",
            ProfileField::EmployeeType => "employee_type",
            ProfileField::Gender => "gender",
            ProfileField::WorkPlace => "work_place",
            ProfileField::HireDate => "hire_date",
            ProfileField::Avatar => "avatar",
        }
    }
}

impl fmt::Display for ProfileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets a standard field; empty text and `None` clear it (absent and empty are one).
    pub fn set(&mut self, field: ProfileField, value: Option<impl Into<CompactString>>) {
        self.put(ProfileKey::Standard(field), value.map(Into::into));
    }

    /// Sets a custom field by its platform name; empty text clears it.
    pub fn set_custom(&mut self, name: impl Into<CompactString>, value: impl Into<CompactString>) {
        self.put(ProfileKey::Custom(name.into()), Some(value.into()));
    }

    pub fn with(mut self, field: ProfileField, value: impl Into<CompactString>) -> Self {
        self.set(field, Some(value));
        self
    }

    pub fn with_custom(
        mut self,
        name: impl Into<CompactString>,
        value: impl Into<CompactString>,
    ) -> Self {
        self.set_custom(name, value);
        self
    }

    pub fn get(&self, field: ProfileField) -> Option<&str> {
        self.0.iter().find_map(|(key, value)| match key {
            ProfileKey::Standard(f) if *f == field => Some(value.as_str()),
            _ => None,
        })
    }

    pub fn custom(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(key, value)| match key {
            ProfileKey::Custom(n) if n == name => Some(value.as_str()),
            _ => None,
        })
    }

    /// Every entry, in the order set.
    pub fn iter(&self) -> impl Iterator<Item = (&ProfileKey, &str)> {
        self.0.iter().map(|(key, value)| (key, value.as_str()))
    }

    /// The names of the custom fields present.
    pub fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|(key, _)| match key {
            ProfileKey::Custom(name) => Some(name.as_str()),
            ProfileKey::Standard(_) => None,
        })
    }

    fn put(&mut self, key: ProfileKey, value: Option<CompactString>) {
        let value = value.filter(|v| !v.trim().is_empty());
        let at = self.0.iter().position(|(k, _)| *k == key);
        match (at, value) {
            (Some(at), Some(value)) => self.0[at].1 = value,
            (Some(at), None) => {
                self.0.remove(at);
            }
            (None, Some(value)) => self.0.push((key, value)),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_later_values_replace_earlier() {
        let mut profile = Profile::default()
            .with(ProfileField::EnglishName, "Lin")
            .with_custom("成本中心", "CC-01");
        profile.set(ProfileField::Gender, Some(" "));
        profile.set_custom("成本中心", "CC-02");
        assert_eq!(profile.get(ProfileField::EnglishName), Some("Lin"));
        assert_eq!(profile.get(ProfileField::Gender), None);
        assert_eq!(profile.custom("成本中心"), Some("CC-02"));
        profile.set(ProfileField::EnglishName, None::<&str>);
        assert_eq!(profile.get(ProfileField::EnglishName), None);
        assert_eq!(profile.custom_names().collect::<Vec<_>>(), ["成本中心"]);
    }

    #[test]
    fn round_trips_through_json() {
        let profile = Profile::default()
            .with(ProfileField::HireDate, "2021-03-01")
            .with_custom("level", "P6");
        let json = serde_json::to_string(&profile).expect("serializes");
        let back: Profile = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, profile);
    }
}
