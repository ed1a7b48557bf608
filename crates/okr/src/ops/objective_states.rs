//! Moving objectives through their states (pause, resume, complete,
//! cancel) and the remedial objective of a red health metric: the hooks
//! the health service calls, each idempotent, so a retried escalation
//! changes nothing the second time.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use trellis_foundation::{FieldViolations, RequestContext, names::generate_id, visibility};
use trellis_proto::okr::v1::{self as pb, objective};

use crate::{
    OkrOps,
    error::Error,
    fields::{check_accountable, check_key_result, check_owner, check_title},
    lifecycle::{CycleState, CycleWork, ObjectiveMove, ObjectiveState, move_objective},
    names::{cycle_id, cycle_name, is_health_metric, objective_id, objective_name},
    store::{
        codec::CycleFacts,
        entity::remedial,
        queries::{Lock, find_objective},
    },
};

const MAX_REASON: usize = 2_000;

impl OkrOps {
    /// Moves an objective; a move to where it already is returns it as it
    /// is and writes nothing.
    pub async fn move_objective(
        &self,
        context: RequestContext,
        name: &str,
        reason: &str,
        to: ObjectiveMove,
    ) -> Result<pb::Objective, Error> {
        let id = objective_id(name, "name")?;
        let mut violations = FieldViolations::default();
        if to == ObjectiveMove::Pause {
            violations.require_non_empty(reason, "reason");
        }
        violations.require_max_len(reason, MAX_REASON, "reason");
        violations.into_result()?;
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, id, CycleWork::ChangeObjectiveState).await?;
        let from = held.row.state;
        let Some(next) = move_objective(from, to).map_err(|reason| Error::WrongState {
            name: objective_name(id),
            reason,
        })?
        else {
            return self.show_objective(&*txn, &held.row).await;
        };
        let mut updated = held.stored.clone();
        updated.state_reason = reason.trim().to_owned();
        let shown = self
            .save_objective(&mut txn, &context, held, &updated, next, Vec::new())
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    /// The remedial objective of `health_metric` in the cycle: created on
    /// the first call (ACTIVE in an ACTIVE cycle, DRAFT while PLANNING),
    /// returned as it is on every later one.
    pub async fn create_remedial_objective(
        &self,
        context: RequestContext,
        request: pb::CreateRemedialObjectiveRequest,
    ) -> Result<pb::Objective, Error> {
        let mut violations = FieldViolations::default();
        let cycle_id = violations
            .absorb(cycle_id(&request.cycle, "cycle"))?
            .unwrap_or_default()
            .to_owned();
        violations.require(
            is_health_metric(&request.health_metric),
            "health_metric",
            format!("{:?} is not a healthMetrics/{{metric}} name", request.health_metric),
        );
        check_owner(&request.owner, "owner", &mut violations);
        check_accountable(&request.accountable, "accountable", &mut violations);
        check_title(&request.title, "title", &mut violations);
        let visibility = visibility::check(request.visibility, "visibility", &mut violations);
        let key_result = match &request.key_result {
            Some(key_result) => {
                let mut key_result = check_key_result(key_result, "key_result.", &mut violations);
                if key_result.health_metric.is_empty() {
                    key_result.health_metric = request.health_metric.clone();
                }
                key_result
            }
            None => {
                violations.add("key_result", "is required: how the metric gets back to green");
                pb::KeyResult::default()
            }
        };
        violations.into_result()?;
        // A finished one belongs to an earlier escalation: the metric went
        // red again, so it gets a new remedial objective.
        let finished = match self.remedial_of(&cycle_id, &request.health_metric).await? {
            Some(existing)
                if matches!(
                    existing.state(),
                    objective::State::Completed | objective::State::Cancelled
                ) =>
            {
                Some(objective_id(&existing.name, "name")?.to_owned())
            }
            Some(existing) => return Ok(existing),
            None => None,
        };
        let conn = self.store.db.conn();
        let cycle = crate::store::queries::find_cycle(conn, &cycle_id).await?;
        let objective = pb::Objective {
            cycle: cycle_name(&cycle_id),
            owner: request.owner.clone(),
            accountable: request.accountable.trim().to_owned(),
            title: request.title.trim().to_owned(),
            kind: objective::Kind::Committed as i32,
            origin: objective::Origin::Remedial as i32,
            remedial_for: request.health_metric.clone(),
            visibility: visibility as i32,
            ..pb::Objective::default()
        };
        let mut violations = FieldViolations::default();
        self.check_references(&cycle, None, &objective, "", &mut violations)
            .await?;
        violations.into_result()?;

        let mut txn = self.store.begin_write().await?;
        let cycle = self.lock_cycle(&txn, &cycle_id, Lock::Shared).await?;
        let facts = CycleFacts::of(&cycle)?;
        let state = match facts.state {
            CycleState::Planning => ObjectiveState::Draft,
            CycleState::Active => ObjectiveState::Active,
            other => {
                return Err(Error::NoRemedialInCycle {
                    name: cycle_name(&cycle_id),
                    state: other.as_str(),
                });
            }
        };
        let readable = remedial_id(&request.health_metric, &cycle_id, finished.as_deref());
        let taken = match &readable {
            Some(id) => crate::store::entity::objective::Entity::find_by_id(id.clone())
                .one(&*txn)
                .await?
                .is_some(),
            None => true,
        };
        let id = match readable {
            Some(id) if !taken => id,
            _ => generate_id(),
        };
        let claim = match &finished {
            None => remedial::Model {
                cycle_id: cycle_id.clone(),
                health_metric: request.health_metric.clone(),
                objective_id: id.clone(),
            }
            .into_active_model()
            .insert(&*txn)
            .await
            .map(|_| true),
            // Taken over only from the finished one: a concurrent call that
            // got there first leaves nothing to update.
            Some(previous) => remedial::Entity::update_many()
                .col_expr(remedial::Column::ObjectiveId, id.clone().into())
                .filter(remedial::Column::CycleId.eq(cycle_id.clone()))
                .filter(remedial::Column::HealthMetric.eq(request.health_metric.clone()))
                .filter(remedial::Column::ObjectiveId.eq(previous.clone()))
                .exec(&*txn)
                .await
                .map(|result| result.rows_affected == 1),
        };
        match claim {
            Ok(true) => {}
            Ok(false) => {
                drop(txn);
                return self
                    .remedial_of(&cycle_id, &request.health_metric)
                    .await?
                    .ok_or_else(|| Error::Corrupt("claimed remedial objective vanished".into()));
            }
            Err(err) if trellis_foundation::Error::is_unique_violation(&err) => {
                drop(txn);
                return self
                    .remedial_of(&cycle_id, &request.health_metric)
                    .await?
                    .ok_or_else(|| Error::Corrupt("claimed remedial objective vanished".into()));
            }
            Err(err) => return Err(err.into()),
        }
        let key_results = vec![("kr1".to_owned(), key_result)];
        let shown = self
            .insert_objective(&mut txn, &context, &id, &objective, &key_results, state, facts)
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    async fn remedial_of(&self, cycle_id: &str, health_metric: &str) -> Result<Option<pb::Objective>, Error> {
        let conn = self.store.db.conn();
        let Some(claim) = remedial::Entity::find_by_id((cycle_id.to_owned(), health_metric.to_owned()))
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        let row = find_objective(conn, &claim.objective_id).await?;
        self.show_objective(conn, &row).await.map(Some)
    }
}

/// A readable id for the remedial objective of `health_metric` in the
/// cycle: `remedial-csat-2027-q1`, then `remedial-csat-2027-q1-2` for the
/// next escalation in the same cycle (after `previous`). `None` when that
/// would not be a valid id (too long).
fn remedial_id(health_metric: &str, cycle_id: &str, previous: Option<&str>) -> Option<String> {
    let metric = health_metric.strip_prefix("healthMetrics/")?;
    let base = format!("remedial-{metric}-{cycle_id}");
    let number = match previous {
        None => 1,
        Some(previous) if previous == base => 2,
        Some(previous) => previous
            .strip_prefix(&base)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|number| number.parse::<u32>().ok())
            .map_or(2, |number| number + 1),
    };
    let id = if number == 1 { base } else { format!("{base}-{number}") };
    trellis_foundation::names::is_valid_id(&id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::remedial_id;

    #[test]
    fn remedial_ids_read_as_metric_and_cycle_and_count_up() {
        assert_eq!(
            remedial_id("healthMetrics/csat", "2027-q1", None).as_deref(),
            Some("remedial-csat-2027-q1")
        );
        assert_eq!(
            remedial_id("healthMetrics/csat", "2027-q1", Some("remedial-csat-2027-q1")).as_deref(),
            Some("remedial-csat-2027-q1-2")
        );
        assert_eq!(
            remedial_id("healthMetrics/csat", "2027-q1", Some("remedial-csat-2027-q1-2")).as_deref(),
            Some("remedial-csat-2027-q1-3")
        );
        assert_eq!(
            remedial_id("healthMetrics/csat", "2027-q1", Some("x0e41db")).as_deref(),
            Some("remedial-csat-2027-q1-2")
        );
        let long = format!("healthMetrics/{}", "m".repeat(60));
        assert_eq!(remedial_id(&long, "2027-q1", None), None);
    }
}
