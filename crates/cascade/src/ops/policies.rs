//! Grants (AIP-211 IAM policies) on org units and on the org root: each
//! change is written with its change-feed event in one transaction, and
//! answered only once this process's own access checks see it.

use std::collections::{BTreeMap, BTreeSet};

use futures::Stream;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde::{Deserialize, Serialize};
use tonic::Status;
use trellis_access::{Member, ORG_ROOT, Permission, Resource, Role, is_org_root, unit_name};
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext,
    etag::{check_etag, etag_for},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    access::v1 as pb,
    feed::v1::{ChangeEvent, ChangeKind, WatchChangesRequest},
};

use crate::{
    error::Error,
    ops::OrgOps,
    store::{entity::iam_policy, queries},
};

/// Members one binding may hold.
const MAX_MEMBERS: usize = 1_000;
/// Bindings one request may send (before those of one role are merged).
const MAX_BINDINGS: usize = 16;
/// Permissions one TestIamPermissions may ask about.
const MAX_PERMISSIONS: usize = 20;

#[derive(Debug, Serialize, Deserialize)]
struct StoredBinding {
    role: String,
    members: Vec<String>,
}

impl OrgOps {
    pub async fn get_iam_policy(
        &self,
        context: RequestContext,
        request: pb::GetIamPolicyRequest,
    ) -> Result<pb::Policy, Error> {
        let unit = self.policy_unit(&request.resource, "resource").await?;
        self.access
            .check(&context, Permission::GetIamPolicy, &Resource::org_unit(&unit))
            .await?;
        let row = iam_policy::Entity::find_by_id(unit.clone())
            .one(self.store.db.conn())
            .await?;
        policy_of(&unit, row.as_ref())
    }

    pub async fn set_iam_policy(
        &self,
        context: RequestContext,
        request: pb::SetIamPolicyRequest,
    ) -> Result<pb::Policy, Error> {
        let unit = self.policy_unit(&request.resource, "resource").await?;
        self.access
            .check(&context, Permission::SetIamPolicy, &Resource::org_unit(&unit))
            .await?;
        let given = request.policy.unwrap_or_default();
        let bindings = normal_bindings(&given.bindings, "policy.bindings")?;
        self.write_policy(&context, &unit, bindings, &given.etag).await
    }

    pub async fn test_iam_permissions(
        &self,
        context: RequestContext,
        request: pb::TestIamPermissionsRequest,
    ) -> Result<pb::TestIamPermissionsResponse, Error> {
        let mut violations = FieldViolations::default();
        violations.require(
            request.permissions.len() <= MAX_PERMISSIONS,
            "permissions",
            format!("at most {MAX_PERMISSIONS} at once"),
        );
        let mut asked = Vec::new();
        for (index, name) in request.permissions.iter().enumerate().take(MAX_PERMISSIONS) {
            match Permission::parse(name) {
                Some(permission) => asked.push(permission),
                None => violations.add(
                    format!("permissions[{index}]"),
                    format!(
                        "{name:?} is not a permission; known: {}",
                        Permission::ALL.map(Permission::name).join(", ")
                    ),
                ),
            }
        }
        let unit = violations.absorb(self.policy_unit(&request.resource, "resource").await)?;
        violations.into_result()?;
        let Some(unit) = unit else {
            return Err(Error::Corrupt("a violation went missing".into()));
        };
        let resource = Resource::org_unit(&unit);
        let mut held = Vec::new();
        for permission in asked {
            if self.access.allows(&context, permission, &resource).await {
                held.push(permission.name().to_owned());
            }
        }
        Ok(pb::TestIamPermissionsResponse { permissions: held })
    }

    /// Makes `principal` admin of the whole org, unless a policy was ever
    /// set on the org root: `--bootstrap-admin` acts on a first start only.
    pub async fn bootstrap_admin(&self, principal: &str) -> Result<bool, Error> {
        let member: Member = principal
            .parse()
            .or_else(|_| format!("user:{principal}").parse())
            .map_err(|err| Error::Corrupt(format!("--bootstrap-admin {principal:?}: {err}")))?;
        let existing = iam_policy::Entity::find_by_id(ORG_ROOT.to_owned())
            .one(self.store.db.conn())
            .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let bindings = vec![StoredBinding {
            role: Role::Admin.name().to_owned(),
            members: vec![member.to_string()],
        }];
        let context = RequestContext::system("bootstrap-admin");
        match self.write_policy(&context, ORG_ROOT, bindings, "").await {
            Ok(_) => Ok(true),
            // Another replica made the root policy first.
            Err(Error::Exists { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Policy changes from the feed, replayed and then followed live.
    pub fn watch_policies(
        &self,
        mut request: WatchChangesRequest,
    ) -> impl Stream<Item = Result<ChangeEvent, Status>> + Send + 'static {
        let policy_type = <pb::Policy as prost::Name>::full_name();
        request.resource_types.retain(|wanted| *wanted == policy_type);
        request.resource_types = vec![policy_type];
        self.store.feed.watch(request, None)
    }

    /// PERMISSION_DENIED unless the caller may read what `unit` holds.
    pub(crate) async fn check_read(&self, context: &RequestContext, unit: &str) -> Result<(), Error> {
        Ok(self
            .access
            .check(context, Permission::Read, &Resource::org_unit(unit))
            .await?)
    }

    /// The unit id a policy resource names, which must exist ("-" always does).
    async fn policy_unit(&self, resource: &str, field: &str) -> Result<String, Error> {
        if is_org_root(resource) {
            return Ok(ORG_ROOT.to_owned());
        }
        let id = crate::names::unit_id(resource, field)?;
        queries::find_existing(self.store.db.conn(), id, resource).await?;
        Ok(id.to_owned())
    }

    async fn write_policy(
        &self,
        context: &RequestContext,
        unit: &str,
        bindings: Vec<StoredBinding>,
        etag: &str,
    ) -> Result<pb::Policy, Error> {
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        if unit != ORG_ROOT {
            queries::find_existing(&*txn, unit, &unit_name(unit)).await?;
        }
        let existing = iam_policy::Entity::find_by_id(unit.to_owned()).one(&*txn).await?;
        let version = existing.as_ref().map_or(0, |row| row.version);
        check_etag(etag, &etag_for(version), &unit_name(unit))?;
        let row = iam_policy::Model {
            unit_id: unit.to_owned(),
            bindings: serde_json::to_string(&bindings)
                .map_err(|err| Error::Corrupt(format!("encoding bindings: {err}")))?,
            version: version + 1,
            updater: context.actor.clone(),
            update_micros: now_micros(),
        };
        let kind = if existing.is_some() {
            let updated = iam_policy::Entity::update_many()
                .set(row.clone().into_active_model().reset_all())
                .filter(iam_policy::Column::UnitId.eq(unit))
                .filter(iam_policy::Column::Version.eq(version))
                .exec(&*txn)
                .await?;
            if updated.rows_affected != 1 {
                return Err(Error::stale(unit_name(unit)));
            }
            ChangeKind::Updated
        } else {
            row.clone()
                .into_active_model()
                .insert(&*txn)
                .await
                .map_err(|err| match err.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Exists { name: unit_name(unit) },
                    _ => Error::from(err),
                })?;
            ChangeKind::Created
        };
        let policy = policy_of(unit, Some(&row))?;
        let sequence = self
            .store
            .feed
            .append(&mut txn, context, vec![policy_change(kind, &policy)])
            .await?;
        txn.commit().await?;
        self.seen_here(sequence).await;
        Ok(policy)
    }

    /// Waits until this process's access checks have applied `sequence`.
    pub(crate) async fn seen_here(&self, sequence: i64) {
        if let Some(authorizer) = self.access.authorizer()
            && !authorizer.caught_up_to(sequence).await
        {
            tracing::warn!(
                sequence,
                "access checks have not caught up with a change to the org or its grants"
            );
        }
    }
}

/// The feed event of a policy's change.
pub(crate) fn policy_change(kind: ChangeKind, policy: &pb::Policy) -> NewChange {
    NewChange::new(kind, policy.resource.clone(), policy)
}

/// The policy a row holds; an empty one at version 0 without a row.
pub(crate) fn policy_of(unit: &str, row: Option<&iam_policy::Model>) -> Result<pb::Policy, Error> {
    let Some(row) = row else {
        return Ok(pb::Policy {
            resource: unit_name(unit),
            etag: etag_for(0),
            ..pb::Policy::default()
        });
    };
    let stored: Vec<StoredBinding> = serde_json::from_str(&row.bindings)
        .map_err(|err| Error::Corrupt(format!("the grants of {}: {err}", unit_name(unit))))?;
    Ok(pb::Policy {
        resource: unit_name(unit),
        bindings: stored
            .into_iter()
            .map(|binding| pb::Binding {
                role: binding.role,
                members: binding.members,
            })
            .collect(),
        etag: etag_for(row.version),
        update_time: Some(to_timestamp(row.update_micros)),
        updater: row.updater.clone(),
    })
}

/// Bindings in normal form (one per role, in role order, members sorted
/// and unique, empty ones dropped), or every problem with them.
fn normal_bindings(bindings: &[pb::Binding], field: &str) -> Result<Vec<StoredBinding>, Error> {
    let mut violations = FieldViolations::default();
    violations.require(
        bindings.len() <= MAX_BINDINGS,
        field,
        format!("at most {MAX_BINDINGS} bindings (one per role is enough)"),
    );
    let mut by_role: BTreeMap<Role, BTreeSet<String>> = BTreeMap::new();
    for (index, binding) in bindings.iter().enumerate().take(MAX_BINDINGS) {
        let at = format!("{field}[{index}]");
        let role = Role::parse(&binding.role);
        if role.is_none() {
            violations.add(
                format!("{at}.role"),
                format!(
                    "{:?} is not a role; roles: {}",
                    binding.role,
                    Role::ALL.map(Role::name).join(", ")
                ),
            );
        }
        violations.require(
            binding.members.len() <= MAX_MEMBERS,
            format!("{at}.members"),
            format!("at most {MAX_MEMBERS} members per binding"),
        );
        for (position, member) in binding.members.iter().enumerate().take(MAX_MEMBERS) {
            match member.parse::<Member>() {
                Ok(member) => {
                    if let Some(role) = role {
                        by_role.entry(role).or_default().insert(member.to_string());
                    }
                }
                Err(problem) => violations.add(format!("{at}.members[{position}]"), problem),
            }
        }
    }
    violations.into_result()?;
    Ok(by_role
        .into_iter()
        .filter(|(_, members)| !members.is_empty())
        .map(|(role, members)| StoredBinding {
            role: role.name().to_owned(),
            members: members.into_iter().collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(role: &str, members: &[&str]) -> pb::Binding {
        pb::Binding {
            role: role.into(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn bindings_come_out_in_normal_form() {
        let normal = normal_bindings(
            &[
                binding("editor", &["user:b", "user:a"]),
                binding("viewer", &["allAuthenticatedUsers"]),
                binding("editor", &["user:a", "group:eng"]),
                binding("admin", &[]),
            ],
            "policy.bindings",
        )
        .expect("valid");
        let shown: Vec<(String, Vec<String>)> = normal.into_iter().map(|b| (b.role, b.members)).collect();
        assert_eq!(
            shown,
            [
                ("viewer".to_owned(), vec!["allAuthenticatedUsers".to_owned()]),
                (
                    "editor".to_owned(),
                    vec!["group:eng".to_owned(), "user:a".to_owned(), "user:b".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn every_bad_binding_is_reported_at_once() {
        let Err(Error::Shared(trellis_foundation::Error::InvalidArgument(violations))) = normal_bindings(
            &[binding("owner", &["user:a"]), binding("viewer", &["robot:x", "user:"])],
            "policy.bindings",
        ) else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = violations
            .violations()
            .iter()
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "policy.bindings[0].role",
                "policy.bindings[1].members[0]",
                "policy.bindings[1].members[1]"
            ]
        );
    }
}
