//! The cascade service: the org-unit tree (`trellis.cascade.v1.OrgService`)
//! that owns every other resource, and the alignment graph
//! (`trellis.cascade.v1.CascadeService`), an in-memory projection of the
//! other services' change feeds.

pub mod alignment;
pub mod graph;
pub mod migration;
pub mod org;
pub mod projection;

pub use alignment::CascadeApi;
pub use migration::Migrator;
pub use org::OrgApi;
pub use projection::{Consumers, Projection, Source};

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "cascade";
