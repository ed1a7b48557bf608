//! `okr_objectives`: one row per objective.

use sea_orm::entity::prelude::*;

use crate::lifecycle::ObjectiveState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "okr_objectives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub cycle_id: String,
    pub owner_id: String,
    pub state: ObjectiveState,
    pub kind: String,
    pub origin: String,
    /// "healthMetrics/{m}" for a remedial objective, else "".
    pub remedial_for: String,
    /// The guardrail metrics as `|healthMetrics/a|healthMetrics/b|`, or "".
    pub guardrails: String,
    /// Visibility PRIVATE: kept inside the owner's subtree.
    pub private: bool,
    pub version: i64,
    /// The encoded `Objective`, without its output-only roll-ups.
    pub snapshot: Vec<u8>,
    pub create_micros: i64,
    pub update_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
