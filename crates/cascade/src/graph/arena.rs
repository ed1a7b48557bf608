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
    hasher: NameHasher,
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
    /// So many nodes, so many hashes given for their names.
    Unhashed(usize, usize),
}

/// What an arena hashes its names with: random per arena, made before the
/// arena when its names are hashed where they are decoded.
pub type NameHasher = DefaultHashBuilder;

impl Arena {
    /// The arena of `chunks`, each full but the last, every name once.
    #[cfg(test)]
    pub fn from_chunks(chunks: Vec<Vec<Node>>) -> Result<Arena, ChunksError> {
        let hasher = NameHasher::default();
        let hashes = chunks
            .iter()
            .map(|chunk| chunk.iter().map(|node| hasher.hash_one(&*node.name)).collect())
            .collect::<Vec<_>>();
        Arena::from_hashed_chunks(chunks, hasher, &hashes)
    }

    /// [`Arena::from_chunks`], each name's hash by `hasher` given in
    /// `hashes`, chunk by chunk: hashed on every core while a snapshot is
    /// decoded, each name read while it is still in the cache, the index
    /// is only filled here.
    pub fn from_hashed_chunks(
        chunks: Vec<Vec<Node>>,
        hasher: NameHasher,
        hashes: &[Vec<u64>],
    ) -> Result<Arena, ChunksError> {
        let hashed: usize = hashes.iter().map(Vec::len).sum();
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
            hasher,
        };
        if hashed != len {
            return Err(ChunksError::Unhashed(len, hashed));
        }
        if NodeId::try_from(len.saturating_sub(1)).is_err() {
            return Err(ChunksError::TooMany(len));
        }
        for (hash, id) in in_table_order(len, hashes) {
            // The node itself is read only on a likely match: in this
            // order, reading every node would miss the cache instead.
            if !index_hashed(&mut arena.names, &arena.hasher, &arena.chunks, (id, None), hash) {
                return Err(ChunksError::DuplicateName(id, arena[id].name.to_string()));
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
        let hash = self.hasher.hash_one(&*node.name);
        if !index_hashed(
            &mut self.names,
            &self.hasher,
            &self.chunks,
            (id, Some(&node.name)),
            hash,
        ) {
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

/// Adds `id`, whose name hashes to `hash`, to `names`; false when the
/// name is taken. The name is given when `id` is not in `chunks` yet (only
/// the ids already indexed are looked up there), or else read from there.
fn index_hashed(
    names: &mut HashTable<NodeId>,
    hasher: &NameHasher,
    chunks: &[Vec<Node>],
    (id, name): (NodeId, Option<&str>),
    hash: u64,
) -> bool {
    let name_of = |id: NodeId| {
        let (chunk, slot) = split(id);
        &*chunks[chunk][slot].name
    };
    match names.entry(
        hash,
        |other| name_of(*other) == name.unwrap_or_else(|| name_of(id)),
        |other| hasher.hash_one(name_of(*other)),
    ) {
        hashbrown::hash_table::Entry::Occupied(_) => false,
        hashbrown::hash_table::Entry::Vacant(vacant) => {
            vacant.insert(id);
            true
        }
    }
}

/// Table regions a bulk fill is ordered by: each tens of kilobytes at a
/// million names, so its writes stay in the cache.
const REGION_BITS: u32 = 8;

/// The slots hashbrown gives a table made for `len` items (15 or more):
/// a power of two with an eighth to spare, checked against hashbrown in
/// the tests. Were it wrong, a fill would be slower, never wrong.
fn table_slots(len: usize) -> usize {
    (len.max(15).saturating_mul(8) / 7).next_power_of_two()
}

/// The `len` ids with their `hashes` (one list per chunk, in id order),
/// ordered by the region of the table their probe starts in. Filled in
/// id order, a million-name table misses the cache twice per name (its
/// control byte and its slot are random); in this order its writes
/// stream. One counting pass: within a region, ids keep their order.
fn in_table_order(len: usize, hashes: &[Vec<u64>]) -> Vec<(u64, NodeId)> {
    let slots = table_slots(len);
    let shift = slots.trailing_zeros().saturating_sub(REGION_BITS);
    // The probe starts at the hash's low bits (hashbrown's h1).
    let region = |hash: u64| (hash as usize & (slots - 1)) >> shift;
    let mut starts = vec![0usize; (slots >> shift) + 1];
    for hash in hashes.iter().flatten() {
        starts[region(*hash) + 1] += 1;
    }
    for index in 1..starts.len() {
        starts[index] += starts[index - 1];
    }
    let mut ordered = vec![(0, 0); len];
    for (id, hash) in (0..).zip(hashes.iter().flatten()) {
        let next = &mut starts[region(*hash)];
        ordered[*next] = (*hash, id);
        *next += 1;
    }
    ordered
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
        assert_eq!(
            Arena::from_hashed_chunks(vec![chunk(0, 3)], NameHasher::default(), &[vec![1, 2]]).err(),
            Some(ChunksError::Unhashed(3, 2))
        );
    }

    #[test]
    fn the_fill_order_knows_how_many_slots_a_table_has() {
        // Smaller tables are too small for their order to matter.
        for len in [15, 100, 1_000, 917_504, 917_505, 1_300_005] {
            let slots = table_slots(len);
            assert!(slots.is_power_of_two());
            assert_eq!(
                HashTable::<NodeId>::with_capacity(len).capacity(),
                slots / 8 * 7,
                "slots for {len}"
            );
        }
    }

    #[test]
    fn the_fill_order_keeps_every_id_once() {
        let hasher = NameHasher::default();
        let hashes: Vec<Vec<u64>> = [(0, CHUNK_NODES), (CHUNK_NODES, 5)]
            .into_iter()
            .map(|(from, count)| {
                (from..from + count)
                    .map(|n| hasher.hash_one(format!("orgUnits/u{n}").as_str()))
                    .collect()
            })
            .collect();
        let ordered = in_table_order(CHUNK_NODES + 5, &hashes);
        let mut ids: Vec<NodeId> = ordered.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        assert!(ids.iter().enumerate().all(|(n, id)| *id as usize == n));
        let flat: Vec<u64> = hashes.concat();
        assert!(ordered.iter().all(|(hash, id)| flat[*id as usize] == *hash));
    }
}
