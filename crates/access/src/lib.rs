//! Who is calling: bearer tokens (JWTs) verified locally against an OIDC
//! issuer's published keys, so a verified token costs a hash lookup, not a
//! signature check, on the hot path.
//!
//! Only asymmetric signatures are accepted (RS256 with an RSA key, ES256
//! with a P-256 key), each with the algorithm its key is published for: a
//! token that names `none`, an HMAC algorithm, or another key's algorithm
//! is refused before any signature is computed.

mod jwks;
mod verifier;

pub use jwks::KeySource;
pub use verifier::{OidcSettings, Rejection, Verifier, bearer};
