//! The `cascade_org_units` table. `path` is the materialized path of ids
//! from the root, `/acme/sales/emea/`, so a subtree is a prefix query;
//! `parent_id` is empty for a root.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_org_units")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub parent_id: String,
    pub display_name: String,
    pub kind: String,
    pub description: String,
    /// The unit's lead ("" for none).
    pub lead: String,
    pub depth: i32,
    pub path: String,
    pub version: i64,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The ids from the root down to this unit's parent.
    pub fn ancestor_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.path.split('/').filter(|id| !id.is_empty()).collect();
        ids.pop();
        ids
    }
}
