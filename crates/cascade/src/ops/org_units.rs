//! The org-unit operations: each checks its request, runs in one write
//! transaction and records its changes on the feed.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, EntityTrait};
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::{check_etag, etag_for},
    mask::update_paths,
    time::now_micros,
    validation::required,
};
use trellis_proto::{cascade::v1 as pb, feed::v1::ChangeKind};

use trellis_access::{ORG_ROOT, Permission, Resource};

use crate::{
    error::Error,
    fields::{MAX_BATCH, MAX_DEPTH, NewUnit, OrgUnitField, check_create, check_fields, parse_parent},
    names::{unit_id, unit_name},
    ops::{
        OrgOps,
        policies::{policy_change, policy_of},
    },
    store::{
        codec::to_proto,
        entity::{iam_policy, org_unit::Model},
        queries,
    },
    tree::{Unplaceable, child_path, order_batch, root_path},
};

/// What changing a unit below `parent_id` ("" for a top unit) needs
/// EditOrg on.
fn under(parent_id: &str) -> Resource {
    Resource::org_unit(if parent_id.is_empty() { ORG_ROOT } else { parent_id })
}

fn change(kind: ChangeKind, unit: &pb::OrgUnit) -> NewChange {
    NewChange::new(kind, unit.name.clone(), unit)
}

/// Depth and path of a unit placed under `parent_id` ("" for a root).
async fn placement(conn: &impl ConnectionTrait, id: &str, parent_id: &str) -> Result<(i32, String), Error> {
    if parent_id.is_empty() {
        return Ok((0, root_path(id)));
    }
    let parent = queries::find_existing(conn, parent_id, &unit_name(parent_id)).await?;
    check_depth(parent.depth + 1, "org_unit.parent")?;
    Ok((parent.depth + 1, child_path(&parent.path, id)))
}

fn depth_problem(depth: i32) -> Option<String> {
    (depth > MAX_DEPTH).then(|| {
        format!(
            "would place a unit at depth {depth}; units nest at most {} levels deep",
            MAX_DEPTH + 1
        )
    })
}

fn check_depth(depth: i32, field: &str) -> Result<(), Error> {
    match depth_problem(depth) {
        Some(problem) => Err(Error::invalid(field, problem)),
        None => Ok(()),
    }
}

fn new_model(unit: NewUnit, depth: i32, path: String, now: i64) -> Model {
    Model {
        id: unit.id,
        parent_id: unit.parent_id,
        display_name: unit.display_name,
        kind: unit.kind,
        description: unit.description,
        lead: unit.lead,
        depth,
        path,
        version: 1,
        create_micros: now,
        update_micros: now,
    }
}

impl OrgOps {
    pub async fn create(
        &self,
        context: RequestContext,
        request: pb::CreateOrgUnitRequest,
    ) -> Result<pb::OrgUnit, Error> {
        let mut violations = FieldViolations::default();
        let new_unit = check_create(&request, &mut violations);
        self.access
            .check(&context, Permission::EditOrg, &under(&new_unit.parent_id))
            .await?;
        if !violations.is_empty() {
            // The parent too, so one answer holds every problem.
            let parent_id = &new_unit.parent_id;
            if !parent_id.is_empty() && queries::find(self.store.db.conn(), parent_id).await?.is_none() {
                violations.add("org_unit.parent", format!("{} does not exist", unit_name(parent_id)));
            }
            return Err(violations.into());
        }
        let feed = self.store.feed.clone();
        let event_context = context.clone();
        let created = self
            .store
            .create_once(
                &context,
                "CreateOrgUnit",
                &request,
                move |mut txn: WriteTxn| async move {
                    feed.serialize_writers(&txn).await?;
                    let (depth, path) = placement(&*txn, &new_unit.id, &new_unit.parent_id).await?;
                    if queries::find(&*txn, &new_unit.id).await?.is_some() {
                        return Err(Error::Exists {
                            name: unit_name(&new_unit.id),
                        });
                    }
                    let model = new_model(new_unit, depth, path, now_micros());
                    queries::insert_many(&*txn, vec![model.clone()]).await?;
                    let unit = to_proto(&model);
                    feed.append(&mut txn, &event_context, vec![change(ChangeKind::Created, &unit)])
                        .await?;
                    Ok((txn, unit))
                },
            )
            .await;
        self.settle().await;
        created
    }

    pub async fn update(
        &self,
        context: RequestContext,
        request: pb::UpdateOrgUnitRequest,
    ) -> Result<pb::OrgUnit, Error> {
        let patch = required(request.org_unit, "org_unit")?;
        let id = unit_id(&patch.name, "org_unit.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), OrgUnitField::ALL, &mut violations);
        check_fields(&patch, &paths, &mut violations, "org_unit.");
        violations.into_result()?;

        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let mut unit = queries::find_existing(&*txn, id, &patch.name).await?;
        self.access
            .check(&context, Permission::EditOrg, &under(&unit.parent_id))
            .await?;
        check_etag(&patch.etag, &etag_for(unit.version), &patch.name)?;
        let read_version = unit.version;
        for field in paths {
            match field {
                OrgUnitField::DisplayName => unit.display_name = patch.display_name.trim().to_owned(),
                OrgUnitField::Kind => unit.kind = patch.kind.trim().to_owned(),
                OrgUnitField::Description => unit.description.clone_from(&patch.description),
                OrgUnitField::Lead => unit.lead = patch.lead.trim().to_owned(),
            }
        }
        unit.version += 1;
        unit.update_micros = now_micros();
        queries::update_if_unchanged(&*txn, unit.clone(), read_version).await?;
        let updated = to_proto(&unit);
        self.store
            .feed
            .append(&mut txn, &context, vec![change(ChangeKind::Updated, &updated)])
            .await?;
        txn.commit().await?;
        self.settle().await;
        Ok(updated)
    }

    pub async fn delete(&self, context: RequestContext, request: pb::DeleteOrgUnitRequest) -> Result<(), Error> {
        let id = unit_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let unit = queries::find_existing(&*txn, id, &request.name).await?;
        self.access
            .check(&context, Permission::EditOrg, &under(&unit.parent_id))
            .await?;
        check_etag(&request.etag, &etag_for(unit.version), &request.name)?;
        if queries::has_children(&*txn, id).await? {
            return Err(Error::HasChildren {
                name: request.name.clone(),
            });
        }
        queries::delete_if_unchanged(&*txn, &unit).await?;
        let deleted = to_proto(&unit);
        let mut changes = vec![change(ChangeKind::Deleted, &deleted)];
        // The unit's grants go with it: a unit made later under the same id
        // starts with none.
        let grants = iam_policy::Entity::find_by_id(id.to_owned()).one(&*txn).await?;
        if let Some(grants) = grants {
            let policy = policy_of(id, Some(&grants))?;
            iam_policy::Entity::delete_by_id(id.to_owned()).exec(&*txn).await?;
            changes.push(policy_change(ChangeKind::Deleted, &policy));
        }
        self.store.feed.append(&mut txn, &context, changes).await?;
        txn.commit().await?;
        self.settle().await;
        Ok(())
    }

    /// Re-parents a unit; its subtree moves with it (paths and depths).
    pub async fn move_unit(
        &self,
        context: RequestContext,
        request: pb::MoveOrgUnitRequest,
    ) -> Result<pb::OrgUnit, Error> {
        let id = unit_id(&request.name, "name")?;
        let mut violations = FieldViolations::default();
        let new_parent_id = parse_parent(&request.new_parent, "new_parent", &mut violations);
        violations.into_result()?;

        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let mut unit = queries::find_existing(&*txn, id, &request.name).await?;
        // Taken out of one part of the tree and put into another: both are
        // the caller's to change.
        self.access
            .check(&context, Permission::EditOrg, &under(&unit.parent_id))
            .await?;
        self.access
            .check(&context, Permission::EditOrg, &under(&new_parent_id))
            .await?;
        check_etag(&request.etag, &etag_for(unit.version), &request.name)?;
        if unit.parent_id == new_parent_id {
            return Ok(to_proto(&unit));
        }
        let (new_depth, new_path) = if new_parent_id.is_empty() {
            (0, root_path(id))
        } else {
            let parent = queries::find_existing(&*txn, &new_parent_id, &request.new_parent).await?;
            if parent.path.starts_with(&unit.path) {
                return Err(Error::MoveIntoItself {
                    name: request.name.clone(),
                    new_parent: request.new_parent.clone(),
                });
            }
            (parent.depth + 1, child_path(&parent.path, id))
        };
        let subtree = queries::descendants(&*txn, &unit.path).await?;
        let depth_change = new_depth - unit.depth;
        let deepest = subtree
            .iter()
            .map(|descendant| descendant.depth)
            .fold(unit.depth, i32::max);
        check_depth(deepest + depth_change, "new_parent")?;
        let old_path = std::mem::replace(&mut unit.path, new_path.clone());
        let now = now_micros();
        let read_version = unit.version;
        unit.parent_id = new_parent_id;
        unit.depth = new_depth;
        let mut moved = vec![(read_version, unit)];
        for mut descendant in subtree {
            let read_version = descendant.version;
            descendant.path = format!("{new_path}{}", &descendant.path[old_path.len()..]);
            descendant.depth += depth_change;
            moved.push((read_version, descendant));
        }
        let mut changes = Vec::with_capacity(moved.len());
        let mut moved_unit = None;
        for (read_version, mut model) in moved {
            model.version = read_version + 1;
            model.update_micros = now;
            let updated = to_proto(&model);
            changes.push(change(ChangeKind::Updated, &updated));
            moved_unit.get_or_insert(updated);
            queries::update_if_unchanged(&*txn, model, read_version).await?;
        }
        self.store.feed.append(&mut txn, &context, changes).await?;
        txn.commit().await?;
        self.settle().await;
        moved_unit.ok_or_else(|| Error::Corrupt("move wrote no unit".into()))
    }

    /// Creates many units at once, all or nothing, reporting every row's
    /// problems (`requests[3].org_unit.parent`).
    pub async fn batch_create(
        &self,
        context: RequestContext,
        request: pb::BatchCreateOrgUnitsRequest,
    ) -> Result<pb::BatchCreateOrgUnitsResponse, Error> {
        let mut violations = FieldViolations::default();
        if request.requests.is_empty() || request.requests.len() > MAX_BATCH {
            violations.add("requests", format!("must hold 1 to {MAX_BATCH} units"));
        }
        let mut new_units = Vec::with_capacity(request.requests.len());
        let mut first_row_of: HashMap<String, usize> = HashMap::new();
        for (index, row) in request.requests.iter().enumerate() {
            let mut row_violations = FieldViolations::default();
            let new_unit = check_create(row, &mut row_violations);
            if let Some(first) = first_row_of.insert(new_unit.id.clone(), index) {
                row_violations.add("org_unit_id", format!("repeats the id of requests[{first}]"));
            }
            violations.extend_prefixed(&format!("requests[{index}]."), row_violations);
            new_units.push(new_unit);
        }
        // Units under others of the batch are inside what their outside
        // parent's check allowed.
        let outside_parents: HashSet<&str> = new_units
            .iter()
            .map(|unit| unit.parent_id.as_str())
            .filter(|parent| !first_row_of.contains_key(*parent))
            .collect();
        for parent in outside_parents {
            self.access.check(&context, Permission::EditOrg, &under(parent)).await?;
        }
        if !violations.is_empty() || request.validate_only {
            // The references too, so one answer holds every problem.
            let (_, violations) = place_batch(self.store.db.conn(), new_units, violations).await?;
            if request.validate_only {
                let report = violations.into_report(
                    request.validation_page.as_ref(),
                    &self.store.page_tokens,
                    "BatchCreateOrgUnits",
                )?;
                return Ok(pb::BatchCreateOrgUnitsResponse {
                    org_units: Vec::new(),
                    validation: Some(report),
                });
            }
            return Err(violations.into());
        }
        let feed = self.store.feed.clone();
        let event_context = context.clone();
        let max_message_bytes = self.max_message_bytes;
        let created = self
            .store
            .create_once(
                &context,
                "BatchCreateOrgUnits",
                &request,
                move |mut txn: WriteTxn| async move {
                    feed.serialize_writers(&txn).await?;
                    let (units, violations) = place_batch(&*txn, new_units, FieldViolations::default()).await?;
                    violations.into_result()?;
                    let created: Vec<pb::OrgUnit> = units.iter().map(to_proto).collect();
                    let answer_bytes = prost::encoding::message::encoded_len_repeated(1, &created);
                    if answer_bytes > max_message_bytes {
                        return Err(Error::AnswerTooLarge {
                            bytes: answer_bytes,
                            limit: max_message_bytes,
                        });
                    }
                    queries::insert_many(&*txn, units).await?;
                    let changes = created.iter().map(|unit| change(ChangeKind::Created, unit)).collect();
                    feed.append(&mut txn, &event_context, changes).await?;
                    Ok((
                        txn,
                        pb::BatchCreateOrgUnitsResponse {
                            org_units: created,
                            validation: None,
                        },
                    ))
                },
            )
            .await;
        self.settle().await;
        created
    }

    /// Waits until this process's access checks see every change written
    /// so far, so the caller's next request is checked against the tree
    /// it just changed.
    async fn settle(&self) {
        if self.access.authorizer().is_none() {
            return;
        }
        match self.store.feed.head().await {
            Ok(head) => self.seen_here(head).await,
            Err(err) => tracing::warn!(error = %err, "reading the feed's head"),
        }
    }
}

/// Checks a batch against the stored tree (ids free, parents present, no
/// cycles, not too deep) and returns its rows with paths, in request
/// order, and its problems added to `violations` (the rows' own), so one
/// answer holds them all.
async fn place_batch(
    conn: &impl ConnectionTrait,
    new_units: Vec<NewUnit>,
    mut violations: FieldViolations,
) -> Result<(Vec<Model>, FieldViolations), Error> {
    let ids: Vec<String> = new_units.iter().map(|unit| unit.id.clone()).collect();
    let batch_ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let outside_parents: Vec<String> = new_units
        .iter()
        .filter(|unit| !unit.parent_id.is_empty() && !batch_ids.contains(unit.parent_id.as_str()))
        .map(|unit| unit.parent_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let stored_parents: HashMap<String, Model> = queries::find_many(conn, &outside_parents)
        .await?
        .into_iter()
        .map(|unit| (unit.id.clone(), unit))
        .collect();
    let taken: HashSet<String> = queries::find_many(conn, &ids)
        .await?
        .into_iter()
        .map(|unit| unit.id)
        .collect();

    for (index, unit) in new_units.iter().enumerate() {
        if taken.contains(&unit.id) {
            violations.add(
                format!("requests[{index}].org_unit_id"),
                format!("{} already exists", unit_name(&unit.id)),
            );
        }
    }
    let edges: Vec<(String, String)> = new_units
        .iter()
        .map(|unit| (unit.id.clone(), unit.parent_id.clone()))
        .collect();
    let existing: HashSet<String> = stored_parents.keys().cloned().collect();
    let order = match order_batch(&edges, &existing) {
        Ok(order) => order,
        Err(problems) => {
            for (index, problem) in problems {
                let parent = unit_name(&edges[index].1);
                let description = match problem {
                    Unplaceable::MissingParent => format!("{parent} does not exist"),
                    Unplaceable::Cycle => {
                        format!("{parent} is part of a parent cycle within the batch")
                    }
                };
                violations.add(format!("requests[{index}].org_unit.parent"), description);
            }
            Vec::new()
        }
    };
    let now = now_micros();
    let mut placed: HashMap<String, (i32, String)> = stored_parents
        .into_values()
        .map(|unit| (unit.id, (unit.depth, unit.path)))
        .collect();
    let mut slots: Vec<Option<NewUnit>> = new_units.into_iter().map(Some).collect();
    let mut models: Vec<Option<Model>> = vec![None; slots.len()];
    for index in order {
        let Some(unit) = slots[index].take() else {
            continue;
        };
        let (depth, path) = match placed.get(&unit.parent_id) {
            Some((parent_depth, parent_path)) => (parent_depth + 1, child_path(parent_path, &unit.id)),
            None => (0, root_path(&unit.id)),
        };
        if let Some(problem) = depth_problem(depth) {
            violations.add(format!("requests[{index}].org_unit.parent"), problem);
        }
        placed.insert(unit.id.clone(), (depth, path.clone()));
        models[index] = Some(new_model(unit, depth, path, now));
    }
    Ok((models.into_iter().flatten().collect(), violations))
}
