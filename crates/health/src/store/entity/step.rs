//! `health_steps`: the escalation's outbox. A step is written in the same
//! transaction as the measurement that calls for it and deleted once the
//! other service confirmed it; until then it is retried, in order per
//! metric.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "health_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// PAUSE_GUARDED, CREATE_REMEDIAL, BREAK_ASSUMPTIONS, FOLLOW_GREEN,
    /// FOLLOW_YELLOW, FOLLOW_RED, COMPLETE_REMEDIAL, RESUME_PAUSED.
    pub kind: String,
    pub attempts: i32,
    pub last_error: String,
    /// Not retried before this time.
    pub next_micros: i64,
    pub create_micros: i64,
    /// W3C `traceparent` of the request that called for the step, or "".
    pub trace_parent: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
