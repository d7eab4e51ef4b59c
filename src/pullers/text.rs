//! Upstream text as every puller cleans it.

use compact_str::CompactString;

/// The value with surrounding blanks removed; a blank value counts as absent. Kept inline when
/// short (see [`crate::model::User`]).
pub(crate) fn non_empty(value: Option<String>) -> Option<CompactString> {
    let value = value?;
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| CompactString::from(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_are_absent_and_values_trimmed() {
        assert_eq!(non_empty(None), None);
        assert_eq!(non_empty(Some(" \t ".into())), None);
        assert_eq!(non_empty(Some(" 林晓 ".into())).as_deref(), Some("林晓"));
    }
}
