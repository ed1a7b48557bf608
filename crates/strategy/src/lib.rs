//! The strategy service: strategies as explicit choices (including what we
//! will not do), the assumptions that would have to be true, nesting under
//! a parent strategy's choice, and a revision for every change.

mod assumptions;
mod children;
mod choices;
mod convert;
pub mod entity;
mod grpc;
pub mod migration;
mod queries;
mod revision;
pub mod state;
mod strategies;

use trellis_foundation::Store;
use trellis_proto::cascade::v1::org_service_client::OrgServiceClient;

pub use migration::Migrator;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "strategy";

pub type OrgClient = OrgServiceClient<tonic::transport::Channel>;

/// The `trellis.strategy.v1.StrategyService` implementation.
#[derive(Debug, Clone)]
pub struct StrategyApi {
    store: Store,
    org: OrgClient,
}

impl StrategyApi {
    /// `org` reaches the org service (the cascade), in this process or not.
    pub fn new(store: Store, org: OrgClient) -> StrategyApi {
        StrategyApi { store, org }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
