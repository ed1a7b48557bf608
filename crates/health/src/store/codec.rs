//! How a metric is stored and shown: its row's columns (enums by name,
//! the encoded configuration, the newest measurement) read back as a
//! `HealthMetric`, and escalation steps' kinds as stored.

use crate::{error::Error, escalation::Step, names::metric_name};
use crate::{
    escalation::{Stage, State},
    freshness,
    freshness::{Current, Latest, Status},
    store::{entity::metric::Model, snapshot},
    thresholds::Level,
};
use trellis_foundation::{
    etag::etag_for,
    members,
    time::{from_timestamp, to_timestamp},
};
use trellis_proto::health::v1::{self as pb, escalation::Stage as PbStage};

pub fn decode_config(row: &Model) -> Result<pb::HealthMetric, Error> {
    snapshot::decode_config(&row.snapshot, &metric_name(&row.id))
}

pub fn level_from_str(text: &str) -> Option<Level> {
    match text {
        "GREEN" => Some(Level::Green),
        "YELLOW" => Some(Level::Yellow),
        "RED" => Some(Level::Red),
        _ => None,
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
        stage: row.stage,
        consecutive_red: u32::try_from(row.consecutive_red).unwrap_or(0),
        red_while_escalated: u32::try_from(row.red_while_escalated).unwrap_or(0),
    }
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
        stage: match row.stage {
            Stage::Clear => PbStage::Clear,
            Stage::Escalated => PbStage::Escalated,
            Stage::Broken => PbStage::Broken,
        } as i32,
        consecutive_red: row.consecutive_red,
        remedial_objective: row.remedial_objective.clone(),
        paused_objectives: members::decode(&row.paused_objectives),
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

pub(crate) fn step_kind(step: Step) -> &'static str {
    match step {
        Step::PauseGuardedObjectives => "PAUSE_GUARDED",
        Step::CreateRemedialObjective => "CREATE_REMEDIAL",
        Step::BreakAssumptions => "BREAK_ASSUMPTIONS",
        Step::FollowAssumptions(Level::Green) => "FOLLOW_GREEN",
        Step::FollowAssumptions(Level::Yellow) => "FOLLOW_YELLOW",
        Step::FollowAssumptions(Level::Red) => "FOLLOW_RED",
        Step::CompleteRemedialObjective => "COMPLETE_REMEDIAL",
        Step::ResumePausedObjectives => "RESUME_PAUSED",
    }
}

pub(crate) fn parse_kind(kind: &str) -> Option<Step> {
    Some(match kind {
        "PAUSE_GUARDED" => Step::PauseGuardedObjectives,
        "CREATE_REMEDIAL" => Step::CreateRemedialObjective,
        "BREAK_ASSUMPTIONS" => Step::BreakAssumptions,
        "FOLLOW_GREEN" => Step::FollowAssumptions(Level::Green),
        "FOLLOW_YELLOW" => Step::FollowAssumptions(Level::Yellow),
        "FOLLOW_RED" => Step::FollowAssumptions(Level::Red),
        "COMPLETE_REMEDIAL" => Step::CompleteRemedialObjective,
        "RESUME_PAUSED" => Step::ResumePausedObjectives,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::Level;

    #[test]
    fn every_step_kind_reads_back() {
        for step in [
            Step::PauseGuardedObjectives,
            Step::CreateRemedialObjective,
            Step::BreakAssumptions,
            Step::FollowAssumptions(Level::Green),
            Step::FollowAssumptions(Level::Yellow),
            Step::FollowAssumptions(Level::Red),
            Step::CompleteRemedialObjective,
            Step::ResumePausedObjectives,
        ] {
            assert_eq!(parse_kind(step_kind(step)), Some(step));
        }
    }
}
