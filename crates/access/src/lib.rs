//! Who is calling, and what they may do.
//!
//! Authentication: bearer tokens (JWTs) verified locally against an OIDC
//! issuer's published keys, so a verified token costs a hash lookup, not a
//! signature check, on the hot path. Only asymmetric signatures are
//! accepted (RS256 with an RSA key, ES256 with a P-256 key), each with the
//! algorithm its key is published for: a token that names `none`, an HMAC
//! algorithm, or another key's algorithm is refused before any signature
//! is computed.
//!
//! Authorization: roles granted on org units, inherited down the tree, and
//! decided by a Cedar policy (`policy/default.cedar`, replaceable) over
//! this process's copy of the tree and its grants, which it keeps by
//! following the cascade's change feed.

mod authorizer;
mod engine;
mod http;
mod jwks;
mod members;
pub mod oauth;
mod reader;
mod roles;
#[cfg(feature = "signing")]
pub mod signing;
mod verifier;
mod view;

pub use authorizer::{Access, Authorizer, is_org_root, unit_id, unit_name};
pub use engine::{DEFAULT_POLICY, PolicyEngine, Resource, ResourceKind, SCHEMA};
pub use jwks::KeySource;
pub use members::{MAX_MEMBER_LEN, Member};
pub use reader::Reader;
pub use roles::{Permission, Role};
pub use verifier::{OidcSettings, Rejection, Verified, Verifier, bearer};
pub use view::{Grant, ORG_ROOT, OrgView};
