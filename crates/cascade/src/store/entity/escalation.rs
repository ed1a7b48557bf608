//! The `cascade_conversation_escalations` table: the steps a missed
//! check-in took up the org line, one row per conversation and step.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_conversation_escalations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: String,
    /// `OWNER`, `LEAD` or `PARENT_LEAD`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub step: String,
    pub person: String,
    pub org_unit: String,
    pub create_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
