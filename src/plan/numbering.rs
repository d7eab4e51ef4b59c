//! Numbered unique values: the second 张三 mapped to `{name|pinyin}` becomes `zhangsan2`. An
//! e-mail address is numbered in its local part (`zhangsan2@example.com`).

use crate::model::Field;

/// `base` with the number `n` (2 or more) in it.
pub(super) fn numbered(field: Field, base: &str, n: u32) -> String {
    match split(field, base) {
        (local, Some(domain)) => format!("{local}{n}@{domain}"),
        (local, None) => format!("{local}{n}"),
    }
}

/// The number `value` carries as a form of `base`: 1 when it is `base` itself, `n` when it is
/// [`numbered`] with `n`; compared without case.
pub(super) fn number_of(field: Field, value: &str, base: &str) -> Option<u32> {
    if value.eq_ignore_ascii_case(base) || value.to_lowercase() == base.to_lowercase() {
        return Some(1);
    }
    let (local, domain) = split(field, value);
    let (base_local, base_domain) = split(field, base);
    let same_domain = match (domain, base_domain) {
        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
        (None, None) => true,
        _ => false,
    };
    let local = local.to_lowercase();
    let digits = local.strip_prefix(&base_local.to_lowercase())?;
    let n: u32 = (same_domain && !digits.is_empty() && !digits.starts_with('0'))
        .then(|| digits.parse().ok())??;
    (n >= 2).then_some(n)
}

/// An address-shaped value is numbered in its local part, whichever attribute holds it (a
/// userName taken from the e-mail too).
fn split(_field: Field, value: &str) -> (&str, Option<&str>) {
    match value.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => (local, Some(domain)),
        _ => (value, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_after_the_name_and_before_an_address_domain() {
        assert_eq!(numbered(Field::UserName, "zhangsan", 2), "zhangsan2");
        assert_eq!(
            numbered(Field::Email, "zs@example.com", 3),
            "zs3@example.com"
        );
        assert_eq!(
            numbered(Field::UserName, "zs@example.com", 2),
            "zs2@example.com"
        );
    }

    #[test]
    fn a_held_value_is_recognised_as_a_form_of_its_base() {
        assert_eq!(number_of(Field::UserName, "zhangsan", "zhangsan"), Some(1));
        assert_eq!(
            number_of(Field::UserName, "ZhangSan12", "zhangsan"),
            Some(12)
        );
        assert_eq!(
            number_of(Field::Email, "zs2@Example.com", "zs@example.com"),
            Some(2)
        );
        assert_eq!(
            number_of(Field::Email, "zs2@other.com", "zs@example.com"),
            None
        );
        assert_eq!(number_of(Field::UserName, "zhangsan1", "zhangsan"), None);
        assert_eq!(number_of(Field::UserName, "zhangsan02", "zhangsan"), None);
        assert_eq!(number_of(Field::UserName, "zhangsanx", "zhangsan"), None);
        assert_eq!(number_of(Field::UserName, "lisi", "zhangsan"), None);
    }
}
