//! Numbered unique values: the second 张三 mapped to `{name|pinyin}` becomes `zhangsan2`. An
//! e-mail address is numbered in its local part (`zhangsan2@example.com`).

/// `base` with the number `n` (2 or more) in it.
pub(super) fn numbered(base: &str, n: u32) -> String {
    match split(base) {
        (local, Some(domain)) => format!("{local}{n}@{domain}"),
        (local, None) => format!("{local}{n}"),
    }
}

/// The number `value` carries as a form of `base`: 1 when it is `base` itself, `n` when it is
/// [`numbered`] with `n`; compared without case.
pub(super) fn number_of(value: &str, base: &str) -> Option<u32> {
    if value.eq_ignore_ascii_case(base) || value.to_lowercase() == base.to_lowercase() {
        return Some(1);
    }
    let (local, domain) = split(value);
    let (base_local, base_domain) = split(base);
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
fn split(value: &str) -> (&str, Option<&str>) {
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
        assert_eq!(numbered("zhangsan", 2), "zhangsan2");
        assert_eq!(numbered("zs@example.com", 3), "zs3@example.com");
        assert_eq!(numbered("zs@example.com", 2), "zs2@example.com");
    }

    #[test]
    fn a_held_value_is_recognised_as_a_form_of_its_base() {
        assert_eq!(number_of("zhangsan", "zhangsan"), Some(1));
        assert_eq!(number_of("ZhangSan12", "zhangsan"), Some(12));
        assert_eq!(number_of("zs2@Example.com", "zs@example.com"), Some(2));
        assert_eq!(number_of("zs2@other.com", "zs@example.com"), None);
        assert_eq!(number_of("zhangsan1", "zhangsan"), None);
        assert_eq!(number_of("zhangsan02", "zhangsan"), None);
        assert_eq!(number_of("zhangsanx", "zhangsan"), None);
        assert_eq!(number_of("lisi", "zhangsan"), None);
    }
}
