//! The health service's tables.

pub mod lease;
pub mod measurement;
pub mod metric;
pub mod status_change;
pub mod step;
