//! KPIs as key results: the health service feeds each metric's newest
//! value here once per round, and every key result linked to the metric
//! gets it as a check-in (through the same group-commit writer as manual
//! check-ins, so the same measurement is kept once per key result).

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use trellis_foundation::{FieldViolations, RequestContext, time::from_timestamp};
use trellis_proto::okr::v1 as pb;

use crate::{
    OkrOps, background::check_in_writer::MetricValue, error::Error, names::is_health_metric, store::entity::key_result,
};

/// Values one call may carry.
const MAX_VALUES: usize = 1_000;

impl OkrOps {
    pub async fn feed_metric_values(
        &self,
        context: RequestContext,
        request: pb::FeedMetricValuesRequest,
    ) -> Result<pb::FeedMetricValuesResponse, Error> {
        let mut violations = FieldViolations::default();
        violations.require(
            request.values.len() <= MAX_VALUES,
            "values",
            format!("at most {MAX_VALUES} per call, got {}", request.values.len()),
        );
        let mut seen = HashSet::new();
        for (index, value) in request.values.iter().enumerate() {
            let field = |name: &str| format!("values[{index}].{name}");
            violations.require(
                is_health_metric(&value.health_metric),
                field("health_metric"),
                format!("{:?} is not a healthMetrics/{{metric}} name", value.health_metric),
            );
            violations.require(
                seen.insert(value.health_metric.as_str()),
                field("health_metric"),
                "repeats a metric of this call",
            );
            violations.require(value.value.is_finite(), field("value"), "must be a finite number");
            violations.require(value.measure_time.is_some(), field("measure_time"), "is required");
            violations.require_max_len(&value.source, 200, &field("source"));
        }
        violations.into_result()?;
        if request.values.is_empty() {
            return Ok(pb::FeedMetricValuesResponse::default());
        }

        let metrics: Vec<String> = request.values.iter().map(|value| value.health_metric.clone()).collect();
        // The literal `<> ''` lets SQLite use the partial index of linked
        // key results.
        let linked: Vec<(String, String, String)> = key_result::Entity::find()
            .select_only()
            .column(key_result::Column::ObjectiveId)
            .column(key_result::Column::Id)
            .column(key_result::Column::HealthMetric)
            .filter(key_result::Column::HealthMetric.ne(""))
            .filter(key_result::Column::HealthMetric.is_in(metrics))
            .into_tuple()
            .all(self.store.db.conn())
            .await?;
        let by_metric: HashMap<&str, &pb::MetricValue> = request
            .values
            .iter()
            .map(|value| (value.health_metric.as_str(), value))
            .collect();
        let submissions = linked.iter().filter_map(|(objective_id, key_result_id, metric)| {
            let value = by_metric.get(metric.as_str())?;
            let fed = MetricValue {
                health_metric: &value.health_metric,
                value: value.value,
                measure_micros: value.measure_time.as_ref().map_or(0, from_timestamp),
                source: &value.source,
            };
            Some(
                self.check_ins
                    .submit(fed.check_in(objective_id, key_result_id, context.clone())),
            )
        });
        let mut response = pb::FeedMetricValuesResponse::default();
        for outcome in join_all(submissions).await {
            match outcome {
                Ok(check_in) => response.check_ins.push(check_in),
                // Paused, completed, not yet active, or deleted since the
                // lookup: nothing to feed now.
                Err(err) => match trellis_foundation::Error::from(err) {
                    trellis_foundation::Error::FailedPrecondition(_) | trellis_foundation::Error::NotFound(_) => {
                        response.skipped += 1;
                    }
                    other => return Err(other.into()),
                },
            }
        }
        Ok(response)
    }
}
