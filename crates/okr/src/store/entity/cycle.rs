//! `okr_cycles`: one row per cycle.

use sea_orm::entity::prelude::*;

use crate::lifecycle::CycleState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_cycles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_unit_id: String,
    pub state: CycleState,
    pub version: i64,
    /// The encoded `Cycle`, without its output-only fields.
    pub snapshot: Vec<u8>,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
