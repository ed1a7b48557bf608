//! The cascade's tables: the org units and the grants on them, and the
//! rhythm's initiatives, weekly plans and conversations with their
//! escalations (the graph is kept in memory, its feed cursors in
//! `store/cursors.rs`).

pub mod conversation;
pub mod escalation;
pub mod iam_policy;
pub mod initiative;
pub mod org_unit;
pub mod weekly_plan;
