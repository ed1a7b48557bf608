//! Who asks a cascade question, and what of the graph they may see: each
//! node is judged by its owning unit and visibility, as the access policy
//! decides reads, and each (unit, kind, visibility) once per question.

use std::{cell::RefCell, collections::HashMap};

use trellis_access::{ORG_ROOT, Reader, ResourceKind, unit_id};

use crate::graph::{Graph, Kind, NodeId, Sight};

/// What a node is judged by: its owning unit, its kind, whether private.
type Judged = (Option<NodeId>, ResourceKind, bool);

/// The reads of the caller of one question.
#[derive(Debug)]
pub struct Asker(Reader);

impl Asker {
    pub fn new(reader: Reader) -> Asker {
        Asker(reader)
    }

    /// Answers `question` with what this asker may see of `graph`.
    pub fn ask<T>(&self, graph: &Graph, question: impl FnOnce(Sight) -> T) -> T {
        if self.0.sees_everything() {
            return question(Sight::ALL);
        }
        let judged: RefCell<HashMap<Judged, bool>> = RefCell::new(HashMap::new());
        let sees = |id: NodeId| {
            let (owner, private) = graph.privacy(id);
            let kind = resource_kind(graph.node(id).kind());
            if let Some(seen) = judged.borrow().get(&(owner, kind, private)) {
                return *seen;
            }
            let unit = owner.map_or(ORG_ROOT, |owner| unit_id(&graph.node(owner).name).unwrap_or(ORG_ROOT));
            let seen = self.0.may_read(kind, unit, private);
            judged.borrow_mut().insert((owner, kind, private), seen);
            seen
        };
        question(Sight::only(&sees))
    }
}

/// What the access policy calls a kind of node: a key result is read as
/// its objective, a choice as its strategy.
fn resource_kind(kind: Kind) -> ResourceKind {
    match kind {
        Kind::OrgUnit => ResourceKind::OrgUnit,
        Kind::Strategy | Kind::Choice => ResourceKind::Strategy,
        Kind::Cycle => ResourceKind::Cycle,
        Kind::Objective | Kind::KeyResult => ResourceKind::Objective,
        Kind::HealthMetric => ResourceKind::HealthMetric,
    }
}
