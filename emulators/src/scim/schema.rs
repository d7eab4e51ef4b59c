//! Schema URNs and the attribute names the emulator knows, resolved once for PATCH paths, request
//! bodies and filters so the three agree on what "an attribute of this User" means.
//!
//! The emulator publishes (on `/Schemas`) only the attributes it stores (its fixed ones and those a
//! test configures: [`Known`], `ScimConfig::user_attributes`); anything else in a request is
//! unknown and refused, so a client never gets a silent "OK" for data the emulator dropped.

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const ENTERPRISE_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// orgsync's Group extension: the department's head and parent (docs/scim.md).
pub(crate) const DEPARTMENT_SCHEMA: &str =
    "urn:orgsync:params:scim:schemas:extension:department:1.0:Group";
pub(crate) const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub(crate) const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A single stored attribute of a User, addressed by name or path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attr {
    Id,
    ExternalId,
    UserName,
    DisplayName,
    NameFormatted,
    Title,
    Active,
    Emails,
    PhoneNumbers,
    EmployeeNumber,
    Department,
    /// The enterprise `manager` complex attribute (value object `{"value": id}`).
    Manager,
    /// The enterprise `manager.value` sub-attribute (a plain id string).
    ManagerValue,
}

impl Attr {
    /// Whether string comparisons on this attribute are case-exact (RFC 7643 §3.1, §4.1). The
    /// manager's `value` is compared like the `id` it holds, though RFC 7643 §4.3 leaves it caseless.
    pub(crate) fn case_exact(self) -> bool {
        matches!(
            self,
            Attr::Id | Attr::ExternalId | Attr::Manager | Attr::ManagerValue
        )
    }
}

/// What a name or path points at: a stored attribute, or a complex attribute holding several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Attr(Attr),
    /// The core `name` complex attribute (only `formatted` is stored).
    Name,
    /// The whole enterprise extension object.
    Enterprise,
    /// `meta` and `schemas`: present on resources but never writable.
    ReadOnly,
}

/// Resolves an attribute path as written in a PATCH `path`, a request body key or a filter:
/// case-insensitive (RFC 7644 §3.10), optionally fully qualified with the schema URN.
pub(crate) fn resolve(path: &str) -> Option<Target> {
    let lower = path.to_ascii_lowercase();
    let enterprise = ENTERPRISE_SCHEMA.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix(&enterprise) {
        return match rest {
            "" => Some(Target::Enterprise),
            _ => rest.strip_prefix(':').and_then(resolve_enterprise),
        };
    }
    let core = USER_SCHEMA.to_ascii_lowercase() + ":";
    let name = lower.strip_prefix(&core).unwrap_or(&lower);
    let attr = match name {
        "id" => Attr::Id,
        "externalid" => Attr::ExternalId,
        "username" => Attr::UserName,
        "displayname" => Attr::DisplayName,
        "name" => return Some(Target::Name),
        "name.formatted" => Attr::NameFormatted,
        "title" => Attr::Title,
        "active" => Attr::Active,
        "emails" => Attr::Emails,
        "phonenumbers" => Attr::PhoneNumbers,
        "meta" | "schemas" | "groups" => return Some(Target::ReadOnly),
        _ => return None,
    };
    Some(Target::Attr(attr))
}

fn resolve_enterprise(name: &str) -> Option<Target> {
    let attr = match name {
        "employeenumber" => Attr::EmployeeNumber,
        "department" => Attr::Department,
        "manager" => Attr::Manager,
        "manager.value" => Attr::ManagerValue,
        _ => return None,
    };
    Some(Target::Attr(attr))
}

/// Resolves a sub-attribute of a complex attribute (a key inside a `name` or enterprise object).
pub(crate) fn resolve_within(container: Target, key: &str) -> Option<Attr> {
    match (container, key.to_ascii_lowercase().as_str()) {
        (Target::Name, "formatted") => Some(Attr::NameFormatted),
        (Target::Enterprise, sub) => match resolve_enterprise(sub) {
            Some(Target::Attr(attr)) if attr != Attr::ManagerValue => Some(attr),
            _ => None,
        },
        _ => None,
    }
}

/// The attributes served beyond the ones always stored ([`crate::scim::ScimConfig::user_attributes`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known<'a>(pub(crate) &'a [String]);

impl<'a> Known<'a> {
    #[cfg(test)]
    pub(crate) const NONE: Known<'static> = Known(&[]);

    /// The configured spelling of a path, matched case-insensitively (RFC 7644 §3.10); a path
    /// qualified with the core schema's URN matches the unqualified one.
    pub(crate) fn find(self, path: &str) -> Option<&'a str> {
        let core = format!("{USER_SCHEMA}:");
        let unqualified = match path.get(..core.len()) {
            Some(head) if head.eq_ignore_ascii_case(&core) => &path[core.len()..],
            _ => path,
        };
        self.0
            .iter()
            .find(|known| known.eq_ignore_ascii_case(unqualified))
            .map(String::as_str)
    }

    /// Whether `urn` is a custom extension some configured attribute belongs to.
    pub(crate) fn is_extension(self, urn: &str) -> bool {
        !urn.eq_ignore_ascii_case(USER_SCHEMA)
            && !urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
            && self
                .extensions()
                .any(|known| known.eq_ignore_ascii_case(urn))
    }

    /// The custom extensions' URNs, each once, in configuration order.
    pub(crate) fn extensions(self) -> impl Iterator<Item = &'a str> {
        let mut seen: Vec<String> = Vec::new();
        self.0.iter().filter_map(move |path| {
            // A sub-attribute's name holds no ':', a URN may hold dots (`…:2.0:User`).
            let urn = &path[..path.rfind(':')?];
            let fresh = !urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
                && !seen.iter().any(|s| s.eq_ignore_ascii_case(urn));
            seen.push(urn.to_ascii_lowercase());
            fresh.then_some(urn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_case_insensitively_and_qualified() {
        assert_eq!(resolve("USERNAME"), Some(Target::Attr(Attr::UserName)));
        assert_eq!(
            resolve("urn:ietf:params:scim:schemas:core:2.0:User:name.formatted"),
            Some(Target::Attr(Attr::NameFormatted))
        );
        assert_eq!(
            resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            Some(Target::Attr(Attr::ManagerValue))
        );
        assert_eq!(resolve(ENTERPRISE_SCHEMA), Some(Target::Enterprise));
        assert_eq!(resolve("nickName"), None);
        assert_eq!(resolve(&format!("{ENTERPRISE_SCHEMA}x")), None);
        assert_eq!(resolve(&format!("{ENTERPRISE_SCHEMA}:costCenter")), None);
    }

    #[test]
    fn resolves_within_containers() {
        assert_eq!(
            resolve_within(Target::Name, "Formatted"),
            Some(Attr::NameFormatted)
        );
        assert_eq!(resolve_within(Target::Name, "givenName"), None);
        assert_eq!(
            resolve_within(Target::Enterprise, "manager"),
            Some(Attr::Manager)
        );
        assert_eq!(resolve_within(Target::Enterprise, "manager.value"), None);
    }
}
