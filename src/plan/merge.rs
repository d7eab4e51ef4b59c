//! Walking two maps sorted by the same key side by side: one pass over both instead of a tree
//! lookup per person.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;

/// Every key of `left` or `right`, in order, with its value on each side.
pub(super) fn outer_join<'a, K: Ord, A, B>(
    left: &'a BTreeMap<K, A>,
    right: &'a BTreeMap<K, B>,
) -> OuterJoin<'a, K, A, B> {
    OuterJoin {
        left: left.iter().peekable(),
        right: right.iter().peekable(),
    }
}

pub(super) struct OuterJoin<'a, K, A, B> {
    left: Peekable<btree_map::Iter<'a, K, A>>,
    right: Peekable<btree_map::Iter<'a, K, B>>,
}

impl<'a, K: Ord, A, B> Iterator for OuterJoin<'a, K, A, B> {
    type Item = (&'a K, Option<&'a A>, Option<&'a B>);

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.left.peek(), self.right.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((l, _)), Some((r, _))) => l.cmp(r),
        };
        Some(match order {
            std::cmp::Ordering::Less => {
                let (k, a) = self.left.next()?;
                (k, Some(a), None)
            }
            std::cmp::Ordering::Greater => {
                let (k, b) = self.right.next()?;
                (k, None, Some(b))
            }
            std::cmp::Ordering::Equal => {
                let (k, a) = self.left.next()?;
                let (_, b) = self.right.next()?;
                (k, Some(a), Some(b))
            }
        })
    }
}

/// The value as uniqueness is compared (without case), allocating only when it has to change.
pub(super) fn lowercase(value: &str) -> Cow<'_, str> {
    if value
        .bytes()
        .any(|b| !b.is_ascii() || b.is_ascii_uppercase())
    {
        Cow::Owned(value.to_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_join_visits_every_key_once_in_order() {
        let left: BTreeMap<u32, char> = [(1, 'a'), (3, 'c'), (4, 'd')].into();
        let right: BTreeMap<u32, &str> = [(2, "two"), (3, "three"), (5, "five")].into();
        let joined: Vec<_> = outer_join(&left, &right)
            .map(|(k, a, b)| (*k, a.copied(), b.copied()))
            .collect();
        assert_eq!(
            joined,
            vec![
                (1, Some('a'), None),
                (2, None, Some("two")),
                (3, Some('c'), Some("three")),
                (4, Some('d'), None),
                (5, None, Some("five")),
            ]
        );
    }

    #[test]
    fn lowercase_matches_to_lowercase() {
        for value in [
            "plain",
            "MiXed",
            "Zoë.Müller@Example.CN",
            "ǅemal",
            "İstanbul",
            "",
        ] {
            assert_eq!(lowercase(value), value.to_lowercase(), "{value}");
        }
        assert!(matches!(lowercase("already.lower@x.cn"), Cow::Borrowed(_)));
    }
}
