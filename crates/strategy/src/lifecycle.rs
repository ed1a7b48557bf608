//! The strategy state machine: DRAFT → ACTIVE ⇄ UNDER_REVIEW → RETIRED.
//! Pure, so every move, legal or not, is tested here.

use trellis_proto::strategy::v1::{ChoiceKind, Strategy, StrategyState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Activate,
    Review,
    Retire,
}

impl Transition {
    pub fn verb(self) -> &'static str {
        match self {
            Transition::Activate => "activate",
            Transition::Review => "put under review",
            Transition::Retire => "retire",
        }
    }
}

/// The state a transition leads to, or why it is not allowed.
pub fn next_state(from: StrategyState, transition: Transition) -> Result<StrategyState, String> {
    use StrategyState::{Active, Draft, Retired, UnderReview};
    match (from, transition) {
        (Draft | UnderReview, Transition::Activate) => Ok(Active),
        (Active, Transition::Review) => Ok(UnderReview),
        (UnderReview, Transition::Retire) => Ok(Retired),
        _ => Err(format!(
            "cannot {} a strategy that is {}; allowed: DRAFT -> ACTIVE <-> UNDER_REVIEW -> RETIRED",
            transition.verb(),
            from.as_str_name()
        )),
    }
}

/// Whether the strategy's content may change in this state.
pub fn is_editable(state: StrategyState) -> bool {
    state != StrategyState::Retired
}

/// What a strategy lacks before it can become active: a challenge, a
/// winning aspiration, a horizon and at least one choice that is a choice
/// to do something.
pub fn activation_gaps(strategy: &Strategy) -> Vec<&'static str> {
    let mut gaps = Vec::new();
    if strategy.challenge.trim().is_empty() {
        gaps.push("a challenge");
    }
    if strategy.winning_aspiration.trim().is_empty() {
        gaps.push("a winning aspiration");
    }
    if strategy.horizon.is_none() {
        gaps.push("a horizon");
    }
    if !strategy
        .choices
        .iter()
        .any(|choice| choice.kind() != ChoiceKind::NotDoing)
    {
        gaps.push("at least one choice other than NOT_DOING");
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [StrategyState; 4] = [
        StrategyState::Draft,
        StrategyState::Active,
        StrategyState::UnderReview,
        StrategyState::Retired,
    ];
    const TRANSITIONS: [Transition; 3] = [Transition::Activate, Transition::Review, Transition::Retire];

    #[test]
    fn exactly_the_drawn_moves_are_legal() {
        let legal = [
            (StrategyState::Draft, Transition::Activate, StrategyState::Active),
            (StrategyState::UnderReview, Transition::Activate, StrategyState::Active),
            (StrategyState::Active, Transition::Review, StrategyState::UnderReview),
            (StrategyState::UnderReview, Transition::Retire, StrategyState::Retired),
        ];
        for from in STATES {
            for transition in TRANSITIONS {
                let expected = legal
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == transition)
                    .map(|(_, _, to)| *to);
                assert_eq!(next_state(from, transition).ok(), expected, "{from:?} {transition:?}");
            }
        }
    }

    #[test]
    fn retired_is_final_and_read_only() {
        for transition in TRANSITIONS {
            assert!(next_state(StrategyState::Retired, transition).is_err());
        }
        assert!(!is_editable(StrategyState::Retired));
        assert!(is_editable(StrategyState::UnderReview));
    }

    #[test]
    fn a_bare_draft_lacks_everything_activation_needs() {
        assert_eq!(activation_gaps(&Strategy::default()).len(), 4);
    }
}
