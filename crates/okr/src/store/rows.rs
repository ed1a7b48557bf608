//! New rows for objectives and key results, shared by the single creates
//! and the season import.

use trellis_foundation::{members, visibility};
use trellis_proto::okr::v1::{self as pb, objective};

use crate::{
    lifecycle::ObjectiveState,
    names::org_unit_id,
    store::{
        entity::{key_result, objective as objective_row},
        snapshot::{encode_key_result, encode_objective},
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
        state,
        kind: objective.kind().as_str_name().to_owned(),
        origin: match objective.origin() {
            objective::Origin::Remedial => objective::Origin::Remedial,
            // Every objective not made by the Four Square rule was planned.
            objective::Origin::Planned | objective::Origin::Unspecified => objective::Origin::Planned,
        }
        .as_str_name()
        .to_owned(),
        remedial_for: objective.remedial_for.clone(),
        guardrails: members::encode(&objective.guardrails),
        private: visibility::is_private(objective.visibility),
        version: 1,
        snapshot: encode_objective(objective),
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
        snapshot: encode_key_result(key_result),
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
