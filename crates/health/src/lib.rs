//! The health-metric service: KPIs that must stay within agreed ranges,
//! their measurements and status history, and the Four Square rule as an
//! escalation policy on each metric.
//!
//! The layout every service crate shares (see docs/architecture.md):
//! `grpc.rs` puts the operations on the wire, `ops/` holds them one file
//! per resource, `background/` the work the service does on its own,
//! `store/` the tables and how rows are stored, and the pure rules sit at
//! the top (`names`, `fields`, `commands`, `thresholds`, `freshness`,
//! `escalation`).

mod background;
mod commands;
pub mod error;
pub mod escalation;
mod fields;
pub mod freshness;
mod grpc;
mod names;
mod ops;
pub mod store;
pub mod thresholds;

use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient, okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};

pub use background::{Background, lease::DEFAULT_TERM as DEFAULT_RUNNER_LEASE};
pub use error::Error;
pub use grpc::HealthGrpc;
pub use ops::{HealthOps, Peers};
pub use store::{entity, migration::Migrator};

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "health";

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type OkrClient = OkrServiceClient<trellis_foundation::trace::PeerChannel>;
pub type StrategyClient = StrategyServiceClient<trellis_foundation::trace::PeerChannel>;
