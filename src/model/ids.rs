use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Ids are short (upstream ids, SCIM ids) and there are millions of copies of them in a big
/// run: kept inline up to 24 bytes, so most are never allocated and a clone is a copy.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(CompactString);

        impl $name {
            pub fn new(value: impl Into<CompactString>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(CompactString::from(value))
            }
        }
    };
}

string_id!(
    /// The upstream platform's stable user id (WeCom `userid`, DingTalk `userid`, Feishu `user_id`,
    /// Bitrix24 `ID`). It is the `externalId` in the target and the key of the snapshot.
    UserKey
);
string_id!(
    /// An upstream department id, kept as text so every platform's id form fits.
    DepartmentId
);
string_id!(
    /// The id the target assigned to a person (SCIM `id`, LDAP DN, …).
    TargetId
);
