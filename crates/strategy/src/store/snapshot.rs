//! What the strategy rows keep in their `snapshot` columns: a revision
//! whole, as the storage message `trellis.storage.strategy.v1.Strategy`,
//! mapped field by field to and from the API's `Strategy`. A field added
//! to the API is stored only once it is mapped here, and a storage change
//! shows in `buf breaking`.

use crate::error::Error;
use prost::Message;
use trellis_proto::{storage::strategy::v1 as stored, strategy::v1 as pb};

pub fn encode_strategy(strategy: &pb::Strategy) -> Vec<u8> {
    stored::Strategy {
        name: strategy.name.clone(),
        display_name: strategy.display_name.clone(),
        challenge: strategy.challenge.clone(),
        winning_aspiration: strategy.winning_aspiration.clone(),
        horizon: strategy.horizon.map(|horizon| stored::Horizon {
            start_time: horizon.start_time,
            end_time: horizon.end_time,
        }),
        owner: strategy.owner.clone(),
        parent_choice: strategy.parent_choice.clone(),
        state: store_state(strategy.state()) as i32,
        choices: strategy.choices.iter().map(store_choice).collect(),
        assumptions: strategy.assumptions.iter().map(store_assumption).collect(),
        revision: strategy.revision,
        revision_create_time: strategy.revision_create_time,
        revision_actor: strategy.revision_actor.clone(),
        etag: strategy.etag.clone(),
        create_time: strategy.create_time,
        update_time: strategy.update_time,
        state_reason: strategy.state_reason.clone(),
    }
    .encode_to_vec()
}

/// The revision stored in `bytes`, of the strategy `id`.
pub fn decode_strategy(bytes: &[u8], id: &str) -> Result<pb::Strategy, Error> {
    let strategy = stored::Strategy::decode(bytes).map_err(|source| Error::Undecodable {
        id: id.to_owned(),
        source,
    })?;
    Ok(pb::Strategy {
        state: api_state(strategy.state()) as i32,
        choices: strategy.choices.iter().map(api_choice).collect(),
        assumptions: strategy.assumptions.iter().map(api_assumption).collect(),
        horizon: strategy.horizon.map(|horizon| pb::Horizon {
            start_time: horizon.start_time,
            end_time: horizon.end_time,
        }),
        name: strategy.name,
        display_name: strategy.display_name,
        challenge: strategy.challenge,
        winning_aspiration: strategy.winning_aspiration,
        owner: strategy.owner,
        parent_choice: strategy.parent_choice,
        revision: strategy.revision,
        revision_create_time: strategy.revision_create_time,
        revision_actor: strategy.revision_actor,
        etag: strategy.etag,
        create_time: strategy.create_time,
        update_time: strategy.update_time,
        state_reason: strategy.state_reason,
    })
}

fn store_choice(choice: &pb::Choice) -> stored::Choice {
    stored::Choice {
        name: choice.name.clone(),
        kind: store_kind(choice.kind()) as i32,
        title: choice.title.clone(),
        description: choice.description.clone(),
        etag: choice.etag.clone(),
        create_time: choice.create_time,
        update_time: choice.update_time,
    }
}

fn api_choice(choice: &stored::Choice) -> pb::Choice {
    pb::Choice {
        name: choice.name.clone(),
        kind: api_kind(choice.kind()) as i32,
        title: choice.title.clone(),
        description: choice.description.clone(),
        etag: choice.etag.clone(),
        create_time: choice.create_time,
        update_time: choice.update_time,
    }
}

fn store_assumption(assumption: &pb::Assumption) -> stored::Assumption {
    stored::Assumption {
        name: assumption.name.clone(),
        statement: assumption.statement.clone(),
        health_metric: assumption.health_metric.clone(),
        status: store_status(assumption.status()) as i32,
        status_reason: assumption.status_reason.clone(),
        etag: assumption.etag.clone(),
        create_time: assumption.create_time,
        update_time: assumption.update_time,
    }
}

fn api_assumption(assumption: &stored::Assumption) -> pb::Assumption {
    pb::Assumption {
        name: assumption.name.clone(),
        statement: assumption.statement.clone(),
        health_metric: assumption.health_metric.clone(),
        status: api_status(assumption.status()) as i32,
        status_reason: assumption.status_reason.clone(),
        etag: assumption.etag.clone(),
        create_time: assumption.create_time,
        update_time: assumption.update_time,
    }
}

trellis_foundation::enum_pair!(
    store_state,
    api_state,
    pb::StrategyState,
    stored::StrategyState,
    [Unspecified, Draft, Active, UnderReview, Retired]
);
trellis_foundation::enum_pair!(
    store_kind,
    api_kind,
    pb::ChoiceKind,
    stored::ChoiceKind,
    [
        Unspecified,
        WhereToPlay,
        HowToWin,
        Capability,
        ManagementSystem,
        NotDoing
    ]
);
trellis_foundation::enum_pair!(
    store_status,
    api_status,
    pb::AssumptionStatus,
    stored::AssumptionStatus,
    [Unspecified, Holding, AtRisk, Broken]
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    fn strategy() -> pb::Strategy {
        let at = |seconds| Some(Timestamp { seconds, nanos: 0 });
        pb::Strategy {
            name: "strategies/s".into(),
            display_name: "Win".into(),
            challenge: "c".into(),
            winning_aspiration: "w".into(),
            horizon: Some(pb::Horizon {
                start_time: at(1),
                end_time: at(2),
            }),
            owner: "orgUnits/root".into(),
            parent_choice: "strategies/p/choices/c".into(),
            state: pb::StrategyState::UnderReview as i32,
            choices: vec![pb::Choice {
                name: "strategies/s/choices/c".into(),
                kind: pb::ChoiceKind::NotDoing as i32,
                title: "t".into(),
                description: "d".into(),
                etag: "\"1\"".into(),
                create_time: at(3),
                update_time: at(4),
            }],
            assumptions: vec![pb::Assumption {
                name: "strategies/s/assumptions/a".into(),
                statement: "s".into(),
                health_metric: "healthMetrics/m".into(),
                status: pb::AssumptionStatus::AtRisk as i32,
                status_reason: "r".into(),
                etag: "\"2\"".into(),
                create_time: at(5),
                update_time: at(6),
            }],
            revision: 7,
            revision_create_time: at(8),
            revision_actor: "ana".into(),
            etag: "\"7\"".into(),
            create_time: at(9),
            update_time: at(10),
            state_reason: "why".into(),
        }
    }

    /// Revisions written before storage had a message of its own hold the
    /// API's `Strategy` whole; they must read back the same.
    #[test]
    fn revisions_written_as_the_api_message_read_back_whole() {
        assert_eq!(decode_strategy(&strategy().encode_to_vec(), "s").unwrap(), strategy());
        assert_eq!(decode_strategy(&encode_strategy(&strategy()), "s").unwrap(), strategy());
    }

    /// A revision of the first format (display name "W", state ACTIVE,
    /// revision 3): fails if a storage field is renumbered or retyped.
    #[test]
    fn a_revision_of_the_first_format_still_decodes() {
        let bytes = [0x12, 0x01, b'W', 0x40, 0x02, 0x58, 0x03];
        let strategy = decode_strategy(&bytes, "s").unwrap();
        assert_eq!(strategy.display_name, "W");
        assert_eq!(strategy.state(), pb::StrategyState::Active);
        assert_eq!(strategy.revision, 3);
    }
}
