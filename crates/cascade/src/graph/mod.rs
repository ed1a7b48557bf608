//! The alignment graph, kept in memory as a projection of the services'
//! change feeds. Pure: changes go in as decoded resources, questions are
//! answered from the arena; no I/O anywhere below this module.
//!
//! Feeds arrive in any interleaving, so a reference may name a node before
//! its own feed has delivered it: such a node is a placeholder (`present`
//! is false) until it does. A node's data is always the last state its
//! feed delivered, which makes applying the same resource state twice a
//! no-op and the graph independent of how the feeds interleave.

pub mod accountability;
mod apply;
mod arena;
mod model;
pub mod queries;
pub mod risks;
pub mod rollup;
pub mod snapshot;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, HashSet};

use arena::Arena;

pub use apply::{Change, Resource, Touch, TouchKind};
pub use model::{
    Choice, Cycle, Data, Edge, HealthMetric, KeyResult, Kind, Node, NodeId, Objective, OrgUnit, Strategy, parent_name,
};

/// Which nodes one asker may see. The others are absent from its answers:
/// not listed, not followed up or down, not counted in a roll-up.
#[derive(Clone, Copy)]
pub struct Sight<'a>(Seen<'a>);

#[derive(Clone, Copy)]
enum Seen<'a> {
    All,
    /// Everything but these (private nodes out of reach, with their key
    /// results): a hash lookup per node.
    AllBut(&'a HashSet<NodeId>),
    /// Whatever the function says, node by node.
    Only(&'a dyn Fn(NodeId) -> bool),
}

impl<'a> Sight<'a> {
    /// Every node (the service's own questions, or no access checks).
    pub const ALL: Sight<'static> = Sight(Seen::All);

    pub fn only(sees: &'a dyn Fn(NodeId) -> bool) -> Sight<'a> {
        Sight(Seen::Only(sees))
    }

    pub fn all_but(hidden: &'a HashSet<NodeId>) -> Sight<'a> {
        if hidden.is_empty() {
            Sight::ALL
        } else {
            Sight(Seen::AllBut(hidden))
        }
    }

    pub fn sees(&self, id: NodeId) -> bool {
        match self.0 {
            Seen::All => true,
            Seen::AllBut(hidden) => !hidden.contains(&id),
            Seen::Only(sees) => sees(id),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Graph {
    nodes: Arena,
    edges: usize,
    /// The nodes that are private (gone ones too: they stay private).
    privates: HashSet<NodeId>,
    /// The present metrics each person is accountable for.
    accountable_for: HashMap<Box<str>, Vec<NodeId>>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.nodes.id(name)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The node called `name`, if the graph has heard of it.
    pub fn find(&self, name: &str) -> Option<(NodeId, &Node)> {
        self.id(name).map(|id| (id, self.node(id)))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Links from a node to what it hangs below.
    pub fn edge_count(&self) -> usize {
        self.edges
    }

    /// Every node, with its id.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(index, node)| (index as NodeId, node))
    }

    /// The objectives the graph holds (present ones).
    pub fn objectives(&self) -> impl Iterator<Item = (NodeId, &Objective)> {
        self.nodes()
            .filter(|(_, node)| node.present)
            .filter_map(|(id, node)| node.objective().map(|objective| (id, objective)))
    }

    pub fn objective(&self, id: NodeId) -> Option<&Objective> {
        self.node(id).objective()
    }

    /// A node's name, as an answer holds it: copied at its size (a
    /// `Box<str>`'s `to_string` goes through the formatter, growing as
    /// it writes, and answers copy many names).
    pub fn name_of(&self, id: NodeId) -> String {
        String::from(&*self.node(id).name)
    }

    pub fn key_result(&self, id: NodeId) -> Option<&KeyResult> {
        self.node(id).key_result()
    }

    /// The org unit and its ancestors, nearest first (loops cut).
    pub fn org_chain(&self, unit: NodeId) -> Vec<NodeId> {
        let mut chain = vec![unit];
        let mut current = unit;
        while let Data::OrgUnit(OrgUnit {
            parent: Some(parent),
            parent_looped: false,
            ..
        }) = &self.node(current).data
        {
            if chain.contains(parent) {
                break;
            }
            chain.push(*parent);
            current = *parent;
        }
        chain
    }

    /// The metrics `person` is accountable for (present ones).
    pub fn metrics_of(&self, person: &str) -> &[NodeId] {
        self.accountable_for.get(person).map_or(&[], Vec::as_slice)
    }

    /// The private objectives and metrics (key results are private with
    /// their objective).
    pub fn private_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.privates.iter().copied()
    }

    /// Whether a node is private (a key result as its objective).
    pub fn is_private(&self, id: NodeId) -> bool {
        match &self.node(id).data {
            Data::KeyResult(key_result) => self.objective(key_result.objective).is_some_and(|o| o.private),
            data => data.private(),
        }
    }

    /// Whether `unit` is `root` or below it.
    pub fn within_unit(&self, unit: NodeId, root: NodeId) -> bool {
        self.org_chain(unit).contains(&root)
    }

    /// Every fact the graph holds, by name and in a stable order: two
    /// graphs with the same facts answer every question the same way,
    /// however their arenas were filled.
    pub fn facts(&self) -> Vec<String> {
        let name = |id: NodeId| self.name_of(id);
        let names = |ids: &[NodeId]| {
            let mut names: Vec<String> = ids.iter().map(|id| name(*id)).collect();
            names.sort();
            names
        };
        let mut facts = Vec::new();
        for (_, node) in self.nodes().filter(|(_, node)| node.present) {
            let detail = match &node.data {
                Data::OrgUnit(unit) => format!("parent={:?} lead={:?}", unit.parent.map(name), unit.lead),
                Data::Strategy(strategy) => format!(
                    "state={:?} owner={:?} parent_choice={:?} choices={:?}",
                    strategy.state,
                    strategy.owner.map(name),
                    strategy.parent_choice.map(name),
                    names(&strategy.choices)
                ),
                Data::Choice(choice) => format!("kind={:?} strategy={}", choice.kind, name(choice.strategy)),
                Data::Cycle(cycle) => format!(
                    "state={:?} org_unit={:?} activated={}",
                    cycle.state,
                    cycle.org_unit.map(name),
                    cycle.activate_micros
                ),
                Data::Objective(objective) => {
                    let mut aligns: Vec<String> = objective
                        .aligns_to
                        .iter()
                        .map(|edge| {
                            format!(
                                "{}*{}{}",
                                name(edge.target),
                                edge.weight,
                                if edge.looped { "!" } else { "" }
                            )
                        })
                        .collect();
                    aligns.sort();
                    let key_results: Vec<String> = names(&objective.key_results)
                        .into_iter()
                        .filter(|kr| self.find(kr).is_some_and(|(_, node)| node.present))
                        .collect();
                    format!(
                        "cycle={:?} owner={:?} kind={:?} state={:?} origin={:?} aligns={aligns:?} guardrails={:?} krs={key_results:?} progress={:.9} private={}",
                        objective.cycle.map(name),
                        objective.owner.map(name),
                        objective.kind,
                        objective.state,
                        objective.origin,
                        names(&objective.guardrails),
                        objective.progress,
                        objective.private
                    )
                }
                Data::KeyResult(key_result) => format!(
                    "objective={} owner={:?} measure={:?} weight={} cadence={} tally={:?} confidence={:?} last={:?} metric={:?}",
                    name(key_result.objective),
                    key_result.owner,
                    key_result.measure,
                    key_result.weight,
                    key_result.cadence_micros,
                    key_result.tally,
                    key_result.confidence,
                    key_result.last_check_in_micros,
                    key_result.health_metric.map(name)
                ),
                Data::HealthMetric(metric) => format!(
                    "owner={:?} accountable={:?} status={:?} private={}",
                    metric.owner.map(name),
                    metric.accountable,
                    metric.status,
                    metric.private
                ),
            };
            facts.push(format!("{} [{}] {detail}", node.name, node.title));
        }
        facts.sort();
        facts
    }
}
