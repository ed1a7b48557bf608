//! Webhook signatures, the Standard Webhooks scheme: the receiver gets
//! `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
//! (Unix seconds of this attempt) and `webhook-signature: v1,<base64>`, the
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the subscription's
//! secret (its UTF-8 bytes). A receiver recomputes it, compares in constant
//! time, and refuses timestamps far from its clock to stop replays.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

fn mac(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` header's value.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        STANDARD.encode(mac(secret, id, timestamp, body).finalize().into_bytes())
    )
}

/// Whether one of the space-separated signatures in `header` (as a secret
/// being rotated may give several) is that of this body.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header.split(' ').any(|signature| {
        signature
            .strip_prefix("v1,")
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .is_some_and(|bytes| mac(secret, id, timestamp, body).verify_slice(&bytes).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_known_signature() {
        // Computed independently: printf 'okr-7.1800000000.{}' |
        // openssl dgst -sha256 -hmac 'a-secret-of-24-characters' -binary | base64
        assert_eq!(
            sign("a-secret-of-24-characters", "okr-7", 1_800_000_000, b"{}"),
            "v1,Wm35jMhogwfZZNNnufy/I+RMNGZ/qfh8jzBlQv5PShc="
        );
    }

    proptest! {
        #[test]
        fn what_is_signed_verifies_and_nothing_else_does(
            secret in "[ -~]{24,64}",
            id in "[a-z]{1,8}-[0-9]{1,6}",
            timestamp in 0i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..256),
            flip in any::<prop::sample::Index>(),
        ) {
            let signature = sign(&secret, &id, timestamp, &body);
            prop_assert!(verify(&secret, &id, timestamp, &body, &signature));
            let rotated = format!("v1,bm9wZQ== {signature}");
            prop_assert!(verify(&secret, &id, timestamp, &body, &rotated));
            prop_assert!(!verify(&secret, &id, timestamp + 1, &body, &signature));
            let other = format!("{secret}x");
            prop_assert!(!verify(&other, &id, timestamp, &body, &signature));
            if !body.is_empty() {
                let mut changed = body.clone();
                let at = flip.index(changed.len());
                changed[at] ^= 1;
                prop_assert!(!verify(&secret, &id, timestamp, &changed, &signature));
            }
        }
    }
}
