//! The cascade's tables: the org units (the graph is kept in memory, its
//! feed cursors in `store/cursors.rs`).

pub mod org_unit;
