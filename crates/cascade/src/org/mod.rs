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
pub const RESOURCE_TYPE: &str = "trellis.cascade.v1.OrgUnit";
/// The most units one BatchCreateOrgUnits may carry.
pub const MAX_BATCH: usize = 50_000;

/// The `trellis.cascade.v1.OrgService` implementation.
#[derive(Debug, Clone)]
pub struct OrgApi {
    store: Store,
}

impl OrgApi {
    pub fn new(store: Store) -> OrgApi {
        OrgApi { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
