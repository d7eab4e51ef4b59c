//! sAMAccountName ("pre-Windows 2000 logon name") and userPrincipalName. Active Directory
//! refuses `"/\[]:;|=,+*?<>` (and `@` in practice: it splits UPNs), control characters, values
//! longer than 20 characters and values ending in a period. Samba takes some of these; orgsync
//! writes only values real AD takes.

/// The longest sAMAccountName, in UTF-16 units as AD counts.
pub const MAX_CHARS: usize = 20;

const REFUSED: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

/// `value` as a sAMAccountName: refused characters and whitespace (which every logon prompt
/// would need quoted) become `_`, then it is cut to 20 characters and trailing periods go.
/// Valid names come back unchanged, so the rule can be applied again safely. None when nothing
/// is left.
pub fn account_name(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut units = 0;
    for c in value.trim().chars() {
        let c = if REFUSED.contains(&c) || c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        };
        units += c.len_utf16();
        if units > MAX_CHARS {
            break;
        }
        out.push(c);
    }
    let out = out.trim_end_matches('.');
    (!out.is_empty()).then(|| out.to_owned())
}

/// `<name>@<suffix>`.
pub fn principal_name(name: &str, suffix: &str) -> String {
    format!("{name}@{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ads_rules() {
        let cases: &[(&str, Option<&str>)] = &[
            ("zhangsan", Some("zhangsan")),
            ("ZhangSan", Some("ZhangSan")),
            ("zhang.san", Some("zhang.san")),
            ("zhang san", Some("zhang_san")),
            ("a@b.com", Some("a_b.com")),
            (r#"x"/\[]:;|=,+*?<>y"#, Some("x_______________y")),
            ("tab\there", Some("tab_here")),
            ("abcdefghijklmnopqrstuvwxyz", Some("abcdefghijklmnopqrst")),
            ("abcdefghijklmnopqrs.uvw", Some("abcdefghijklmnopqrs")),
            ("ends.with.dots...", Some("ends.with.dots")),
            ("张三", Some("张三")),
            (
                "张三丰张三丰张三丰张三丰张三丰张三丰张三丰张三丰",
                Some("张三丰张三丰张三丰张三丰张三丰张三丰张三"),
            ),
            ("😀😀😀😀😀😀😀😀😀😀😀", Some("😀😀😀😀😀😀😀😀😀😀")),
            ("  padded  ", Some("padded")),
            ("...", None),
            ("", None),
        ];
        for (input, expected) in cases {
            let name = account_name(input);
            assert_eq!(name.as_deref(), *expected, "{input:?}");
            if let Some(name) = name {
                assert!(name.encode_utf16().count() <= MAX_CHARS, "{name}");
                assert_eq!(account_name(&name), Some(name.clone()), "idempotent");
            }
        }
    }

    #[test]
    fn principal_names_join_name_and_suffix() {
        assert_eq!(
            principal_name("zhangsan", "example.com"),
            "zhangsan@example.com"
        );
    }
}
