//! The strategy service's storage: its tables (`entity`) and migrations,
//! how a strategy and its index rows are stored, and what the `snapshot`
//! columns hold (`snapshot`).

pub mod entity;
pub mod migration;
pub(crate) mod revisions;
pub(crate) mod rows;
pub(crate) mod snapshot;
