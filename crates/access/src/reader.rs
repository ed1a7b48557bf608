//! What one caller may read. A read of something that is not private is
//! decided per kind for the whole org (the resource is owned by the org
//! root): OKRs are meant to be seen, and a question over a million nodes
//! must not ask the policy once per unit. A private thing is decided per
//! kind and owning unit. Either way a list or a cascade question costs a
//! handful of decisions, and a feed event about a private object one
//! remembered decision.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use trellis_foundation::{
    Error,
    context::{Caller, Principal, RequestContext},
    feed::Audience,
};

use crate::{
    authorizer::Authorizer,
    engine::{Resource, ResourceKind},
    roles::Permission,
    view::ORG_ROOT,
};

#[derive(Debug, Clone)]
enum Checks {
    /// No authentication, or the service's own work: everything.
    Everything,
    /// A verified caller on a server without access checks (a wiring
    /// mistake): nothing.
    Nothing,
    Policy(Arc<Authorizer>, Arc<Principal>),
}

/// A caller's reads, with the decisions of one request remembered.
#[derive(Debug)]
pub struct Reader {
    checks: Checks,
    decided: Mutex<HashMap<(ResourceKind, String, bool), bool>>,
}

impl Reader {
    pub(crate) async fn new(authorizer: Option<&Arc<Authorizer>>, context: &RequestContext) -> Reader {
        let checks = match (&context.caller, authorizer) {
            (Caller::Unchecked | Caller::System, _) => Checks::Everything,
            (Caller::Verified(_), None) => Checks::Nothing,
            (Caller::Verified(principal), Some(authorizer)) => {
                authorizer.ready().await;
                Checks::Policy(Arc::clone(authorizer), Arc::clone(principal))
            }
        };
        Reader {
            checks,
            decided: Mutex::new(HashMap::new()),
        }
    }

    /// Whether every read is allowed without asking (no authentication, or
    /// the service's own work).
    pub fn sees_everything(&self) -> bool {
        matches!(self.checks, Checks::Everything)
    }

    /// Whether the caller may read things of `kind` that the unit with id
    /// `unit` owns, private ones or not (`unit` matters only for private
    /// ones).
    pub fn may_read(&self, kind: ResourceKind, unit: &str, private: bool) -> bool {
        if !matches!(self.checks, Checks::Policy(..)) {
            return self.decide(kind, unit, private);
        }
        let unit = if private { unit } else { ORG_ROOT };
        let mut decided = self.decided.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(allowed) = decided.get(&(kind, unit.to_owned(), private)) {
            return *allowed;
        }
        let allowed = self.decide(kind, unit, private);
        decided.insert((kind, unit.to_owned(), private), allowed);
        allowed
    }

    /// The decision itself (the authorizer remembers it across requests).
    fn decide(&self, kind: ResourceKind, unit: &str, private: bool) -> bool {
        let (authorizer, principal) = match &self.checks {
            Checks::Everything => return true,
            Checks::Nothing => return false,
            Checks::Policy(authorizer, principal) => (authorizer, principal),
        };
        let unit = if private { unit } else { ORG_ROOT };
        let resource = match kind {
            ResourceKind::OrgUnit => Resource::org_unit(unit),
            _ => Resource::owned(kind, "", unit).private(private),
        };
        authorizer.allows(principal, Permission::Read, &resource)
    }

    /// For a Get of the thing `name`: NOT_FOUND when it is private and
    /// unreadable (its existence is no one else's business), else
    /// PERMISSION_DENIED when the policy keeps the caller from reading
    /// what is not private.
    pub fn check(&self, kind: ResourceKind, unit: &str, private: bool, name: &str) -> Result<(), Error> {
        if self.decide(kind, unit, private) {
            Ok(())
        } else if private {
            Err(Error::NotFound(name.to_owned()))
        } else {
            let subject = match &self.checks {
                Checks::Policy(_, principal) => principal.subject.as_str(),
                Checks::Everything | Checks::Nothing => "the caller",
            };
            Err(Error::PermissionDenied(format!(
                "{subject} lacks the read permission on {name}"
            )))
        }
    }

    /// Which private events of `kind` a watch stream may carry; `None`
    /// for a reader that sees everything.
    pub fn audience(self, kind: ResourceKind) -> Option<Audience> {
        if matches!(self.checks, Checks::Everything) {
            return None;
        }
        // A long-lived stream: the authorizer's own memory (cleared when a
        // grant or unit changes) decides, not this request's.
        let reader = self;
        Some(Arc::new(move |unit: &str| reader.decide(kind, unit, true)))
    }
}
