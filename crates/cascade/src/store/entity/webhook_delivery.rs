//! `cascade_webhook_deliveries`: one row per event a webhook is to get,
//! written in the transaction that moves the dispatcher's cursor on that
//! feed, so an event is queued exactly once. Sent in (`create_micros`,
//! `sequence`) order per webhook.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub webhook_id: String,
    /// The CloudEvent's id (`okr-1234`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub subject: String,
    /// The CloudEvent, structured JSON: the request body.
    pub payload: Vec<u8>,
    /// PENDING, DELIVERED or DEAD_LETTERED.
    pub state: String,
    pub attempts: i32,
    pub last_status_code: i32,
    pub last_error: String,
    pub create_micros: i64,
    pub last_attempt_micros: i64,
    pub next_attempt_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
