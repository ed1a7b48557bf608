//! How graph nodes are shown, how request names are resolved against the
//! graph, and paging over answers computed in memory.

use crate::error::Error;
use serde::{Serialize, de::DeserializeOwned};
use trellis_foundation::{FieldViolations, paging::PageTokens};
use trellis_proto::cascade::v1::{self as pb, NodeKind, risk_reason::Kind as RiskKind};

use crate::graph::{Data, Graph, Kind, NodeId, Sight, queries::Finding};

pub fn duration(elapsed: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(elapsed.subsec_nanos()).unwrap_or(0),
    }
}

fn node_kind(kind: Kind) -> NodeKind {
    match kind {
        Kind::OrgUnit => NodeKind::OrgUnit,
        Kind::Strategy => NodeKind::Strategy,
        Kind::Choice => NodeKind::Choice,
        Kind::Cycle => NodeKind::Cycle,
        Kind::Objective => NodeKind::Objective,
        Kind::KeyResult => NodeKind::KeyResult,
        Kind::HealthMetric => NodeKind::HealthMetric,
    }
}

pub fn node_view(graph: &Graph, id: NodeId) -> pb::GraphNode {
    let node = graph.node(id);
    let name_of = |id: Option<NodeId>| id.map(|id| graph.name_of(id)).unwrap_or_default();
    let (cycle, progress) = match &node.data {
        Data::Objective(objective) => (name_of(objective.cycle), Some(objective.progress)),
        Data::KeyResult(key_result) => (
            name_of(
                graph
                    .objective(key_result.objective)
                    .and_then(|objective| objective.cycle),
            ),
            Some(key_result.progress()),
        ),
        _ => (String::new(), None),
    };
    pb::GraphNode {
        name: String::from(&*node.name),
        kind: node_kind(node.kind()) as i32,
        title: String::from(&*node.title),
        state: node.state_name().to_owned(),
        owner: name_of(graph.owning_unit(id).filter(|unit| *unit != id)),
        cycle,
        progress: progress.filter(|_| node.present),
        missing: !node.present,
        ..pb::GraphNode::default()
    }
}

/// An alignment that should not be, as a query shows it.
pub fn misalignment_view(graph: &Graph, finding: Finding) -> pb::Misalignment {
    pb::Misalignment {
        objective: Some(node_view(graph, finding.objective)),
        target: Some(node_view(graph, finding.target)),
        reason: finding.reason as i32,
        description: finding.description,
    }
}

/// One reason an objective is at risk, as a query shows it.
pub fn risk_reason_view(graph: &Graph, (kind, subject, description): (RiskKind, NodeId, String)) -> pb::RiskReason {
    pb::RiskReason {
        kind: kind as i32,
        subject: graph.name_of(subject),
        description,
    }
}

/// Resolves a required name of one of `kinds` to a node the graph holds.
/// Format problems join `violations`; a name the graph does not hold is
/// NOT_FOUND (after the violations are reported).
pub struct Resolver<'a> {
    graph: &'a Graph,
    sight: Sight<'a>,
    pub violations: FieldViolations,
    missing: Vec<String>,
}

impl<'a> Resolver<'a> {
    /// A node `sight` does not see is NOT_FOUND, as if it did not exist.
    pub fn new(graph: &'a Graph, sight: Sight<'a>) -> Resolver<'a> {
        Resolver {
            graph,
            sight,
            violations: FieldViolations::default(),
            missing: Vec::new(),
        }
    }

    pub fn required(&mut self, field: &str, name: &str, kinds: &[Kind]) -> Option<NodeId> {
        if name.is_empty() {
            self.violations.add(field, "is required");
            return None;
        }
        self.optional(field, name, kinds)
    }

    pub fn optional(&mut self, field: &str, name: &str, kinds: &[Kind]) -> Option<NodeId> {
        if name.is_empty() {
            return None;
        }
        match Kind::of_name(name) {
            Some(kind) if kinds.contains(&kind) => {}
            _ => {
                let expected: Vec<String> = kinds.iter().map(|kind| format!("{kind:?}")).collect();
                self.violations.add(
                    field,
                    format!(
                        "{name:?} is not the name of a resource of kind {}",
                        expected.join(" or ")
                    ),
                );
                return None;
            }
        }
        // AIP-122: ids are lowercase letters, digits and hyphens; a name
        // with another id is malformed, not merely absent.
        let well_formed =
            name.split('/').skip(1).step_by(2).all(|id| {
                trellis_foundation::names::is_valid_id(id) || trellis_foundation::names::is_valid_period_id(id)
            });
        if !well_formed {
            self.violations.add(
                field,
                format!("{name:?} is not a resource name: ids are lowercase letters, digits and hyphens"),
            );
            return None;
        }
        match self.graph.find(name) {
            Some((id, node)) if node.present && self.sight.sees(id) => Some(id),
            _ => {
                self.missing.push(name.to_owned());
                None
            }
        }
    }

    /// INVALID_ARGUMENT with every violation, else NOT_FOUND for the
    /// names the graph does not hold.
    pub fn finish(self) -> Result<(), Error> {
        self.violations.into_result()?;
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(Error::NamesNotFound { names: self.missing })
        }
    }
}

/// One page of `items` (sorted by `key`) after the token's position.
pub struct Pager<'a> {
    pub tokens: &'a PageTokens,
    /// What the token is bound to: the method and its parameters.
    pub query: String,
    pub page_size: u64,
    pub token: &'a str,
}

impl Pager<'_> {
    pub fn page<T, K>(&self, items: Vec<T>, key: impl Fn(&T) -> K) -> Result<(Vec<T>, String), Error>
    where
        K: Serialize + DeserializeOwned + Ord,
    {
        let after: Option<K> = self.tokens.decode(self.token, "CascadeService", &self.query)?;
        let start = after.map_or(0, |after| items.partition_point(|item| key(item) <= after));
        let size = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        let mut page: Vec<T> = items.into_iter().skip(start).take(size.saturating_add(1)).collect();
        let mut next = String::new();
        if page.len() > size {
            page.truncate(size);
            if let Some(last) = page.last() {
                next = self.tokens.encode("CascadeService", &self.query, &key(last));
            }
        }
        Ok((page, next))
    }

    /// One page of nodes sorted by name.
    pub fn page_by_name(&self, graph: &Graph, ids: Vec<NodeId>) -> Result<(Vec<NodeId>, String), Error> {
        self.page(ids, |id| graph.name_of(*id))
    }
}
