//! Objectives: drafting them (with their key results) in a PLANNING cycle,
//! editing, and
//! deleting.

use crate::{
    OkrOps,
    commands::{NewObjective, ObjectiveField, ObjectivePatch},
    error::Error,
    fields::{
        check_accountable, check_description, check_guardrails, check_kind, check_owner, check_targets, check_title,
    },
    lifecycle::{CycleWork, ObjectiveState},
    names::{cycle_id, cycle_name, key_result_name, objective_id, objective_name},
    ops::references::{parent_objectives, report_targets, target_names},
    store::{
        codec::{CycleFacts, key_result_to_proto, objective_to_proto},
        entity::{cycle, key_result, objective},
        queries::{Lock, find_objective},
        rows::{key_result_row, objective_row},
        snapshot::decode_objective,
    },
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use std::collections::HashSet;
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn, etag::check_etag, mask::MaskField, time::now_micros,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{self as pb},
};

/// An objective's current row, its stored form and its cycle, read for
/// a write.
pub(crate) struct Held {
    pub row: objective::Model,
    pub stored: pb::Objective,
    pub cycle: cycle::Model,
    pub facts: CycleFacts,
}

impl OkrOps {
    /// Loads the objective for a write: the cycle is held shared and the
    /// objective exclusively until `txn` ends; `work` must be allowed in
    /// the cycle's state.
    pub(crate) async fn hold_objective(&self, txn: &WriteTxn, id: &str, work: CycleWork) -> Result<Held, Error> {
        let row = find_objective(&**txn, id).await?;
        let cycle = self.lock_cycle(txn, &row.cycle_id, Lock::Shared).await?;
        // The cycle first, then the objective, in the order every writer
        // takes them; on SQLite the first read already is under the lock.
        let row = match self.store.db.backend() {
            trellis_foundation::Backend::Postgres => self.lock_objective(txn, id).await?,
            trellis_foundation::Backend::Sqlite => row,
        };
        let facts = CycleFacts::of(&cycle)?;
        facts.state.permits(work).map_err(|reason| Error::WrongState {
            name: objective_name(id),
            reason,
        })?;
        let stored = decode_objective(&row.snapshot)?;
        Ok(Held {
            row,
            stored,
            cycle,
            facts,
        })
    }

    /// Checks that the owner is in the cycle's subtree and that every
    /// target exists and may be aligned to; adds what is wrong.
    pub(crate) async fn check_references(
        &self,
        cycle: &cycle::Model,
        self_id: Option<&str>,
        objective: &pb::Objective,
        prefix: &str,
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        let root = crate::names::org_unit_name(&cycle.org_unit_id);
        let owners = self
            .owner_problems(&root, HashSet::from([objective.owner.clone()]))
            .await?;
        if let Some(problem) = owners.get(&objective.owner) {
            violations.add(format!("{prefix}owner"), problem.clone());
        }
        let names = target_names(&objective.aligns_to);
        let mut problems = self.choice_problems(&names.choices).await?;
        problems.extend(
            self.stored_target_problems(self.store.db.conn(), &cycle.id, self_id, &names)
                .await?,
        );
        report_targets(&objective.aligns_to, prefix, &problems, violations);
        if let Some(self_id) = self_id
            && problems.is_empty()
        {
            let parents: HashSet<String> = parent_objectives(&objective.aligns_to).collect();
            if self.closes_loop(self.store.db.conn(), self_id, parents).await? {
                violations.add(
                    format!("{prefix}aligns_to"),
                    format!(
                        "one of the targets already aligns, up its chain, to {}",
                        objective_name(self_id)
                    ),
                );
            }
        }
        Ok(())
    }

    pub async fn create_objective(
        &self,
        context: RequestContext,
        request: pb::CreateObjectiveRequest,
    ) -> Result<pb::Objective, Error> {
        let command = NewObjective::try_from(&request);
        let mut violations = FieldViolations::default();
        // The references too, whatever the shape: one answer, every problem.
        if let Some(input) = &request.objective
            && let Ok(cycle_id) = cycle_id(&input.cycle, "objective.cycle")
        {
            match cycle::Entity::find_by_id(cycle_id).one(self.store.db.conn()).await? {
                Some(cycle) => {
                    self.check_references(&cycle, None, input, "objective.", &mut violations)
                        .await?;
                }
                None => violations.add("objective.cycle", format!("{} does not exist", cycle_name(cycle_id))),
            }
        }
        let NewObjective {
            id,
            cycle_id,
            objective,
            key_results,
        } = violations.along_with(command)?;
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateObjective",
                &request,
                move |mut txn: WriteTxn| async move {
                    let cycle = self.lock_cycle(&txn, &cycle_id, Lock::Shared).await?;
                    let facts = CycleFacts::of(&cycle)?;
                    facts
                        .state
                        .permits(CycleWork::Draft)
                        .map_err(|reason| Error::WrongState {
                            name: cycle_name(&cycle_id),
                            reason,
                        })?;
                    let shown = self
                        .insert_objective(
                            &mut txn,
                            &event_context,
                            &id,
                            &objective,
                            &key_results,
                            ObjectiveState::Draft,
                            facts,
                        )
                        .await?;
                    Ok((txn, shown))
                },
            )
            .await
    }

    /// Inserts a new objective with its key results and records them on
    /// the feed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_objective(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        id: &str,
        objective: &pb::Objective,
        key_results: &[(String, pb::KeyResult)],
        state: ObjectiveState,
        facts: CycleFacts,
    ) -> Result<pb::Objective, Error> {
        self.may_edit_objective(context, id, &objective.owner, None, false)
            .await?;
        if objective::Entity::find_by_id(id.to_owned())
            .one(&**txn)
            .await?
            .is_some()
        {
            return Err(Error::Exists {
                name: objective_name(id),
            });
        }
        let cycle_id = cycle_id(&objective.cycle, "objective.cycle")?;
        let now = now_micros();
        let row = objective_row(id, cycle_id, objective, state, now);
        row.clone().into_active_model().insert(&**txn).await?;
        let rows: Vec<key_result::Model> = key_results
            .iter()
            .map(|(key_result_id, key_result)| key_result_row(id, key_result_id, key_result, now))
            .collect();
        if !rows.is_empty() {
            key_result::Entity::insert_many(rows.iter().cloned().map(IntoActiveModel::into_active_model))
                .exec_without_returning(&**txn)
                .await?;
        }
        let shown_key_results = rows
            .iter()
            .map(|row| key_result_to_proto(row, facts, now))
            .collect::<Result<Vec<_>, _>>()?;
        let shown = objective_to_proto(&row, &shown_key_results, facts)?;
        let mut changes = vec![NewChange::new(ChangeKind::Created, shown.name.clone(), &shown)];
        changes.extend(
            shown_key_results
                .iter()
                .map(|kr| NewChange::new(ChangeKind::Created, kr.name.clone(), kr)),
        );
        self.store.feed.append(txn, context, audience(&row, changes)).await?;
        Ok(shown)
    }

    /// Applies `fields` of `input` to the stored objective; checks every
    /// changed field (and the references, when structure changed).
    pub(crate) async fn apply_fields(
        &self,
        held: &Held,
        input: &pb::Objective,
        fields: &[ObjectiveField],
    ) -> Result<pb::Objective, Error> {
        let mut updated = held.stored.clone();
        let mut violations = FieldViolations::default();
        for field in fields {
            match field {
                ObjectiveField::Title => {
                    check_title(&input.title, "objective.title", &mut violations);
                    updated.title = input.title.trim().to_owned();
                }
                ObjectiveField::Description => {
                    check_description(&input.description, "objective.description", &mut violations);
                    updated.description = input.description.clone();
                }
                ObjectiveField::Accountable => {
                    check_accountable(&input.accountable, "objective.accountable", &mut violations);
                    updated.accountable = input.accountable.trim().to_owned();
                }
                ObjectiveField::Guardrails => {
                    check_guardrails(&input.guardrails, "objective.", &mut violations);
                    updated.guardrails = input.guardrails.clone();
                }
                ObjectiveField::Kind => {
                    check_kind(input.kind(), "objective.kind", &mut violations);
                    updated.kind = input.kind;
                }
                ObjectiveField::Owner => {
                    check_owner(&input.owner, "objective.owner", &mut violations);
                    updated.owner = input.owner.clone();
                }
                ObjectiveField::AlignsTo => {
                    updated.aligns_to = check_targets(&input.aligns_to, "objective.", &mut violations);
                }
            }
        }
        let structure_changed = fields.iter().any(|field| field.is_structure());
        if violations.is_empty() && structure_changed {
            let mut check = updated.clone();
            if !fields.contains(&ObjectiveField::Owner) {
                // An owner outside the subtree stays as it was accepted.
                check.owner = crate::names::org_unit_name(&held.cycle.org_unit_id);
            }
            self.check_references(&held.cycle, Some(&held.row.id), &check, "objective.", &mut violations)
                .await?;
        }
        violations.into_result()?;
        Ok(updated)
    }

    /// Stores `updated` as the objective's next version in `state` and
    /// records it on the feed, after `extra` changes.
    pub(crate) async fn save_objective(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        held: Held,
        updated: &pb::Objective,
        state: ObjectiveState,
        extra: Vec<NewChange>,
    ) -> Result<pb::Objective, Error> {
        self.may_edit_objective(
            context,
            &held.row.id,
            &updated.owner,
            Some(&held.stored.owner),
            held.row.private,
        )
        .await?;
        let version = held.row.version + 1;
        let now = now_micros();
        let mut row = held.row.clone();
        let fresh = objective_row(&row.id, &row.cycle_id, updated, state, now);
        row.owner_id = fresh.owner_id;
        row.state = fresh.state;
        row.kind = fresh.kind;
        row.snapshot = fresh.snapshot;
        row.guardrails = fresh.guardrails;
        row.version = version;
        row.update_micros = now;
        let mut active = row.clone().into_active_model();
        for column in [
            objective::Column::OwnerId,
            objective::Column::State,
            objective::Column::Kind,
            objective::Column::Snapshot,
            objective::Column::Guardrails,
            objective::Column::Version,
            objective::Column::UpdateMicros,
        ] {
            active.reset(column);
        }
        active.update(&**txn).await?;
        let shown = self.show_objective(&**txn, &row).await?;
        let mut changes = extra;
        changes.push(NewChange::new(ChangeKind::Updated, shown.name.clone(), &shown));
        self.store.feed.append(txn, context, audience(&row, changes)).await?;
        Ok(shown)
    }

    /// In PLANNING any field; later only details (not CLOSED): structure
    /// changes then need ReplanObjective.
    pub async fn update_objective(
        &self,
        context: RequestContext,
        request: pb::UpdateObjectiveRequest,
    ) -> Result<pb::Objective, Error> {
        let patch = ObjectivePatch::try_from(&request)?;
        let id = patch.id.as_str();
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, id, CycleWork::EditDetails).await?;
        check_etag(
            &patch.etag,
            &crate::store::codec::etag_of(&held.row),
            &objective_name(id),
        )?;
        let locked = held.facts.state.locks_structure();
        let structure: Vec<&str> = patch
            .fields
            .iter()
            .filter(|field| field.is_structure())
            .map(|field| field.path())
            .collect();
        if locked && patch.explicit && !structure.is_empty() {
            return Err(Error::Locked {
                name: objective_name(id),
                fields: structure,
                remedy: "change only through ReplanObjective, with a reason",
            });
        }
        let fields: Vec<ObjectiveField> = patch
            .fields
            .iter()
            .copied()
            .filter(|field| !locked || !field.is_structure())
            .collect();
        let updated = self.apply_fields(&held, &patch.values, &fields).await?;
        let state = held.row.state;
        let shown = self
            .save_objective(&mut txn, &context, held, &updated, state, Vec::new())
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    /// Only a DRAFT objective of a PLANNING cycle that nothing aligns to.
    pub async fn delete_objective(
        &self,
        context: RequestContext,
        request: pb::DeleteObjectiveRequest,
    ) -> Result<(), Error> {
        let id = objective_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, id, CycleWork::Draft).await?;
        self.may_edit_objective(&context, id, &held.stored.owner, None, held.row.private)
            .await?;
        check_etag(&request.etag, &crate::store::codec::etag_of(&held.row), &request.name)?;
        if let Some(child) = self.first_aligned_child(&txn, &held.row.cycle_id, id).await? {
            return Err(Error::AlignedTo {
                child,
                name: request.name.clone(),
            });
        }
        let shown = self.show_objective(&*txn, &held.row).await?;
        let key_results = crate::store::queries::key_results_of(&*txn, &[id.to_owned()]).await?;
        key_result::Entity::delete_many()
            .filter(key_result::Column::ObjectiveId.eq(id))
            .exec(&*txn)
            .await?;
        objective::Entity::delete_by_id(id.to_owned()).exec(&*txn).await?;
        let mut changes: Vec<NewChange> = key_results
            .iter()
            .map(|row| {
                let name = key_result_name(&row.objective_id, &row.id);
                let shown = pb::KeyResult {
                    name: name.clone(),
                    ..pb::KeyResult::default()
                };
                NewChange::new(ChangeKind::Deleted, name, &shown)
            })
            .collect();
        changes.push(NewChange::new(ChangeKind::Deleted, shown.name.clone(), &shown));
        self.store
            .feed
            .append(&mut txn, &context, audience(&held.row, changes))
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// An objective of the cycle that aligns to `id` or one of its key
    /// results.
    async fn first_aligned_child(&self, txn: &WriteTxn, cycle_id: &str, id: &str) -> Result<Option<String>, Error> {
        let rows = objective::Entity::find()
            .filter(objective::Column::CycleId.eq(cycle_id))
            .filter(objective::Column::Id.ne(id))
            .all(&**txn)
            .await?;
        for row in rows {
            let stored = decode_objective(&row.snapshot)?;
            if parent_objectives(&stored.aligns_to).any(|parent| parent == id) {
                return Ok(Some(objective_name(&row.id)));
            }
        }
        Ok(None)
    }
}

/// `changes`, about the objective `row` or what it holds, seen only by
/// those who may read it when it is private.
pub(crate) fn audience(row: &objective::Model, changes: Vec<NewChange>) -> Vec<NewChange> {
    changes
        .into_iter()
        .map(|change| change.private_to(&row.owner_id, row.private))
        .collect()
}
