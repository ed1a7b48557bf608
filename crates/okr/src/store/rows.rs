//! New rows for objectives and key results, shared by the single creates
//! and the season import.

use trellis_foundation::{FieldViolations, members, names::is_valid_id};
use trellis_proto::okr::v1::{self as pb, objective};

use crate::{
    lifecycle::ObjectiveState,
    names::{key_result_ids, org_unit_id},
    store::{
        codec::{key_result_snapshot, objective_snapshot},
        entity::{key_result, objective as objective_row},
    },
};

pub fn objective_row(
    id: &str,
    cycle_id: &str,
    objective: &pb::Objective,
    state: ObjectiveState,
    now: i64,
) -> objective_row::Model {
    objective_row::Model {
        id: id.to_owned(),
        cycle_id: cycle_id.to_owned(),
        owner_id: org_unit_id(&objective.owner, "").unwrap_or_default().to_owned(),
        state: state.as_str().to_owned(),
        kind: objective.kind().as_str_name().to_owned(),
        origin: match objective.origin() {
            objective::Origin::Remedial => objective::Origin::Remedial,
            _ => objective::Origin::Planned,
        }
        .as_str_name()
        .to_owned(),
        remedial_for: objective.remedial_for.clone(),
        guardrails: members::encode(&objective.guardrails),
        version: 1,
        snapshot: objective_snapshot(objective),
        create_micros: now,
        update_micros: now,
    }
}

pub fn key_result_row(objective_id: &str, id: &str, key_result: &pb::KeyResult, now: i64) -> key_result::Model {
    key_result::Model {
        objective_id: objective_id.to_owned(),
        id: id.to_owned(),
        kind: key_result.kind().as_str_name().to_owned(),
        health_metric: key_result.health_metric.clone(),
        version: 1,
        snapshot: key_result_snapshot(key_result),
        check_ins: 0,
        in_band: 0,
        current_value: 0.0,
        confidence: -1,
        last_check_in_micros: 0,
        scored: false,
        score: 0.0,
        create_micros: now,
        update_micros: now,
    }
}

/// The id of a key result given inline with its objective: its `name`
/// (a bare id or the full name under `objective_id`), or `kr{N}` by
/// position when empty.
pub fn inline_key_result_id(
    name: &str,
    objective_id: &str,
    index: usize,
    field: &str,
    violations: &mut FieldViolations,
) -> String {
    if name.is_empty() {
        return format!("kr{}", index + 1);
    }
    if is_valid_id(name) {
        return name.to_owned();
    }
    match key_result_ids(name, "") {
        Ok((parent, id)) if parent == objective_id => id.to_owned(),
        _ => {
            violations.add(
                field,
                format!("{name:?} is neither a key result id nor a key result name of this objective"),
            );
            String::new()
        }
    }
}
