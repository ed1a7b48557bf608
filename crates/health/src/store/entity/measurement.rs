//! `health_measurements`: the time series, one row per metric and time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_measurements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub measure_micros: i64,
    pub value: f64,
    pub source: String,
    /// GREEN, YELLOW or RED against the thresholds when it was recorded.
    pub level: String,
    pub record_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
