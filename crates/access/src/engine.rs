//! Decisions from the Cedar policy engine, in process. Each question is put
//! to Cedar with just the entities it needs: the principal (its roles as
//! sets of units, its units as parents), the resource, and the chain of
//! org units above each of them.

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use trellis_foundation::context::Principal;

use crate::{
    roles::{Permission, Role},
    view::{OrgView, RoleUnits},
};

/// The policy Trellis ships with.
pub const DEFAULT_POLICY: &str = include_str!("../policy/default.cedar");
/// What a policy file may refer to.
pub const SCHEMA: &str = include_str!("../policy/schema.cedarschema");

/// What kind of thing a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    OrgUnit,
    Objective,
    HealthMetric,
    Strategy,
    Cycle,
}

impl ResourceKind {
    fn type_name(self) -> &'static str {
        match self {
            ResourceKind::OrgUnit => "Trellis::OrgUnit",
            ResourceKind::Objective => "Trellis::Objective",
            ResourceKind::HealthMetric => "Trellis::HealthMetric",
            ResourceKind::Strategy => "Trellis::Strategy",
            ResourceKind::Cycle => "Trellis::Cycle",
        }
    }
}

/// The thing a request acts on, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    pub kind: ResourceKind,
    /// The thing's id; empty for one not created yet.
    pub id: String,
    /// The id of the unit that owns it (`-` for the org root); a
    /// unit owns itself.
    pub unit: String,
    pub private: bool,
}

impl Resource {
    /// An org unit (or the org root, `-`) itself.
    pub fn org_unit(unit: &str) -> Resource {
        Resource {
            kind: ResourceKind::OrgUnit,
            id: unit.to_owned(),
            unit: unit.to_owned(),
            private: false,
        }
    }

    /// A thing `unit` owns.
    pub fn owned(kind: ResourceKind, id: &str, unit: &str) -> Resource {
        Resource {
            kind,
            id: id.to_owned(),
            unit: unit.to_owned(),
            private: false,
        }
    }

    pub fn private(mut self, private: bool) -> Resource {
        self.private = private;
        self
    }
}

/// A policy set checked against the schema, and Cedar's authorizer.
#[derive(Debug)]
pub struct PolicyEngine {
    policies: PolicySet,
    authorizer: Authorizer,
    unit_type: EntityTypeName,
    principal_type: EntityTypeName,
    action_type: EntityTypeName,
}

impl PolicyEngine {
    /// Parses `text` and checks it against [`SCHEMA`]: a policy that names
    /// an attribute or action Trellis does not have is refused here, not
    /// silently never matched.
    pub fn new(text: &str) -> Result<PolicyEngine, String> {
        let policies: PolicySet = text.parse().map_err(|err| format!("parsing the policy: {err}"))?;
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|err| format!("the built-in schema: {err}"))?;
        let validation = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let errors: Vec<String> = validation.validation_errors().map(ToString::to_string).collect();
            return Err(format!(
                "the policy does not fit Trellis's schema: {}",
                errors.join("; ")
            ));
        }
        let type_name = |name: &str| {
            name.parse::<EntityTypeName>()
                .map_err(|err| format!("type name {name}: {err}"))
        };
        Ok(PolicyEngine {
            policies,
            authorizer: Authorizer::new(),
            unit_type: type_name("Trellis::OrgUnit")?,
            principal_type: type_name("Trellis::Principal")?,
            action_type: type_name("Trellis::Action")?,
        })
    }

    pub fn default_policy() -> Result<PolicyEngine, String> {
        PolicyEngine::new(DEFAULT_POLICY)
    }

    /// Whether `principal`, holding `roles`, may do `permission` to
    /// `resource` in the org `view` describes. An error evaluating a
    /// policy leaves that policy out, as Cedar does: a permit that fails
    /// grants nothing.
    pub fn decide(
        &self,
        view: &OrgView,
        principal: &Principal,
        roles: &RoleUnits,
        permission: Permission,
        resource: &Resource,
    ) -> Result<bool, String> {
        let principal_uid =
            EntityUid::from_type_name_and_id(self.principal_type.clone(), EntityId::new(&principal.subject));
        let action = EntityUid::from_type_name_and_id(self.action_type.clone(), EntityId::new(permission.name()));
        let resource_type = resource
            .kind
            .type_name()
            .parse::<EntityTypeName>()
            .map_err(|err| format!("type name: {err}"))?;
        let resource_uid = EntityUid::from_type_name_and_id(resource_type, EntityId::new(&resource.id));

        let mut units: HashSet<String> = HashSet::new();
        let mut add_chain = |unit: &str| {
            units.insert(unit.to_owned());
            units.extend(view.ancestors(unit).into_iter().map(str::to_owned));
        };
        add_chain(&resource.unit);
        for unit in roles.values().flatten() {
            add_chain(unit);
        }

        let mut entities = Vec::with_capacity(units.len() + 2);
        for unit in &units {
            if resource.kind == ResourceKind::OrgUnit && *unit == resource.unit {
                continue;
            }
            entities.push(self.unit_entity(view, unit, false)?);
        }
        if resource.kind == ResourceKind::OrgUnit {
            entities.push(self.unit_entity(view, &resource.unit, resource.private)?);
        } else {
            let attrs = HashMap::from([
                (
                    "owner".to_owned(),
                    RestrictedExpression::new_entity_uid(self.unit_uid(&resource.unit)),
                ),
                ("private".to_owned(), RestrictedExpression::new_bool(resource.private)),
            ]);
            let parents = HashSet::from([self.unit_uid(&resource.unit)]);
            entities.push(Entity::new(resource_uid.clone(), attrs, parents).map_err(|err| err.to_string())?);
        }
        entities.push(self.principal_entity(principal_uid.clone(), principal, roles)?);
        let entities = Entities::from_entities(entities, None).map_err(|err| format!("entities: {err}"))?;
        let request = Request::new(principal_uid, action, resource_uid, Context::empty(), None)
            .map_err(|err| format!("request: {err}"))?;
        let response = self.authorizer.is_authorized(&request, &self.policies, &entities);
        for error in response.diagnostics().errors() {
            tracing::warn!(%error, "a policy failed to evaluate");
        }
        Ok(response.decision() == Decision::Allow)
    }

    fn unit_uid(&self, unit: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.unit_type.clone(), EntityId::new(unit))
    }

    fn unit_entity(&self, view: &OrgView, unit: &str, private: bool) -> Result<Entity, String> {
        let uid = self.unit_uid(unit);
        let parents: HashSet<EntityUid> = view
            .parent(unit)
            .map(|parent| self.unit_uid(parent))
            .into_iter()
            .collect();
        let attrs = HashMap::from([
            ("owner".to_owned(), RestrictedExpression::new_entity_uid(uid.clone())),
            ("private".to_owned(), RestrictedExpression::new_bool(private)),
        ]);
        Entity::new(uid, attrs, parents).map_err(|err| err.to_string())
    }

    fn principal_entity(&self, uid: EntityUid, principal: &Principal, roles: &RoleUnits) -> Result<Entity, String> {
        let units = |role: Role| {
            RestrictedExpression::new_set(
                roles
                    .get(&role)
                    .into_iter()
                    .flatten()
                    .map(|unit| RestrictedExpression::new_entity_uid(self.unit_uid(unit))),
            )
        };
        let mut attrs: HashMap<String, RestrictedExpression> = Role::ALL
            .into_iter()
            .map(|role| (role.attribute().to_owned(), units(role)))
            .collect();
        attrs.insert(
            "subject".to_owned(),
            RestrictedExpression::new_string(principal.subject.clone()),
        );
        attrs.insert("service".to_owned(), RestrictedExpression::new_bool(principal.service));
        attrs.insert(
            "groups".to_owned(),
            RestrictedExpression::new_set(principal.groups.iter().cloned().map(RestrictedExpression::new_string)),
        );
        if let Some(email) = &principal.email {
            attrs.insert("email".to_owned(), RestrictedExpression::new_string(email.clone()));
        }
        let parents: HashSet<EntityUid> = roles.values().flatten().map(|unit| self.unit_uid(unit)).collect();
        Entity::new(uid, attrs, parents).map_err(|err| err.to_string())
    }
}
