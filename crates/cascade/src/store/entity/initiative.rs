//! The `cascade_initiatives` table: the work units do, each serving key
//! results (`key_results` as members, `|a|b|`, so a filter can ask for
//! one).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_initiatives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The owning unit's id.
    pub owner_id: String,
    pub title: String,
    pub description: String,
    pub accountable: String,
    pub key_results: String,
    /// The status's enum name, `NOT_NOW` ... `DROPPED`.
    pub status: String,
    pub status_reason: String,
    /// "2027-W05", or "" for none.
    pub target_week: String,
    pub version: i64,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
