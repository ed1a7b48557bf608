//! Rows shown as clients see them: an org unit's as the `OrgUnit`, a
//! conversation's (with its escalations) as the `Conversation`.

use trellis_foundation::{etag::etag_for, time::to_timestamp};
use trellis_proto::cascade::v1 as pb;

use crate::{
    names::unit_name,
    store::{
        conversations::{CLOSED, COLOUR_CHANGED, MISSED_CHECK_IN, OPEN},
        entity::{conversation, escalation, org_unit::Model},
    },
};

pub fn to_proto(unit: &Model) -> pb::OrgUnit {
    pb::OrgUnit {
        name: unit_name(&unit.id),
        parent: if unit.parent_id.is_empty() {
            String::new()
        } else {
            unit_name(&unit.parent_id)
        },
        display_name: unit.display_name.clone(),
        kind: unit.kind.clone(),
        description: unit.description.clone(),
        lead: unit.lead.clone(),
        depth: unit.depth,
        etag: etag_for(unit.version),
        create_time: Some(to_timestamp(unit.create_micros)),
        update_time: Some(to_timestamp(unit.update_micros)),
        ancestors: unit.ancestor_ids().into_iter().map(unit_name).collect(),
    }
}

fn colour(name: &str) -> i32 {
    pb::Colour::from_str_name(name).unwrap_or(pb::Colour::Unspecified) as i32
}

fn time_or_none(micros: i64) -> Option<prost_types::Timestamp> {
    (micros > 0).then(|| to_timestamp(micros))
}

pub fn conversation_to_proto(row: &conversation::Model, steps: &[&escalation::Model]) -> pb::Conversation {
    use pb::conversation::{Reason, State};
    let missed = row.reason == MISSED_CHECK_IN;
    pb::Conversation {
        name: format!("{}/{}", crate::ops::conversations::COLLECTION, row.id),
        reason: match row.reason.as_str() {
            COLOUR_CHANGED => Reason::ColourChanged,
            MISSED_CHECK_IN => Reason::MissedCheckIn,
            _ => Reason::Unspecified,
        } as i32,
        subject: row.subject.clone(),
        subject_title: row.subject_title.clone(),
        org_unit: row.org_unit.clone(),
        person: row.person.clone(),
        from_colour: colour(&row.from_colour),
        to_colour: colour(&row.to_colour),
        moves: row.moves,
        detail: row.detail.clone(),
        state: match row.state.as_str() {
            OPEN => State::Open,
            CLOSED => State::Closed,
            _ => State::Unspecified,
        } as i32,
        open_time: time_or_none(row.open_micros),
        move_time: if missed { None } else { time_or_none(row.move_micros) },
        lapse_start_time: if missed { time_or_none(row.open_key) } else { None },
        escalations: steps
            .iter()
            .map(|step| pb::Escalation {
                step: pb::escalation::Step::from_str_name(&step.step).unwrap_or(pb::escalation::Step::Unspecified)
                    as i32,
                person: step.person.clone(),
                org_unit: step.org_unit.clone(),
                create_time: time_or_none(step.create_micros),
            })
            .collect(),
        note: row.note.clone(),
        closed_by: row.closed_by.clone(),
        close_time: time_or_none(row.close_micros),
    }
}
