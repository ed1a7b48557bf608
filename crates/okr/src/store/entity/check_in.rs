//! `okr_check_ins`: every check-in, newest found by its time-ordered id.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_check_ins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub objective_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_result_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub value: f64,
    pub confidence: i32,
    pub note: String,
    pub author: String,
    pub source: String,
    pub measure_micros: i64,
    /// Unique per key result: the check-in's own id, or for a value fed
    /// from a metric, the metric and measurement time, so the same
    /// measurement recorded twice is kept once.
    pub dedupe_key: String,
    pub create_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
