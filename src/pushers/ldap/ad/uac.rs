//! userAccountControl arithmetic. orgsync owns one bit (ACCOUNTDISABLE) and reads the value
//! before it writes, so every other bit an administrator set (DONT_EXPIRE_PASSWORD, …) stays.

/// ACCOUNTDISABLE.
pub const DISABLED: i64 = 0x2;
/// NORMAL_ACCOUNT: what every user object is.
pub const NORMAL_ACCOUNT: i64 = 0x200;

/// A new account: a normal account, disabled or not.
pub fn new_account(enabled: bool) -> i64 {
    if enabled {
        NORMAL_ACCOUNT
    } else {
        NORMAL_ACCOUNT | DISABLED
    }
}

/// `current` with ACCOUNTDISABLE set or cleared, nothing else changed.
pub fn with_disabled(current: i64, disabled: bool) -> i64 {
    if disabled {
        current | DISABLED
    } else {
        current & !DISABLED
    }
}

pub fn is_disabled(value: i64) -> bool {
    value & DISABLED != 0
}

/// The attribute's text as AD returns it (a signed 32-bit decimal).
pub fn parse(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_disable_bit_changes() {
        // (current, disable?, expected)
        let cases = [
            (512, true, 514),
            (514, true, 514),
            (514, false, 512),
            (512, false, 512),
            (0x10200, true, 0x10202), // DONT_EXPIRE_PASSWORD kept
            (0x10202, false, 0x10200),
            (0x220, true, 0x222),      // PASSWD_NOTREQD kept
            (0x80202, false, 0x80200), // TRUSTED_FOR_DELEGATION kept
        ];
        for (current, disable, expected) in cases {
            assert_eq!(with_disabled(current, disable), expected, "{current:#x}");
            assert_eq!(is_disabled(expected), disable);
        }
        assert_eq!(new_account(false), 514);
        assert_eq!(new_account(true), 512);
        assert_eq!(parse(" 66050 "), Some(0x10202));
        assert_eq!(parse("x"), None);
    }
}
