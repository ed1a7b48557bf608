//! The strategy service: strategies as explicit choices (including what we
//! will not do), the assumptions that would have to be true, nesting under
//! a parent strategy's choice, and a revision for every change.
//!
//! The layout every service crate shares (see docs/architecture.md):
//! `grpc.rs` puts the operations on the wire, `ops/` holds them one file
//! per resource, `background/` the work the service does on its own,
//! `store/` the tables and how rows are stored, and the pure rules sit at
//! the top (`names`, `fields`, `commands`, `lifecycle`).

mod background;
mod commands;
pub mod error;
mod fields;
mod grpc;
pub mod lifecycle;
mod names;
mod ops;
pub mod store;

use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient,
    health::v1::health_metric_service_client::HealthMetricServiceClient,
};

pub use error::Error;
pub use grpc::StrategyGrpc;
pub use ops::StrategyOps;
pub use store::migration::Migrator;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "strategy";

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type HealthClient = HealthMetricServiceClient<trellis_foundation::trace::PeerChannel>;
