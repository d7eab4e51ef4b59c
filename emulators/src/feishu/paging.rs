//! `page_size` / `page_token` in, `has_more` / `page_token` out, with the caps Feishu enforces and
//! the paging defects a test can switch on.

use super::PagingDefect;
use super::wire::ApiError;

/// One page request: where to start and how many.
#[derive(Debug, Clone, Copy)]
pub(super) struct PageRequest {
    offset: usize,
    size: usize,
}

/// Reads `page_size` (default `default`, at most `max`: 40011 otherwise) and `page_token`
/// (40012 when it is not one this emulator issued).
pub(super) fn request(
    page_size: Option<&str>,
    page_token: Option<&str>,
    default: usize,
    max: usize,
) -> Result<PageRequest, ApiError> {
    let size = match page_size {
        None => default,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=max).contains(&n))
            .ok_or(ApiError::BAD_PAGE_SIZE)?,
    };
    let offset = match page_token {
        None => 0,
        Some(token) => decode(token).ok_or(ApiError::BAD_PAGE_TOKEN)?,
    };
    Ok(PageRequest { offset, size })
}

/// The requested slice of `items`, whether more follow, and the token for the next page. A token
/// past the end (the org shrank between pages) gives an empty last page.
pub(super) fn slice<T>(
    items: Vec<T>,
    page: PageRequest,
    defect: Option<PagingDefect>,
) -> (Vec<T>, bool, Option<String>) {
    let total = items.len();
    let end = page.offset.saturating_add(page.size).min(total);
    let slice: Vec<T> = items
        .into_iter()
        .skip(page.offset)
        .take(page.size)
        .collect();
    match defect {
        None if end < total => (slice, true, Some(encode(end))),
        None => (slice, false, None),
        Some(PagingDefect::MissingToken) => (slice, true, None),
        Some(PagingDefect::RepeatedToken) => (slice, true, Some(encode(0))),
    }
}

/// Opaque-looking but stateless: the offset, hex, behind a fixed prefix.
fn encode(offset: usize) -> String {
    format!("pt{offset:08x}")
}

fn decode(token: &str) -> Option<usize> {
    let hex = token.strip_prefix("pt")?;
    if hex.len() != 8 {
        return None;
    }
    usize::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_to_the_end() {
        let items: Vec<u32> = (0..7).collect();
        let first = request(Some("3"), None, 10, 50).unwrap();
        let (page, more, token) = slice(items.clone(), first, None);
        assert_eq!((page, more), (vec![0, 1, 2], true));
        let second = request(Some("3"), token.as_deref(), 10, 50).unwrap();
        let (page, _, token) = slice(items.clone(), second, None);
        assert_eq!(page, vec![3, 4, 5]);
        let third = request(Some("3"), token.as_deref(), 10, 50).unwrap();
        assert_eq!(slice(items, third, None), (vec![6], false, None));
    }

    #[test]
    fn caps_and_bad_tokens_are_refused() {
        assert_eq!(
            request(Some("51"), None, 10, 50).unwrap_err(),
            ApiError::BAD_PAGE_SIZE
        );
        assert_eq!(
            request(Some("0"), None, 10, 50).unwrap_err(),
            ApiError::BAD_PAGE_SIZE
        );
        assert_eq!(
            request(None, Some("nope"), 10, 50).unwrap_err(),
            ApiError::BAD_PAGE_TOKEN
        );
        assert_eq!(request(None, None, 10, 50).unwrap().size, 10);
    }

    #[test]
    fn defects_never_end_the_listing() {
        let page = request(None, None, 10, 50).unwrap();
        assert_eq!(
            slice(vec![1], page, Some(PagingDefect::MissingToken)),
            (vec![1], true, None)
        );
        let (_, more, token) = slice(vec![1], page, Some(PagingDefect::RepeatedToken));
        assert!(more);
        let again = request(None, token.as_deref(), 10, 50).unwrap();
        let (_, _, second) = slice(vec![1], again, Some(PagingDefect::RepeatedToken));
        assert_eq!(token, second);
    }
}
