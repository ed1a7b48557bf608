//! AIP-158 pagination: page sizes, and page tokens that are opaque to
//! clients, signed so a tampered or foreign token is refused, and bound to
//! the query (filter, parent) they were issued for.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

use crate::error::Error;

pub const DEFAULT_PAGE_SIZE: u64 = 100;
pub const MAX_PAGE_SIZE: u64 = 1_000;
const MAC_LEN: usize = 16;

/// 0 means the default; larger than the maximum is capped (AIP-158).
pub fn page_size(requested: i32) -> Result<u64, Error> {
    match u64::try_from(requested) {
        Err(_) => Err(Error::invalid("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
    }
}

/// Splits the `page_size + 1` rows a query fetched into the page and, when
/// there are more, the position to continue after.
pub fn split_page<T, P>(mut rows: Vec<T>, page_size: u64, position: impl Fn(&T) -> P) -> (Vec<T>, Option<P>) {
    let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
    if rows.len() <= page_size {
        return (rows, None);
    }
    rows.truncate(page_size);
    let next = rows.last().map(position);
    (rows, next)
}

#[derive(Clone)]
pub struct PageTokens {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

#[derive(Serialize, Deserialize)]
struct TokenPayload<P> {
    /// The query the token belongs to.
    q: String,
    /// Where the next page starts (after this position).
    p: P,
}

impl PageTokens {
    pub fn new(key: &[u8]) -> PageTokens {
        PageTokens { key: Arc::from(key) }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(payload);
        mac.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    pub fn encode<P: Serialize>(&self, query: &str, position: &P) -> String {
        let payload = TokenPayload {
            q: query.to_owned(),
            p: position,
        };
        let payload = serde_json::to_vec(&payload).unwrap_or_default();
        let mac = self.mac(&payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(mac))
    }

    /// `None` for an empty token (the first page).
    pub fn decode<P: DeserializeOwned>(&self, token: &str, query: &str) -> Result<Option<P>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || Error::invalid("page_token", "is not a page token of this query");
        let (payload, mac) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| invalid())?;
        if !constant_time_eq(&mac, &self.mac(&payload)) {
            return Err(invalid());
        }
        let payload: TokenPayload<P> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if payload.q != query {
            return Err(Error::invalid(
                "page_token",
                "was issued for a different query (filter or parent changed)",
            ));
        }
        Ok(Some(payload.p))
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |acc, (l, r)| acc | (l ^ r)) == 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(5000).ok(), Some(MAX_PAGE_SIZE));
        assert_eq!(page_size(7).ok(), Some(7));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tampered_foreign_and_requeried_tokens_are_refused() {
        let tokens = PageTokens::new(b"key one");
        let token = tokens.encode("filter=a", &("name", 7));
        assert_eq!(
            tokens.decode::<(String, i32)>(&token, "filter=a").ok().flatten(),
            Some(("name".into(), 7))
        );
        assert!(tokens.decode::<(String, i32)>(&token, "filter=b").is_err());
        assert!(
            PageTokens::new(b"key two")
                .decode::<(String, i32)>(&token, "filter=a")
                .is_err()
        );
        let mut tampered = token.clone();
        tampered.insert(3, 'A');
        assert!(tokens.decode::<(String, i32)>(&tampered, "filter=a").is_err());
        assert!(tokens.decode::<(String, i32)>("not-a-token", "filter=a").is_err());
    }

    proptest! {
        #[test]
        fn split_page_keeps_order_and_continues_after_the_last(len in 0usize..50, size in 1u64..20) {
            let rows: Vec<usize> = (0..len).collect();
            let (page, next) = split_page(rows, size, |row| *row);
            prop_assert!(page.len() as u64 <= size);
            prop_assert_eq!(next.is_some(), len as u64 > size);
            if let Some(next) = next {
                prop_assert_eq!(Some(&next), page.last());
            }
        }
    }
}
