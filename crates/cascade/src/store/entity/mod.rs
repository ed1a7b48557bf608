//! The cascade's tables: the org units and the grants on them (the graph
//! is kept in memory, its feed cursors in `store/cursors.rs`).

pub mod iam_policy;
pub mod org_unit;
