//! What rows keep in their `snapshot` columns: the storage messages of
//! `storage/trellis/storage/okr/v1`, mapped field by field to and from the
//! API's messages. A field added to the API is stored only once it is
//! mapped here, and a storage change is visible in `buf breaking`.

use crate::error::Error;
use prost::Message;
use trellis_foundation::visibility;
use trellis_proto::{
    okr::v1::{self as pb, alignment_target::Target, key_result, objective},
    storage::okr::v1::{self as stored, alignment_target::Target as StoredTarget},
};

fn decode<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, Error> {
    M::decode(bytes).map_err(|source| Error::Undecodable { what, source })
}

/// A cycle's writable fields and when it was activated.
pub fn encode_cycle(cycle: &pb::Cycle) -> Vec<u8> {
    stored::Cycle {
        display_name: cycle.display_name.clone(),
        start_time: cycle.start_time,
        end_time: cycle.end_time,
        org_unit: cycle.org_unit.clone(),
        activate_time: cycle.activate_time,
    }
    .encode_to_vec()
}

/// The stored part of a cycle; the rest comes from its row's columns.
pub fn decode_cycle(bytes: &[u8]) -> Result<pb::Cycle, Error> {
    let cycle: stored::Cycle = decode(bytes, "cycle")?;
    Ok(pb::Cycle {
        display_name: cycle.display_name,
        start_time: cycle.start_time,
        end_time: cycle.end_time,
        org_unit: cycle.org_unit,
        activate_time: cycle.activate_time,
        ..pb::Cycle::default()
    })
}

/// An objective's writable fields and state reason, without the name,
/// state, times and roll-ups its row and reads supply.
pub fn encode_objective(objective: &pb::Objective) -> Vec<u8> {
    stored::Objective {
        cycle: objective.cycle.clone(),
        owner: objective.owner.clone(),
        accountable: objective.accountable.clone(),
        title: objective.title.clone(),
        description: objective.description.clone(),
        kind: store_kind(objective.kind()) as i32,
        state_reason: objective.state_reason.clone(),
        origin: store_origin(objective.origin()) as i32,
        remedial_for: objective.remedial_for.clone(),
        guardrails: objective.guardrails.clone(),
        aligns_to: objective.aligns_to.iter().map(store_target).collect(),
        visibility: visibility::normal(objective.visibility()) as i32,
    }
    .encode_to_vec()
}

pub fn decode_objective(bytes: &[u8]) -> Result<pb::Objective, Error> {
    let objective: stored::Objective = decode(bytes, "objective")?;
    Ok(pb::Objective {
        cycle: objective.cycle.clone(),
        owner: objective.owner.clone(),
        accountable: objective.accountable.clone(),
        title: objective.title.clone(),
        description: objective.description.clone(),
        kind: api_kind(objective.kind()) as i32,
        state_reason: objective.state_reason.clone(),
        origin: api_origin(objective.origin()) as i32,
        remedial_for: objective.remedial_for.clone(),
        guardrails: objective.guardrails.clone(),
        aligns_to: objective.aligns_to.iter().map(api_target).collect(),
        visibility: visibility::from_stored(objective.visibility) as i32,
        ..pb::Objective::default()
    })
}

/// A key result's writable fields and score note, without the tally and
/// score its row's columns hold.
pub fn encode_key_result(key_result: &pb::KeyResult) -> Vec<u8> {
    stored::KeyResult {
        title: key_result.title.clone(),
        kind: store_measure(key_result.kind()) as i32,
        start: key_result.start,
        target: key_result.target,
        lower: key_result.lower,
        upper: key_result.upper,
        unit: key_result.unit.clone(),
        weight: key_result.weight,
        owner: key_result.owner.clone(),
        due_time: key_result.due_time,
        cadence: key_result.cadence,
        health_metric: key_result.health_metric.clone(),
        score_note: key_result.score_note.clone(),
    }
    .encode_to_vec()
}

pub fn decode_key_result(bytes: &[u8]) -> Result<pb::KeyResult, Error> {
    let key_result: stored::KeyResult = decode(bytes, "key result")?;
    Ok(pb::KeyResult {
        title: key_result.title.clone(),
        kind: api_measure(key_result.kind()) as i32,
        start: key_result.start,
        target: key_result.target,
        lower: key_result.lower,
        upper: key_result.upper,
        unit: key_result.unit.clone(),
        weight: key_result.weight,
        owner: key_result.owner.clone(),
        due_time: key_result.due_time,
        cadence: key_result.cadence,
        health_metric: key_result.health_metric.clone(),
        score_note: key_result.score_note,
        ..pb::KeyResult::default()
    })
}

/// A re-plan whole, with the objective as it was shown before it.
pub fn encode_replan(replan: &pb::Replan) -> Vec<u8> {
    stored::Replan {
        name: replan.name.clone(),
        reason: replan.reason.clone(),
        actor: replan.actor.clone(),
        changed_fields: replan.changed_fields.clone(),
        before: replan.before.as_ref().map(store_shown),
        create_time: replan.create_time,
    }
    .encode_to_vec()
}

pub fn decode_replan(bytes: &[u8]) -> Result<pb::Replan, Error> {
    let replan: stored::Replan = decode(bytes, "replan")?;
    Ok(pb::Replan {
        before: replan.before.as_ref().map(api_shown),
        name: replan.name,
        reason: replan.reason,
        actor: replan.actor,
        changed_fields: replan.changed_fields,
        create_time: replan.create_time,
    })
}

fn store_shown(objective: &pb::Objective) -> stored::ShownObjective {
    stored::ShownObjective {
        name: objective.name.clone(),
        cycle: objective.cycle.clone(),
        owner: objective.owner.clone(),
        accountable: objective.accountable.clone(),
        title: objective.title.clone(),
        description: objective.description.clone(),
        kind: store_kind(objective.kind()) as i32,
        state: store_state(objective.state()) as i32,
        state_reason: objective.state_reason.clone(),
        origin: store_origin(objective.origin()) as i32,
        remedial_for: objective.remedial_for.clone(),
        guardrails: objective.guardrails.clone(),
        aligns_to: objective.aligns_to.iter().map(store_target).collect(),
        progress: objective.progress,
        score: objective.score,
        achieved: objective.achieved,
        locked: objective.locked,
        etag: objective.etag.clone(),
        create_time: objective.create_time,
        update_time: objective.update_time,
        visibility: visibility::normal(objective.visibility()) as i32,
    }
}

fn api_shown(objective: &stored::ShownObjective) -> pb::Objective {
    pb::Objective {
        name: objective.name.clone(),
        cycle: objective.cycle.clone(),
        owner: objective.owner.clone(),
        accountable: objective.accountable.clone(),
        title: objective.title.clone(),
        description: objective.description.clone(),
        kind: api_kind(objective.kind()) as i32,
        state: api_state(objective.state()) as i32,
        state_reason: objective.state_reason.clone(),
        origin: api_origin(objective.origin()) as i32,
        remedial_for: objective.remedial_for.clone(),
        guardrails: objective.guardrails.clone(),
        aligns_to: objective.aligns_to.iter().map(api_target).collect(),
        progress: objective.progress,
        score: objective.score,
        achieved: objective.achieved,
        locked: objective.locked,
        etag: objective.etag.clone(),
        create_time: objective.create_time,
        update_time: objective.update_time,
        visibility: visibility::from_stored(objective.visibility) as i32,
    }
}

fn store_target(target: &pb::AlignmentTarget) -> stored::AlignmentTarget {
    stored::AlignmentTarget {
        target: target.target.as_ref().map(|target| match target {
            Target::Choice(name) => StoredTarget::Choice(name.clone()),
            Target::Objective(name) => StoredTarget::Objective(name.clone()),
            Target::KeyResult(name) => StoredTarget::KeyResult(name.clone()),
        }),
        weight: target.weight,
    }
}

fn api_target(target: &stored::AlignmentTarget) -> pb::AlignmentTarget {
    pb::AlignmentTarget {
        target: target.target.as_ref().map(|target| match target {
            StoredTarget::Choice(name) => Target::Choice(name.clone()),
            StoredTarget::Objective(name) => Target::Objective(name.clone()),
            StoredTarget::KeyResult(name) => Target::KeyResult(name.clone()),
        }),
        weight: target.weight,
    }
}

trellis_foundation::enum_pair!(
    store_kind,
    api_kind,
    objective::Kind,
    stored::ObjectiveKind,
    [Unspecified, Committed, Aspirational]
);
trellis_foundation::enum_pair!(
    store_origin,
    api_origin,
    objective::Origin,
    stored::ObjectiveOrigin,
    [Unspecified, Planned, Remedial]
);
trellis_foundation::enum_pair!(
    store_state,
    api_state,
    objective::State,
    stored::ObjectiveState,
    [Unspecified, Draft, Active, Paused, Completed, Cancelled]
);
trellis_foundation::enum_pair!(
    store_measure,
    api_measure,
    key_result::Kind,
    stored::KeyResultKind,
    [
        Unspecified,
        Baseline,
        Transition,
        Increase,
        Decrease,
        Threshold,
        Milestone
    ]
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{Duration, Timestamp};
    use trellis_proto::common::v1::Visibility;

    fn objective() -> pb::Objective {
        pb::Objective {
            cycle: "cycles/q3".into(),
            owner: "orgUnits/eng".into(),
            accountable: "ana".into(),
            title: "Ship".into(),
            description: "why".into(),
            kind: objective::Kind::Aspirational as i32,
            state_reason: "paused for a reason".into(),
            origin: objective::Origin::Remedial as i32,
            remedial_for: "healthMetrics/latency".into(),
            guardrails: vec!["healthMetrics/a".into(), "healthMetrics/b".into()],
            aligns_to: vec![
                pb::AlignmentTarget {
                    target: Some(Target::Choice("strategies/s/choices/c".into())),
                    weight: 2.0,
                },
                pb::AlignmentTarget {
                    target: Some(Target::KeyResult("objectives/o/keyResults/k".into())),
                    weight: 0.0,
                },
            ],
            visibility: Visibility::Private as i32,
            ..pb::Objective::default()
        }
    }

    /// Rows written before storage had messages of its own hold the
    /// API's message with its output-only fields cleared; they must read
    /// back the same.
    #[test]
    fn rows_written_as_the_api_message_read_back_whole() {
        let old_objective = objective().encode_to_vec();
        assert_eq!(decode_objective(&old_objective).unwrap(), objective());

        let key_result = pb::KeyResult {
            title: "p99".into(),
            kind: key_result::Kind::Threshold as i32,
            start: 1.0,
            target: 2.0,
            lower: 3.0,
            upper: 4.0,
            unit: "ms".into(),
            weight: 5.0,
            owner: "bo".into(),
            due_time: Some(Timestamp { seconds: 7, nanos: 8 }),
            cadence: Some(Duration {
                seconds: 604_800,
                nanos: 0,
            }),
            health_metric: "healthMetrics/m".into(),
            score_note: "close".into(),
            ..pb::KeyResult::default()
        };
        assert_eq!(decode_key_result(&key_result.encode_to_vec()).unwrap(), key_result);

        let cycle = pb::Cycle {
            display_name: "Q3".into(),
            start_time: Some(Timestamp { seconds: 1, nanos: 0 }),
            end_time: Some(Timestamp { seconds: 2, nanos: 0 }),
            org_unit: "orgUnits/root".into(),
            activate_time: Some(Timestamp { seconds: 3, nanos: 0 }),
            ..pb::Cycle::default()
        };
        assert_eq!(decode_cycle(&cycle.encode_to_vec()).unwrap(), cycle);

        let replan = pb::Replan {
            name: "objectives/o/replans/1".into(),
            reason: "scope".into(),
            actor: "ana".into(),
            changed_fields: vec!["owner".into()],
            before: Some(pb::Objective {
                name: "objectives/o".into(),
                state: objective::State::Active as i32,
                progress: 0.5,
                score: 0.25,
                achieved: true,
                locked: true,
                etag: "\"3\"".into(),
                create_time: Some(Timestamp { seconds: 9, nanos: 0 }),
                update_time: Some(Timestamp { seconds: 10, nanos: 0 }),
                ..objective()
            }),
            create_time: Some(Timestamp { seconds: 11, nanos: 0 }),
        };
        assert_eq!(decode_replan(&replan.encode_to_vec()).unwrap(), replan);
    }

    #[test]
    fn what_is_written_reads_back() {
        assert_eq!(decode_objective(&encode_objective(&objective())).unwrap(), objective());
    }

    /// Bytes a row held before this module existed (an objective with a
    /// title, kind ASPIRATIONAL and one weighted choice target): if a
    /// storage field is renumbered or retyped, this fails.
    #[test]
    fn a_row_of_the_first_format_still_decodes() {
        let bytes = [
            0x2a, 0x04, b'S', b'h', b'i', b'p', 0x38, 0x02, 0x6a, 0x0f, 0x0a, 0x04, b's', b'/', b'c', b'1', 0x21, 0, 0,
            0, 0, 0, 0, 0, 0x40,
        ];
        let objective = decode_objective(&bytes).unwrap();
        assert_eq!(objective.title, "Ship");
        assert_eq!(objective.kind(), objective::Kind::Aspirational);
        assert_eq!(objective.aligns_to.len(), 1);
        assert_eq!(objective.aligns_to[0].weight, 2.0);
    }
}
