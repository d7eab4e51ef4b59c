//! Numbered unique values: the second 张三 mapped to `{name|pinyin}` becomes `zhangsan2`. An
//! e-mail address is numbered in its local part (`zhangsan2@example.com`).

/// `base` with the number `n` (2 or more) in it. With a `limit` (the target's longest value,
/// in characters) the name is shortened so the number still fits: `abcdefghijklmnopqrst` →
/// `abcdefghijklmnopqr12`.
pub(super) fn numbered(base: &str, n: u32, limit: Option<usize>) -> String {
    let number = n.to_string();
    let fit = |local: &str, rest: usize| match limit {
        Some(limit) => local
            .chars()
            .take(limit.saturating_sub(number.len() + rest))
            .collect::<String>(),
        None => local.to_owned(),
    };
    match split(base) {
        (local, Some(domain)) => {
            let local = fit(local, domain.chars().count() + 1);
            format!("{local}{number}@{domain}")
        }
        (local, None) => format!("{}{number}", fit(local, 0)),
    }
}

/// The number `value` carries as a form of `base`: 1 when it is `base` itself, `n` when it is
/// [`numbered`] with `n` (under the same `limit`); compared without case.
pub(super) fn number_of(value: &str, base: &str, limit: Option<usize>) -> Option<u32> {
    if value.eq_ignore_ascii_case(base) || value.to_lowercase() == base.to_lowercase() {
        return Some(1);
    }
    if limit.is_some() {
        let local = split(value).0;
        let digits = local.len() - local.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let n: u32 = local[local.len() - digits..].parse().ok()?;
        let expected = numbered(base, n, limit);
        return (n >= 2 && expected.to_lowercase() == value.to_lowercase()).then_some(n);
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
        assert_eq!(numbered("zhangsan", 2, None), "zhangsan2");
        assert_eq!(numbered("zs@example.com", 3, None), "zs3@example.com");
        assert_eq!(numbered("zs@example.com", 2, None), "zs2@example.com");
    }

    #[test]
    fn a_limit_shortens_the_name_so_the_number_fits() {
        let cases = [
            ("abcdefghijklmnopqrst", 2, "abcdefghijklmnopqrs2"),
            ("abcdefghijklmnopqrst", 12, "abcdefghijklmnopqr12"),
            ("short", 3, "short3"),
            (
                "张三丰张三丰张三丰张三丰张三丰张三丰张三",
                2,
                "张三丰张三丰张三丰张三丰张三丰张三丰张2",
            ),
        ];
        for (base, n, expected) in cases {
            let given = numbered(base, n, Some(20));
            assert_eq!(given, expected, "{base} {n}");
            assert!(given.chars().count() <= 20);
            assert_eq!(number_of(&given, base, Some(20)), Some(n), "{given}");
        }
        assert_eq!(
            number_of("abcdefghijklmnopqrst", "abcdefghijklmnopqrst", Some(20)),
            Some(1)
        );
        assert_eq!(
            number_of("abcdefghijklmnopqrs1", "abcdefghijklmnopqrst", Some(20)),
            None
        );
        assert_eq!(number_of("other2", "abcdefghijklmnopqrst", Some(20)), None);
    }

    #[test]
    fn a_held_value_is_recognised_as_a_form_of_its_base() {
        assert_eq!(number_of("zhangsan", "zhangsan", None), Some(1));
        assert_eq!(number_of("ZhangSan12", "zhangsan", None), Some(12));
        assert_eq!(
            number_of("zs2@Example.com", "zs@example.com", None),
            Some(2)
        );
        assert_eq!(number_of("zs2@other.com", "zs@example.com", None), None);
        assert_eq!(number_of("zhangsan1", "zhangsan", None), None);
        assert_eq!(number_of("zhangsan02", "zhangsan", None), None);
        assert_eq!(number_of("zhangsanx", "zhangsan", None), None);
        assert_eq!(number_of("lisi", "zhangsan", None), None);
    }
}
