//! Index rows of choices and assumptions, and how their enums are stored
//! (by name, so a stored row reads the same whatever the proto numbers).

use trellis_proto::strategy::v1 as pb;

use crate::{
    error::Error,
    store::entity::{assumption, choice, strategy::State},
};

/// The state column of a strategy in `state`; every stored strategy has one.
pub(crate) fn state_column(state: pb::StrategyState) -> Result<State, Error> {
    Ok(match state {
        pb::StrategyState::Draft => State::Draft,
        pb::StrategyState::Active => State::Active,
        pb::StrategyState::UnderReview => State::UnderReview,
        pb::StrategyState::Retired => State::Retired,
        pb::StrategyState::Unspecified => return Err(Error::Corrupt("a strategy without a state".to_owned())),
    })
}

pub(crate) fn choice_kind_name(choice: &pb::Choice) -> &'static str {
    choice.kind().as_str_name()
}

pub(crate) fn assumption_status_name(assumption: &pb::Assumption) -> &'static str {
    assumption.status().as_str_name()
}

pub(crate) fn choice_row(strategy_id: &str, choice: &pb::Choice) -> choice::Model {
    choice::Model {
        name: choice.name.clone(),
        strategy_id: strategy_id.to_owned(),
        id: choice.name.rsplit('/').next().unwrap_or_default().to_owned(),
        kind: choice_kind_name(choice).to_owned(),
    }
}

pub(crate) fn assumption_row(strategy_id: &str, assumption: &pb::Assumption) -> assumption::Model {
    assumption::Model {
        name: assumption.name.clone(),
        strategy_id: strategy_id.to_owned(),
        id: assumption.name.rsplit('/').next().unwrap_or_default().to_owned(),
        status: assumption_status_name(assumption).to_owned(),
        health_metric: assumption.health_metric.clone(),
    }
}
