//! Distinguished names as strings (RFC 4514), just enough to build them from hostile values, split
//! off the RDN, and compare two spellings of one name. No IO.

use ldap3::dn_escape;

/// `attribute=value` with the value escaped, so commas, plus signs, quotes and leading `#` in
/// upstream data cannot change the shape of the DN.
pub(super) fn rdn(attribute: &str, value: &str) -> String {
    format!("{attribute}={}", dn_escape(value))
}

pub(super) fn child(rdn: &str, parent: &str) -> String {
    if parent.is_empty() {
        rdn.to_owned()
    } else {
        format!("{rdn},{parent}")
    }
}

/// The RDN components of `dn`, as written (escapes kept). Refuses text that is not a DN.
pub(super) fn split(dn: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(&dn[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if escaped {
        return Err(format!("{dn:?} ends inside an escape"));
    }
    parts.push(&dn[start..]);
    for part in &parts {
        let (attribute, _) = part
            .split_once('=')
            .ok_or_else(|| format!("{dn:?} is not a DN: {part:?} has no '='"))?;
        if attribute.trim().is_empty() {
            return Err(format!("{dn:?} is not a DN: {part:?} names no attribute"));
        }
    }
    Ok(parts)
}

/// The RDN and the parent DN. A DN that does not parse has no parent (it is its own RDN).
pub(super) fn parent(dn: &str) -> (&str, &str) {
    match split(dn) {
        Ok(parts) if parts.len() > 1 => {
            let rdn = parts[0];
            (rdn, &dn[rdn.len() + 1..])
        }
        _ => (dn, ""),
    }
}

/// Whether two DNs name the same entry, for the attributes orgsync names entries with (all of
/// them compared without case: uid, cn, ou, dc, mail). Spaces around separators and the
/// spelling of escapes do not matter.
pub(super) fn same(a: &str, b: &str) -> bool {
    match (normalize(a), normalize(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// A form of `dn` equal for every spelling of one name (see [`same`]), to compare sets of DNs.
pub(super) fn canonical(dn: &str) -> String {
    match normalize(dn) {
        Some(parts) => parts
            .into_iter()
            .map(|(attribute, value)| format!("{attribute}\u{0}{value}"))
            .collect::<Vec<_>>()
            .join("\u{1}"),
        None => dn.to_lowercase(),
    }
}

/// Whether `dn` lies at or below `base`.
pub(super) fn within(dn: &str, base: &str) -> bool {
    match (normalize(dn), normalize(base)) {
        (Some(dn), Some(base)) => dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..],
        _ => false,
    }
}

fn normalize(dn: &str) -> Option<Vec<(String, String)>> {
    split(dn)
        .ok()?
        .into_iter()
        .map(|part| {
            let (attribute, value) = part.split_once('=')?;
            Some((
                attribute.trim().to_ascii_lowercase(),
                unescape(value.trim())?.to_lowercase(),
            ))
        })
        .collect()
}

/// Turns `\,` and `\2c` escapes back into the characters they stand for.
fn unescape(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(*bytes.get(i + 1)?);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of the first RDN component, unescaped (for messages and relocation checks).
pub(super) fn rdn_value(dn: &str) -> Option<String> {
    let (rdn, _) = parent(dn);
    unescape(rdn.split_once('=')?.1.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_one_component() {
        for value in [
            "a,b",
            "x+y",
            "\"quoted\"",
            "<tag>;",
            "#hash",
            " lead and trail ",
            "back\\slash",
            "uid=evil,dc=com",
            "林 晓",
        ] {
            let dn = child(&rdn("uid", value), "ou=people,dc=example,dc=com");
            let parts = split(&dn).unwrap();
            assert_eq!(parts.len(), 4, "{dn}");
            assert_eq!(rdn_value(&dn).as_deref(), Some(value), "{dn}");
            assert_eq!(parent(&dn).1, "ou=people,dc=example,dc=com");
        }
    }

    #[test]
    fn compares_spellings_of_one_name() {
        assert!(same(
            "uid=Lin,ou=People,dc=example,dc=com",
            "UID=lin, ou=people,DC=Example,dc=com"
        ));
        assert!(same("uid=a\\2cb,dc=x", "uid=a\\,b,dc=x"));
        assert!(!same("uid=a,ou=people,dc=x", "uid=a,ou=disabled,dc=x"));
        assert!(within("uid=a,ou=People,dc=x", "ou=people,dc=x"));
        assert!(within("ou=people,dc=x", "ou=people,dc=x"));
        assert!(!within("uid=a,ou=disabled,dc=x", "ou=people,dc=x"));
        assert_eq!(
            canonical("UID=a\\2cb, ou=People,dc=x"),
            canonical("uid=a\\,b,ou=people,dc=x")
        );
        assert_ne!(canonical("uid=a,dc=x"), canonical("uid=a\\,dc\\=x"));
    }

    #[test]
    fn refuses_non_dns() {
        assert!(split("not a dn").is_err());
        assert!(split("uid=a,=b").is_err());
        assert!(split("uid=a\\").is_err());
        assert_eq!(parent("dc=com"), ("dc=com", ""));
    }
}
