//! The health service's tables.

pub mod measurement;
pub mod metric;
pub mod status_change;
pub mod step;
