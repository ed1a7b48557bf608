//! The strategy service's storage: its tables (`entity`) and migrations,
//! and how a strategy and its index rows are stored.

pub mod entity;
pub mod migration;
pub(crate) mod revisions;
pub(crate) mod rows;
