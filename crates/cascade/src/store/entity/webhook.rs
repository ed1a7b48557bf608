//! `cascade_webhooks`: the webhook subscriptions (`event_types` as
//! members, `|a|b|`). The secret is kept to sign with and never returned.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    pub url: String,
    pub event_types: String,
    pub secret: String,
    pub paused: bool,
    pub creator: String,
    pub version: i64,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
