//! The strategy service's domain operations, one file per resource: each
//! checks every field (collecting every violation), writes in one
//! transaction and appends its change events. A method lives in the file
//! of the resource it acts on.

mod assumptions;
pub(crate) mod children;
mod choices;
mod metric_references;
pub(crate) mod nesting;
mod revisions;
mod strategies;

use std::sync::Arc;

use trellis_access::Access;
use trellis_foundation::{Store, cache::SnapshotCache};
use trellis_proto::strategy::v1 as pb;

use crate::{HealthClient, OrgClient, error::Error};

/// Current strategies kept in memory for reads (see `SnapshotCache`).
const CACHED_STRATEGIES: usize = 100_000;

/// The strategy service's operations, grouped by resource in this
/// module's files; `grpc::StrategyGrpc` puts them on the wire.
#[derive(Clone)]
pub struct StrategyOps {
    store: Store,
    org: OrgClient,
    /// For the health metrics assumptions name.
    health: HealthClient,
    cache: Arc<SnapshotCache<pb::Strategy>>,
    access: Access,
}

impl std::fmt::Debug for StrategyOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyOps")
            .field("store", &self.store)
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl StrategyOps {
    /// `org` reaches the org service (the cascade), in this process or not.
    /// Starts following the service's own change feed, so the read cache
    /// also learns of changes other processes commit to the same database.
    pub async fn new(store: Store, org: OrgClient, health: HealthClient) -> Result<StrategyOps, Error> {
        let cache = Arc::new(SnapshotCache::new(CACHED_STRATEGIES));
        // The head is read before any read can fill the cache, so every
        // change after a fill reaches the follower.
        let head = store.feed.head().await?;
        tokio::spawn(crate::background::follower::follow(
            store.feed.clone(),
            Arc::clone(&cache),
            head,
        ));
        Ok(StrategyOps {
            store,
            org,
            health,
            cache,
            access: Access::open(),
        })
    }

    /// Holds every request to the access policy (`--auth-mode oidc`).
    pub fn with_access(self, access: Access) -> StrategyOps {
        StrategyOps { access, ..self }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
