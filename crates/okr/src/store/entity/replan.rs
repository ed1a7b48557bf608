//! `okr_replans`: every recorded re-plan of a locked objective.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_replans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub objective_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i64,
    /// The encoded `Replan`.
    pub snapshot: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
