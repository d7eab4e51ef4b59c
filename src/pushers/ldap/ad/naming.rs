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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_pairs_get_the_account_name() {
        assert_eq!(distinct_cn("张三", "zhangsan2"), "张三 (zhangsan2)");
    }

    #[test]
    fn group_fallback_names_are_stable_and_short() {
        let a = group_account_name("Engineering and Research Department", "42");
        assert_eq!(a, group_account_name("Engineering and Research Department", "42"));
        assert_ne!(a, group_account_name("Engineering and Research Department", "43"));
        assert!(a.starts_with("Engineering_a-"), "{a}");
        assert!(a.encode_utf16().count() <= sam::MAX_CHARS, "{a}");
    }
}
