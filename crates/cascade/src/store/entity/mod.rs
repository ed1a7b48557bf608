//! The cascade's tables: the org units and the grants on them, and the
//! rhythm's conversations with their escalations (the graph is kept in
//! memory, its feed cursors in `store/cursors.rs`).

pub mod conversation;
pub mod escalation;
pub mod iam_policy;
pub mod org_unit;
