//! Pages of a list: at most `limit` items, and an opaque cursor that
//! continues after the last one.

use super::Failure;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The items of a page when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items a page holds.
pub const MAX_LIMIT: u32 = 500;

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Which page: its size and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The sort key of the last item of the page before.
    pub after: Option<String>,
}

impl PageRequest {
    /// Checks `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and
    /// `cursor` (one a page of this list gave).
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, Failure> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Failure::Data(format!(
                "limit: {limit} is not between 1 and {MAX_LIMIT}"
            )));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Failure::Data("cursor: not a cursor this list gave".to_string())
                    })?,
            ),
        };
        Ok(Self {
            limit: limit as usize,
            after,
        })
    }

    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

/// The page of `items` (sorted by `key`, which is unique) that `request` asks for.
pub fn page<T>(items: Vec<T>, key: impl Fn(&T) -> String, request: &PageRequest) -> Page<T> {
    let mut rest: Vec<T> = match &request.after {
        None => items,
        Some(after) => items.into_iter().filter(|i| key(i) > *after).collect(),
    };
    let more = rest.len() > request.limit;
    rest.truncate(request.limit);
    let next_cursor = more
        .then(|| rest.last().map(|last| URL_SAFE_NO_PAD.encode(key(last))))
        .flatten();
    Page {
        items: rest,
        next_cursor,
    }
}

/// A page the store cut already: `fetched` holds up to `limit + 1` items
/// after the cursor, in `key` order.
pub fn cut<T>(mut fetched: Vec<T>, key: impl Fn(&T) -> String, request: &PageRequest) -> Page<T> {
    let more = fetched.len() > request.limit;
    fetched.truncate(request.limit);
    let next_cursor = more
        .then(|| fetched.last().map(|last| URL_SAFE_NO_PAD.encode(key(last))))
        .flatten();
    Page {
        items: fetched,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Following the cursors visits every item once, in order, in pages
        /// of at most `limit`.
        #[test]
        fn cursors_walk_the_whole_list(mut keys in proptest::collection::btree_set("[a-z0-9:]{1,12}", 0..60), limit in 1u32..10) {
            let keys: Vec<String> = std::mem::take(&mut keys).into_iter().collect();
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let request = PageRequest::new(Some(limit), cursor.as_deref()).unwrap();
                let p = page(keys.clone(), |k| k.clone(), &request);
                prop_assert!(p.items.len() <= limit as usize);
                seen.extend(p.items.iter().cloned());
                match p.next_cursor {
                    Some(c) => { prop_assert!(!p.items.is_empty()); cursor = Some(c) }
                    None => break,
                }
            }
            prop_assert_eq!(seen, keys);
        }
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(501), None).is_err());
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 50);
        assert!(PageRequest::new(None, Some("%%%")).is_err());
    }
}
