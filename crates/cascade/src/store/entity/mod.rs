//! The cascade's tables: the org units and the grants on them, and the
//! rhythm's initiatives, weekly plans and conversations with their
//! escalations, and the webhooks with their deliveries (the graph is kept
//! in memory, its feed cursors in `store/cursors.rs`).

pub mod conversation;
pub mod escalation;
pub mod iam_policy;
pub mod initiative;
pub mod org_unit;
pub mod webhook;
pub mod webhook_delivery;
pub mod weekly_plan;
