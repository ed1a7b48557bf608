//! Cycles: creating one for an org subtree, its details while PLANNING,
//! and its moves PLANNING → ACTIVE → REVIEW → CLOSED. Activation makes the
//! cycle's draft objectives ACTIVE and locks their structure.

use std::collections::HashSet;

use trellis_access::{Permission, ResourceKind};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::check_etag,
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    mask::MaskField,
    mask::update_paths,
    names::{generate_id, is_valid_period_id},
    time::{now_micros, to_timestamp},
    validation::required,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{self as pb},
};

use crate::{
    OkrOps,
    error::Error,
    fields::{check_cycle, check_period, check_title},
    lifecycle::{CycleState, ObjectiveState},
    names::{cycle_id, cycle_name, org_unit_name},
    store::{
        codec::{CycleFacts, cycle_to_proto, objective_state_proto, objective_to_proto},
        entity::{cycle, objective},
        queries::{Lock, find_cycle},
        snapshot::encode_cycle,
    },
};

/// A cycle's fields an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CycleField {
    DisplayName,
    StartTime,
    EndTime,
}

impl MaskField for CycleField {
    fn path(self) -> &'static str {
        match self {
            CycleField::DisplayName => "display_name",
            CycleField::StartTime => "start_time",
            CycleField::EndTime => "end_time",
        }
    }
}

const UPDATABLE: &[CycleField] = &[CycleField::DisplayName, CycleField::StartTime, CycleField::EndTime];
const STATE_NAMES: &[&str] = &["PLANNING", "ACTIVE", "REVIEW", "CLOSED"];

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new("state", Expr::col(cycle::Column::State), FieldKind::Enum(STATE_NAMES)),
        FilterField::new(
            "org_unit",
            Expr::col(cycle::Column::OrgUnitId),
            FieldKind::ResourceName("orgUnits"),
        ),
    ]
}

impl OkrOps {
    pub async fn create_cycle(
        &self,
        context: RequestContext,
        request: pb::CreateCycleRequest,
    ) -> Result<pb::Cycle, Error> {
        let input = required(request.cycle.as_ref(), "cycle")?;
        let mut violations = FieldViolations::default();
        let id = if request.cycle_id.is_empty() {
            generate_id()
        } else {
            violations.require(
                is_valid_period_id(&request.cycle_id),
                "cycle_id",
                "must be 1-63 lowercase letters, digits or hyphens, like 2027-q1",
            );
            request.cycle_id.clone()
        };
        let cycle = check_cycle(input, "cycle.", &mut violations);
        if violations.is_empty() {
            // The unit is the root of its own subtree: only its existence is checked.
            let problems = self
                .owner_problems(&cycle.org_unit, HashSet::from([cycle.org_unit.clone()]))
                .await?;
            if let Some(problem) = problems.get(&cycle.org_unit) {
                violations.add("cycle.org_unit", problem.clone());
            }
        }
        violations.into_result()?;
        self.access
            .check_owned(
                &context,
                Permission::EditCycles,
                ResourceKind::Cycle,
                &id,
                &cycle.org_unit,
            )
            .await?;
        let event_context = context.clone();
        self.store
            .create_once(&context, "CreateCycle", &request, move |mut txn: WriteTxn| async move {
                if cycle::Entity::find_by_id(id.clone()).one(&*txn).await?.is_some() {
                    return Err(Error::Exists { name: cycle_name(&id) });
                }
                let now = now_micros();
                let row = cycle::Model {
                    id: id.clone(),
                    org_unit_id: crate::names::org_unit_id(&cycle.org_unit, "cycle.org_unit")?.to_owned(),
                    state: CycleState::Planning,
                    version: 1,
                    snapshot: encode_cycle(&cycle),
                    create_micros: now,
                    update_micros: now,
                };
                row.clone().into_active_model().insert(&*txn).await?;
                let shown = cycle_to_proto(&row)?;
                self.store
                    .feed
                    .append(
                        &mut txn,
                        &event_context,
                        vec![NewChange::new(ChangeKind::Created, shown.name.clone(), &shown)],
                    )
                    .await?;
                Ok((txn, shown))
            })
            .await
    }

    pub async fn get_cycle(&self, context: RequestContext, request: pb::GetCycleRequest) -> Result<pb::Cycle, Error> {
        let id = cycle_id(&request.name, "name")?;
        let row = find_cycle(self.store.db.conn(), id).await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::Cycle, &row.org_unit_id, false, &request.name)?;
        cycle_to_proto(&row)
    }

    /// Cycles in id order, those the caller may read.
    pub async fn list_cycles(
        &self,
        context: RequestContext,
        request: pb::ListCyclesRequest,
    ) -> Result<pb::ListCyclesResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListCycles",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let rows = page
            .fetch(cycle::Entity::find(), cycle::Column::Id, self.store.db.conn())
            .await?;
        let (mut rows, next_page_token) = page.split(rows, |row| row.id.clone());
        let reader = self.access.reader(&context).await;
        rows.retain(|row| reader.may_read(ResourceKind::Cycle, &row.org_unit_id, false));
        Ok(pb::ListCyclesResponse {
            cycles: rows.iter().map(cycle_to_proto).collect::<Result<_, _>>()?,
            next_page_token,
        })
    }

    pub async fn update_cycle(
        &self,
        context: RequestContext,
        request: pb::UpdateCycleRequest,
    ) -> Result<pb::Cycle, Error> {
        let input = required(request.cycle.as_ref(), "cycle")?;
        let id = cycle_id(&input.name, "cycle.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), UPDATABLE, &mut violations);
        violations.into_result()?;
        let mut txn = self.store.begin_write().await?;
        let row = self.lock_cycle(&txn, id, Lock::Exclusive).await?;
        let current = cycle_to_proto(&row)?;
        check_etag(&input.etag, &current.etag, &current.name)?;
        let state = row.state;
        if state != CycleState::Planning {
            return Err(Error::CycleNotPlanning {
                name: current.name,
                state: state.as_str(),
            });
        }
        let mut updated = current.clone();
        for field in paths {
            match field {
                CycleField::DisplayName => updated.display_name = input.display_name.trim().to_owned(),
                CycleField::StartTime => updated.start_time = input.start_time,
                CycleField::EndTime => updated.end_time = input.end_time,
            }
        }
        let mut violations = FieldViolations::default();
        check_title(&updated.display_name, "cycle.display_name", &mut violations);
        check_period(&updated, "cycle.", &mut violations);
        violations.into_result()?;
        let shown = self
            .save_cycle(&mut txn, &context, row, &updated, state, now_micros())
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    async fn save_cycle(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        row: cycle::Model,
        cycle: &pb::Cycle,
        state: CycleState,
        now: i64,
    ) -> Result<pb::Cycle, Error> {
        self.access
            .check_owned(
                context,
                Permission::EditCycles,
                ResourceKind::Cycle,
                &row.id,
                &org_unit_name(&row.org_unit_id),
            )
            .await?;
        let version = row.version + 1;
        let mut active = row.into_active_model();
        active.state = Set(state);
        active.version = Set(version);
        active.snapshot = Set(encode_cycle(cycle));
        active.update_micros = Set(now);
        let saved = active.update(&**txn).await?;
        let shown = cycle_to_proto(&saved)?;
        self.store
            .feed
            .append(
                txn,
                context,
                vec![NewChange::new(ChangeKind::Updated, shown.name.clone(), &shown)],
            )
            .await?;
        Ok(shown)
    }

    /// Moves the cycle to `to`; activation also activates its drafts.
    pub async fn transition_cycle(
        &self,
        context: RequestContext,
        request: pb::TransitionCycleRequest,
        to: CycleState,
    ) -> Result<pb::Cycle, Error> {
        let id = cycle_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        let row = self.lock_cycle(&txn, id, Lock::Exclusive).await?;
        let mut cycle = cycle_to_proto(&row)?;
        check_etag(&request.etag, &cycle.etag, &cycle.name)?;
        let next = row.state.advance(to).map_err(|reason| Error::WrongState {
            name: cycle.name.clone(),
            reason,
        })?;
        let now = now_micros();
        let mut changes = Vec::new();
        if next == CycleState::Active {
            cycle.activate_time = Some(to_timestamp(now));
            changes = activate_drafts(&txn, id, now).await?;
        }
        let shown = self.save_cycle(&mut txn, &context, row, &cycle, next, now).await?;
        self.store.feed.append(&mut txn, &context, changes).await?;
        txn.commit().await?;
        Ok(shown)
    }
}

/// Makes every DRAFT objective of the cycle ACTIVE and returns their feed
/// events.
async fn activate_drafts(txn: &WriteTxn, cycle_id: &str, now: i64) -> Result<Vec<NewChange>, Error> {
    let drafts = objective::Entity::find()
        .filter(objective::Column::CycleId.eq(cycle_id))
        .filter(objective::Column::State.eq(ObjectiveState::Draft))
        .all(&**txn)
        .await?;
    objective::Entity::update_many()
        .col_expr(objective::Column::State, Expr::value(ObjectiveState::Active))
        .col_expr(objective::Column::Version, Expr::col(objective::Column::Version).add(1))
        .col_expr(objective::Column::UpdateMicros, Expr::value(now))
        .filter(objective::Column::CycleId.eq(cycle_id))
        .filter(objective::Column::State.eq(ObjectiveState::Draft))
        .exec(&**txn)
        .await?;
    let facts = CycleFacts {
        state: CycleState::Active,
        activate_micros: now,
    };
    let mut changes = Vec::with_capacity(drafts.len());
    for mut row in drafts {
        row.state = ObjectiveState::Active;
        row.version += 1;
        row.update_micros = now;
        let mut shown = objective_to_proto(&row, &[], facts)?;
        shown.set_state(objective_state_proto(ObjectiveState::Active));
        changes.push(
            NewChange::new(ChangeKind::Updated, shown.name.clone(), &shown).private_to(&row.owner_id, row.private),
        );
    }
    Ok(changes)
}
