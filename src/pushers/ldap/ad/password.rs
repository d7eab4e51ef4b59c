//! The first password of an account created enabled: random, delivered nowhere (the person
//! resets it through the helpdesk or self-service), and the `unicodePwd` value that sets it.

/// 24 characters from the four classes AD's complexity rule counts; at least one of each.
pub fn generate() -> Result<String, getrandom::Error> {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!#%+-.=?@^_~",
    ];
    let mut random = [0u8; 24];
    getrandom::fill(&mut random)?;
    let password = random
        .iter()
        .enumerate()
        .map(|(i, byte)| {
            // The first four positions take one class each; the rest any class.
            let class = if i < CLASSES.len() {
                CLASSES[i]
            } else {
                CLASSES[usize::from(*byte) % CLASSES.len()]
            };
            char::from(class[usize::from(*byte) % class.len()])
        })
        .collect();
    Ok(password)
}

/// What AD wants in `unicodePwd`: the password in double quotes, as UTF-16LE bytes.
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_have_every_class_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.chars().count(), 24);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
        assert!(a.chars().any(|c| !c.is_ascii_alphanumeric()));
    }

    #[test]
    fn unicode_pwd_is_the_quoted_password_in_utf16le() {
        assert_eq!(unicode_pwd("ab"), b"\"\0a\0b\0\"\0");
    }
}
