//! The health service's storage: its tables (`entity`) and migrations,
//! and how a metric's row is read back as the resource clients see.

pub(crate) mod codec;
pub mod entity;
pub mod migration;
