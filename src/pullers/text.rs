//! Upstream text as every puller cleans it.

use crate::model::UserKey;
use compact_str::CompactString;

/// The value with surrounding blanks removed; a blank value counts as absent. Kept inline when
/// short (see [`crate::model::User`]).
pub(crate) fn non_empty(value: Option<String>) -> Option<CompactString> {
    let value = value?;
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| CompactString::from(trimmed))
}

/// A department's heads as the platform lists them: ids trimmed, blanks and `"0"` (no one, on
/// platforms with numeric ids) dropped, each once, in the platform's order. Ids nobody in the
/// pull holds are kept: the planner decides what a head outside the scope means.
pub(crate) fn head_keys<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Vec<UserKey> {
    let mut heads: Vec<UserKey> = Vec::new();
    for id in ids {
        let id = id.as_ref().trim();
        if id.is_empty() || id == "0" {
            continue;
        }
        let key = UserKey::new(id);
        if !heads.contains(&key) {
            heads.push(key);
        }
    }
    heads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_keep_the_platform_order_without_blanks_zeros_or_repeats() {
        let heads = head_keys([" lin ", "", "0", "zhou", "lin", "unknown"]);
        let heads: Vec<&str> = heads.iter().map(UserKey::as_str).collect();
        assert_eq!(heads, ["lin", "zhou", "unknown"]);
        assert!(head_keys(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn blanks_are_absent_and_values_trimmed() {
        assert_eq!(non_empty(None), None);
        assert_eq!(non_empty(Some(" \t ".into())), None);
        assert_eq!(non_empty(Some(" 林晓 ".into())).as_deref(), Some("林晓"));
    }
}
