//! `okr_remedial`: the one remedial objective of a health metric in a cycle.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_remedial")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cycle_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub health_metric: String,
    pub objective_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
