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

/// Put on a request by the auth layer when one of Trellis's services makes
/// it for the verified end user (a step within that user's request): the
/// service is the actor, the user is who it acted for, and the access
/// checks hold the request to the user's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActingService(pub Arc<str>);

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
    /// The end user a service acted for (see [`ActingService`]).
    pub on_behalf_of: Option<String>,
    /// The AIP-155 request id of a create, when the client gave one.
    pub request_id: Option<String>,
    pub caller: Caller,
}

impl RequestContext {
    pub fn from_request<T>(request: &Request<T>) -> RequestContext {
        if let Some(principal) = request.extensions().get::<Arc<Principal>>() {
            let subject: String = principal.subject.chars().take(MAX_ACTOR_LEN).collect();
            let (actor, on_behalf_of) = match request.extensions().get::<ActingService>() {
                Some(ActingService(service)) => (service.chars().take(MAX_ACTOR_LEN).collect(), Some(subject)),
                None => (subject, None),
            };
            return RequestContext {
                actor,
                on_behalf_of,
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
            on_behalf_of: None,
            request_id: None,
            caller: Caller::Unchecked,
        }
    }

    /// For work the system does on its own behalf (sweeps, escalations).
    pub fn system(actor: &str) -> RequestContext {
        RequestContext {
            actor: actor.to_owned(),
            on_behalf_of: None,
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

/// In a gRPC adapter: answers `$request` with `$self.ops.$method(context,
/// message)`, the caller's context taken from the request.
#[macro_export]
macro_rules! with_context {
    ($self:ident, $request:ident, $method:ident) => {{
        let context = $crate::RequestContext::from_request(&$request);
        Ok(::tonic::Response::new(
            $self.ops.$method(context, $request.into_inner()).await?,
        ))
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(subject: &str) -> Request<()> {
        let mut request = Request::new(());
        request.extensions_mut().insert(Arc::new(Principal {
            subject: subject.to_owned(),
            email: None,
            groups: Vec::new(),
            service: false,
        }));
        request.metadata_mut().insert(
            ACTOR_METADATA_KEY,
            tonic::metadata::MetadataValue::from_static("mallory"),
        );
        request
    }

    #[test]
    fn the_actor_is_the_verified_subject_and_a_service_acts_on_its_behalf() {
        let direct = RequestContext::from_request(&verified("eddie"));
        assert_eq!((direct.actor.as_str(), direct.on_behalf_of), ("eddie", None));

        let mut relayed = verified("eddie");
        relayed
            .extensions_mut()
            .insert(ActingService(Arc::from("trellis-health")));
        let relayed = RequestContext::from_request(&relayed);
        assert_eq!(relayed.actor, "trellis-health");
        assert_eq!(relayed.on_behalf_of.as_deref(), Some("eddie"));
        assert!(matches!(relayed.caller, Caller::Verified(principal) if principal.subject == "eddie"));
    }
}
