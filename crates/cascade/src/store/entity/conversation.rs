//! The `cascade_conversations` table: one row per conversation, keyed by
//! what opened it (`subject`, `reason`, `open_key`: the opening move's
//! feed sequence, or the start of a missed check-in's lapse), so deriving
//! it again from the same events finds the row instead of adding one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `COLOUR_CHANGED` or `MISSED_CHECK_IN`.
    pub reason: String,
    pub subject: String,
    pub subject_title: String,
    pub org_unit: String,
    pub private: bool,
    pub person: String,
    /// Colour names; "" for a missed check-in.
    pub from_colour: String,
    pub to_colour: String,
    pub moves: i32,
    pub detail: String,
    /// `OPEN` or `CLOSED`.
    pub state: String,
    pub open_key: i64,
    /// The feed sequence of the latest move applied to it: a move at or
    /// before it is a replay.
    pub last_sequence: i64,
    pub open_micros: i64,
    pub move_micros: i64,
    pub note: String,
    pub closed_by: String,
    pub close_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
