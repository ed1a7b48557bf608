//! The checks of a batch of measurements, all made before anything is
//! written so one answer reports every problem: each entry's own fields,
//! then against each other (the same time twice with two values), the
//! stored metrics and the stored measurements.

use crate::error::Error;
use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use trellis_foundation::{
    FieldViolations, WriteTxn,
    time::{MAX_MEASUREMENT_LEAD_MICROS, TIME_RANGE, is_valid_timestamp, now_micros},
};
use trellis_proto::health::v1 as pb;

use crate::{
    names::metric_id,
    store::{
        codec::measure_micros,
        entity::{measurement, metric},
    },
};

const MAX_SOURCE: usize = 200;

/// One measurement of a request, checked.
pub(crate) struct Entry {
    /// Its field prefix in the request (`measurements[3].`, or "").
    pub prefix: String,
    pub metric_id: String,
    pub measure_micros: i64,
    pub value: f64,
    pub source: String,
}

/// What the checks leave to record.
pub(crate) struct Batch<'a> {
    /// The metrics the batch names, each once, in first-seen order.
    pub ids: Vec<String>,
    pub rows: HashMap<String, metric::Model>,
    /// The entries not stored before (nor earlier in the batch).
    pub new_entries: Vec<&'a Entry>,
    /// Entries already recorded with the same value.
    pub duplicates: i64,
}

/// Checks `checked` against each other and the stored data; the problems
/// join `violations`.
pub(crate) async fn check_batch<'a>(
    txn: &WriteTxn,
    checked: &'a [Entry],
    violations: &mut FieldViolations,
) -> Result<Batch<'a>, Error> {
    // The same measurement twice in one call is one measurement.
    let mut first_of: HashMap<(&str, i64), &Entry> = HashMap::new();
    let mut fresh: Vec<&Entry> = Vec::with_capacity(checked.len());
    let mut duplicates = 0i64;
    for entry in checked {
        match first_of.get(&(entry.metric_id.as_str(), entry.measure_micros)) {
            Some(first) if first.value == entry.value => duplicates += 1,
            Some(first) => violations.add(
                format!("{}measurement.value", entry.prefix),
                format!(
                    "{} differs from {}measurement.value ({}) at the same measure_time; measurements are not \
                     edited",
                    entry.value, first.prefix, first.value
                ),
            ),
            None => {
                first_of.insert((&entry.metric_id, entry.measure_micros), entry);
                fresh.push(entry);
            }
        }
    }
    let ids: Vec<String> = unique(fresh.iter().map(|entry| entry.metric_id.clone()));
    let rows: HashMap<String, metric::Model> = metric::Entity::find()
        .filter(metric::Column::Id.is_in(ids.iter().cloned()))
        .all(&**txn)
        .await?
        .into_iter()
        .map(|row| (row.id.clone(), row))
        .collect();
    fresh.retain(|entry| {
        let exists = rows.contains_key(&entry.metric_id);
        if !exists {
            violations.add(
                format!("{}health_metric", entry.prefix),
                format!("healthMetrics/{} does not exist", entry.metric_id),
            );
        }
        exists
    });
    let stored = stored_at(txn, &fresh).await?;
    let mut new_entries: Vec<&Entry> = Vec::with_capacity(fresh.len());
    for entry in fresh {
        match stored.get(&(entry.metric_id.clone(), entry.measure_micros)) {
            Some(value) if *value == entry.value => duplicates += 1,
            Some(value) => violations.add(
                format!("{}measurement.value", entry.prefix),
                format!(
                    "healthMetrics/{} already has {value} at this measure_time; measurements are not edited",
                    entry.metric_id
                ),
            ),
            None => new_entries.push(entry),
        }
    }
    Ok(Batch {
        ids,
        rows,
        new_entries,
        duplicates,
    })
}

fn unique(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(id.clone())).collect()
}

pub(crate) fn check_entry(
    prefix: String,
    entry: pb::batch_record_measurements_request::Entry,
    violations: &mut FieldViolations,
) -> Option<Entry> {
    let id = violations
        .absorb(metric_id(&entry.health_metric, &format!("{prefix}health_metric")))
        .ok()
        .flatten()
        .map(str::to_owned);
    let Some(measurement) = entry.measurement else {
        violations.add(format!("{prefix}measurement"), "is required");
        return None;
    };
    violations.require(
        measurement.value.is_finite(),
        format!("{prefix}measurement.value"),
        "must be a finite number",
    );
    let time_field = format!("{prefix}measurement.measure_time");
    match &measurement.measure_time {
        Some(time) if !is_valid_timestamp(time) => violations.add(time_field, TIME_RANGE),
        Some(_) if measure_micros(&measurement) > now_micros() + MAX_MEASUREMENT_LEAD_MICROS => violations.add(
            time_field,
            "is more than 400 days after the server's clock: a measurement is recorded once it was taken",
        ),
        Some(_) => {}
        None => violations.add(time_field, "is required"),
    }
    violations.require_max_len(&measurement.source, MAX_SOURCE, &format!("{prefix}measurement.source"));
    Some(Entry {
        prefix,
        metric_id: id?,
        measure_micros: measure_micros(&measurement),
        value: measurement.value,
        source: measurement.source.trim().to_owned(),
    })
}

/// The values already stored at the entries' times: one range read per
/// metric, usually empty (new measurements are newer than the stored).
async fn stored_at(txn: &WriteTxn, entries: &[&Entry]) -> Result<HashMap<(String, i64), f64>, Error> {
    let mut ranges: HashMap<&str, (i64, i64)> = HashMap::new();
    for entry in entries {
        let range = ranges
            .entry(&entry.metric_id)
            .or_insert((entry.measure_micros, entry.measure_micros));
        range.0 = range.0.min(entry.measure_micros);
        range.1 = range.1.max(entry.measure_micros);
    }
    let mut found = HashMap::new();
    let ranges: Vec<_> = ranges.into_iter().collect();
    for chunk in ranges.chunks(200) {
        let mut any = Condition::any();
        for (id, (low, high)) in chunk {
            any = any.add(
                Condition::all()
                    .add(measurement::Column::MetricId.eq(*id))
                    .add(measurement::Column::MeasureMicros.between(*low, *high)),
            );
        }
        let rows: Vec<(String, i64, f64)> = measurement::Entity::find()
            .select_only()
            .column(measurement::Column::MetricId)
            .column(measurement::Column::MeasureMicros)
            .column(measurement::Column::Value)
            .filter(any)
            .into_tuple()
            .all(&**txn)
            .await?;
        found.extend(rows.into_iter().map(|(id, micros, value)| ((id, micros), value)));
    }
    Ok(found)
}
