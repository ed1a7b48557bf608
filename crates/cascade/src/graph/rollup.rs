//! Weighted progress roll-ups along the graph. Objectives count with their
//! own progress (the weighted mean of their key results, kept up to date
//! as check-ins arrive); CANCELLED objectives do not count, and neither
//! does anything the asker's [`Sight`] does not see.

use trellis_proto::strategy::v1::ChoiceKind;
use trellis_rules::progress::weighted_mean;

use super::{Data, Graph, NodeId, Objective, Sight};

/// Deeper strategy nesting than this is not followed (loops are cut when
/// applied; this only bounds the work).
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rolled {
    /// None when nothing contributes.
    pub value: Option<f64>,
    /// Direct contributors that counted.
    pub contributors: u32,
    /// Objectives counted anywhere below.
    pub objectives: u32,
}

impl Graph {
    /// Whether an objective counts in a roll-up over `cycle` (any when None).
    pub fn counts_in(objective: &Objective, cycle: Option<NodeId>) -> bool {
        objective.counts() && cycle.is_none_or(|cycle| objective.cycle == Some(cycle))
    }

    /// The roll-up of any node (see `trellis.cascade.v1.Rollup`).
    pub fn rollup(&self, id: NodeId, cycle: Option<NodeId>, sight: Sight) -> Rolled {
        match &self.node(id).data {
            Data::OrgUnit(_) => self.org_rollup(id, cycle, sight),
            Data::Choice(_) => self.choice_rollup(id, cycle, 0, sight),
            Data::Strategy(_) => self.strategy_rollup(id, cycle, 0, sight),
            Data::Objective(_) | Data::KeyResult(_) => self.aligned_rollup(id, cycle, sight),
            Data::Cycle(_) | Data::HealthMetric(_) => Rolled::default(),
        }
    }

    /// The objectives aligned directly to `target`, counted in `cycle`,
    /// with the weight of their edge to it.
    fn aligned_objectives(
        &self,
        target: NodeId,
        cycle: Option<NodeId>,
        sight: Sight,
    ) -> impl Iterator<Item = (NodeId, f64, f64)> {
        self.node(target).below.iter().filter_map(move |id| {
            let node = self.node(*id);
            let objective = node
                .objective()
                .filter(|objective| node.present && Graph::counts_in(objective, cycle) && sight.sees(*id))?;
            let edge = objective.edge_to(target)?;
            Some((*id, edge.weight, objective.progress))
        })
    }

    /// The strategies nested under a choice.
    fn nested_strategies(&self, choice: NodeId, sight: Sight) -> impl Iterator<Item = NodeId> {
        self.node(choice).below.iter().copied().filter(move |id| {
            let node = self.node(*id);
            node.present
                && sight.sees(*id)
                && matches!(&node.data, Data::Strategy(strategy)
                    if strategy.parent_choice == Some(choice) && !strategy.parent_looped)
        })
    }

    /// The choices of a strategy that can be served (not NOT_DOING).
    pub fn served_choices(&self, strategy: NodeId, sight: Sight) -> Vec<NodeId> {
        let Data::Strategy(data) = &self.node(strategy).data else {
            return Vec::new();
        };
        data.choices
            .iter()
            .copied()
            .filter(|choice| {
                let node = self.node(*choice);
                node.present
                    && sight.sees(*choice)
                    && matches!(&node.data, Data::Choice(choice) if choice.kind != ChoiceKind::NotDoing)
            })
            .collect()
    }

    fn aligned_rollup(&self, target: NodeId, cycle: Option<NodeId>, sight: Sight) -> Rolled {
        let pairs: Vec<(f64, f64)> = self
            .aligned_objectives(target, cycle, sight)
            .map(|(_, weight, progress)| (weight, progress))
            .collect();
        let count = pairs.len() as u32;
        Rolled {
            value: (!pairs.is_empty()).then(|| weighted_mean(&pairs)),
            contributors: count,
            objectives: count,
        }
    }

    fn choice_rollup(&self, choice: NodeId, cycle: Option<NodeId>, nesting: usize, sight: Sight) -> Rolled {
        let mut pairs: Vec<(f64, f64)> = self
            .aligned_objectives(choice, cycle, sight)
            .map(|(_, weight, progress)| (weight, progress))
            .collect();
        let mut objectives = pairs.len() as u32;
        if nesting < MAX_NESTING {
            for strategy in self.nested_strategies(choice, sight) {
                let nested = self.strategy_rollup(strategy, cycle, nesting + 1, sight);
                objectives += nested.objectives;
                if let Some(value) = nested.value {
                    pairs.push((1.0, value));
                }
            }
        }
        Rolled {
            value: (!pairs.is_empty()).then(|| weighted_mean(&pairs)),
            contributors: pairs.len() as u32,
            objectives,
        }
    }

    fn strategy_rollup(&self, strategy: NodeId, cycle: Option<NodeId>, nesting: usize, sight: Sight) -> Rolled {
        let mut values = Vec::new();
        let mut objectives = 0;
        for choice in self.served_choices(strategy, sight) {
            let rolled = self.choice_rollup(choice, cycle, nesting, sight);
            objectives += rolled.objectives;
            values.extend(rolled.value.map(|value| (1.0, value)));
        }
        Rolled {
            value: (!values.is_empty()).then(|| weighted_mean(&values)),
            contributors: values.len() as u32,
            objectives,
        }
    }

    /// The mean progress of the objectives owned in the unit's subtree.
    fn org_rollup(&self, unit: NodeId, cycle: Option<NodeId>, sight: Sight) -> Rolled {
        let mut sum = 0.0;
        let mut objectives = 0u32;
        let mut contributors = 0u32;
        let mut stack = vec![unit];
        while let Some(current) = stack.pop() {
            for child in self.node(current).below.iter().filter(|child| sight.sees(**child)) {
                let node = self.node(*child);
                match &node.data {
                    Data::OrgUnit(data) if data.parent == Some(current) && !data.parent_looped => {
                        if current == unit {
                            contributors += 1;
                        }
                        stack.push(*child);
                    }
                    Data::Objective(objective)
                        if node.present && objective.owner == Some(current) && Graph::counts_in(objective, cycle) =>
                    {
                        if current == unit {
                            contributors += 1;
                        }
                        sum += objective.progress;
                        objectives += 1;
                    }
                    _ => {}
                }
            }
        }
        Rolled {
            value: (objectives > 0).then(|| sum / f64::from(objectives)),
            contributors,
            objectives,
        }
    }

    /// What contributes directly to a node's roll-up, by name.
    pub fn contributors(&self, id: NodeId, cycle: Option<NodeId>, sight: Sight) -> Vec<NodeId> {
        let node = self.node(id);
        let mut found: Vec<NodeId> = match &node.data {
            Data::OrgUnit(_) => node
                .below
                .iter()
                .copied()
                .filter(|child| {
                    let child_node = self.node(*child);
                    if !sight.sees(*child) {
                        return false;
                    }
                    match &child_node.data {
                        Data::OrgUnit(unit) => child_node.present && unit.parent == Some(id),
                        Data::Objective(objective) => {
                            child_node.present && objective.owner == Some(id) && Graph::counts_in(objective, cycle)
                        }
                        _ => false,
                    }
                })
                .collect(),
            Data::Choice(_) => self
                .aligned_objectives(id, cycle, sight)
                .map(|(objective, _, _)| objective)
                .chain(self.nested_strategies(id, sight))
                .collect(),
            Data::Strategy(_) => self.served_choices(id, sight),
            Data::Objective(objective) => objective
                .key_results
                .iter()
                .copied()
                .filter(|key_result| self.node(*key_result).present && sight.sees(*key_result))
                .chain(
                    self.aligned_objectives(id, cycle, sight)
                        .map(|(objective, _, _)| objective),
                )
                .collect(),
            Data::KeyResult(_) => self
                .aligned_objectives(id, cycle, sight)
                .map(|(objective, _, _)| objective)
                .collect(),
            Data::Cycle(_) | Data::HealthMetric(_) => Vec::new(),
        };
        found.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        found.dedup();
        found
    }
}
