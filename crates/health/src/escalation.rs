//! The Four Square rule as a state machine: what each new measurement does
//! to a metric's escalation, and which steps the other services must carry
//! out because of it.
//!
//! The steps are recorded with the new state in one transaction and carried
//! out afterwards, each retried until done; every step is idempotent on the
//! other service's side (pausing a paused objective, creating the remedial
//! objective a second time), so a crash between steps finishes them exactly
//! once. Only the newest measurement moves the escalation: an older one
//! delivered late is history, not news.

use sea_orm::{DeriveActiveEnum, EnumIter};

use crate::thresholds::Level;

/// How far an escalation has gone. Stored in `health_metrics.stage` by its
/// API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Stage {
    /// Nothing escalated.
    #[sea_orm(string_value = "CLEAR")]
    Clear,
    /// Guarded objectives paused, a remedial objective running.
    #[sea_orm(string_value = "ESCALATED")]
    Escalated,
    /// Also: the assumptions the metric backs are broken, their strategies
    /// under review.
    #[sea_orm(string_value = "BROKEN")]
    Broken,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Clear => "CLEAR",
            Stage::Escalated => "ESCALATED",
            Stage::Broken => "BROKEN",
        }
    }
}

/// The policy on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    /// Consecutive RED measurements that open an escalation (at least 1).
    pub red_to_escalate: u32,
    /// Consecutive RED measurements more, once escalated, that break the
    /// backed assumptions (at least 1).
    pub red_to_break: u32,
}

/// One metric's escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub stage: Stage,
    /// RED measurements in a row, the newest last.
    pub consecutive_red: u32,
    /// RED measurements in a row since the escalation opened (or since the
    /// last non-RED one while escalated).
    pub red_while_escalated: u32,
}

impl Default for State {
    fn default() -> State {
        State {
            stage: Stage::Clear,
            consecutive_red: 0,
            red_while_escalated: 0,
        }
    }
}

/// Work for the other services, in the order it must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Pause the ACTIVE aspirational objectives that list the metric as a
    /// guardrail, with the reason (OKR service).
    PauseGuardedObjectives,
    /// One remedial objective for the metric's owner, its key result
    /// linked to the metric (OKR service).
    CreateRemedialObjective,
    /// The backed assumptions BROKEN, their strategies UNDER_REVIEW
    /// (strategy service).
    BreakAssumptions,
    /// The backed assumptions follow the metric's level: AT_RISK on
    /// YELLOW or RED (until broken), HOLDING on GREEN (strategy service).
    FollowAssumptions(Level),
    /// The remedial objective completed (OKR service).
    CompleteRemedialObjective,
    /// The objectives this escalation paused, resumed (OKR service).
    ResumePausedObjectives,
}

/// What the newest measurement, at `level`, does: the state after it and
/// the steps to carry out. `previous` is the level of the measurement
/// before it (`None` for the first).
pub fn on_measurement(state: State, policy: Policy, previous: Option<Level>, level: Level) -> (State, Vec<Step>) {
    let mut steps = Vec::new();
    let mut next = state;
    match level {
        Level::Red => {
            next.consecutive_red = state.consecutive_red.saturating_add(1);
            match state.stage {
                Stage::Clear if policy.enabled && next.consecutive_red >= policy.red_to_escalate.max(1) => {
                    next.stage = Stage::Escalated;
                    next.red_while_escalated = 0;
                    steps.push(Step::PauseGuardedObjectives);
                    steps.push(Step::CreateRemedialObjective);
                }
                Stage::Escalated => {
                    next.red_while_escalated = state.red_while_escalated.saturating_add(1);
                    if next.red_while_escalated >= policy.red_to_break.max(1) {
                        next.stage = Stage::Broken;
                        steps.push(Step::BreakAssumptions);
                    }
                }
                Stage::Clear | Stage::Broken => {}
            }
        }
        Level::Yellow => {
            next.consecutive_red = 0;
            next.red_while_escalated = 0;
        }
        Level::Green => {
            next = State::default();
            if state.stage != Stage::Clear {
                steps.push(Step::CompleteRemedialObjective);
                steps.push(Step::ResumePausedObjectives);
            }
        }
    }
    // A broken assumption stays broken until the metric is green again.
    if previous != Some(level) && (level == Level::Green || next.stage != Stage::Broken) {
        steps.push(Step::FollowAssumptions(level));
    }
    (next, steps)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const POLICY: Policy = Policy {
        enabled: true,
        red_to_escalate: 2,
        red_to_break: 2,
    };

    /// Feeds `levels` in order from a clear state; the final state and
    /// every step, in order.
    fn run(policy: Policy, levels: &[Level]) -> (State, Vec<Step>) {
        let mut state = State::default();
        let mut previous = None;
        let mut all = Vec::new();
        for &level in levels {
            let (next, steps) = on_measurement(state, policy, previous, level);
            state = next;
            previous = Some(level);
            all.extend(steps);
        }
        (state, all)
    }

    use Level::{Green, Red, Yellow};

    #[test]
    fn the_whiskey_club_scenario() {
        // CSAT turns red twice: escalate. Stays red twice more: broken.
        // Green again: the remedial objective completes, objectives resume.
        let (state, steps) = run(POLICY, &[Green, Red, Red, Red, Red, Green]);
        assert_eq!(state, State::default());
        assert_eq!(
            steps,
            vec![
                Step::FollowAssumptions(Green),
                Step::FollowAssumptions(Red),
                Step::PauseGuardedObjectives,
                Step::CreateRemedialObjective,
                Step::BreakAssumptions,
                Step::CompleteRemedialObjective,
                Step::ResumePausedObjectives,
                Step::FollowAssumptions(Green),
            ]
        );
    }

    #[test]
    fn a_single_red_below_the_policy_escalates_nothing() {
        let (state, steps) = run(POLICY, &[Red, Yellow, Red]);
        assert_eq!(state.stage, Stage::Clear);
        assert_eq!(state.consecutive_red, 1);
        assert_eq!(
            steps,
            vec![
                Step::FollowAssumptions(Red),
                Step::FollowAssumptions(Yellow),
                Step::FollowAssumptions(Red)
            ]
        );
    }

    #[test]
    fn yellow_while_escalated_keeps_the_remedial_objective_but_restarts_the_break_count() {
        let (state, steps) = run(POLICY, &[Red, Red, Red, Yellow, Red]);
        assert_eq!(state.stage, Stage::Escalated);
        assert_eq!(state.red_while_escalated, 1);
        assert!(!steps.contains(&Step::BreakAssumptions));
        assert!(steps.contains(&Step::FollowAssumptions(Yellow)));
    }

    #[test]
    fn a_disabled_policy_only_lets_assumptions_follow() {
        let policy = Policy {
            enabled: false,
            ..POLICY
        };
        let (state, steps) = run(policy, &[Red, Red, Red, Red, Green]);
        assert_eq!(state.stage, Stage::Clear);
        assert_eq!(
            steps,
            vec![Step::FollowAssumptions(Red), Step::FollowAssumptions(Green)]
        );
    }

    #[test]
    fn a_broken_assumption_stays_broken_until_green() {
        let (_, steps) = run(POLICY, &[Red, Red, Red, Red, Yellow, Red, Green]);
        let after_break: Vec<_> = steps
            .iter()
            .skip_while(|step| **step != Step::BreakAssumptions)
            .collect();
        assert_eq!(
            after_break,
            vec![
                &Step::BreakAssumptions,
                &Step::CompleteRemedialObjective,
                &Step::ResumePausedObjectives,
                &Step::FollowAssumptions(Green)
            ]
        );
    }

    fn level() -> impl Strategy<Value = Level> {
        prop_oneof![Just(Green), Just(Yellow), Just(Red)]
    }

    proptest! {
        /// Whatever the measurements: one remedial objective per escalation
        /// (none before the policy's reds), assumptions broken at most once
        /// per escalation and only inside one, every escalation undone by
        /// the next GREEN, and nothing left open after a GREEN.
        #[test]
        fn escalations_open_once_and_close_on_green(
            levels in proptest::collection::vec(level(), 0..60),
            red_to_escalate in 1u32..5,
            red_to_break in 1u32..5,
        ) {
            let policy = Policy { enabled: true, red_to_escalate, red_to_break };
            let mut state = State::default();
            let mut previous = None;
            let mut open = false;
            let mut broken = false;
            for &level in &levels {
                let (next, steps) = on_measurement(state, policy, previous, level);
                for step in &steps {
                    match step {
                        Step::CreateRemedialObjective => {
                            prop_assert!(!open, "a second remedial objective");
                            prop_assert!(next.consecutive_red >= red_to_escalate);
                            open = true;
                        }
                        Step::BreakAssumptions => {
                            prop_assert!(open && !broken);
                            broken = true;
                        }
                        Step::CompleteRemedialObjective => {
                            prop_assert!(open);
                            open = false;
                            broken = false;
                        }
                        _ => {}
                    }
                }
                prop_assert_eq!(open, next.stage != Stage::Clear);
                prop_assert_eq!(broken, next.stage == Stage::Broken);
                if level == Green {
                    prop_assert_eq!(next, State::default());
                }
                state = next;
                previous = Some(level);
            }
        }
    }
}
