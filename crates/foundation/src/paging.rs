//! AIP-158 pagination: page sizes, and page tokens that are opaque to
//! clients: the position and the query (filter, parent) they were issued
//! for are sealed with XChaCha20-Poly1305, the method's name as associated
//! data. A client can neither read nor forge one, and a token of one method
//! or query is refused by another.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

use crate::error::Error;

pub const DEFAULT_PAGE_SIZE: u64 = 100;
pub const MAX_PAGE_SIZE: u64 = 1_000;
const NONCE_LEN: usize = 24;
/// The longest page token accepted, before it is decoded.
const MAX_TOKEN_LEN: usize = 4_096;

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
    cipher: Arc<XChaCha20Poly1305>,
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
    /// Tokens sealed with a key derived from `key` (the service's stored
    /// secret), so every replica on one database reads every other's.
    pub fn new(key: &[u8]) -> PageTokens {
        // HMAC accepts keys of any length, so this cannot fail.
        let derived = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(b"trellis page tokens v2");
                mac.finalize().into_bytes()
            }
            Err(_) => Default::default(),
        };
        PageTokens {
            cipher: Arc::new(XChaCha20Poly1305::new(&derived)),
        }
    }

    /// The token for the page after `position` of `method` asked with `query`.
    pub fn encode<P: Serialize>(&self, method: &str, query: &str, position: &P) -> String {
        let payload = TokenPayload {
            q: query.to_owned(),
            p: position,
        };
        let plaintext = serde_json::to_vec(&payload).unwrap_or_default();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self.cipher.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: method.as_bytes(),
            },
        );
        let mut token = nonce.to_vec();
        // Sealing in memory fails only past 256 GiB of plaintext.
        token.extend(sealed.unwrap_or_default());
        URL_SAFE_NO_PAD.encode(token)
    }

    /// `None` for an empty token (the first page).
    pub fn decode<P: DeserializeOwned>(&self, token: &str, method: &str, query: &str) -> Result<Option<P>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || Error::invalid("page_token", "is not a page token of this method");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() < NONCE_LEN {
            return Err(invalid());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: method.as_bytes(),
                },
            )
            .map_err(|_| invalid())?;
        let payload: TokenPayload<P> = serde_json::from_slice(&plaintext).map_err(|_| invalid())?;
        if payload.q != query {
            return Err(Error::invalid(
                "page_token",
                "was issued for a different query (filter or parent changed)",
            ));
        }
        Ok(Some(payload.p))
    }
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
        let token = tokens.encode("ListCycles", "filter=a", &("name", 7));
        assert_eq!(
            tokens
                .decode::<(String, i32)>(&token, "ListCycles", "filter=a")
                .ok()
                .flatten(),
            Some(("name".into(), 7))
        );
        assert!(
            tokens
                .decode::<(String, i32)>(&token, "ListCycles", "filter=b")
                .is_err()
        );
        assert!(
            tokens
                .decode::<(String, i32)>(&token, "ListObjectives", "filter=a")
                .is_err()
        );
        assert!(
            PageTokens::new(b"key two")
                .decode::<(String, i32)>(&token, "ListCycles", "filter=a")
                .is_err()
        );
        let mut tampered = token.clone();
        tampered.insert(3, 'A');
        assert!(
            tokens
                .decode::<(String, i32)>(&tampered, "ListCycles", "filter=a")
                .is_err()
        );
        assert!(
            tokens
                .decode::<(String, i32)>("not-a-token", "ListCycles", "filter=a")
                .is_err()
        );
        // Opaque: neither the query nor the position shows in the token.
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("filter") && !text.contains("name"), "{text}");
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
