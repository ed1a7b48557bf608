//! Recording measurements: each checked, evaluated against the metric's
//! thresholds and stored; the newest ones move the metric's status, its
//! history and its escalation, whose steps are written to the outbox in
//! the same transaction. Also the series and the history, read back.

use crate::error::Error;
use std::collections::HashMap;
use trellis_access::Permission;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect};
use trellis_foundation::{
    FieldViolations, RequestContext, WriteTxn,
    paging::{page_size, split_page},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{common::v1::ValidationPage, feed::v1::ChangeKind, health::v1 as pb};

use crate::{
    HealthOps,
    escalation::{State, Step, on_measurement},
    fields::{bands, policy},
    freshness::Status,
    names::metric_id,
    ops::{
        measurement_checks::{Batch, Entry, check_batch, check_entry},
        metrics::{change, find_metric, show},
    },
    store::{
        codec::{current, decode_config, expiry, level_from_str, state, status_to_proto, step_kind},
        entity::{measurement, metric, status_change, step},
    },
    thresholds::Level,
};

/// Measurements one call may carry.
const MAX_BATCH: usize = 10_000;
/// Rows per INSERT: 6 columns each, inside SQLite's 32,766 parameters.
const INSERT_CHUNK: usize = 4_000;

/// What happened to one metric: its row, its history, its steps.
pub(crate) struct Applied {
    pub row: metric::Model,
    pub changes: Vec<status_change::Model>,
    pub steps: Vec<step::Model>,
}

impl HealthOps {
    pub async fn record_measurement(
        &self,
        context: RequestContext,
        request: pb::RecordMeasurementRequest,
    ) -> Result<pb::RecordMeasurementsResponse, Error> {
        let entry = pb::batch_record_measurements_request::Entry {
            health_metric: request.health_metric,
            measurement: request.measurement,
        };
        self.record(context, vec![(String::new(), entry)], None).await
    }

    pub async fn batch_record_measurements(
        &self,
        context: RequestContext,
        request: pb::BatchRecordMeasurementsRequest,
    ) -> Result<pb::RecordMeasurementsResponse, Error> {
        if request.measurements.is_empty() || request.measurements.len() > MAX_BATCH {
            return Err(Error::invalid(
                "measurements",
                format!("must hold 1 to {MAX_BATCH} measurements"),
            ));
        }
        let validate_only = request.validate_only.then_some(request.validation_page);
        let entries = request
            .measurements
            .into_iter()
            .enumerate()
            .map(|(index, entry)| (format!("measurements[{index}]."), entry))
            .collect();
        self.record(context, entries, validate_only).await
    }

    /// Records `entries`; with `validate_only` (the page of the report to
    /// answer with), only checks them and answers with their problems.
    async fn record(
        &self,
        context: RequestContext,
        entries: Vec<(String, pb::batch_record_measurements_request::Entry)>,
        validate_only: Option<Option<ValidationPage>>,
    ) -> Result<pb::RecordMeasurementsResponse, Error> {
        let mut violations = FieldViolations::default();
        let mut checked = Vec::with_capacity(entries.len());
        for (prefix, entry) in entries {
            if let Some(entry) = check_entry(prefix, entry, &mut violations) {
                checked.push(entry);
            }
        }
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let Batch {
            ids,
            rows,
            new_entries,
            duplicates,
        } = check_batch(&txn, &checked, &mut violations).await?;
        for row in rows.values() {
            self.may(&context, Permission::CheckIn, row).await?;
        }
        if let Some(page) = validate_only {
            let report = violations.into_report(page.as_ref(), &self.store.page_tokens, "BatchRecordMeasurements")?;
            return Ok(pb::RecordMeasurementsResponse {
                validation: Some(report),
                ..pb::RecordMeasurementsResponse::default()
            });
        }
        violations.into_result()?;

        let now = now_micros();
        let mut by_metric: HashMap<&str, Vec<(&Entry, Level)>> = HashMap::new();
        let mut levels = HashMap::new();
        for (id, row) in &rows {
            let config = decode_config(row)?;
            let bands = bands(&config).ok_or_else(|| Error::Corrupt(format!("healthMetrics/{id} has no direction")))?;
            levels.insert(id.as_str(), (bands, policy(&config)));
        }
        let mut models = Vec::with_capacity(new_entries.len());
        for entry in &new_entries {
            let (bands, _) = levels[entry.metric_id.as_str()];
            let level = bands.level(entry.value);
            by_metric.entry(&entry.metric_id).or_default().push((entry, level));
            models.push(measurement::Model {
                metric_id: entry.metric_id.clone(),
                measure_micros: entry.measure_micros,
                value: entry.value,
                source: entry.source.clone(),
                level: level.as_str().to_owned(),
                record_micros: now,
            });
        }
        insert_chunked(&txn, models).await?;

        let trace_parent = trellis_foundation::trace::current_traceparent();
        let mut touched = Vec::with_capacity(by_metric.len());
        let mut steps_recorded = false;
        let mut moved = false;
        for id in &ids {
            let Some(mut arrived) = by_metric.remove(id.as_str()) else {
                continue;
            };
            let row = rows[id].clone();
            let (_, policy) = levels[id.as_str()];
            arrived.sort_by_key(|(entry, _)| entry.measure_micros);
            moved |= arrived
                .last()
                .is_some_and(|(entry, _)| entry.measure_micros > row.latest_micros);
            let applied = apply(row, policy, &arrived, now, &trace_parent);
            steps_recorded |= !applied.steps.is_empty();
            save(&txn, &applied).await?;
            touched.push(applied.row);
        }
        let shown = show(&*txn, &touched).await?;
        let changes = shown.iter().map(|metric| change(ChangeKind::Updated, metric)).collect();
        self.store.feed.append(&mut txn, &context, changes).await?;
        txn.commit().await?;
        if steps_recorded {
            self.steps_due.notify_one();
        }
        if moved {
            self.feed_due.notify_one();
        }
        Ok(pb::RecordMeasurementsResponse {
            recorded: i64::try_from(new_entries.len()).unwrap_or(i64::MAX),
            duplicates,
            health_metrics: shown,
            validation: None,
        })
    }

    /// Newest first.
    pub async fn list_measurements(
        &self,
        context: RequestContext,
        request: pb::ListMeasurementsRequest,
    ) -> Result<pb::ListMeasurementsResponse, Error> {
        let id = metric_id(&request.health_metric, "health_metric")?;
        let size = page_size(request.page_size)?;
        let after: Option<i64> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListMeasurements", &request.health_metric)?;
        let conn = self.store.db.conn();
        self.readable(&context, &find_metric(conn, id).await?).await?;
        let mut select = measurement::Entity::find().filter(measurement::Column::MetricId.eq(id));
        if let Some(after) = after {
            select = select.filter(measurement::Column::MeasureMicros.lt(after));
        }
        let rows = select
            .order_by_desc(measurement::Column::MeasureMicros)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.measure_micros);
        Ok(pb::ListMeasurementsResponse {
            measurements: page
                .iter()
                .map(|row| pb::Measurement {
                    value: row.value,
                    measure_time: Some(to_timestamp(row.measure_micros)),
                    source: row.source.clone(),
                    status: status_to_proto(&row.level) as i32,
                    record_time: Some(to_timestamp(row.record_micros)),
                })
                .collect(),
            next_page_token: next
                .map(|position| {
                    self.store
                        .page_tokens
                        .encode("ListMeasurements", &request.health_metric, &position)
                })
                .unwrap_or_default(),
        })
    }

    /// Newest first, each with how long it lasted (the current one: unset).
    pub async fn list_status_changes(
        &self,
        context: RequestContext,
        request: pb::ListStatusChangesRequest,
    ) -> Result<pb::ListStatusChangesResponse, Error> {
        let id = metric_id(&request.health_metric, "health_metric")?;
        let size = page_size(request.page_size)?;
        let after: Option<i64> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListStatusChanges", &request.health_metric)?;
        let conn = self.store.db.conn();
        let row = find_metric(conn, id).await?;
        self.readable(&context, &row).await?;
        let mut select = status_change::Entity::find().filter(status_change::Column::MetricId.eq(id));
        if let Some(after) = after {
            select = select.filter(status_change::Column::ChangeMicros.lt(after));
        }
        let rows = select
            .order_by_desc(status_change::Column::ChangeMicros)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.change_micros);
        let mut status_changes = Vec::with_capacity(page.len() + 1);
        // UNKNOWN that the sweep has not recorded yet is history already.
        let now = now_micros();
        let live = current(&row, now);
        let mut ended = after;
        if after.is_none() && live.status.as_str() != row.status {
            status_changes.push(pb::StatusChange {
                status: status_to_proto(live.status.as_str()) as i32,
                previous: status_to_proto(&row.status) as i32,
                change_time: Some(to_timestamp(live.since_micros)),
                duration: None,
            });
            ended = Some(live.since_micros);
        }
        for change in &page {
            status_changes.push(pb::StatusChange {
                status: status_to_proto(&change.status) as i32,
                previous: status_to_proto(&change.previous) as i32,
                change_time: Some(to_timestamp(change.change_micros)),
                duration: ended.map(|end| duration(end.saturating_sub(change.change_micros))),
            });
            ended = Some(change.change_micros);
        }
        Ok(pb::ListStatusChangesResponse {
            status_changes,
            next_page_token: next
                .map(|position| {
                    self.store
                        .page_tokens
                        .encode("ListStatusChanges", &request.health_metric, &position)
                })
                .unwrap_or_default(),
        })
    }
}

fn duration(micros: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

async fn insert_chunked(txn: &WriteTxn, models: Vec<measurement::Model>) -> Result<(), Error> {
    let mut rows = models.into_iter().map(IntoActiveModel::into_active_model).peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        measurement::Entity::insert_many(chunk)
            .exec_without_returning(&**txn)
            .await?;
    }
    Ok(())
}

/// A metric's new measurements (in time order) applied to its row: the
/// newer ones move its latest measurement, status and escalation; older
/// ones are history only. `now` decides freshness.
fn apply(
    mut row: metric::Model,
    policy: crate::escalation::Policy,
    arrived: &[(&Entry, Level)],
    now: i64,
    trace_parent: &str,
) -> Applied {
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    let mut escalation: State = state(&row);
    for (entry, level) in arrived {
        if entry.measure_micros <= row.latest_micros {
            continue;
        }
        let previous = level_from_str(&row.latest_level);
        let (next, new_steps) = on_measurement(escalation, policy, previous, *level);
        if next.stage != escalation.stage {
            row.stage = next.stage;
            row.stage_micros = now;
        }
        escalation = next;
        for new_step in new_steps {
            row.last_step += 1;
            steps.push(step_row(&row.id, row.last_step, new_step, now, trace_parent));
        }
        if previous != Some(*level) {
            row.level_since_micros = entry.measure_micros;
        }
        row.latest_micros = entry.measure_micros;
        row.latest_value = entry.value;
        row.latest_level = level.as_str().to_owned();
        row.latest_source.clone_from(&entry.source);
        row.latest_record_micros = now;
        record_status(&mut row, &mut changes, Status::Level(*level), entry.measure_micros);
    }
    row.consecutive_red = i32::try_from(escalation.consecutive_red).unwrap_or(i32::MAX);
    row.red_while_escalated = i32::try_from(escalation.red_while_escalated).unwrap_or(i32::MAX);
    // Measurements that arrive already older than the cadence leave the
    // metric UNKNOWN from when their cadence ran out.
    let live = current(&row, now);
    record_status(&mut row, &mut changes, live.status, live.since_micros);
    row.expire_micros = expiry(&row);
    row.update_micros = now;
    Applied { row, changes, steps }
}

/// Records `status` from `at` in the history if it is not the recorded
/// one; history times strictly increase per metric.
pub(crate) fn record_status(row: &mut metric::Model, changes: &mut Vec<status_change::Model>, status: Status, at: i64) {
    if status.as_str() == row.status {
        return;
    }
    let at = at.max(row.status_micros.saturating_add(1));
    changes.push(status_change::Model {
        metric_id: row.id.clone(),
        change_micros: at,
        status: status.as_str().to_owned(),
        previous: row.status.clone(),
    });
    row.status = status.as_str().to_owned();
    row.status_micros = at;
}

fn step_row(metric_id: &str, seq: i64, step: Step, now: i64, trace_parent: &str) -> step::Model {
    step::Model {
        metric_id: metric_id.to_owned(),
        seq,
        kind: step_kind(step).to_owned(),
        attempts: 0,
        last_error: String::new(),
        next_micros: now,
        create_micros: now,
        trace_parent: trace_parent.to_owned(),
    }
}

/// Writes what [`apply`] decided: the row, its history and its steps.
pub(crate) async fn save(txn: &WriteTxn, applied: &Applied) -> Result<(), Error> {
    metric::Entity::update(applied.row.clone().into_active_model().reset_all())
        .exec(&**txn)
        .await?;
    if !applied.changes.is_empty() {
        status_change::Entity::insert_many(applied.changes.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(&**txn)
            .await?;
    }
    if !applied.steps.is_empty() {
        step::Entity::insert_many(applied.steps.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(&**txn)
            .await?;
    }
    Ok(())
}
