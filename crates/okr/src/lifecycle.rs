//! The cycle and objective state machines, and what each cycle state
//! permits: objectives are drafted and aligned in PLANNING; activation
//! locks their structure (changes then need a recorded re-plan); check-ins
//! run in ACTIVE; scores are set in REVIEW; CLOSED is read-only.

/// Stored in `okr_cycles.state` by its API name.
use sea_orm::{DeriveActiveEnum, EnumIter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum CycleState {
    #[sea_orm(string_value = "PLANNING")]
    Planning,
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "REVIEW")]
    Review,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

/// What a request wants to do within a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleWork {
    /// Create objectives and key results, change their structure freely.
    Draft,
    /// Change a locked objective's structure, with a recorded reason.
    Replan,
    /// Change what is not structure: titles, descriptions, people.
    EditDetails,
    /// Record progress.
    CheckIn,
    /// Pause, resume, complete or cancel an objective.
    ChangeObjectiveState,
    /// Set a key result's score.
    Score,
}

impl CycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            CycleState::Planning => "PLANNING",
            CycleState::Active => "ACTIVE",
            CycleState::Review => "REVIEW",
            CycleState::Closed => "CLOSED",
        }
    }

    /// The next state, or why the cycle cannot move there.
    pub fn advance(self, to: CycleState) -> Result<CycleState, String> {
        let next = match self {
            CycleState::Planning => CycleState::Active,
            CycleState::Active => CycleState::Review,
            CycleState::Review => CycleState::Closed,
            CycleState::Closed => {
                return Err("the cycle is CLOSED: it no longer changes".to_owned());
            }
        };
        if to == next {
            Ok(next)
        } else {
            Err(format!(
                "the cycle is {}: it moves to {} next, not to {}",
                self.as_str(),
                next.as_str(),
                to.as_str()
            ))
        }
    }

    /// Whether objectives' structure is locked (after PLANNING).
    pub fn locks_structure(self) -> bool {
        self != CycleState::Planning
    }

    /// `Ok` when `work` is allowed in this state, else why not.
    pub fn permits(self, work: CycleWork) -> Result<(), String> {
        let allowed = match work {
            CycleWork::Draft => self == CycleState::Planning,
            CycleWork::Replan | CycleWork::CheckIn | CycleWork::ChangeObjectiveState => self == CycleState::Active,
            CycleWork::EditDetails => self != CycleState::Closed,
            CycleWork::Score => self == CycleState::Review,
        };
        if allowed {
            return Ok(());
        }
        let when = match work {
            CycleWork::Draft if self == CycleState::Active => {
                "objectives and key results are drafted while the cycle is PLANNING; to change a locked plan, \
                 use ReplanObjective with a reason"
            }
            CycleWork::Draft => "objectives are drafted and aligned while the cycle is PLANNING",
            CycleWork::Replan => "a re-plan changes a locked plan while the cycle is ACTIVE",
            CycleWork::EditDetails => "a CLOSED cycle is read-only",
            CycleWork::CheckIn => "check-ins are recorded while the cycle is ACTIVE",
            CycleWork::ChangeObjectiveState => {
                "objectives are paused, resumed, completed or cancelled while the cycle is ACTIVE"
            }
            CycleWork::Score => "key results are scored while the cycle is in REVIEW",
        };
        Err(format!("the cycle is {}: {when}", self.as_str()))
    }
}

/// Stored in `okr_objectives.state` by its API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ObjectiveState {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "PAUSED")]
    Paused,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveMove {
    /// With the cycle's activation.
    Activate,
    Pause,
    Resume,
    Complete,
    Cancel,
}

/// Where a move leads: `Ok(None)` when the objective is already there (a
/// repeated pause or resume changes nothing, so escalations can retry),
/// `Ok(Some(state))` for a change, `Err` when the move is not allowed.
pub fn move_objective(from: ObjectiveState, to: ObjectiveMove) -> Result<Option<ObjectiveState>, String> {
    use ObjectiveState::{Active, Cancelled, Completed, Draft, Paused};
    let target = match to {
        ObjectiveMove::Activate => Active,
        ObjectiveMove::Pause => Paused,
        ObjectiveMove::Resume => Active,
        ObjectiveMove::Complete => Completed,
        ObjectiveMove::Cancel => Cancelled,
    };
    let allowed = match (from, to) {
        (Paused, ObjectiveMove::Pause) | (Active, ObjectiveMove::Resume) => return Ok(None),
        (Completed, ObjectiveMove::Complete) | (Cancelled, ObjectiveMove::Cancel) => return Ok(None),
        (Draft, ObjectiveMove::Activate) => true,
        (Active, ObjectiveMove::Pause) | (Paused, ObjectiveMove::Resume) => true,
        (Active | Paused, ObjectiveMove::Complete | ObjectiveMove::Cancel) => true,
        (Draft, ObjectiveMove::Cancel) => true,
        _ => false,
    };
    if allowed {
        Ok(Some(target))
    } else {
        Err(format!("an objective that is {} cannot {}", from.as_str(), to.verb()))
    }
}

impl ObjectiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectiveState::Draft => "DRAFT",
            ObjectiveState::Active => "ACTIVE",
            ObjectiveState::Paused => "PAUSED",
            ObjectiveState::Completed => "COMPLETED",
            ObjectiveState::Cancelled => "CANCELLED",
        }
    }
}

impl ObjectiveMove {
    pub fn verb(self) -> &'static str {
        match self {
            ObjectiveMove::Activate => "be activated",
            ObjectiveMove::Pause => "be paused",
            ObjectiveMove::Resume => "be resumed",
            ObjectiveMove::Complete => "be completed",
            ObjectiveMove::Cancel => "be cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CYCLE_STATES: [CycleState; 4] = [
        CycleState::Planning,
        CycleState::Active,
        CycleState::Review,
        CycleState::Closed,
    ];

    #[test]
    fn cycles_move_one_step_forward_only() {
        for from in CYCLE_STATES {
            for to in CYCLE_STATES {
                let legal = matches!(
                    (from, to),
                    (CycleState::Planning, CycleState::Active)
                        | (CycleState::Active, CycleState::Review)
                        | (CycleState::Review, CycleState::Closed)
                );
                assert_eq!(from.advance(to).is_ok(), legal, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn each_state_permits_its_own_work() {
        use CycleWork::*;
        let table = [
            (CycleState::Planning, vec![Draft, EditDetails]),
            (
                CycleState::Active,
                vec![Replan, EditDetails, CheckIn, ChangeObjectiveState],
            ),
            (CycleState::Review, vec![EditDetails, Score]),
            (CycleState::Closed, vec![]),
        ];
        for (state, allowed) in table {
            for work in [Draft, Replan, EditDetails, CheckIn, ChangeObjectiveState, Score] {
                let permitted = state.permits(work);
                assert_eq!(permitted.is_ok(), allowed.contains(&work), "{state:?} {work:?}");
                if let Err(reason) = permitted {
                    assert!(reason.contains(state.as_str()), "{reason}");
                }
            }
        }
        assert!(!CycleState::Planning.locks_structure());
        assert!(CycleState::Active.locks_structure() && CycleState::Closed.locks_structure());
    }

    #[test]
    fn pause_and_resume_are_idempotent() {
        assert_eq!(
            move_objective(ObjectiveState::Active, ObjectiveMove::Pause),
            Ok(Some(ObjectiveState::Paused))
        );
        assert_eq!(move_objective(ObjectiveState::Paused, ObjectiveMove::Pause), Ok(None));
        assert_eq!(
            move_objective(ObjectiveState::Paused, ObjectiveMove::Resume),
            Ok(Some(ObjectiveState::Active))
        );
        assert_eq!(move_objective(ObjectiveState::Active, ObjectiveMove::Resume), Ok(None));
        assert_eq!(
            move_objective(ObjectiveState::Completed, ObjectiveMove::Complete),
            Ok(None)
        );
    }

    #[test]
    fn finished_objectives_stay_finished() {
        for from in [ObjectiveState::Completed, ObjectiveState::Cancelled] {
            for to in [ObjectiveMove::Activate, ObjectiveMove::Pause, ObjectiveMove::Resume] {
                let refused = move_objective(from, to);
                assert!(refused.is_err(), "{from:?} {to:?}");
            }
        }
        let message = move_objective(ObjectiveState::Completed, ObjectiveMove::Pause)
            .err()
            .unwrap_or_default();
        assert_eq!(message, "an objective that is COMPLETED cannot be paused");
        assert!(move_objective(ObjectiveState::Draft, ObjectiveMove::Pause).is_err());
        assert_eq!(
            move_objective(ObjectiveState::Draft, ObjectiveMove::Cancel),
            Ok(Some(ObjectiveState::Cancelled))
        );
    }
}
