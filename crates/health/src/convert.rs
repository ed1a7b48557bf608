//! A metric's fields: names, validation of what clients send, and the
//! stored row shown as a `HealthMetric`.

use prost::Message;
use trellis_foundation::{
    Error, FieldViolations,
    etag::etag_for,
    names::parse_name,
    time::{from_timestamp, to_timestamp},
};
use trellis_proto::health::v1::{self as pb, Direction, escalation::Stage as PbStage};
use trellis_rules::cadence;

use crate::{
    entity::metric::Model,
    escalation::{Policy, Stage, State},
    freshness::{self, Current, Latest, Status},
    thresholds::{Bands, Level},
};

pub const COLLECTION: &str = "healthMetrics";

const MAX_TEXT: usize = 200;
const MAX_DESCRIPTION: usize = 4_000;
const MAX_UNIT: usize = 40;
/// Consecutive RED measurements a policy may wait for, at most.
const MAX_RED_COUNT: i32 = 1_000;

pub fn metric_name(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

pub fn metric_id<'a>(name: &'a str, field: &str) -> Result<&'a str, Error> {
    parse_name(name, COLLECTION)
        .ok_or_else(|| Error::invalid(field, format!("{name:?} is not a {COLLECTION}/{{id}} name")))
}

/// The thresholds the metric's direction reads, if it has a direction.
pub fn bands(metric: &pb::HealthMetric) -> Option<Bands> {
    let thresholds = metric.thresholds.unwrap_or_default();
    match metric.direction() {
        Direction::HigherIsBetter => Some(Bands::HigherIsBetter {
            green: thresholds.green,
            red: thresholds.red,
        }),
        Direction::LowerIsBetter => Some(Bands::LowerIsBetter {
            green: thresholds.green,
            red: thresholds.red,
        }),
        Direction::Band => Some(Bands::Band {
            green_low: thresholds.green_low,
            green_high: thresholds.green_high,
            red_low: thresholds.red_low,
            red_high: thresholds.red_high,
        }),
        Direction::Unspecified => None,
    }
}

pub fn policy(metric: &pb::HealthMetric) -> Policy {
    let policy = metric.escalation_policy.unwrap_or_default();
    Policy {
        enabled: policy.enabled,
        red_to_escalate: u32::try_from(policy.red_to_escalate).unwrap_or(1).max(1),
        red_to_break: u32::try_from(policy.red_to_break).unwrap_or(1).max(1),
    }
}

pub fn cadence_micros(metric: &pb::HealthMetric) -> i64 {
    cadence::micros(metric.cadence.as_ref())
}

/// Every problem of the fields in `paths` (all of them for a create), as
/// `{prefix}field` violations.
pub fn check_fields(input: &pb::HealthMetric, paths: &[&str], prefix: &str, violations: &mut FieldViolations) {
    let field = |name: &str| format!("{prefix}{name}");
    for path in paths {
        match *path {
            "display_name" => {
                violations.require_non_empty(&input.display_name, &field("display_name"));
                violations.require_max_len(&input.display_name, MAX_TEXT, &field("display_name"));
            }
            "description" => violations.require_max_len(&input.description, MAX_DESCRIPTION, &field("description")),
            "owner" => violations.require(
                parse_name(&input.owner, "orgUnits").is_some(),
                field("owner"),
                format!("{:?} is not an orgUnits/{{id}} name", input.owner),
            ),
            "accountable" => {
                violations.require_non_empty(&input.accountable, &field("accountable"));
                violations.require_max_len(&input.accountable, MAX_TEXT, &field("accountable"));
            }
            "unit" => violations.require_max_len(&input.unit, MAX_UNIT, &field("unit")),
            "direction" | "thresholds" => check_thresholds(input, prefix, violations),
            "cadence" => check_cadence(input, &field("cadence"), violations),
            "escalation_policy" => check_policy(input, prefix, violations),
            _ => {}
        }
    }
}

fn check_thresholds(input: &pb::HealthMetric, prefix: &str, violations: &mut FieldViolations) {
    // Both paths lead here; report once.
    if violations
        .violations()
        .iter()
        .any(|(field, _)| field == &format!("{prefix}direction") || field.starts_with(&format!("{prefix}thresholds")))
    {
        return;
    }
    let Some(bands) = bands(input) else {
        violations.add(
            format!("{prefix}direction"),
            "must be HIGHER_IS_BETTER, LOWER_IS_BETTER or BAND",
        );
        return;
    };
    if input.thresholds.is_none() {
        violations.add(format!("{prefix}thresholds"), "is required");
        return;
    }
    for problem in bands.problems() {
        violations.add(format!("{prefix}thresholds.{}", problem.field), problem.description);
    }
}

fn check_cadence(input: &pb::HealthMetric, field: &str, violations: &mut FieldViolations) {
    match input.cadence {
        None => violations.add(field, "is required: how often a fresh measurement is expected"),
        Some(cadence) => violations.require(
            cadence.seconds > 0 && (0..1_000_000_000).contains(&cadence.nanos),
            field,
            "must be at least one second",
        ),
    }
}

fn check_policy(input: &pb::HealthMetric, prefix: &str, violations: &mut FieldViolations) {
    let Some(policy) = input.escalation_policy else {
        return;
    };
    if !policy.enabled {
        return;
    }
    for (name, count) in [
        ("red_to_escalate", policy.red_to_escalate),
        ("red_to_break", policy.red_to_break),
    ] {
        violations.require(
            (1..=MAX_RED_COUNT).contains(&count),
            format!("{prefix}escalation_policy.{name}"),
            format!("must be 1 to {MAX_RED_COUNT} consecutive RED measurements, got {count}"),
        );
    }
}

/// The configuration a metric is stored with: its output-only fields
/// cleared, its texts trimmed.
pub fn config(input: &pb::HealthMetric, name: &str) -> pb::HealthMetric {
    pb::HealthMetric {
        name: name.to_owned(),
        display_name: input.display_name.trim().to_owned(),
        description: input.description.clone(),
        owner: input.owner.clone(),
        accountable: input.accountable.trim().to_owned(),
        unit: input.unit.trim().to_owned(),
        direction: input.direction,
        thresholds: input.thresholds,
        cadence: input.cadence,
        escalation_policy: input.escalation_policy,
        ..pb::HealthMetric::default()
    }
}

pub fn decode_config(row: &Model) -> Result<pb::HealthMetric, Error> {
    pb::HealthMetric::decode(row.snapshot.as_slice())
        .map_err(|err| Error::Corrupt(format!("{}: undecodable snapshot: {err}", metric_name(&row.id))))
}

pub fn level_from_str(text: &str) -> Option<Level> {
    match text {
        "GREEN" => Some(Level::Green),
        "YELLOW" => Some(Level::Yellow),
        "RED" => Some(Level::Red),
        _ => None,
    }
}

pub fn stage_from_str(text: &str) -> Stage {
    match text {
        "ESCALATED" => Stage::Escalated,
        "BROKEN" => Stage::Broken,
        _ => Stage::Clear,
    }
}

pub fn status_to_proto(text: &str) -> pb::Status {
    pb::Status::from_str_name(text).unwrap_or(pb::Status::Unspecified)
}

pub fn latest(row: &Model) -> Option<Latest> {
    let level = level_from_str(&row.latest_level)?;
    (row.latest_micros > 0).then_some(Latest {
        measure_micros: row.latest_micros,
        level,
        level_since_micros: row.level_since_micros,
    })
}

/// The metric's status at `now`: its newest level while fresh, else
/// UNKNOWN (whether or not the sweep has recorded it yet).
pub fn current(row: &Model, now: i64) -> Current {
    freshness::current(latest(row), row.create_micros, row.cadence_micros, now)
}

/// When the metric goes UNKNOWN without another measurement.
pub fn expiry(row: &Model) -> i64 {
    if row.cadence_micros <= 0 {
        return i64::MAX;
    }
    let last = if row.latest_micros > 0 {
        row.latest_micros
    } else {
        row.create_micros
    };
    last.saturating_add(row.cadence_micros)
}

pub fn state(row: &Model) -> State {
    State {
        stage: stage_from_str(&row.stage),
        consecutive_red: u32::try_from(row.consecutive_red).unwrap_or(0),
        red_while_escalated: u32::try_from(row.red_while_escalated).unwrap_or(0),
    }
}

pub fn members(column: &str) -> Vec<String> {
    column
        .split('|')
        .filter(|member| !member.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn member_column(members: &[String]) -> String {
    if members.is_empty() {
        return String::new();
    }
    format!("|{}|", members.join("|"))
}

/// The stored metric as clients see it at `now`; `pending_steps` is the
/// number of its escalation steps not yet confirmed.
pub fn to_proto(row: &Model, pending_steps: usize, now: i64) -> Result<pb::HealthMetric, Error> {
    let mut metric = decode_config(row)?;
    let current = current(row, now);
    metric.name = metric_name(&row.id);
    metric.set_status(match current.status {
        Status::Level(level) => status_to_proto(level.as_str()),
        Status::Unknown => pb::Status::Unknown,
    });
    metric.status_time = Some(to_timestamp(current.since_micros));
    metric.latest = (row.latest_micros > 0).then(|| pb::Measurement {
        value: row.latest_value,
        measure_time: Some(to_timestamp(row.latest_micros)),
        source: row.latest_source.clone(),
        status: status_to_proto(&row.latest_level) as i32,
        record_time: Some(to_timestamp(row.latest_record_micros)),
    });
    metric.escalation = Some(pb::Escalation {
        stage: PbStage::from_str_name(&row.stage).unwrap_or(PbStage::Clear) as i32,
        consecutive_red: row.consecutive_red,
        remedial_objective: row.remedial_objective.clone(),
        paused_objectives: members(&row.paused_objectives),
        pending_steps: i32::try_from(pending_steps).unwrap_or(i32::MAX),
        stage_time: Some(to_timestamp(row.stage_micros)),
    });
    metric.etag = etag_for(row.version);
    metric.create_time = Some(to_timestamp(row.create_micros));
    metric.update_time = Some(to_timestamp(row.update_micros));
    Ok(metric)
}

pub fn measure_micros(measurement: &pb::Measurement) -> i64 {
    measurement.measure_time.as_ref().map_or(0, from_timestamp)
}
