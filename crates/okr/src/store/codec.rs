//! Rows as the API shows them: names, etags, times, and the figures that
//! are computed on read (progress, staleness, scores, lock).

use trellis_foundation::{
    etag::etag_for,
    time::{from_timestamp, to_timestamp},
};
use trellis_proto::okr::v1::{self as pb, cycle, objective};
use trellis_rules::{
    cadence::{self, is_stale},
    progress::{Tally, weighted_mean},
    scoring::{Commitment, is_achieved},
};

use crate::{
    error::Error,
    fields::measure_of,
    lifecycle::{CycleState, ObjectiveState},
    names::{cycle_name, key_result_name, objective_name},
    store::{
        entity::{cycle as cycle_row, key_result, objective as objective_row},
        snapshot::{decode_cycle, decode_key_result, decode_objective},
    },
};

pub fn cycle_state_proto(state: CycleState) -> cycle::State {
    match state {
        CycleState::Planning => cycle::State::Planning,
        CycleState::Active => cycle::State::Active,
        CycleState::Review => cycle::State::Review,
        CycleState::Closed => cycle::State::Closed,
    }
}

pub fn objective_state_proto(state: ObjectiveState) -> objective::State {
    match state {
        ObjectiveState::Draft => objective::State::Draft,
        ObjectiveState::Active => objective::State::Active,
        ObjectiveState::Paused => objective::State::Paused,
        ObjectiveState::Completed => objective::State::Completed,
        ObjectiveState::Cancelled => objective::State::Cancelled,
    }
}

/// What reads of a cycle's objectives need to know of the cycle.
#[derive(Debug, Clone, Copy)]
pub struct CycleFacts {
    pub state: CycleState,
    /// When it became ACTIVE; 0 before.
    pub activate_micros: i64,
}

impl CycleFacts {
    pub fn of(row: &cycle_row::Model) -> Result<CycleFacts, Error> {
        let stored = decode_cycle(&row.snapshot)?;
        Ok(CycleFacts {
            state: row.state,
            activate_micros: stored.activate_time.as_ref().map_or(0, from_timestamp),
        })
    }
}

pub fn etag_of(row: &objective_row::Model) -> String {
    etag_for(row.version)
}

pub fn cycle_to_proto(row: &cycle_row::Model) -> Result<pb::Cycle, Error> {
    let mut cycle = decode_cycle(&row.snapshot)?;
    cycle.name = cycle_name(&row.id);
    cycle.set_state(cycle_state_proto(row.state));
    cycle.etag = etag_for(row.version);
    cycle.create_time = Some(to_timestamp(row.create_micros));
    cycle.update_time = Some(to_timestamp(row.update_micros));
    Ok(cycle)
}

pub fn tally_of(row: &key_result::Model) -> Tally {
    Tally {
        check_ins: row.check_ins,
        in_band: row.in_band,
        latest: (row.check_ins > 0).then_some(row.current_value),
    }
}

/// A key result with its progress, confidence, staleness and score.
/// Staleness counts only while the cycle is ACTIVE, from its activation.
pub fn key_result_to_proto(row: &key_result::Model, cycle: CycleFacts, now: i64) -> Result<pb::KeyResult, Error> {
    let mut key_result = decode_key_result(&row.snapshot)?;
    key_result.name = key_result_name(&row.objective_id, &row.id);
    let tally = tally_of(row);
    key_result.progress = measure_of(&key_result).map_or(0.0, |measure| tally.progress(&measure));
    key_result.current_value = row.current_value;
    key_result.confidence = (row.confidence >= 0).then_some(row.confidence);
    if row.last_check_in_micros > 0 {
        key_result.last_check_in_time = Some(to_timestamp(row.last_check_in_micros));
    }
    key_result.stale = cycle.state == CycleState::Active
        && is_stale(
            (row.last_check_in_micros > 0).then_some(row.last_check_in_micros),
            cycle.activate_micros.max(row.create_micros),
            cadence::micros(key_result.cadence.as_ref()),
            now,
        );
    key_result.score = row.scored.then_some(row.score);
    key_result.etag = etag_for(row.version);
    key_result.create_time = Some(to_timestamp(row.create_micros));
    key_result.update_time = Some(to_timestamp(row.update_micros));
    Ok(key_result)
}

/// An objective with the roll-ups of its key results (`key_results` are
/// that objective's, already shown).
pub fn objective_to_proto(
    row: &objective_row::Model,
    key_results: &[pb::KeyResult],
    cycle: CycleFacts,
) -> Result<pb::Objective, Error> {
    let mut objective = decode_objective(&row.snapshot)?;
    objective.name = objective_name(&row.id);
    objective.set_state(objective_state_proto(row.state));
    let progress: Vec<(f64, f64)> = key_results.iter().map(|kr| (kr.weight, kr.progress)).collect();
    objective.progress = weighted_mean(&progress);
    if matches!(cycle.state, CycleState::Review | CycleState::Closed) {
        let scores: Vec<(f64, f64)> = key_results
            .iter()
            .map(|kr| (kr.weight, kr.score.unwrap_or(0.0)))
            .collect();
        objective.score = weighted_mean(&scores);
        let commitment = match objective.kind() {
            objective::Kind::Aspirational => Commitment::Aspirational,
            objective::Kind::Committed | objective::Kind::Unspecified => Commitment::Committed,
        };
        objective.achieved =
            key_results.iter().any(|kr| kr.score.is_some()) && is_achieved(commitment, objective.score);
    }
    objective.locked = cycle.state.locks_structure();
    objective.etag = etag_for(row.version);
    objective.create_time = Some(to_timestamp(row.create_micros));
    objective.update_time = Some(to_timestamp(row.update_micros));
    Ok(objective)
}
