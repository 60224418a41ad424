//! `pageSize` / `pageToken` paging for list methods. Tokens are opaque to clients; here they
//! are an offset, which is enough for lists that do not change between pages.

use crate::reply::Reply;

/// One page of `items` and the token for the next page, if any.
pub(crate) fn page<T: Clone>(
    items: &[T],
    page_size: Option<&str>,
    page_token: Option<&str>,
    default_size: usize,
) -> Result<(Vec<T>, Option<String>), Reply> {
    let size = page_size
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default_size);
    let start = match page_token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix("offset-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| Reply::invalid(format!("Invalid page token: {t}")))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("offset-{end}"));
    Ok((items[start..end].to_vec(), next))
}
