//! Carrying out an escalation: each recorded step, in order per metric,
//! through the OKR and strategy services' gRPC APIs. A step's row is
//! deleted only after the other service confirmed it; a failure leaves it
//! for a retry with backoff, and the metric's later steps wait behind it.
//! Every call is idempotent on the other side, so a step repeated after a
//! crash changes nothing the second time.

use crate::error::Error;
use std::collections::HashMap;

use futures::future::join_all;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, QuerySelect};
use tonic::Code;
use tracing::{Instrument, info, warn};
use trellis_foundation::{
    RequestContext, members,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    health::v1::{self as pb, Direction},
    okr::v1::{
        self as okr, CompleteObjectiveRequest, CreateRemedialObjectiveRequest, FeedMetricValuesRequest,
        ListCyclesRequest, ListObjectivesRequest, MetricValue, PauseObjectiveRequest, ResumeObjectiveRequest,
    },
    strategy::v1::{AssumptionStatus, ListAssumptionsRequest, SetAssumptionStatusRequest},
};

use crate::{
    HealthOps,
    escalation::Step,
    names::metric_name,
    ops::metrics::{change, find_metric, show_one},
    store::{
        codec::{decode_config, parse_kind},
        entity::{metric, step},
    },
    thresholds::Level,
};

/// The actor recorded on the other services' changes.
const ACTOR: &str = "trellis-health";
/// Steps read per round.
const ROUND: u64 = 1_000;
const FIRST_RETRY_MICROS: i64 = 200_000;
const LAST_RETRY_MICROS: i64 = 60_000_000;

/// How long a step waits after its `attempts`-th failure.
fn backoff(attempts: i32) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(0);
    FIRST_RETRY_MICROS
        .saturating_mul(1i64 << doublings)
        .min(LAST_RETRY_MICROS)
}

/// A peer's answer for one object, with "gone" or "not in a state this
/// move starts from" counted as done: retrying could not change it.
fn done_or_settled<T>(answer: Result<T, tonic::Status>, service: &'static str, object: &str) -> Result<(), Error> {
    match answer {
        Ok(_) => Ok(()),
        Err(status) if matches!(status.code(), Code::NotFound | Code::FailedPrecondition) => {
            info!(object, error = %status.message(), "left as it is");
            Ok(())
        }
        Err(status) => Err(Error::peer(service)(status)),
    }
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(actor) = ACTOR.parse() {
        request
            .metadata_mut()
            .insert(trellis_foundation::context::ACTOR_METADATA_KEY, actor);
    }
    request
}

/// Where the step runner stops, as if the process died right after a
/// step's calls succeeded and before it was marked done: for tests of the
/// restart.
#[derive(Debug, Clone, Default)]
pub struct FailPoint(pub Option<String>);

impl HealthOps {
    /// Runs every due step once, metrics side by side and each metric's
    /// steps in order. Returns when the earliest waiting step is due.
    pub(crate) async fn run_due_steps(&self) -> Result<Option<i64>, Error> {
        if !self.runner_lease.held() {
            return Ok(None);
        }
        let rows = step::Entity::find()
            .order_by_asc(step::Column::MetricId)
            .order_by_asc(step::Column::Seq)
            .limit(ROUND)
            .all(self.store.db.conn())
            .await?;
        let mut by_metric: HashMap<String, Vec<step::Model>> = HashMap::new();
        for row in rows {
            by_metric.entry(row.metric_id.clone()).or_default().push(row);
        }
        let outcomes = join_all(by_metric.into_values().map(|steps| self.run_metric_steps(steps))).await;
        let mut next: Option<i64> = None;
        for outcome in outcomes {
            if let Some(due) = outcome? {
                next = Some(next.map_or(due, |next| next.min(due)));
            }
        }
        Ok(next)
    }

    async fn run_metric_steps(&self, steps: Vec<step::Model>) -> Result<Option<i64>, Error> {
        for row in steps {
            // Lost or lapsing: another replica may take the steps over.
            if !self.runner_lease.held() {
                return Ok(None);
            }
            let now = now_micros();
            if row.next_micros > now {
                return Ok(Some(row.next_micros));
            }
            let Some(kind) = parse_kind(&row.kind) else {
                return Err(Error::Corrupt(format!("unknown escalation step {:?}", row.kind)));
            };
            // The step's calls continue the trace of the request that
            // called for it: one escalation is one trace across services.
            let span = tracing::info_span!(
                "escalation_step",
                otel.name = %format!("escalation {}", row.kind),
                metric = %row.metric_id,
                step = %row.kind,
            );
            trellis_foundation::trace::continue_from(&span, &row.trace_parent);
            // A step outlasting the claim is dropped before another replica
            // may start: only one runner's calls are ever in flight.
            let step = self.run_step(&row.metric_id, kind).instrument(span);
            let outcome = tokio::select! {
                outcome = step => outcome,
                () = self.runner_lease.lapsed() => {
                    warn!(metric = %row.metric_id, step = %row.kind, "the runner lease lapsed mid-step; left for the next holder");
                    return Ok(None);
                }
            };
            match outcome {
                Ok(()) => {
                    if self.fail_point.0.as_deref() == Some(row.kind.as_str()) {
                        warn!(step = %row.kind, "fail point reached: the step runner stops here");
                        self.runner_lease.abandon();
                        std::future::pending::<()>().await;
                    }
                    let txn = self.store.begin_write().await?;
                    step::Entity::delete_by_id((row.metric_id.clone(), row.seq))
                        .exec(&*txn)
                        .await?;
                    txn.commit().await?;
                }
                Err(err) => {
                    let attempts = row.attempts.saturating_add(1);
                    let next = now.saturating_add(backoff(row.attempts));
                    warn!(metric = %row.metric_id, step = %row.kind, attempts, error = %err, "escalation step failed; retrying");
                    let mut failed = row.into_active_model();
                    failed.attempts = sea_orm::Set(attempts);
                    failed.last_error = sea_orm::Set(err.to_string());
                    failed.next_micros = sea_orm::Set(next);
                    let txn = self.store.begin_write().await?;
                    failed.update(&*txn).await?;
                    txn.commit().await?;
                    return Ok(Some(next));
                }
            }
        }
        Ok(None)
    }

    async fn run_step(&self, metric_id: &str, kind: Step) -> Result<(), Error> {
        let row = find_metric(self.store.db.conn(), metric_id).await?;
        let config = decode_config(&row)?;
        let name = metric_name(metric_id);
        let label = format!("{} ({name})", config.display_name);
        match kind {
            Step::PauseGuardedObjectives => self.pause_guarded(&row, &label).await,
            Step::CreateRemedialObjective => self.create_remedial(&row, &config).await,
            Step::BreakAssumptions => {
                let reason = format!("{label} stayed RED while its remedial objective ran");
                self.set_assumptions(&name, AssumptionStatus::Broken, &reason).await
            }
            Step::FollowAssumptions(level) => {
                let status = match level {
                    Level::Green => AssumptionStatus::Holding,
                    Level::Yellow | Level::Red => AssumptionStatus::AtRisk,
                };
                let reason = format!("{label} is {}", level.as_str());
                self.set_assumptions(&name, status, &reason).await
            }
            Step::CompleteRemedialObjective => self.complete_remedial(&row, &label).await,
            Step::ResumePausedObjectives => self.resume_paused(&row, &label).await,
        }
    }

    /// Records the objectives to pause before pausing them, so a retry
    /// after a crash still resumes the ones already paused.
    async fn pause_guarded(&self, row: &metric::Model, label: &str) -> Result<(), Error> {
        let filter = format!(
            "guardrails:\"{}\" AND state = ACTIVE AND kind = ASPIRATIONAL",
            metric_name(&row.id)
        );
        let mut candidates = members::decode(&row.paused_objectives);
        for objective in self.list_objectives(&filter).await? {
            if !candidates.contains(&objective.name) {
                candidates.push(objective.name);
            }
        }
        self.set_escalation_columns(&row.id, |row| row.paused_objectives = members::encode(&candidates))
            .await?;
        let reason = format!("{label} is RED: paused by the Four Square rule until it is green again");
        for name in &candidates {
            let paused = self
                .peers
                .okr
                .clone()
                .pause_objective(request(PauseObjectiveRequest {
                    name: name.clone(),
                    reason: reason.clone(),
                }))
                .await;
            done_or_settled(paused, "okr", name)?;
        }
        Ok(())
    }

    async fn list_objectives(&self, filter: &str) -> Result<Vec<okr::Objective>, Error> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .peers
                .okr
                .clone()
                .list_objectives(request(ListObjectivesRequest {
                    page_size: 1000,
                    page_token,
                    filter: filter.to_owned(),
                }))
                .await
                .map_err(Error::peer("okr"))?
                .into_inner();
            found.extend(page.objectives);
            if page.next_page_token.is_empty() {
                return Ok(found);
            }
            page_token = page.next_page_token;
        }
    }

    async fn create_remedial(&self, row: &metric::Model, config: &pb::HealthMetric) -> Result<(), Error> {
        let cycle = self.cycle_for(&config.owner).await?;
        let thresholds = config.thresholds.unwrap_or_default();
        let target = match config.direction() {
            Direction::Band
                if (row.latest_value - thresholds.green_low).abs()
                    < (row.latest_value - thresholds.green_high).abs() =>
            {
                thresholds.green_low
            }
            Direction::Band => thresholds.green_high,
            _ => thresholds.green,
        };
        let objective = self
            .peers
            .okr
            .clone()
            .create_remedial_objective(request(CreateRemedialObjectiveRequest {
                cycle,
                health_metric: metric_name(&row.id),
                owner: config.owner.clone(),
                accountable: config.accountable.clone(),
                title: format!("Bring {} back to green", config.display_name),
                key_result: Some(okr::KeyResult {
                    title: format!("{} is green again", config.display_name),
                    kind: okr::key_result::Kind::Transition as i32,
                    start: row.latest_value,
                    target,
                    unit: config.unit.clone(),
                    weight: 1.0,
                    owner: config.accountable.clone(),
                    ..okr::KeyResult::default()
                }),
                visibility: config.visibility,
            }))
            .await
            .map_err(Error::peer("okr"))?
            .into_inner();
        // The remedial key result gets the metric's newest value at once.
        self.set_escalation_columns(&row.id, |row| {
            row.remedial_objective = objective.name;
            row.fed_micros = 0;
        })
        .await?;
        self.feed_due.notify_one();
        Ok(())
    }

    /// The ACTIVE cycle open for the owner's unit or the nearest unit
    /// above it.
    async fn cycle_for(&self, owner: &str) -> Result<String, Error> {
        let units = self
            .peers
            .org
            .clone()
            .batch_get_org_units(request(trellis_proto::cascade::v1::BatchGetOrgUnitsRequest {
                names: vec![owner.to_owned()],
                allow_missing: false,
            }))
            .await
            .map_err(Error::peer("org"))?
            .into_inner();
        let mut lineage: Vec<String> = units
            .org_units
            .into_iter()
            .next()
            .map(|unit| unit.ancestors)
            .unwrap_or_default();
        lineage.push(owner.to_owned());
        let mut cycles = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .peers
                .okr
                .clone()
                .list_cycles(request(ListCyclesRequest {
                    page_size: 1000,
                    page_token,
                    filter: "state = ACTIVE".to_owned(),
                }))
                .await
                .map_err(Error::peer("okr"))?
                .into_inner();
            cycles.extend(page.cycles);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        lineage
            .iter()
            .rev()
            .find_map(|unit| cycles.iter().find(|cycle| &cycle.org_unit == unit))
            .map(|cycle| cycle.name.clone())
            .ok_or_else(|| Error::NoActiveCycle {
                owner: owner.to_owned(),
            })
    }

    async fn set_assumptions(&self, metric: &str, status: AssumptionStatus, reason: &str) -> Result<(), Error> {
        let mut page_token = String::new();
        loop {
            let page = self
                .peers
                .strategy
                .clone()
                .list_assumptions(request(ListAssumptionsRequest {
                    parent: "strategies/-".to_owned(),
                    page_size: 1000,
                    page_token,
                    filter: format!("health_metric = \"{metric}\""),
                }))
                .await
                .map_err(Error::peer("strategy"))?
                .into_inner();
            for assumption in page.assumptions {
                let set = self
                    .peers
                    .strategy
                    .clone()
                    .set_assumption_status(request(SetAssumptionStatusRequest {
                        name: assumption.name.clone(),
                        status: status as i32,
                        reason: reason.to_owned(),
                    }))
                    .await;
                done_or_settled(set, "strategy", &assumption.name)?;
            }
            if page.next_page_token.is_empty() {
                return Ok(());
            }
            page_token = page.next_page_token;
        }
    }

    async fn complete_remedial(&self, row: &metric::Model, label: &str) -> Result<(), Error> {
        if !row.remedial_objective.is_empty() {
            // The recovery first, while the objective still takes values:
            // a completed remedial objective then shows the metric back at
            // green, not its last red reading.
            self.peers
                .okr
                .clone()
                .feed_metric_values(request(FeedMetricValuesRequest {
                    values: vec![MetricValue {
                        health_metric: metric_name(&row.id),
                        value: row.latest_value,
                        measure_time: Some(to_timestamp(row.latest_micros)),
                        source: row.latest_source.clone(),
                    }],
                }))
                .await
                .map_err(Error::peer("okr"))?;
            let completed = self
                .peers
                .okr
                .clone()
                .complete_objective(request(CompleteObjectiveRequest {
                    name: row.remedial_objective.clone(),
                    reason: format!("{label} is GREEN again"),
                }))
                .await;
            done_or_settled(completed, "okr", &row.remedial_objective)?;
        }
        self.set_escalation_columns(&row.id, |row| row.remedial_objective.clear())
            .await
    }

    async fn resume_paused(&self, row: &metric::Model, label: &str) -> Result<(), Error> {
        for name in members::decode(&row.paused_objectives) {
            let resumed = self
                .peers
                .okr
                .clone()
                .resume_objective(request(ResumeObjectiveRequest {
                    name: name.clone(),
                    reason: format!("{label} is GREEN again"),
                }))
                .await;
            done_or_settled(resumed, "okr", &name)?;
        }
        self.set_escalation_columns(&row.id, |row| row.paused_objectives.clear())
            .await
    }

    /// Changes the escalation's bookkeeping on the metric, with a feed
    /// event, in its own transaction.
    async fn set_escalation_columns(&self, id: &str, edit: impl FnOnce(&mut metric::Model)) -> Result<(), Error> {
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let mut row = find_metric(&*txn, id).await?;
        edit(&mut row);
        row.version += 1;
        row.update_micros = now_micros();
        metric::Entity::update(row.clone().into_active_model().reset_all())
            .exec(&*txn)
            .await?;
        let shown = show_one(&*txn, &row).await?;
        self.store
            .feed
            .append(
                &mut txn,
                &RequestContext::system(ACTOR),
                vec![change(ChangeKind::Updated, &shown)],
            )
            .await?;
        Ok(txn.commit().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_a_minute() {
        assert_eq!(backoff(0), FIRST_RETRY_MICROS);
        assert_eq!(backoff(1), 2 * FIRST_RETRY_MICROS);
        assert_eq!(backoff(30), LAST_RETRY_MICROS);
    }
}
