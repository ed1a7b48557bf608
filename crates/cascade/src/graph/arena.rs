//! The graph's nodes, by id and by name.
//!
//! - Kept in fixed-size chunks: growing the arena never moves the nodes
//!   already in it (a million-node `Vec` doubled copies hundreds of
//!   megabytes into freshly faulted pages), and a snapshot's chunks,
//!   decoded on every core, become the arena as they are.
//! - The index of names holds ids only, each hashed and compared by its
//!   node's name, so no name is stored twice. It hashes with foldhash,
//!   several times faster than SipHash on names; its seed is random per
//!   process, which keeps colliding names out of a client's reach unless
//!   the seed is learnt from timing (the names are checked resource ids).

use std::{
    hash::BuildHasher,
    ops::{Index, IndexMut},
};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::{Node, NodeId};

/// Nodes per chunk: a power of two, so an id splits into chunk and slot
/// with a shift and a mask.
pub const CHUNK_NODES: usize = 1 << CHUNK_BITS;
const CHUNK_BITS: u32 = 15;

#[derive(Debug, Default, Clone)]
pub struct Arena {
    /// Full chunks, then the one being filled.
    chunks: Vec<Vec<Node>>,
    len: usize,
    names: HashTable<NodeId>,
    hasher: DefaultHashBuilder,
}

/// Why chunks do not make an arena.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunksError {
    /// A chunk before the last is not full.
    ShortChunk(usize),
    /// More nodes than there are ids.
    TooMany(usize),
    /// The node of this id has the name (given) of an earlier node.
    DuplicateName(NodeId, String),
}

impl Arena {
    /// The arena of `chunks`, each full but the last, every name once.
    pub fn from_chunks(chunks: Vec<Vec<Node>>) -> Result<Arena, ChunksError> {
        let mut chunks: Vec<Vec<Node>> = chunks.into_iter().filter(|chunk| !chunk.is_empty()).collect();
        let full = chunks.len().saturating_sub(1);
        if let Some(short) = chunks[..full].iter().position(|chunk| chunk.len() != CHUNK_NODES) {
            return Err(ChunksError::ShortChunk(short));
        }
        if let Some(last) = chunks.last_mut() {
            last.reserve_exact(CHUNK_NODES - last.len());
        }
        let len = chunks.iter().map(Vec::len).sum();
        let mut arena = Arena {
            chunks,
            len,
            // Sized once: a million names would otherwise rehash the
            // table twenty times over.
            names: HashTable::with_capacity(len),
            hasher: DefaultHashBuilder::default(),
        };
        for id in 0..len {
            let id = NodeId::try_from(id).map_err(|_| ChunksError::TooMany(len))?;
            let (chunk, slot) = split(id);
            let name = &arena.chunks[chunk][slot].name;
            if !index_name(&mut arena.names, &arena.hasher, &arena.chunks, id, name) {
                return Err(ChunksError::DuplicateName(id, name.to_string()));
            }
        }
        Ok(arena)
    }

    /// The node called `name`.
    pub fn id(&self, name: &str) -> Option<NodeId> {
        let hash = self.hasher.hash_one(name);
        self.names.find(hash, |id| *self[*id].name == *name).copied()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `node`, whose name no node has; its id, or `None` past the ids
    /// there are.
    pub fn push(&mut self, node: Node) -> Option<NodeId> {
        let id = NodeId::try_from(self.len).ok()?;
        if !index_name(&mut self.names, &self.hasher, &self.chunks, id, &node.name) {
            return None;
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_NODES => chunk.push(node),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_NODES);
                chunk.push(node);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        Some(id)
    }

    /// Every node, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.chunks.iter().flatten()
    }

    /// The chunks, in id order: the first holds ids from 0, the next from
    /// [`CHUNK_NODES`], and so on.
    pub fn chunks(&self) -> &[Vec<Node>] {
        &self.chunks
    }
}

/// Adds `id`, called `name`, to `names`; false when the name is taken.
/// `id` need not be in `chunks` yet: only the ids already indexed are
/// looked up there.
fn index_name(
    names: &mut HashTable<NodeId>,
    hasher: &DefaultHashBuilder,
    chunks: &[Vec<Node>],
    id: NodeId,
    name: &str,
) -> bool {
    let name_of = |id: NodeId| {
        let (chunk, slot) = split(id);
        &*chunks[chunk][slot].name
    };
    match names.entry(
        hasher.hash_one(name),
        |other| name_of(*other) == name,
        |other| hasher.hash_one(name_of(*other)),
    ) {
        hashbrown::hash_table::Entry::Occupied(_) => false,
        hashbrown::hash_table::Entry::Vacant(vacant) => {
            vacant.insert(id);
            true
        }
    }
}

fn split(id: NodeId) -> (usize, usize) {
    let id = id as usize;
    (id >> CHUNK_BITS, id & (CHUNK_NODES - 1))
}

impl Index<NodeId> for Arena {
    type Output = Node;

    fn index(&self, id: NodeId) -> &Node {
        let (chunk, slot) = split(id);
        &self.chunks[chunk][slot]
    }
}

impl IndexMut<NodeId> for Arena {
    fn index_mut(&mut self, id: NodeId) -> &mut Node {
        let (chunk, slot) = split(id);
        &mut self.chunks[chunk][slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Data, Kind};

    fn node(n: usize) -> Node {
        Node {
            name: format!("orgUnits/u{n}").into(),
            title: "".into(),
            present: true,
            data: Data::placeholder(Kind::OrgUnit, 0),
            below: Vec::new(),
        }
    }

    #[test]
    fn ids_run_on_across_chunks() {
        let mut arena = Arena::default();
        let total = CHUNK_NODES * 2 + 3;
        for n in 0..total {
            assert_eq!(arena.push(node(n)), NodeId::try_from(n).ok());
        }
        assert_eq!(arena.len(), total);
        assert_eq!(arena.chunks().len(), 3);
        assert_eq!(&*arena[CHUNK_NODES as NodeId].name, format!("orgUnits/u{CHUNK_NODES}"));
        assert!(
            arena
                .iter()
                .enumerate()
                .all(|(n, node)| *node.name == *format!("orgUnits/u{n}"))
        );
        arena[5].present = false;
        assert!(!arena[5].present);
        assert_eq!(
            arena.id(&format!("orgUnits/u{}", CHUNK_NODES + 1)),
            NodeId::try_from(CHUNK_NODES + 1).ok()
        );
        assert_eq!(arena.id("orgUnits/nobody"), None);
        assert_eq!(arena.push(node(7)), None, "a name is held once");
    }

    #[test]
    fn only_the_last_chunk_may_be_short() {
        let chunk = |from: usize, count: usize| (from..from + count).map(node).collect::<Vec<_>>();
        let mut arena =
            Arena::from_chunks(vec![chunk(0, CHUNK_NODES), chunk(CHUNK_NODES, 2)]).expect("a short last chunk");
        assert_eq!(arena.len(), CHUNK_NODES + 2);
        assert_eq!(arena.id("orgUnits/u3"), Some(3));
        assert_eq!(
            arena.push(node(CHUNK_NODES + 2)),
            NodeId::try_from(CHUNK_NODES + 2).ok()
        );
        assert_eq!(
            arena.id(&format!("orgUnits/u{}", CHUNK_NODES + 2)),
            NodeId::try_from(CHUNK_NODES + 2).ok()
        );
        assert_eq!(
            Arena::from_chunks(vec![chunk(0, 2), chunk(2, 2)]).err(),
            Some(ChunksError::ShortChunk(0))
        );
        assert_eq!(
            Arena::from_chunks(vec![vec![node(0), node(1), node(1)]]).err(),
            Some(ChunksError::DuplicateName(2, "orgUnits/u1".to_owned()))
        );
        assert!(Arena::from_chunks(Vec::new()).is_ok_and(|arena| arena.is_empty()));
    }
}
