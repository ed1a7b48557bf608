//! The cascade's storage: the org-unit table and its migrations, the
//! queries the org service runs, how a row is shown, and the feed cursors
//! the projection has reached.

pub(crate) mod codec;
pub(crate) mod conversations;
pub(crate) mod cursors;
pub mod entity;
pub mod migration;
pub(crate) mod queries;
pub mod snapshots;
