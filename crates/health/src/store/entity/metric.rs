//! `health_metrics`: one row per metric, its configuration as a snapshot,
//! and, as columns, what every measurement reads and writes: the newest
//! measurement, the recorded status, and the escalation's state.

use sea_orm::entity::prelude::*;

use crate::escalation::Stage;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_metrics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    /// Visibility PRIVATE: kept inside the owner's subtree.
    pub private: bool,
    pub direction: String,
    pub version: i64,
    /// The encoded `HealthMetric`, without its output-only fields.
    pub snapshot: Vec<u8>,
    /// 0: never goes UNKNOWN.
    pub cadence_micros: i64,
    /// The status last recorded in the history (GREEN, YELLOW, RED,
    /// UNKNOWN) and since when.
    pub status: String,
    pub status_micros: i64,
    /// When the metric goes UNKNOWN without a new measurement
    /// (`i64::MAX` without a cadence): what the sweep looks for.
    pub expire_micros: i64,
    /// The newest measurement; `latest_micros` 0 before the first.
    pub latest_micros: i64,
    pub latest_value: f64,
    pub latest_level: String,
    pub latest_source: String,
    pub latest_record_micros: i64,
    /// When the newest measurement's level began.
    pub level_since_micros: i64,
    /// The newest measurement fed to the key results linked to the metric.
    pub fed_micros: i64,
    pub stage: Stage,
    pub stage_micros: i64,
    pub consecutive_red: i32,
    pub red_while_escalated: i32,
    /// "objectives/{id}" once the escalation's remedial objective exists.
    pub remedial_objective: String,
    /// The objectives this escalation paused, `|objectives/a|objectives/b|`.
    pub paused_objectives: String,
    /// The sequence of the metric's last recorded step.
    pub last_step: i64,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
