//! The strategy service's storage: its tables (`entity`) and migrations,
//! how a strategy and its index rows are stored, and the follower that
//! keeps the read cache in step with the feed.

pub mod entity;
pub(crate) mod follower;
pub mod migration;
pub(crate) mod revisions;
pub(crate) mod rows;
