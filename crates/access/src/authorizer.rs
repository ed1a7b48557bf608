//! The access checks a process makes: the policy engine over this
//! process's copy of the org tree and its grants, with each decision
//! remembered until the tree or a grant changes, so a repeated question
//! costs one hash lookup.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};

use prost::{Message, Name};
use tokio::sync::watch;
use trellis_foundation::{
    Error,
    context::{Caller, Principal, RequestContext},
};
use trellis_proto::{
    access::v1::Policy,
    cascade::v1::OrgUnit,
    feed::v1::{ChangeEvent, ChangeKind},
};

use crate::{
    engine::{PolicyEngine, Resource, ResourceKind},
    members::Member,
    reader::Reader,
    roles::{Permission, Role},
    view::{Grant, ORG_ROOT, OrgView},
};

/// Decisions remembered at most; past it they start over.
const MAX_DECISIONS: usize = 100_000;
/// How long a check waits for a unit it has not heard of yet (made a
/// moment ago on another server), or for the first copy of the tree:
/// milliseconds as a rule, but a busy machine delivers the feed late, and
/// a second proved too short for a unit made on another server.
const CATCH_UP: Duration = Duration::from_secs(5);
const UNIT_PREFIX: &str = "orgUnits/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    /// The last feed sequence applied.
    cursor: i64,
    /// Whether the feed's replay has reached its head once.
    ready: bool,
    generation: u64,
}

#[derive(Debug)]
pub struct Authorizer {
    engine: PolicyEngine,
    view: RwLock<OrgView>,
    decisions: Mutex<Decisions>,
    progress: watch::Sender<Progress>,
}

#[derive(Debug, Default)]
struct Decisions {
    generation: u64,
    known: HashMap<String, bool>,
}

impl Authorizer {
    pub fn new(engine: PolicyEngine) -> Arc<Authorizer> {
        let (progress, _) = watch::channel(Progress {
            cursor: 0,
            ready: false,
            generation: 0,
        });
        Arc::new(Authorizer {
            engine,
            view: RwLock::new(OrgView::default()),
            decisions: Mutex::new(Decisions::default()),
            progress,
        })
    }

    /// Whether `principal` may do `permission` to `resource`, by the
    /// policy over the tree as this process knows it now.
    pub fn allows(&self, principal: &Principal, permission: Permission, resource: &Resource) -> bool {
        let generation = self.progress.borrow().generation;
        let key = decision_key(principal, permission, resource);
        {
            let decisions = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
            if decisions.generation == generation
                && let Some(allowed) = decisions.known.get(&key)
            {
                return *allowed;
            }
        }
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let roles = view.roles_of(&Member::all_of(principal));
        let allowed = match self.engine.decide(&view, principal, &roles, permission, resource) {
            Ok(allowed) => allowed,
            Err(err) => {
                tracing::error!(error = %err, "an access question could not be put to the policy engine");
                false
            }
        };
        drop(view);
        let mut decisions = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        if decisions.generation != generation || decisions.known.len() >= MAX_DECISIONS {
            decisions.known.clear();
            decisions.generation = generation;
        }
        decisions.known.insert(key, allowed);
        allowed
    }

    /// Like [`Authorizer::allows`], after waiting (briefly) for the first
    /// copy of the tree and for the resource's unit to be known: a unit
    /// made a moment ago may not have reached this process yet.
    pub async fn allows_when_known(&self, principal: &Principal, permission: Permission, resource: &Resource) -> bool {
        let known = |progress: &Progress| progress.ready && self.knows(&resource.unit);
        if !known(&self.progress.borrow()) {
            let mut progress = self.progress.subscribe();
            let _ = tokio::time::timeout(CATCH_UP, progress.wait_for(known)).await;
        }
        self.allows(principal, permission, resource)
    }

    /// Waits (briefly) for the first whole copy of the tree.
    pub async fn ready(&self) {
        if !self.progress.borrow().ready {
            let mut progress = self.progress.subscribe();
            let _ = tokio::time::timeout(CATCH_UP, progress.wait_for(|progress| progress.ready)).await;
        }
    }

    fn knows(&self, unit: &str) -> bool {
        self.view.read().unwrap_or_else(PoisonError::into_inner).knows(unit)
    }

    /// Applies one event of the cascade's feed (org units and policies);
    /// other events only move the cursor. A heartbeat whose head the
    /// cursor has reached marks the copy ready. An event that cannot be
    /// read is logged and passed over: stopping there would stop every
    /// later grant from being seen.
    pub fn apply(&self, event: &ChangeEvent) {
        if event.sequence == 0 {
            let cursor = self.progress.borrow().cursor;
            if event.head_sequence <= cursor {
                self.progress
                    .send_if_modified(|progress| !std::mem::replace(&mut progress.ready, true));
            }
            return;
        }
        let changed = {
            let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
            apply_to(&mut view, event).unwrap_or_else(|err| {
                tracing::error!(sequence = event.sequence, error = %err, "passing over an org feed event");
                true
            })
        };
        self.progress.send_modify(|progress| {
            progress.cursor = Ord::max(progress.cursor, event.sequence);
            if changed {
                progress.generation += 1;
            }
        });
    }

    /// The last sequence of the cascade's feed this copy has applied.
    pub fn cursor(&self) -> i64 {
        self.progress.borrow().cursor
    }

    /// Waits (briefly) until this copy has applied `sequence`: a process
    /// that just wrote a grant or a unit answers only once its own checks
    /// see it.
    pub async fn caught_up_to(&self, sequence: i64) -> bool {
        let mut progress = self.progress.subscribe();
        tokio::time::timeout(CATCH_UP, progress.wait_for(|progress| progress.cursor >= sequence))
            .await
            .is_ok()
    }
}

/// Applies an org unit or policy event; `Ok(true)` when the view changed.
fn apply_to(view: &mut OrgView, event: &ChangeEvent) -> Result<bool, String> {
    let Some(any) = &event.resource else {
        return Ok(false);
    };
    let deleted = event.kind == ChangeKind::Deleted as i32;
    if event.resource_type == OrgUnit::full_name() {
        let unit = OrgUnit::decode(any.value.as_slice()).map_err(|err| format!("decoding an org unit: {err}"))?;
        let id = unit_id(&unit.name)?;
        if deleted {
            view.remove_unit(id);
        } else {
            let parent = (!unit.parent.is_empty()).then(|| unit_id(&unit.parent)).transpose()?;
            view.set_unit(id, parent);
        }
        Ok(true)
    } else if event.resource_type == Policy::full_name() {
        let policy = Policy::decode(any.value.as_slice()).map_err(|err| format!("decoding a policy: {err}"))?;
        let id = unit_id(&policy.resource)?;
        let grants = if deleted { Vec::new() } else { grants_of(&policy)? };
        view.set_grants(id, grants);
        Ok(true)
    } else {
        Ok(false)
    }
}

/// The grants a (stored, so well-formed) policy makes.
fn grants_of(policy: &Policy) -> Result<Vec<Grant>, String> {
    let mut grants = Vec::new();
    for binding in &policy.bindings {
        let role = Role::parse(&binding.role).ok_or_else(|| format!("unknown role {:?}", binding.role))?;
        for member in &binding.members {
            grants.push(Grant {
                role,
                member: member.parse()?,
            });
        }
    }
    Ok(grants)
}

/// The unit id in "orgUnits/{id}" ([`ORG_ROOT`] for "orgUnits/-").
pub fn unit_id(name: &str) -> Result<&str, String> {
    name.strip_prefix(UNIT_PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| format!("{name:?} is not an orgUnits/{{id}} name"))
}

/// The resource name of a unit id.
pub fn unit_name(id: &str) -> String {
    format!("{UNIT_PREFIX}{id}")
}

pub fn is_org_root(name: &str) -> bool {
    unit_id(name) == Ok(ORG_ROOT)
}

fn decision_key(principal: &Principal, permission: Permission, resource: &Resource) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(96);
    // Every part is separated by a character no part holds (NUL cannot be
    // in a name or a claim the verifier accepted as text here).
    let _ = write!(
        key,
        "{}\0{}\0{}\0{}\0{:?}\0{}\0{}\0{}",
        if principal.service { "s" } else { "u" },
        principal.subject,
        principal.email.as_deref().unwrap_or(""),
        principal.groups.join("\u{1}"),
        resource.kind,
        resource.id,
        resource.unit,
        if resource.private { "p" } else { "" }
    );
    key.push('\0');
    key.push_str(permission.name());
    key
}

/// The access checks a service's operations make; open when the server
/// runs without authentication.
#[derive(Debug, Clone, Default)]
pub struct Access(Option<Arc<Authorizer>>);

impl Access {
    /// Every request may do everything (`--auth-mode none`).
    pub fn open() -> Access {
        Access(None)
    }

    pub fn checked(authorizer: Arc<Authorizer>) -> Access {
        Access(Some(authorizer))
    }

    pub fn authorizer(&self) -> Option<&Arc<Authorizer>> {
        self.0.as_ref()
    }

    /// PERMISSION_DENIED unless the request's caller may do `permission`
    /// to `resource`. Work the service does itself passes; so does every
    /// request when no authentication is configured.
    pub async fn check(
        &self,
        context: &RequestContext,
        permission: Permission,
        resource: &Resource,
    ) -> Result<(), Error> {
        let principal = match &context.caller {
            Caller::Unchecked | Caller::System => return Ok(()),
            Caller::Verified(principal) => principal,
        };
        let Some(authorizer) = &self.0 else {
            // A verified caller with nothing to check it against is a
            // wiring mistake: refuse rather than let it through.
            return Err(Error::PermissionDenied(
                "access checks are not configured on this server".into(),
            ));
        };
        if authorizer.allows_when_known(principal, permission, resource).await {
            Ok(())
        } else {
            Err(denied(principal, permission, resource))
        }
    }

    /// [`Access::check`] for the thing `id` of `kind` that the unit named
    /// `owner` ("orgUnits/{id}") owns. A malformed owner is judged as a
    /// unit not heard of (by the grants on the whole org): the operation
    /// itself then says what is wrong with it.
    pub async fn check_owned(
        &self,
        context: &RequestContext,
        permission: Permission,
        kind: ResourceKind,
        id: &str,
        owner: &str,
    ) -> Result<(), Error> {
        if !matches!(context.caller, Caller::Verified(_)) {
            return Ok(());
        }
        let unit = unit_id(owner).unwrap_or(owner);
        self.check(context, permission, &Resource::owned(kind, id, unit)).await
    }

    /// [`Access::check_owned`] for a change that may hand the thing from
    /// the unit named `previous` to the one named `owner`: what is given
    /// away must be the caller's as much as where it goes.
    pub async fn check_handover(
        &self,
        context: &RequestContext,
        permission: Permission,
        kind: ResourceKind,
        id: &str,
        owner: &str,
        previous: Option<&str>,
    ) -> Result<(), Error> {
        self.check_owned(context, permission, kind, id, owner).await?;
        match previous {
            Some(previous) if previous != owner => self.check_owned(context, permission, kind, id, previous).await,
            _ => Ok(()),
        }
    }

    /// NOT_FOUND when the thing `name` of `kind`, owned by the unit named
    /// `owner`, is private and the caller may not read it: a write to it
    /// must not tell that it exists.
    pub async fn check_sees(
        &self,
        context: &RequestContext,
        kind: ResourceKind,
        owner: &str,
        private: bool,
        name: &str,
    ) -> Result<(), Error> {
        if !private || !matches!(context.caller, Caller::Verified(_)) {
            return Ok(());
        }
        let unit = unit_id(owner).unwrap_or(owner);
        self.reader(context).await.check(kind, unit, true, name)
    }

    /// What the request's caller may read.
    pub async fn reader(&self, context: &RequestContext) -> Reader {
        Reader::new(self.0.as_ref(), context).await
    }

    /// Whether the caller may do `permission` (as [`Access::check`]).
    pub async fn allows(&self, context: &RequestContext, permission: Permission, resource: &Resource) -> bool {
        self.check(context, permission, resource).await.is_ok()
    }
}

fn denied(principal: &Principal, permission: Permission, resource: &Resource) -> Error {
    let on = if resource.id == resource.unit {
        unit_name(&resource.unit)
    } else {
        format!("{:?} {:?} of {}", resource.kind, resource.id, unit_name(&resource.unit))
    };
    Error::PermissionDenied(format!(
        "{} lacks the {permission} permission on {on}",
        principal.subject
    ))
}
