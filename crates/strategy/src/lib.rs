//! The strategy service: strategies as explicit choices (including what we
//! will not do), the assumptions that would have to be true, nesting under
//! a parent strategy's choice, and a revision for every change.

mod assumptions;
mod children;
mod choices;
mod convert;
pub mod entity;
mod follower;
mod grpc;
mod metric_references;
pub mod migration;
mod nesting;
mod queries;
mod revision;
pub mod state;
mod strategies;

use std::sync::Arc;

use trellis_foundation::{Error, Store, cache::SnapshotCache};
use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient,
    health::v1::health_metric_service_client::HealthMetricServiceClient, strategy::v1 as pb,
};

pub use migration::Migrator;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "strategy";

/// Current strategies kept in memory for reads (see `SnapshotCache`).
const CACHED_STRATEGIES: usize = 100_000;

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type HealthClient = HealthMetricServiceClient<trellis_foundation::trace::PeerChannel>;

/// The `trellis.strategy.v1.StrategyService` implementation.
#[derive(Clone)]
pub struct StrategyApi {
    store: Store,
    org: OrgClient,
    /// For the health metrics assumptions name.
    health: HealthClient,
    cache: Arc<SnapshotCache<pb::Strategy>>,
}

impl std::fmt::Debug for StrategyApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyApi")
            .field("store", &self.store)
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl StrategyApi {
    /// `org` reaches the org service (the cascade), in this process or not.
    /// Starts following the service's own change feed, so the read cache
    /// also learns of changes other processes commit to the same database.
    pub async fn new(store: Store, org: OrgClient, health: HealthClient) -> Result<StrategyApi, Error> {
        let cache = Arc::new(SnapshotCache::new(CACHED_STRATEGIES));
        // The head is read before any read can fill the cache, so every
        // change after a fill reaches the follower.
        let head = store.feed.head().await?;
        tokio::spawn(follower::follow(store.feed.clone(), Arc::clone(&cache), head));
        Ok(StrategyApi {
            store,
            org,
            health,
            cache,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
