//! The cascade service. For now it hosts the org-unit tree
//! (`trellis.cascade.v1.OrgService`) that owns every other resource; the
//! alignment graph built from the other services' feeds comes later.

pub mod migration;
pub mod org;

pub use migration::Migrator;
pub use org::OrgApi;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "cascade";
