//! The cascade service: the org-unit tree (`trellis.cascade.v1.OrgService`)
//! that owns every other resource, and the alignment graph
//! (`trellis.cascade.v1.CascadeService`), an in-memory projection of the
//! other services' change feeds.
//!
//! The layout every service crate shares (see docs/architecture.md):
//! `grpc/` puts the operations on the wire, `ops/` holds them one file per
//! resource, `background/` the work the service does on its own (the
//! projection following the feeds), `store/` the tables and how rows are
//! stored, and the pure rules sit at the top (`names`, `fields`, `tree`,
//! and `graph/`, the alignment graph itself).

mod background;
pub mod error;
mod fields;
pub mod graph;
mod grpc;
pub mod history;
mod names;
mod ops;
pub mod rhythm;
pub mod store;
pub mod tree;

pub use background::{Consumers, Projection, RhythmTasks, SnapshotTasks, Source, WebhookSettings, WebhookTasks};
pub use error::Error;
pub use grpc::{AccessGrpc, CascadeGrpc, OrgGrpc, RhythmGrpc, WebhookGrpc};
pub use ops::{AlignmentOps, DEFAULT_MAX_METRICS_PER_PERSON, OrgOps, RhythmOps, webhooks::WebhookOps};
pub use store::migration::Migrator;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "cascade";
