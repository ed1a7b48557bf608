//! Verifying a bearer token: its header (an accepted algorithm, a known
//! key published for that algorithm), its signature, and its claims (issuer,
//! audience, expiry and not-before with a small leeway, a subject). A token
//! that passed is remembered by its hash until it expires.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use trellis_foundation::context::Principal;

use crate::jwks::{KeySource, Keys};

/// Seconds of clock difference allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// The longest bearer token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered at most; past it, expired ones are dropped,
/// then all.
const MAX_REMEMBERED: usize = 100_000;

/// What `--oidc-*` configure.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    /// The claim that holds the caller's email.
    pub email_claim: String,
    /// The claim that holds the caller's groups (a list of strings).
    pub groups_claim: String,
    /// Token subjects that are Trellis's own services run apart (a
    /// client-credentials token's subject), by subject: the service each
    /// is. Such a token is that service's principal, holding exactly what
    /// the policy gives the service, as a client certificate naming it
    /// would be.
    pub service_subjects: HashMap<String, String>,
}

/// Why a request is not authenticated: a short reason, no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("a bearer token is required (authorization: Bearer <token>)")]
    Missing,
    #[error("the bearer token is malformed")]
    Malformed,
    #[error("the token's signing algorithm is not accepted")]
    Algorithm,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
}

struct Remembered {
    verified: Verified,
    expires: u64,
}

/// A verified caller and the token it presented (kept for the peer calls
/// its request makes).
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Arc<Principal>,
    pub token: Arc<str>,
    /// The subject, shared: the key of the principal's request quota.
    pub subject: Arc<str>,
}

/// Verifies bearer tokens for one issuer and audience.
pub struct Verifier {
    settings: OidcSettings,
    keys: Keys,
    remembered: RwLock<HashMap<[u8; 32], Remembered>>,
}

impl Verifier {
    pub async fn new(settings: OidcSettings) -> Result<Verifier, String> {
        let keys = Keys::load(KeySource::parse(&settings.jwks_url)?).await;
        Ok(Verifier {
            settings,
            keys,
            remembered: RwLock::new(HashMap::new()),
        })
    }

    /// The principal an `authorization` header value names. A token seen
    /// before costs a hash and a shared lookup: nothing is copied.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Verified, Rejection> {
        let token = bearer(authorization)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_seconds();
        if let Some(verified) = self.recall(&digest, now) {
            return Ok(verified);
        }
        let (principal, expires) = self.check(token).await?;
        let verified = Verified {
            subject: Arc::from(principal.subject.as_str()),
            principal: Arc::new(principal),
            token: Arc::from(token),
        };
        self.remember(digest, &verified, expires, now);
        Ok(verified)
    }

    fn recall(&self, digest: &[u8; 32], now: u64) -> Option<Verified> {
        let remembered = self
            .remembered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered
            .get(digest)
            .filter(|entry| entry.expires.saturating_add(LEEWAY_SECONDS) > now)
            .map(|entry| entry.verified.clone())
    }

    fn remember(&self, digest: [u8; 32], verified: &Verified, expires: u64, now: u64) {
        let mut remembered = self
            .remembered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, entry| entry.expires.saturating_add(LEEWAY_SECONDS) > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(
            digest,
            Remembered {
                verified: verified.clone(),
                expires,
            },
        );
    }

    async fn check(&self, token: &str) -> Result<(Principal, u64), Rejection> {
        let header = decode_header(token).map_err(|_| Rejection::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Rejection::Algorithm);
        }
        let kid = header.kid.ok_or(Rejection::UnknownKey)?;
        let key = self.keys.get(&kid).await.ok_or(Rejection::UnknownKey)?;
        if key.algorithm != header.alg {
            return Err(Rejection::Algorithm);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => Rejection::Expired,
                ErrorKind::ImmatureSignature => Rejection::NotYetValid,
                ErrorKind::InvalidIssuer => Rejection::Issuer,
                ErrorKind::InvalidAudience => Rejection::Audience,
                ErrorKind::InvalidSignature => Rejection::Signature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Rejection::Algorithm,
                _ => Rejection::Malformed,
            })?
            .claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|subject| !subject.trim().is_empty())
            .ok_or(Rejection::Malformed)?
            .to_owned();
        let expires = claims.get("exp").and_then(Value::as_u64).ok_or(Rejection::Malformed)?;
        let email = claims
            .get(&self.settings.email_claim)
            .and_then(Value::as_str)
            .map(str::to_owned);
        let groups = match claims.get(&self.settings.groups_claim) {
            Some(Value::Array(groups)) => groups.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if let Some(service) = self.settings.service_subjects.get(&subject) {
            let principal = Principal {
                subject: service.clone(),
                email: None,
                groups: Vec::new(),
                service: true,
            };
            return Ok((principal, expires));
        }
        Ok((
            Principal {
                subject,
                email,
                groups,
                service: false,
            },
            expires,
        ))
    }
}

/// The token of an `authorization: Bearer <token>` value.
pub fn bearer(authorization: Option<&str>) -> Result<&str, Rejection> {
    let value = authorization.ok_or(Rejection::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(Rejection::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Missing);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::Malformed);
    }
    Ok(token)
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_tokens_of_a_sane_size_are_read() {
        assert_eq!(bearer(None), Err(Rejection::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(Rejection::Missing));
        assert_eq!(bearer(Some("Bearer")), Err(Rejection::Malformed));
        assert_eq!(bearer(Some("Bearer ")), Err(Rejection::Malformed));
        assert_eq!(bearer(Some("bearer a.b.c")), Ok("a.b.c"));
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer(Some(&huge)), Err(Rejection::Malformed));
    }
}
