//! Who asks a cascade question, and what of the graph they may see.
//!
//! Reads of what is not private are decided per kind for the whole org,
//! and those of a private thing per kind and owning unit. A question that
//! walks the whole graph (a roll-up, a scan of a cycle), when the asker
//! may read every kind (the default policy), first sets apart the private
//! nodes it may not see, from the graph's index of them: then each node
//! costs one hash lookup, and none at all when nothing is set apart (an
//! admin of the whole org). A question that touches a few nodes (a path, a
//! page of descendants) judges the nodes it touches, each kind and each
//! private node's owner once.

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, HashSet},
};

use trellis_access::{ORG_ROOT, Reader, ResourceKind, unit_id};

use crate::graph::{Data, Graph, Kind, NodeId, Sight};

/// The reads of the caller of one question.
#[derive(Debug)]
pub struct Asker(Reader);

/// The kinds the access policy tells apart, in [`kind_index`]'s order.
const KINDS: [ResourceKind; 5] = [
    ResourceKind::OrgUnit,
    ResourceKind::Strategy,
    ResourceKind::Cycle,
    ResourceKind::Objective,
    ResourceKind::HealthMetric,
];

impl Asker {
    pub fn new(reader: Reader) -> Asker {
        Asker(reader)
    }

    /// Answers `question` with what this asker may see of `graph`; a
    /// `whole_graph` question walks most of it.
    pub fn ask<T>(&self, graph: &Graph, whole_graph: bool, question: impl FnOnce(Sight) -> T) -> T {
        if self.0.sees_everything() {
            return question(Sight::ALL);
        }
        if whole_graph && KINDS.iter().all(|kind| self.0.may_read(*kind, ORG_ROOT, false)) {
            let hidden = self.hidden(graph);
            return question(Sight::all_but(&hidden));
        }
        let public: [Cell<Option<bool>>; KINDS.len()] = Default::default();
        let private: RefCell<HashMap<(Option<NodeId>, usize), bool>> = RefCell::new(HashMap::new());
        let sees = |id: NodeId| {
            let kind = kind_index(graph.node(id).kind());
            if !graph.is_private(id) {
                let seen = public[kind]
                    .get()
                    .unwrap_or_else(|| self.0.may_read(KINDS[kind], ORG_ROOT, false));
                public[kind].set(Some(seen));
                return seen;
            }
            let owner = graph.owning_unit(id);
            if let Some(seen) = private.borrow().get(&(owner, kind)) {
                return *seen;
            }
            let seen = self.may_read_private(graph, kind, owner);
            private.borrow_mut().insert((owner, kind), seen);
            seen
        };
        question(Sight::only(&sees))
    }

    /// The private nodes this asker may not read, with their key results.
    fn hidden(&self, graph: &Graph) -> HashSet<NodeId> {
        let mut decided: HashMap<(Option<NodeId>, usize), bool> = HashMap::new();
        let mut hidden = HashSet::new();
        for id in graph.private_nodes() {
            let kind = kind_index(graph.node(id).kind());
            let owner = graph.owning_unit(id);
            let seen = *decided
                .entry((owner, kind))
                .or_insert_with(|| self.may_read_private(graph, kind, owner));
            if !seen {
                hidden.insert(id);
                if let Data::Objective(objective) = &graph.node(id).data {
                    hidden.extend(objective.key_results.iter().copied());
                }
            }
        }
        hidden
    }

    fn may_read_private(&self, graph: &Graph, kind: usize, owner: Option<NodeId>) -> bool {
        let unit = owner.map_or(ORG_ROOT, |owner| unit_id(&graph.node(owner).name).unwrap_or(ORG_ROOT));
        self.0.may_read(KINDS[kind], unit, true)
    }
}

/// Where the access policy's kind of a node stands in [`KINDS`]: a key
/// result is read as its objective, a choice as its strategy.
fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::OrgUnit => 0,
        Kind::Strategy | Kind::Choice => 1,
        Kind::Cycle => 2,
        Kind::Objective | Kind::KeyResult => 3,
        Kind::HealthMetric => 4,
    }
}
