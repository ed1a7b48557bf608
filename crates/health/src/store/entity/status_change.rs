//! `health_status_changes`: the status history, one row per change; a
//! change's duration is the time to the next one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "health_status_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric_id: String,
    /// When the metric entered `status`; strictly increasing per metric.
    #[sea_orm(primary_key, auto_increment = false)]
    pub change_micros: i64,
    pub status: String,
    pub previous: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
