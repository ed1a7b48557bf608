//! `strategy_revisions`: every revision's snapshot, kept for history.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "strategy_revisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub strategy_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i64,
    pub snapshot: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
