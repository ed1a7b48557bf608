//! `okr_key_results`: one row per key result, with the tally of its
//! check-ins (`check_ins`, `in_band`, the latest value and confidence).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_key_results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub objective_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    /// "healthMetrics/{m}" when its value is fed from a metric, else "".
    pub health_metric: String,
    pub version: i64,
    /// The encoded `KeyResult`, without its output-only fields.
    pub snapshot: Vec<u8>,
    pub check_ins: i64,
    pub in_band: i64,
    pub current_value: f64,
    /// The latest check-in's confidence; -1 before the first.
    pub confidence: i32,
    /// 0 before the first check-in.
    pub last_check_in_micros: i64,
    pub scored: bool,
    pub score: f64,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
