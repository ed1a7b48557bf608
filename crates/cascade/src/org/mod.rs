//! Org units: the tree that owns every strategy, objective and metric.

mod convert;
pub mod entity;
mod grpc;
mod ops;
mod queries;
mod repo;
pub mod tree;

use trellis_foundation::Store;

pub const COLLECTION: &str = "orgUnits";
/// The most units one BatchCreateOrgUnits may carry.
pub const MAX_BATCH: usize = 50_000;
/// The deepest a unit may sit (a root is at 0): 32 levels, well past real
/// organisations (under 20), and short enough that a unit's path of
/// 63-character ids fits every backend's index.
pub const MAX_DEPTH: i32 = 31;

/// The `trellis.cascade.v1.OrgService` implementation.
#[derive(Debug, Clone)]
pub struct OrgApi {
    store: Store,
    /// The largest answer the server sends: a batch whose answer would be
    /// larger is refused before anything is written.
    max_message_bytes: usize,
}

impl OrgApi {
    pub fn new(store: Store) -> OrgApi {
        OrgApi {
            store,
            max_message_bytes: usize::MAX,
        }
    }

    pub fn with_max_message_bytes(self, max_message_bytes: usize) -> OrgApi {
        OrgApi {
            max_message_bytes,
            ..self
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
