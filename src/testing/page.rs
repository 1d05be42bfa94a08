//! Pages of list and describe answers, as AWS gives them: at most what the caller asked for
//! (or the operation's own default), at most the fake's page size
//! ([`super::FakeAws::set_page_size`]), and a token to ask for the rest. A token names the
//! last item given, not a position, so an item deleted between two pages moves nothing: the
//! next page starts after that item, as AWS's markers do.

use serde_json::{json, Value};

use super::wire::{AwsFault, Params};

/// What a page holds: its items, and the token of the next page when more remain.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A token this fake did not give (or that was altered).
#[derive(Debug)]
pub(crate) struct BadToken;

/// The page of `items` that starts after `token` (from the first item without one): at most
/// `asked` items (`default` when the caller asked for no size) and at most `size`, at least
/// one. Each item comes with a key, unique in the list; the items are given in key order.
pub(crate) fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    token: Option<&str>,
    asked: Option<usize>,
    default: usize,
    size: usize,
) -> Result<Page<T>, BadToken> {
    let after = token.map(decode).transpose()?;
    let mut items: Vec<(String, T)> = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let limit = asked.unwrap_or(default).min(size).max(1);
    let next = (items.len() > limit)
        .then(|| items.get(limit - 1).map(|(key, _)| encode(key)))
        .flatten();
    items.truncate(limit);
    Ok(Page {
        items: items.into_iter().map(|(_, item)| item).collect(),
        next,
    })
}

/// A KMS list (`ListKeys`, `ListAliases`, `ListGrants`, `ListResourceTags`): `Limit` and
/// `Marker` in; the items under `field`, `Truncated` and, when truncated, `NextMarker` out.
/// `default` is the operation's own `Limit` when none is given.
pub(crate) fn kms_list(
    field: &str,
    items: impl IntoIterator<Item = (String, Value)>,
    params: &Params,
    default: usize,
    size: usize,
) -> Result<Value, AwsFault> {
    let asked = params
        .json()
        .get("Limit")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok());
    let marker = params.str("Marker");
    let page = page(items, marker.as_deref(), asked, default, size)
        .map_err(|_| AwsFault::new("InvalidMarkerException", "The marker is not valid."))?;
    let mut out = json!({ field: page.items, "Truncated": page.next.is_some() });
    if let Some(next) = page.next {
        out["NextMarker"] = json!(next);
    }
    Ok(out)
}

/// An AWS Backup list: `maxResults` and `nextToken` in the query; the page and, when more
/// remain, `NextToken` out (the caller puts the items in its body).
pub(crate) fn backup_page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    params: &Params,
    size: usize,
) -> Result<(Vec<T>, Option<String>), AwsFault> {
    let asked = params
        .query("maxResults")
        .and_then(|n| n.parse::<usize>().ok());
    let page = page(items, params.query("nextToken"), asked, BACKUP_PAGE, size).map_err(|_| {
        AwsFault::new(
            "InvalidParameterValueException",
            "The next token is not valid.",
        )
    })?;
    Ok((page.items, page.next))
}

/// The most items an AWS Backup list answers when the caller asks for no `maxResults` (the
/// most it takes).
const BACKUP_PAGE: usize = 1000;

/// The token after `key`: opaque to callers (hex of the key), as AWS's are.
fn encode(key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("fakepage-{hex}")
}

fn decode(token: &str) -> Result<String, BadToken> {
    let hex = token.strip_prefix("fakepage-").ok_or(BadToken)?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(BadToken)
        })
        .collect::<Result<Vec<u8>, BadToken>>()?;
    String::from_utf8(bytes).map_err(|_| BadToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("item-{i:02}"), i)).collect()
    }

    // Every item once, in key order, a page at a time; the last page has no token.
    #[test]
    fn pages_cover_every_item_once() {
        let mut seen = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let page = page(keys(7), token.as_deref(), None, 100, 3).unwrap();
            pages += 1;
            seen.extend(page.items);
            token = page.next;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        assert_eq!(pages, 3);
    }

    // The caller's size and the operation's default bound the page too; an exact fit has no
    // token; an empty list is one empty page.
    #[test]
    fn the_smallest_bound_wins() {
        assert_eq!(page(keys(7), None, Some(2), 100, 3).unwrap().items, [0, 1]);
        assert_eq!(page(keys(7), None, None, 1, 3).unwrap().items, [0]);
        let exact = page(keys(3), None, None, 100, 3).unwrap();
        assert_eq!((exact.items.len(), exact.next), (3, None));
        let empty = page(keys(0), None, None, 100, 3).unwrap();
        assert!(empty.items.is_empty() && empty.next.is_none());
    }

    // A token names the last item given: one deleted meanwhile shifts nothing.
    #[test]
    fn a_token_survives_a_deletion() {
        let first = page(keys(6), None, None, 100, 3).unwrap();
        let mut rest = keys(6);
        rest.remove(1);
        let second = page(rest, first.next.as_deref(), None, 100, 3).unwrap();
        assert_eq!(second.items, [3, 4, 5]);
    }

    #[test]
    fn a_token_the_fake_did_not_give_is_refused() {
        for token in ["", "abc", "fakepage-zz", "fakepage-6"] {
            assert!(page(keys(3), Some(token), None, 100, 3).is_err(), "{token}");
        }
    }
}
