//! The `cascade_iam_policies` table: one row per unit that was ever given
//! grants (`unit_id` "-" is the org root). `bindings` is JSON,
//! `[{"role":"admin","members":["user:ann"]}]`, roles in role order and
//! members sorted: the stored form is the API's normal form.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_iam_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    pub bindings: String,
    pub version: i64,
    pub updater: String,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
