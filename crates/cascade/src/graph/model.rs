//! What the graph keeps of each resource: an arena of nodes addressed by
//! `NodeId`, each with the ids it points up to (in its data) and the ids
//! that point to it (`below`), so both directions are a slice away.

use trellis_proto::{
    health::v1::Status as MetricStatus,
    okr::v1::{cycle::State as CycleState, objective},
    strategy::v1::{ChoiceKind, StrategyState},
};
use trellis_rules::progress::{Measure, Tally};

/// An index into the graph's arena; stable for the life of the graph.
pub type NodeId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    OrgUnit,
    Strategy,
    Choice,
    Cycle,
    Objective,
    KeyResult,
    HealthMetric,
}

impl Kind {
    /// The kind a resource name denotes, from its collections.
    pub fn of_name(name: &str) -> Option<Kind> {
        let segments: Vec<&str> = name.split('/').collect();
        if segments.iter().any(|segment| segment.is_empty()) {
            return None;
        }
        Some(match segments.as_slice() {
            ["orgUnits", _] => Kind::OrgUnit,
            ["strategies", _] => Kind::Strategy,
            ["strategies", _, "choices", _] => Kind::Choice,
            ["cycles", _] => Kind::Cycle,
            ["objectives", _] => Kind::Objective,
            ["objectives", _, "keyResults", _] => Kind::KeyResult,
            ["healthMetrics", _] => Kind::HealthMetric,
            _ => return None,
        })
    }
}

/// The name of the resource that `name` (a child resource) belongs to:
/// "objectives/o" for "objectives/o/keyResults/k/checkIns/c" and for
/// "objectives/o/keyResults/k", with `levels` collections dropped.
pub fn parent_name(name: &str, levels: usize) -> Option<&str> {
    let mut end = name.len();
    for _ in 0..levels * 2 {
        end = name[..end].rfind('/')?;
    }
    Some(&name[..end])
}

/// One alignment of an objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub target: NodeId,
    pub weight: f64,
    /// The edge would close a loop: kept for misalignment, never followed.
    pub looped: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgUnit {
    pub parent: Option<NodeId>,
    /// The person who leads it ("" for none): missed check-ins climb to
    /// them.
    pub lead: Box<str>,
    /// The parent would put the unit under its own subtree: not linked.
    pub parent_looped: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub state: StrategyState,
    pub owner: Option<NodeId>,
    pub parent_choice: Option<NodeId>,
    pub parent_looped: bool,
    pub choices: Vec<NodeId>,
    /// The health metrics its assumptions (what would have to be true)
    /// name: a remedial objective for one of them serves this strategy.
    pub backed_by: Vec<NodeId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub kind: ChoiceKind,
    pub strategy: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    pub state: CycleState,
    pub org_unit: Option<NodeId>,
    pub activate_micros: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub cycle: Option<NodeId>,
    pub owner: Option<NodeId>,
    pub kind: objective::Kind,
    pub state: objective::State,
    pub origin: objective::Origin,
    pub aligns_to: Vec<Edge>,
    pub guardrails: Vec<NodeId>,
    /// For a remedial objective: the metric it brings back to green. It
    /// serves that metric (and the strategies it backs) instead of an
    /// alignment of its own.
    pub remedial_for: Option<NodeId>,
    /// Why it is in its state (a pause's reason).
    pub state_reason: Box<str>,
    /// Kept up to date from the key results' own changes.
    pub key_results: Vec<NodeId>,
    /// The weighted mean of the key results' progress, kept up to date.
    pub progress: f64,
    /// Visibility PRIVATE: seen only inside the owner's reach.
    pub private: bool,
}

impl Objective {
    /// Whether it counts in roll-ups, planning and risk at all.
    pub fn counts(&self) -> bool {
        self.state != objective::State::Cancelled
    }

    pub fn edge_to(&self, target: NodeId) -> Option<&Edge> {
        self.aligns_to.iter().find(|edge| edge.target == target && !edge.looped)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyResult {
    pub objective: NodeId,
    /// The person who checks in on it.
    pub owner: Box<str>,
    pub measure: Option<Measure>,
    pub weight: f64,
    pub cadence_micros: i64,
    pub create_micros: i64,
    pub health_metric: Option<NodeId>,
    /// What the check-ins applied so far add up to.
    pub tally: Tally,
    pub confidence: Option<i32>,
    pub last_check_in_micros: Option<i64>,
}

impl KeyResult {
    pub fn progress(&self) -> f64 {
        self.measure.map_or(0.0, |measure| self.tally.progress(&measure))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthMetric {
    pub owner: Option<NodeId>,
    /// The one person accountable for it.
    pub accountable: Box<str>,
    pub status: MetricStatus,
    /// Visibility PRIVATE: seen only inside the owner's reach.
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    OrgUnit(OrgUnit),
    Strategy(Strategy),
    Choice(Choice),
    Cycle(Cycle),
    Objective(Objective),
    KeyResult(KeyResult),
    HealthMetric(HealthMetric),
}

impl Data {
    /// What a node known only by reference holds; `parent` is the
    /// resource it belongs to, for choices and key results.
    pub fn placeholder(kind: Kind, parent: NodeId) -> Data {
        match kind {
            Kind::OrgUnit => Data::OrgUnit(OrgUnit::default()),
            Kind::Strategy => Data::Strategy(Strategy {
                state: StrategyState::Unspecified,
                owner: None,
                parent_choice: None,
                parent_looped: false,
                choices: Vec::new(),
                backed_by: Vec::new(),
            }),
            Kind::Choice => Data::Choice(Choice {
                kind: ChoiceKind::Unspecified,
                strategy: parent,
            }),
            Kind::Cycle => Data::Cycle(Cycle {
                state: CycleState::Unspecified,
                org_unit: None,
                activate_micros: 0,
            }),
            Kind::Objective => Data::Objective(Objective {
                cycle: None,
                owner: None,
                kind: objective::Kind::Unspecified,
                state: objective::State::Unspecified,
                origin: objective::Origin::Unspecified,
                aligns_to: Vec::new(),
                guardrails: Vec::new(),
                remedial_for: None,
                state_reason: "".into(),
                key_results: Vec::new(),
                progress: 0.0,
                private: false,
            }),
            Kind::KeyResult => Data::KeyResult(KeyResult {
                objective: parent,
                owner: "".into(),
                measure: None,
                weight: 1.0,
                cadence_micros: 0,
                create_micros: 0,
                health_metric: None,
                tally: Tally::default(),
                confidence: None,
                last_check_in_micros: None,
            }),
            Kind::HealthMetric => Data::HealthMetric(HealthMetric {
                owner: None,
                accountable: "".into(),
                status: MetricStatus::Unspecified,
                private: false,
            }),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Data::OrgUnit(_) => Kind::OrgUnit,
            Data::Strategy(_) => Kind::Strategy,
            Data::Choice(_) => Kind::Choice,
            Data::Cycle(_) => Kind::Cycle,
            Data::Objective(_) => Kind::Objective,
            Data::KeyResult(_) => Kind::KeyResult,
            Data::HealthMetric(_) => Kind::HealthMetric,
        }
    }

    /// The nodes this one hangs below, for `below` lists and for
    /// "everything under": owners, parents, alignment targets, the cycle.
    pub fn hangs_below(&self) -> Vec<NodeId> {
        let mut above = Vec::new();
        self.hangs_below_into(&mut above);
        above
    }

    /// [`Data::hangs_below`] into `above`, emptied first: a buffer kept
    /// across nodes, where a million-node snapshot would otherwise
    /// allocate a list per node only to copy it out.
    pub fn hangs_below_into(&self, above: &mut Vec<NodeId>) {
        above.clear();
        match self {
            Data::OrgUnit(unit) => above.extend(unit.parent.filter(|_| !unit.parent_looped)),
            Data::Strategy(strategy) => {
                above.extend(strategy.owner);
                above.extend(strategy.parent_choice.filter(|_| !strategy.parent_looped));
            }
            Data::Choice(choice) => above.push(choice.strategy),
            Data::Cycle(_) => {}
            Data::Objective(objective) => {
                above.extend(objective.owner);
                above.extend(objective.cycle);
                above.extend(
                    objective
                        .aligns_to
                        .iter()
                        .filter(|edge| !edge.looped)
                        .map(|edge| edge.target),
                );
                above.extend(objective.remedial_for);
            }
            Data::KeyResult(key_result) => above.push(key_result.objective),
            Data::HealthMetric(metric) => above.extend(metric.owner),
        }
        above.sort_unstable();
        above.dedup();
    }

    /// The next steps up an alignment route: what an objective aligns to,
    /// a key result's objective, a choice's strategy, a strategy's parent
    /// choice.
    pub fn aligned_up(&self) -> Vec<(NodeId, f64)> {
        match self {
            Data::Objective(objective) => objective
                .aligns_to
                .iter()
                .filter(|edge| !edge.looped)
                .map(|edge| (edge.target, edge.weight))
                .chain(objective.remedial_for.map(|metric| (metric, 1.0)))
                .collect(),
            Data::KeyResult(key_result) => vec![(key_result.objective, key_result.weight)],
            Data::Choice(choice) => vec![(choice.strategy, 1.0)],
            Data::Strategy(strategy) => strategy
                .parent_choice
                .filter(|_| !strategy.parent_looped)
                .map(|choice| (choice, 1.0))
                .into_iter()
                .collect(),
            Data::OrgUnit(_) | Data::Cycle(_) | Data::HealthMetric(_) => Vec::new(),
        }
    }

    /// Whether the node itself is private (an objective or a metric).
    pub fn private(&self) -> bool {
        match self {
            Data::Objective(objective) => objective.private,
            Data::HealthMetric(metric) => metric.private,
            _ => false,
        }
    }

    /// The owning org unit, where the node has one.
    pub fn owner(&self) -> Option<NodeId> {
        match self {
            Data::Strategy(strategy) => strategy.owner,
            Data::Objective(objective) => objective.owner,
            Data::HealthMetric(metric) => metric.owner,
            Data::Cycle(cycle) => cycle.org_unit,
            Data::OrgUnit(_) | Data::Choice(_) | Data::KeyResult(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: Box<str>,
    pub title: Box<str>,
    /// False while the node is known only from a reference.
    pub present: bool,
    pub data: Data,
    /// The nodes that hang below this one (see [`Data::hangs_below`]).
    pub below: Vec<NodeId>,
}

impl Node {
    pub fn kind(&self) -> Kind {
        self.data.kind()
    }

    pub fn objective(&self) -> Option<&Objective> {
        match &self.data {
            Data::Objective(objective) => Some(objective),
            _ => None,
        }
    }

    pub fn key_result(&self) -> Option<&KeyResult> {
        match &self.data {
            Data::KeyResult(key_result) => Some(key_result),
            _ => None,
        }
    }

    /// The state as its service names it, for display.
    pub fn state_name(&self) -> &'static str {
        match &self.data {
            Data::OrgUnit(_) | Data::KeyResult(_) => "",
            Data::Strategy(strategy) => strategy.state.as_str_name(),
            Data::Choice(choice) => choice.kind.as_str_name(),
            Data::Cycle(cycle) => cycle.state.as_str_name(),
            Data::Objective(objective) => objective.state.as_str_name(),
            Data::HealthMetric(metric) => metric.status.as_str_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_their_kind() {
        assert_eq!(Kind::of_name("orgUnits/acme"), Some(Kind::OrgUnit));
        assert_eq!(Kind::of_name("strategies/s/choices/c"), Some(Kind::Choice));
        assert_eq!(Kind::of_name("objectives/o/keyResults/k"), Some(Kind::KeyResult));
        assert_eq!(Kind::of_name("objectives/o/keyResults/k/checkIns/c"), None);
        assert_eq!(Kind::of_name("objectives/"), None);
        assert_eq!(Kind::of_name("teams/x"), None);
    }

    #[test]
    fn parents_of_child_names() {
        assert_eq!(
            parent_name("objectives/o/keyResults/k/checkIns/c", 1),
            Some("objectives/o/keyResults/k")
        );
        assert_eq!(parent_name("objectives/o/keyResults/k", 1), Some("objectives/o"));
        assert_eq!(parent_name("strategies/s/choices/c", 1), Some("strategies/s"));
        assert_eq!(parent_name("objectives", 1), None);
    }
}
