//! Who made a request. With authentication on (`--auth-mode oidc`) the
//! server's auth layer puts the verified [`Principal`] on the request and
//! the actor is its subject, whatever `x-trellis-actor` says; with it off,
//! the actor is taken from the `x-trellis-actor` metadata. The actor is
//! stored on every change-feed event.

use std::sync::Arc;

use tonic::Request;

pub const ACTOR_METADATA_KEY: &str = "x-trellis-actor";
const ANONYMOUS: &str = "anonymous";
const MAX_ACTOR_LEN: usize = 256;

/// A caller whose credentials were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject (`sub`).
    pub subject: String,
    pub email: Option<String>,
    /// From the token's groups claim.
    pub groups: Vec<String>,
    /// One of Trellis's own services doing its own work in this process
    /// (its internal credential, not a token).
    pub service: bool,
}

/// Who a request acts as, for the access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No authentication is configured (`--auth-mode none`): every
    /// request may do everything.
    Unchecked,
    /// A verified principal, held to the access policy.
    Verified(Arc<Principal>),
    /// The service itself, in process (sweeps, the check-in writer's own
    /// records): work it was configured to do, not a request's.
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub actor: String,
    /// The AIP-155 request id of a create, when the client gave one.
    pub request_id: Option<String>,
    pub caller: Caller,
}

impl RequestContext {
    pub fn from_request<T>(request: &Request<T>) -> RequestContext {
        if let Some(principal) = request.extensions().get::<Arc<Principal>>() {
            return RequestContext {
                actor: principal.subject.chars().take(MAX_ACTOR_LEN).collect(),
                request_id: None,
                caller: Caller::Verified(Arc::clone(principal)),
            };
        }
        let actor = request
            .metadata()
            .get(ACTOR_METADATA_KEY)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|actor| !actor.is_empty())
            .map(|actor| actor.chars().take(MAX_ACTOR_LEN).collect())
            .unwrap_or_else(|| ANONYMOUS.to_owned());
        RequestContext {
            actor,
            request_id: None,
            caller: Caller::Unchecked,
        }
    }

    /// For work the system does on its own behalf (sweeps, escalations).
    pub fn system(actor: &str) -> RequestContext {
        RequestContext {
            actor: actor.to_owned(),
            request_id: None,
            caller: Caller::System,
        }
    }

    pub fn with_request_id(mut self, request_id: &str) -> RequestContext {
        let request_id = request_id.trim();
        self.request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
        self
    }
}
