//! Names that must be unique within an OU: a user's `cn`, a group's sAMAccountName fallback.

use super::sam;

/// The `cn` of a person whose display name another entry of the OU has already: the name with
/// the sAMAccountName, which is unique in the domain, in parentheses.
pub fn distinct_cn(display_name: &str, account_name: &str) -> String {
    format!("{display_name} ({account_name})")
}

/// A group's sAMAccountName when its name's is taken: the name cut to 13 characters, `-` and
/// six hexadecimal digits of the department id's digest (stable, and the same whichever group
/// is created first).
pub fn group_account_name(display_name: &str, department: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(department.as_bytes());
    let suffix = crate::hex::encode(&digest[..3]);
    let base: String = sam::account_name(display_name)
        .unwrap_or_default()
        .chars()
        .take(13)
        .collect();
    let base = base.trim_end_matches('.');
    format!("{base}-{suffix}")
}

/// AD's schema caps employeeID at 16 characters (rangeUpper): longer upstream ids (Feishu's
/// open_id, some DingTalk userids) need another key attribute. The error says which.
pub fn key_too_long(key_attribute: &str, key: &str) -> Option<String> {
    const EMPLOYEE_ID_MAX: usize = 16;
    (key_attribute.eq_ignore_ascii_case("employeeID") && key.chars().count() > EMPLOYEE_ID_MAX)
        .then(|| {
            format!(
                "the upstream id {key:?} is longer than the {EMPLOYEE_ID_MAX} characters Active \
                 Directory's employeeID holds: set key_attribute = \"employeeNumber\" and \
                 attributes.employeeNumber = \"key\" (employeeNumber holds 512)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_pairs_get_the_account_name() {
        assert_eq!(distinct_cn("张三", "zhangsan2"), "张三 (zhangsan2)");
    }

    #[test]
    fn only_employee_ids_over_16_characters_are_refused() {
        let cases = [
            ("employeeID", "sixteen-chars-ok", false),
            ("employeeID", "seventeen-chars-x", true),
            ("EMPLOYEEID", "ou_7d8a6e6df7621556ce0d21922b676706", true),
            (
                "employeeNumber",
                "ou_7d8a6e6df7621556ce0d21922b676706",
                false,
            ),
            ("employeeID", "张三丰张三丰张三丰张三丰张三丰张", false),
        ];
        for (attribute, key, refused) in cases {
            let error = key_too_long(attribute, key);
            assert_eq!(error.is_some(), refused, "{attribute} {key}");
            if let Some(error) = error {
                assert!(error.contains("employeeNumber"), "{error}");
            }
        }
    }

    #[test]
    fn group_fallback_names_are_stable_and_short() {
        let a = group_account_name("Engineering and Research Department", "42");
        assert_eq!(
            a,
            group_account_name("Engineering and Research Department", "42")
        );
        assert_ne!(
            a,
            group_account_name("Engineering and Research Department", "43")
        );
        assert!(a.starts_with("Engineering_a-"), "{a}");
        assert!(a.encode_utf16().count() <= sam::MAX_CHARS, "{a}");
    }
}
