//! The OKR service: cycles (planning seasons), objectives aligned to
//! strategy choices and to each other, key results of six kinds,
//! check-ins, scoring, and the planning-season import.

pub mod bulk;
mod check_in_facts;
mod check_ins;
mod cycles;
pub mod entity;
mod escalation;
mod fields;
mod graph;
mod grpc;
mod import;
mod key_results;
pub mod lifecycle;
mod metric_feed;
pub mod migration;
mod names;
mod objectives;
mod references;
mod replans;
mod repo;
mod rows;
mod view;

use trellis_foundation::{Error, Store};
use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient, strategy::v1::strategy_service_client::StrategyServiceClient,
};

pub use migration::Migrator;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "okr";

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type StrategyClient = StrategyServiceClient<trellis_foundation::trace::PeerChannel>;

/// The `trellis.okr.v1.OkrService` implementation.
#[derive(Clone, Debug)]
pub struct OkrApi {
    store: Store,
    org: OrgClient,
    strategy: StrategyClient,
    check_ins: check_ins::CheckInWriter,
}

impl OkrApi {
    /// `org` and `strategy` reach those services, in this process or not.
    pub async fn new(store: Store, org: OrgClient, strategy: StrategyClient) -> Result<OkrApi, Error> {
        let check_ins = check_ins::CheckInWriter::start(store.clone());
        Ok(OkrApi {
            store,
            org,
            strategy,
            check_ins,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
