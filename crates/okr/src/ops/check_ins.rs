//! Check-ins: recording one (or a value fed from a health metric) through
//! the group-commit writer, and reading a key result's check-ins.

use crate::{
    OkrOps,
    background::check_in_writer::{MetricValue, NewCheckIn, to_proto},
    error::Error,
    names::{is_health_metric, key_result_ids},
    store::{entity::check_in, queries::find_key_result},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use trellis_foundation::{
    FieldViolations, RequestContext,
    paging::{page_size, split_page},
    time::from_timestamp,
    validation::required,
};
use trellis_proto::okr::v1 as pb;

const MAX_NOTE: usize = 2_000;

impl OkrOps {
    pub async fn create_check_in(
        &self,
        context: RequestContext,
        request: pb::CreateCheckInRequest,
    ) -> Result<pb::CheckIn, Error> {
        let (objective_id, key_result_id) = key_result_ids(&request.parent, "parent")?;
        let input = required(request.check_in.as_ref(), "check_in")?;
        let mut violations = FieldViolations::default();
        violations.require(input.value.is_finite(), "check_in.value", "must be a finite number");
        violations.require(
            (0..=10).contains(&input.confidence),
            "check_in.confidence",
            format!("must be 0 (no chance) to 10 (certain), got {}", input.confidence),
        );
        violations.require_max_len(&input.note, MAX_NOTE, "check_in.note");
        violations.into_result()?;
        let check_in = NewCheckIn {
            objective_id: objective_id.to_owned(),
            key_result_id: key_result_id.to_owned(),
            value: input.value,
            confidence: input.confidence,
            note: input.note.clone(),
            source: String::new(),
            health_metric: None,
            measure_micros: 0,
            // A retried request returns the check-in it first recorded.
            dedupe: context.request_id.as_ref().map(|id| format!("request:{id}")),
            context,
        };
        self.check_ins.submit(check_in).await
    }

    /// A value fed from a health metric's measurement; the same
    /// measurement (metric and time) recorded twice is kept once.
    pub async fn record_metric_value(
        &self,
        context: RequestContext,
        request: pb::RecordMetricValueRequest,
    ) -> Result<pb::CheckIn, Error> {
        let parsed = key_result_ids(&request.key_result, "key_result");
        let mut violations = FieldViolations::default();
        violations.require(
            is_health_metric(&request.health_metric),
            "health_metric",
            format!("{:?} is not a healthMetrics/{{metric}} name", request.health_metric),
        );
        violations.require(request.value.is_finite(), "value", "must be a finite number");
        violations.require(request.measure_time.is_some(), "measure_time", "is required");
        violations.require_max_len(&request.source, 200, "source");
        let parsed = violations.absorb(parsed)?;
        violations.into_result()?;
        let Some((objective_id, key_result_id)) = parsed else {
            return Err(Error::Corrupt("a violation went missing".into()));
        };
        let measure_micros = request.measure_time.as_ref().map_or(0, from_timestamp);
        let value = MetricValue {
            health_metric: &request.health_metric,
            value: request.value,
            measure_micros,
            source: &request.source,
        };
        self.check_ins
            .submit(value.check_in(objective_id, key_result_id, context))
            .await
    }

    /// A key result's check-ins, newest first.
    pub async fn list_check_ins(
        &self,
        context: RequestContext,
        request: pb::ListCheckInsRequest,
    ) -> Result<pb::ListCheckInsResponse, Error> {
        let (objective_id, key_result_id) = key_result_ids(&request.parent, "parent")?;
        let size = page_size(request.page_size)?;
        let after: Option<String> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListCheckIns", &request.parent)?;
        let conn = self.store.db.conn();
        self.readable_objective(&context, conn, objective_id).await?;
        find_key_result(conn, objective_id, key_result_id).await?;
        let mut select = check_in::Entity::find()
            .filter(check_in::Column::ObjectiveId.eq(objective_id))
            .filter(check_in::Column::KeyResultId.eq(key_result_id));
        if let Some(after) = after {
            select = select.filter(check_in::Column::Id.lt(after));
        }
        let rows = select
            .order_by_desc(check_in::Column::Id)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.id.clone());
        Ok(pb::ListCheckInsResponse {
            check_ins: page.iter().map(to_proto).collect(),
            next_page_token: next
                .map(|id| self.store.page_tokens.encode("ListCheckIns", &request.parent, &id))
                .unwrap_or_default(),
        })
    }
}
