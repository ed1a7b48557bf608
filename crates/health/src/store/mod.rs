//! The health service's storage: its tables (`entity`) and migrations,
//! how a metric's row is read back as the resource clients see (`codec`),
//! and what its `snapshot` column holds (`snapshot`).

pub(crate) mod codec;
pub mod entity;
pub mod migration;
pub(crate) mod snapshot;
