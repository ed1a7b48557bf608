//! The graph in a compact binary form (postcard), so a restart can load it
//! and replay only the feeds' tail instead of their whole history. Only
//! the nodes are kept, in arena order (so ids survive); everything derived
//! from them (the `below` lists, the index of names, the private nodes, the
//! metrics by accountable person) is rebuilt on load. A snapshot of another
//! format version, or one whose ids do not hold together, is refused with
//! a reason, never loaded halfway.
//!
//! The layout: a postcard header (the format version first, then the node
//! count and each chunk's length in bytes), then the chunks, each the
//! postcard of up to [`CHUNK_NODES`] consecutive nodes. Chunks are encoded
//! and decoded on every core at once: decoding one postcard sequence of a
//! million nodes was most of a restart's time.

use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};
use trellis_proto::{
    health::v1::Status as MetricStatus,
    okr::v1::{cycle::State as CycleState, objective},
    strategy::v1::{ChoiceKind, StrategyState},
};
use trellis_rules::progress::{Measure, Tally};

use super::{
    Choice, Cycle, Data, Edge, Graph, HealthMetric, KeyResult, Node, NodeId, Objective, OrgUnit, Strategy,
    arena::{Arena, CHUNK_NODES, ChunksError, NameHasher},
};

/// Bumped whenever what a snapshot holds changes shape (2: in chunks).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a graph snapshot: {0}")]
    Decode(String),
    #[error("a snapshot of format {found}, this server reads format {FORMAT_VERSION}")]
    Version { found: u32 },
    #[error("node {node} names node {missing}, past the {count} nodes the snapshot holds")]
    DanglingId { node: usize, missing: NodeId, count: usize },
    #[error("node {node} is {name:?}, which an earlier node holds already")]
    DuplicateName { node: usize, name: String },
}

#[derive(Serialize, Deserialize)]
struct StoredNode {
    name: String,
    title: String,
    present: bool,
    data: StoredData,
}

/// A measure as (kind, two numbers), the kinds numbered as on the wire.
type StoredMeasure = (i32, f64, f64);

#[derive(Serialize, Deserialize)]
enum StoredData {
    OrgUnit {
        parent: Option<NodeId>,
        parent_looped: bool,
        lead: String,
    },
    Strategy {
        state: i32,
        owner: Option<NodeId>,
        parent_choice: Option<NodeId>,
        parent_looped: bool,
        choices: Vec<NodeId>,
        backed_by: Vec<NodeId>,
    },
    Choice {
        kind: i32,
        strategy: NodeId,
    },
    Cycle {
        state: i32,
        org_unit: Option<NodeId>,
        activate_micros: i64,
    },
    Objective {
        cycle: Option<NodeId>,
        owner: Option<NodeId>,
        kind: i32,
        state: i32,
        origin: i32,
        aligns_to: Vec<(NodeId, f64, bool)>,
        guardrails: Vec<NodeId>,
        remedial_for: Option<NodeId>,
        state_reason: String,
        key_results: Vec<NodeId>,
        progress: f64,
        private: bool,
    },
    KeyResult {
        objective: NodeId,
        owner: String,
        measure: Option<StoredMeasure>,
        weight: f64,
        cadence_micros: i64,
        create_micros: i64,
        health_metric: Option<NodeId>,
        tally: (i64, i64, Option<f64>),
        confidence: Option<i32>,
        last_check_in_micros: Option<i64>,
    },
    HealthMetric {
        owner: Option<NodeId>,
        accountable: String,
        status: i32,
        private: bool,
    },
}

fn store_measure(measure: Measure) -> StoredMeasure {
    match measure {
        Measure::Baseline => (1, 0.0, 0.0),
        Measure::Transition { start, target } => (2, start, target),
        Measure::Increase { start, target } => (3, start, target),
        Measure::Decrease { start, target } => (4, start, target),
        Measure::Threshold { lower, upper } => (5, lower, upper),
        Measure::Milestone => (6, 0.0, 0.0),
    }
}

fn load_measure((kind, a, b): StoredMeasure) -> Option<Measure> {
    match kind {
        5 => Measure::from_wire(kind, 0.0, 0.0, a, b),
        _ => Measure::from_wire(kind, a, b, 0.0, 0.0),
    }
}

fn store(data: &Data) -> StoredData {
    match data {
        Data::OrgUnit(unit) => StoredData::OrgUnit {
            parent: unit.parent,
            parent_looped: unit.parent_looped,
            lead: unit.lead.to_string(),
        },
        Data::Strategy(strategy) => StoredData::Strategy {
            state: strategy.state as i32,
            owner: strategy.owner,
            parent_choice: strategy.parent_choice,
            parent_looped: strategy.parent_looped,
            choices: strategy.choices.clone(),
            backed_by: strategy.backed_by.clone(),
        },
        Data::Choice(choice) => StoredData::Choice {
            kind: choice.kind as i32,
            strategy: choice.strategy,
        },
        Data::Cycle(cycle) => StoredData::Cycle {
            state: cycle.state as i32,
            org_unit: cycle.org_unit,
            activate_micros: cycle.activate_micros,
        },
        Data::Objective(o) => StoredData::Objective {
            cycle: o.cycle,
            owner: o.owner,
            kind: o.kind as i32,
            state: o.state as i32,
            origin: o.origin as i32,
            aligns_to: o.aligns_to.iter().map(|e| (e.target, e.weight, e.looped)).collect(),
            guardrails: o.guardrails.clone(),
            remedial_for: o.remedial_for,
            state_reason: o.state_reason.to_string(),
            key_results: o.key_results.clone(),
            progress: o.progress,
            private: o.private,
        },
        Data::KeyResult(kr) => StoredData::KeyResult {
            objective: kr.objective,
            owner: kr.owner.to_string(),
            measure: kr.measure.map(store_measure),
            weight: kr.weight,
            cadence_micros: kr.cadence_micros,
            create_micros: kr.create_micros,
            health_metric: kr.health_metric,
            tally: (kr.tally.check_ins, kr.tally.in_band, kr.tally.latest),
            confidence: kr.confidence,
            last_check_in_micros: kr.last_check_in_micros,
        },
        Data::HealthMetric(metric) => StoredData::HealthMetric {
            owner: metric.owner,
            accountable: metric.accountable.to_string(),
            status: metric.status as i32,
            private: metric.private,
        },
    }
}

/// The ids `data` names, to check before any is followed, into `ids`
/// (emptied first: one buffer serves a chunk's nodes).
fn named_ids_into(data: &StoredData, ids: &mut Vec<NodeId>) {
    ids.clear();
    match data {
        StoredData::OrgUnit { parent, .. } => ids.extend(parent),
        StoredData::Strategy {
            owner,
            parent_choice,
            choices,
            backed_by,
            ..
        } => {
            ids.extend(owner.iter().chain(parent_choice));
            ids.extend(choices.iter().chain(backed_by));
        }
        StoredData::Choice { strategy, .. } => ids.push(*strategy),
        StoredData::Cycle { org_unit, .. } => ids.extend(org_unit),
        StoredData::Objective {
            cycle,
            owner,
            aligns_to,
            guardrails,
            remedial_for,
            key_results,
            ..
        } => {
            ids.extend(cycle.iter().chain(owner).chain(remedial_for));
            ids.extend(aligns_to.iter().map(|(target, _, _)| *target));
            ids.extend(guardrails.iter().chain(key_results));
        }
        StoredData::KeyResult {
            objective,
            health_metric,
            ..
        } => {
            ids.push(*objective);
            ids.extend(health_metric);
        }
        StoredData::HealthMetric { owner, .. } => ids.extend(owner),
    }
}

fn load(data: StoredData) -> Data {
    match data {
        StoredData::OrgUnit {
            parent,
            parent_looped,
            lead,
        } => Data::OrgUnit(OrgUnit {
            parent,
            parent_looped,
            lead: lead.into(),
        }),
        StoredData::Strategy {
            state,
            owner,
            parent_choice,
            parent_looped,
            choices,
            backed_by,
        } => Data::Strategy(Strategy {
            state: StrategyState::try_from(state).unwrap_or(StrategyState::Unspecified),
            owner,
            parent_choice,
            parent_looped,
            choices,
            backed_by,
        }),
        StoredData::Choice { kind, strategy } => Data::Choice(Choice {
            kind: ChoiceKind::try_from(kind).unwrap_or(ChoiceKind::Unspecified),
            strategy,
        }),
        StoredData::Cycle {
            state,
            org_unit,
            activate_micros,
        } => Data::Cycle(Cycle {
            state: CycleState::try_from(state).unwrap_or(CycleState::Unspecified),
            org_unit,
            activate_micros,
        }),
        StoredData::Objective {
            cycle,
            owner,
            kind,
            state,
            origin,
            aligns_to,
            guardrails,
            remedial_for,
            state_reason,
            key_results,
            progress,
            private,
        } => Data::Objective(Objective {
            cycle,
            owner,
            kind: objective::Kind::try_from(kind).unwrap_or(objective::Kind::Unspecified),
            state: objective::State::try_from(state).unwrap_or(objective::State::Unspecified),
            origin: objective::Origin::try_from(origin).unwrap_or(objective::Origin::Unspecified),
            aligns_to: aligns_to
                .into_iter()
                .map(|(target, weight, looped)| Edge { target, weight, looped })
                .collect(),
            guardrails,
            remedial_for,
            state_reason: state_reason.into(),
            key_results,
            progress,
            private,
        }),
        StoredData::KeyResult {
            objective,
            owner,
            measure,
            weight,
            cadence_micros,
            create_micros,
            health_metric,
            tally: (check_ins, in_band, latest),
            confidence,
            last_check_in_micros,
        } => Data::KeyResult(KeyResult {
            objective,
            owner: owner.into(),
            measure: measure.and_then(load_measure),
            weight,
            cadence_micros,
            create_micros,
            health_metric,
            tally: Tally {
                check_ins,
                in_band,
                latest,
            },
            confidence,
            last_check_in_micros,
        }),
        StoredData::HealthMetric {
            owner,
            accountable,
            status,
            private,
        } => Data::HealthMetric(HealthMetric {
            owner,
            accountable: accountable.into(),
            status: MetricStatus::try_from(status).unwrap_or(MetricStatus::Unspecified),
            private,
        }),
    }
}

impl Graph {
    /// The graph as snapshot bytes.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let chunks = on_every_core(self.nodes.chunks().iter().collect(), |nodes: &Vec<Node>| {
            let stored: Vec<StoredNode> = nodes
                .iter()
                .map(|node| StoredNode {
                    name: node.name.to_string(),
                    title: node.title.to_string(),
                    present: node.present,
                    data: store(&node.data),
                })
                .collect();
            postcard::to_stdvec(&stored).map_err(|err| SnapshotError::Decode(err.to_string()))
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        joined(self.nodes.len(), chunks)
    }

    /// The graph `bytes` hold; refused whole when they do not hold one of
    /// this format that hangs together.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Graph, SnapshotError> {
        let decode = |err: postcard::Error| SnapshotError::Decode(err.to_string());
        let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(decode)?;
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        let ((count, lengths), mut body) = postcard::take_from_bytes::<(u64, Vec<u64>)>(rest).map_err(decode)?;
        let count = usize::try_from(count).map_err(|err| SnapshotError::Decode(err.to_string()))?;
        let mut parts = Vec::with_capacity(lengths.len());
        for (index, length) in lengths.into_iter().enumerate() {
            let length = usize::try_from(length).map_err(|err| SnapshotError::Decode(err.to_string()))?;
            if length > body.len() {
                return Err(SnapshotError::Decode(format!("chunk {index} runs past the end")));
            }
            let (part, rest) = body.split_at(length);
            parts.push((index * CHUNK_NODES, part));
            body = rest;
        }
        if !body.is_empty() {
            return Err(SnapshotError::Decode(format!(
                "{} bytes after the last chunk",
                body.len()
            )));
        }
        let hasher = NameHasher::default();
        let chunks = on_every_core(parts, |(first, part): (usize, &[u8])| {
            // Node by node from the bytes (a postcard sequence is its
            // length, then its items): no chunk of stored nodes in between.
            let (length, mut rest) = postcard::take_from_bytes::<usize>(part).map_err(decode)?;
            if length > CHUNK_NODES {
                return Err(SnapshotError::Decode(format!("a chunk of {length} nodes")));
            }
            let mut nodes = Vec::with_capacity(CHUNK_NODES);
            let mut hashes = Vec::with_capacity(length);
            // What each node hangs below, found here on every core.
            let mut links: Links = Vec::new();
            // The ids one node names, then those it hangs below.
            let mut ids = Vec::new();
            for index in first..first + length {
                let (node, after) = postcard::take_from_bytes::<StoredNode>(rest).map_err(decode)?;
                rest = after;
                named_ids_into(&node.data, &mut ids);
                if let Some(missing) = ids
                    .iter()
                    .find(|id| usize::try_from(**id).map_or(true, |id| id >= count))
                {
                    return Err(SnapshotError::DanglingId {
                        node: index,
                        missing: *missing,
                        count,
                    });
                }
                let data = load(node.data);
                let id = NodeId::try_from(index).map_err(|err| SnapshotError::Decode(err.to_string()))?;
                data.hangs_below_into(&mut ids);
                links.extend(ids.iter().map(|above| (*above, id)));
                hashes.push(hasher.hash_one(node.name.as_str()));
                nodes.push(Node {
                    name: node.name.into(),
                    title: node.title.into(),
                    present: node.present,
                    data,
                    below: Vec::new(),
                });
            }
            if !rest.is_empty() {
                return Err(SnapshotError::Decode(format!(
                    "{} bytes after the nodes from {first}",
                    rest.len()
                )));
            }
            Ok(Decoded { nodes, hashes, links })
        });
        let decoded = chunks.into_iter().collect::<Result<Vec<_>, _>>()?;
        let (mut chunks, mut hashes, mut links) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in decoded {
            chunks.push(chunk.nodes);
            hashes.push(chunk.hashes);
            links.push(chunk.links);
        }
        let mut graph = Graph::new();
        graph.nodes = Arena::from_hashed_chunks(chunks, hasher, &hashes).map_err(|err| match err {
            ChunksError::ShortChunk(chunk) => SnapshotError::Decode(format!("chunk {chunk} is short")),
            ChunksError::TooMany(count) => SnapshotError::Decode(format!("{count} nodes, more than there are ids")),
            ChunksError::Unhashed(count, hashed) => {
                SnapshotError::Decode(format!("{count} nodes, {hashed} of them hashed"))
            }
            ChunksError::DuplicateName(id, name) => SnapshotError::DuplicateName {
                node: id as usize,
                name,
            },
        })?;
        if graph.nodes.len() != count {
            return Err(SnapshotError::Decode(format!(
                "the header counts {count} nodes, the chunks hold {}",
                graph.nodes.len()
            )));
        }
        graph.link(count, &links);
        for index in 0..graph.nodes.len() {
            let id = NodeId::try_from(index).map_err(|err| SnapshotError::Decode(err.to_string()))?;
            let node = &graph.nodes[id];
            if node.data.private() {
                graph.privates.insert(id);
            }
            if let Data::HealthMetric(metric) = &node.data
                && node.present
                && !metric.accountable.is_empty()
            {
                graph
                    .accountable_for
                    .entry(metric.accountable.clone())
                    .or_default()
                    .push(id);
            }
        }
        Ok(graph)
    }
}

/// What hangs below what: (the node above, the node below).
type Links = Vec<(NodeId, NodeId)>;

/// One chunk as a core decoded it: its nodes, the hashes of their names,
/// and what they hang below.
struct Decoded {
    nodes: Vec<Node>,
    hashes: Vec<u64>,
    links: Links,
}

impl Graph {
    /// Fills the `below` lists of a graph of `count` nodes from `links`
    /// (what hangs below what, in the order of the nodes below): counted
    /// per node first, so each list is allocated once at its size and the
    /// arena is written in id order, not pushed to at random.
    fn link(&mut self, count: usize, links: &[Links]) {
        let links = || links.iter().flatten();
        let mut starts = vec![0usize; count + 1];
        for (above, _) in links() {
            starts[*above as usize + 1] += 1;
        }
        for index in 1..starts.len() {
            starts[index] += starts[index - 1];
        }
        let mut below = vec![0; starts[count]];
        let mut next = starts.clone();
        for (above, id) in links() {
            below[next[*above as usize]] = *id;
            next[*above as usize] += 1;
        }
        for (index, range) in starts.windows(2).enumerate() {
            if range[1] > range[0]
                && let Ok(id) = NodeId::try_from(index)
            {
                self.nodes[id].below = below[range[0]..range[1]].to_vec();
            }
        }
        self.edges = below.len();
    }
}

/// The snapshot of `count` nodes encoded as `chunks`: the header, then
/// the chunks.
fn joined(count: usize, chunks: Vec<Vec<u8>>) -> Result<Vec<u8>, SnapshotError> {
    let lengths: Vec<u64> = chunks.iter().map(|chunk| chunk.len() as u64).collect();
    let header = (FORMAT_VERSION, count as u64, lengths);
    let mut bytes = postcard::to_stdvec(&header).map_err(|err| SnapshotError::Decode(err.to_string()))?;
    bytes.reserve(chunks.iter().map(Vec::len).sum());
    for chunk in chunks {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `work` done on every item, the items shared out over the machine's
/// cores in contiguous runs; the answers in the items' order.
fn on_every_core<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let per_core = items.len().div_ceil(cores).max(1);
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        runs.push(items.by_ref().take(per_core).collect());
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || run.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use trellis_proto::okr::v1 as okr_pb;

    use super::*;
    use crate::graph::{Change, Resource};

    fn small_graph() -> Graph {
        let mut graph = Graph::new();
        let key_result = okr_pb::KeyResult {
            name: "objectives/o/keyResults/k".into(),
            owner: "ana".into(),
            ..Default::default()
        };
        graph.apply(Change::Upsert(Box::new(Resource::KeyResult(key_result))));
        graph
    }

    #[test]
    fn a_truncated_or_foreign_snapshot_is_refused_with_a_reason() {
        let bytes = small_graph().to_snapshot().expect("encodes");
        assert!(matches!(
            Graph::from_snapshot(&bytes[..bytes.len() / 2]),
            Err(SnapshotError::Decode(_))
        ));
        let mut newer = bytes.clone();
        // The version is the first field: a varint, 2 today.
        newer[0] = 3;
        assert_eq!(
            Graph::from_snapshot(&newer).err(),
            Some(SnapshotError::Version { found: 3 })
        );
    }

    fn encoded(nodes: &[StoredNode]) -> Vec<u8> {
        let chunk = postcard::to_stdvec(nodes).expect("encodes");
        joined(nodes.len(), vec![chunk]).expect("joins")
    }

    #[test]
    fn a_graph_in_many_chunks_comes_back_whole() {
        let mut graph = Graph::new();
        for index in 0..(CHUNK_NODES * 2 + 5) {
            let key_result = okr_pb::KeyResult {
                name: format!("objectives/o{index}/keyResults/k"),
                owner: "ana".into(),
                ..Default::default()
            };
            graph.apply(Change::Upsert(Box::new(Resource::KeyResult(key_result))));
        }
        let bytes = graph.to_snapshot().expect("encodes");
        let loaded = Graph::from_snapshot(&bytes).expect("decodes");
        assert_eq!(loaded.len(), graph.len());
        assert_eq!(loaded.edge_count(), graph.edge_count());
        assert_eq!(loaded.facts(), graph.facts());
        assert!(matches!(
            Graph::from_snapshot(&bytes[..bytes.len() - 1]),
            Err(SnapshotError::Decode(_))
        ));
    }

    #[test]
    fn ids_that_do_not_hold_together_are_refused() {
        let dangling = vec![StoredNode {
            name: "objectives/o/keyResults/k".into(),
            title: String::new(),
            present: true,
            data: StoredData::Choice { kind: 0, strategy: 7 },
        }];
        let bytes = encoded(&dangling);
        assert_eq!(
            Graph::from_snapshot(&bytes).err(),
            Some(SnapshotError::DanglingId {
                node: 0,
                missing: 7,
                count: 1
            })
        );
        let twice: Vec<StoredNode> = (0..2)
            .map(|_| StoredNode {
                name: "orgUnits/a".into(),
                title: String::new(),
                present: true,
                data: StoredData::OrgUnit {
                    parent: None,
                    parent_looped: false,
                    lead: String::new(),
                },
            })
            .collect();
        let bytes = encoded(&twice);
        assert!(matches!(
            Graph::from_snapshot(&bytes),
            Err(SnapshotError::DuplicateName { node: 1, .. })
        ));
    }
}
