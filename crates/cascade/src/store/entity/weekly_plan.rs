//! The `cascade_weekly_plans` table: one row per unit and ISO week that
//! was ever written, its priorities as JSON (`store::weekly_plans`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_weekly_plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    /// "2027-w05".
    #[sea_orm(primary_key, auto_increment = false)]
    pub week: String,
    pub week_start_micros: i64,
    pub priorities: String,
    pub version: i64,
    pub updater: String,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
