//! The okr service's storage: its tables (`entity`) and migrations, the
//! rows new objectives and key results become, how rows are read back
//! (`codec`, with what the `snapshot` columns hold in `snapshot`), the queries and locks writes share, and the bulk insert of a
//! season.

pub mod bulk;
pub(crate) mod codec;
pub mod entity;
pub mod migration;
pub(crate) mod queries;
pub(crate) mod rows;
pub(crate) mod snapshot;
