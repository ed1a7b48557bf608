//! Where the rhythm keeps its conversations. Every write is keyed by what
//! caused it (a move's feed sequence, a lapse's start, a step), and
//! written only when that is news: deriving the same events again, after
//! a restart or on a second replica, finds the rows it would write.

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use trellis_foundation::Db;

use crate::{
    error::Error,
    rhythm::{
        conversations::{MoveEffect, effect_of_move},
        missed::{MissedStep, Overdue},
        signals::Move,
    },
    store::{
        cursors,
        entity::{
            conversation::{self, Column, Entity},
            escalation,
        },
    },
};

pub const COLOUR_CHANGED: &str = "COLOUR_CHANGED";
pub const MISSED_CHECK_IN: &str = "MISSED_CHECK_IN";
pub const OPEN: &str = "OPEN";
pub const CLOSED: &str = "CLOSED";
/// Who closes a missed check-in that a check-in ended.
pub const SYSTEM_CLOSER: &str = "trellis";

/// The cursor the rhythm keeps for a feed, beside the projection's.
pub fn cursor_source(source: &str) -> String {
    format!("rhythm/{source}")
}

/// A conversation's id: newest first in id order, then a hash of what
/// opened it, so every replica names the same conversation the same way.
pub fn conversation_id(subject: &str, reason: &str, open_key: i64, open_micros: i64) -> String {
    let inverted = i64::MAX.saturating_sub(Ord::max(open_micros, 0));
    let mut hash: u32 = 0x811c_9dc5;
    for byte in subject.bytes().chain(reason.bytes()).chain(open_key.to_be_bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("c{inverted:016x}{hash:08x}")
}

pub fn step_name(step: MissedStep) -> &'static str {
    match step {
        MissedStep::Owner => "OWNER",
        MissedStep::Lead => "LEAD",
        MissedStep::ParentLead => "PARENT_LEAD",
    }
}

#[derive(Debug, Clone)]
pub struct ConversationStore {
    db: Db,
}

impl ConversationStore {
    pub fn new(db: Db) -> ConversationStore {
        ConversationStore { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies colour moves, in feed order, with each feed's rhythm cursor,
    /// in one transaction; how many conversations opened or changed.
    pub async fn apply_moves(&self, moves: &[Move]) -> Result<usize, Error> {
        let txn = self.db.begin_write().await?;
        let mut changed = 0;
        let mut cursors: Vec<(&'static str, i64)> = Vec::new();
        for moved in moves {
            match cursors.iter_mut().find(|(source, _)| *source == moved.source) {
                Some((_, cursor)) => *cursor = Ord::max(*cursor, moved.sequence),
                None => cursors.push((moved.source, moved.sequence)),
            }
            changed += apply_move(txn.txn(), moved).await?;
        }
        for (source, sequence) in cursors {
            txn.execute(&cursors::upsert(&cursor_source(source), sequence)).await?;
        }
        txn.commit().await?;
        Ok(changed)
    }

    /// The open missed check-ins, with the steps each has taken.
    pub async fn open_lapses(&self) -> Result<Vec<(conversation::Model, Vec<String>)>, Error> {
        let open = Entity::find()
            .filter(Column::State.eq(OPEN))
            .filter(Column::Reason.eq(MISSED_CHECK_IN))
            .all(self.db.conn())
            .await?;
        let mut steps = Vec::with_capacity(open.len());
        for chunk in open.chunks(crate::store::queries::IN_CHUNK) {
            let ids: Vec<String> = chunk.iter().map(|row| row.id.clone()).collect();
            let found = escalation::Entity::find()
                .filter(escalation::Column::ConversationId.is_in(ids))
                .all(self.db.conn())
                .await?;
            steps.extend(found);
        }
        Ok(open
            .into_iter()
            .map(|row| {
                let taken = steps
                    .iter()
                    .filter(|step| step.conversation_id == row.id)
                    .map(|step| step.step.clone())
                    .collect();
                (row, taken)
            })
            .collect())
    }

    /// Opens the lapse's conversation if it is new and records the steps
    /// it has not taken yet; what is there already stays as it is.
    pub async fn record_lapse(&self, lapse: &Overdue, now_micros: i64) -> Result<(), Error> {
        let id = conversation_id(&lapse.subject, MISSED_CHECK_IN, lapse.since_micros, lapse.due_micros);
        let row = conversation::ActiveModel {
            id: Set(id.clone()),
            reason: Set(MISSED_CHECK_IN.into()),
            subject: Set(lapse.subject.clone()),
            subject_title: Set(lapse.title.clone()),
            org_unit: Set(lapse.org_unit.clone()),
            private: Set(lapse.private),
            person: Set(lapse.person.clone()),
            from_colour: Set(String::new()),
            to_colour: Set(String::new()),
            moves: Set(0),
            detail: Set("no check-in within its cadence".into()),
            state: Set(OPEN.into()),
            open_key: Set(lapse.since_micros),
            last_sequence: Set(0),
            open_micros: Set(lapse.due_micros),
            move_micros: Set(lapse.due_micros),
            note: Set(String::new()),
            closed_by: Set(String::new()),
            close_micros: Set(0),
        };
        let txn = self.db.begin_write().await?;
        Entity::insert(row)
            .on_conflict(
                OnConflict::columns([Column::Subject, Column::Reason, Column::OpenKey])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn.txn())
            .await?;
        for (step, person, org_unit) in &lapse.steps {
            let row = escalation::ActiveModel {
                conversation_id: Set(id.clone()),
                step: Set(step_name(*step).into()),
                person: Set(person.clone()),
                org_unit: Set(org_unit.clone()),
                create_micros: Set(now_micros),
            };
            escalation::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([escalation::Column::ConversationId, escalation::Column::Step])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn.txn())
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Closes conversation `id` if it is open; `None` when it was not.
    pub async fn close(
        &self,
        id: &str,
        note: &str,
        by: &str,
        at_micros: i64,
    ) -> Result<Option<conversation::Model>, Error> {
        let txn = self.db.begin_write().await?;
        let closed = Entity::update_many()
            .col_expr(Column::State, Expr::value(CLOSED))
            .col_expr(Column::Note, Expr::value(note))
            .col_expr(Column::ClosedBy, Expr::value(by))
            .col_expr(Column::CloseMicros, Expr::value(at_micros))
            .filter(Column::Id.eq(id))
            .filter(Column::State.eq(OPEN))
            .exec(txn.txn())
            .await?;
        let row = Entity::find_by_id(id).one(txn.txn()).await?;
        txn.commit().await?;
        Ok(row.filter(|_| closed.rows_affected == 1))
    }

    pub async fn get(&self, id: &str) -> Result<Option<conversation::Model>, Error> {
        Ok(Entity::find_by_id(id).one(self.db.conn()).await?)
    }

    /// The escalations of the conversations `ids`, in step order.
    pub async fn escalations(&self, ids: &[String]) -> Result<Vec<escalation::Model>, Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(crate::store::queries::IN_CHUNK) {
            found.extend(
                escalation::Entity::find()
                    .filter(escalation::Column::ConversationId.is_in(chunk.to_vec()))
                    .order_by_asc(escalation::Column::CreateMicros)
                    .all(self.db.conn())
                    .await?,
            );
        }
        Ok(found)
    }

    /// The open conversations escalated to `people`, newest first.
    pub async fn escalated_to(&self, people: &[String], limit: u64) -> Result<Vec<conversation::Model>, Error> {
        use sea_orm::{QuerySelect, QueryTrait};
        let escalated = escalation::Entity::find()
            .select_only()
            .column(escalation::Column::ConversationId)
            .filter(escalation::Column::Person.is_in(people.to_vec()))
            .into_query();
        Ok(Entity::find()
            .filter(Column::Id.in_subquery(escalated))
            .filter(Column::State.eq(OPEN))
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(self.db.conn())
            .await?)
    }
}

/// One move against the subject's latest colour conversation.
async fn apply_move(txn: &impl ConnectionTrait, moved: &Move) -> Result<usize, Error> {
    let subject = moved.subject.name();
    let latest = Entity::find()
        .filter(Column::Subject.eq(subject))
        .filter(Column::Reason.eq(COLOUR_CHANGED))
        .order_by_desc(Column::OpenKey)
        .one(txn)
        .await?;
    let reading = &moved.reading;
    let to = reading.colour.as_str();
    let known = latest.as_ref().map(|row| (row.last_sequence, row.state == OPEN));
    match effect_of_move(known, moved.sequence) {
        MoveEffect::Replay => Ok(0),
        MoveEffect::Update => {
            let Some(latest) = latest else { return Ok(0) };
            // Conditional, so a second replica applying the same move
            // counts it once.
            let updated = Entity::update_many()
                .col_expr(Column::ToColour, Expr::value(to))
                .col_expr(Column::Moves, Expr::col(Column::Moves).add(1))
                .col_expr(Column::Detail, Expr::value(reading.detail.as_str()))
                .col_expr(Column::Person, Expr::value(reading.person.as_str()))
                .col_expr(Column::SubjectTitle, Expr::value(reading.title.as_str()))
                .col_expr(Column::OrgUnit, Expr::value(reading.org_unit.as_str()))
                .col_expr(Column::Private, Expr::value(reading.private))
                .col_expr(Column::MoveMicros, Expr::value(moved.at_micros))
                .col_expr(Column::LastSequence, Expr::value(moved.sequence))
                .filter(Column::Id.eq(latest.id))
                .filter(Column::State.eq(OPEN))
                .filter(Column::LastSequence.lt(moved.sequence))
                .exec(txn)
                .await?;
            Ok(usize::try_from(updated.rows_affected).unwrap_or(0))
        }
        MoveEffect::Open => {
            let row = conversation::ActiveModel {
                id: Set(conversation_id(
                    subject,
                    COLOUR_CHANGED,
                    moved.sequence,
                    moved.at_micros,
                )),
                reason: Set(COLOUR_CHANGED.into()),
                subject: Set(subject.to_owned()),
                subject_title: Set(reading.title.clone()),
                org_unit: Set(reading.org_unit.clone()),
                private: Set(reading.private),
                person: Set(reading.person.clone()),
                from_colour: Set(moved.from.as_str().into()),
                to_colour: Set(to.into()),
                moves: Set(1),
                detail: Set(reading.detail.clone()),
                state: Set(OPEN.into()),
                open_key: Set(moved.sequence),
                last_sequence: Set(moved.sequence),
                open_micros: Set(moved.at_micros),
                move_micros: Set(moved.at_micros),
                note: Set(String::new()),
                closed_by: Set(String::new()),
                close_micros: Set(0),
            };
            let inserted = Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([Column::Subject, Column::Reason, Column::OpenKey])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            Ok(usize::try_from(inserted).unwrap_or(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_newest_first_and_the_same_for_the_same_opening() {
        let older = conversation_id("objectives/o/keyResults/k", COLOUR_CHANGED, 7, 1_000);
        let newer = conversation_id("objectives/o/keyResults/k", COLOUR_CHANGED, 9, 2_000);
        assert!(trellis_foundation::names::is_valid_id(&older), "{older}");
        assert!(newer < older);
        assert_eq!(
            older,
            conversation_id("objectives/o/keyResults/k", COLOUR_CHANGED, 7, 1_000)
        );
        assert_ne!(
            older,
            conversation_id("objectives/o/keyResults/j", COLOUR_CHANGED, 7, 1_000)
        );
    }
}
