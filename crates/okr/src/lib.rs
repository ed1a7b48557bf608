//! The OKR service: cycles (planning seasons), objectives aligned to
//! strategy choices and to each other, key results of six kinds,
//! check-ins, scoring, and the planning-season import.
//!
//! The layout every service crate shares (see docs/architecture.md):
//! `grpc.rs` puts the operations on the wire, `ops/` holds them one file
//! per resource, `background/` the work the service does on its own,
//! `store/` the tables and how rows are stored, and the pure rules sit at
//! the top (`names`, `fields`, `commands`, `lifecycle`, `season`).

mod background;
mod commands;
pub mod error;
mod fields;
mod grpc;
pub mod lifecycle;
mod names;
mod ops;
mod season;
pub mod store;

use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient, strategy::v1::strategy_service_client::StrategyServiceClient,
};

pub use background::check_in_writer::BatchObserver;
pub use error::Error;
pub use grpc::OkrGrpc;
pub use ops::OkrOps;
pub use store::{bulk, entity, migration::Migrator};

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "okr";

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type StrategyClient = StrategyServiceClient<trellis_foundation::trace::PeerChannel>;
