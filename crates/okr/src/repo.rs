//! Loading rows, locking them for a write, and showing them.
//!
//! Writes that depend on a cycle's state hold its row shared (PostgreSQL)
//! until they commit, and cycle transitions hold it exclusively, so no
//! objective is drafted into a cycle that has just been activated. On
//! SQLite the writer lock already serializes every write.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use trellis_foundation::{Backend, Error, WriteTxn, time::now_micros};
use trellis_proto::okr::v1 as pb;

use crate::{
    OkrApi,
    entity::{cycle, key_result, objective},
    names::{cycle_name, key_result_name, objective_name},
    view::{CycleFacts, key_result_to_proto, objective_to_proto},
};

/// IN lists are chunked to stay under both backends' parameter limits.
pub const IN_CHUNK: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Shared,
    Exclusive,
}

pub async fn find_cycle(conn: &impl ConnectionTrait, id: &str) -> Result<cycle::Model, Error> {
    cycle::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(cycle_name(id)))
}

pub async fn find_objective(conn: &impl ConnectionTrait, id: &str) -> Result<objective::Model, Error> {
    objective::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(objective_name(id)))
}

pub async fn find_key_result(
    conn: &impl ConnectionTrait,
    objective_id: &str,
    id: &str,
) -> Result<key_result::Model, Error> {
    key_result::Entity::find_by_id((objective_id.to_owned(), id.to_owned()))
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(key_result_name(objective_id, id)))
}

/// (`key`, `other`) of every row whose `key` is one of `keys`.
pub async fn column_pairs<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    key: E::Column,
    other: E::Column,
    keys: impl IntoIterator<Item = String>,
) -> Result<Vec<(String, String)>, Error> {
    let keys: Vec<String> = keys.into_iter().collect();
    let mut pairs = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let rows: Vec<(String, String)> = E::find()
            .select_only()
            .column(key)
            .column(other)
            .filter(key.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        pairs.extend(rows);
    }
    Ok(pairs)
}

/// The key results of `objective_ids`, by objective then id.
pub async fn key_results_of(
    conn: &impl ConnectionTrait,
    objective_ids: &[String],
) -> Result<Vec<key_result::Model>, Error> {
    let mut rows = Vec::new();
    for chunk in objective_ids.chunks(IN_CHUNK) {
        rows.extend(
            key_result::Entity::find()
                .filter(key_result::Column::ObjectiveId.is_in(chunk.iter().cloned()))
                .order_by_asc(key_result::Column::ObjectiveId)
                .order_by_asc(key_result::Column::Id)
                .all(conn)
                .await?,
        );
    }
    Ok(rows)
}

impl OkrApi {
    fn is_postgres(&self) -> bool {
        self.store.db.backend() == Backend::Postgres
    }

    /// The cycle, locked as asked until `txn` ends.
    pub(crate) async fn lock_cycle(&self, txn: &WriteTxn, id: &str, lock: Lock) -> Result<cycle::Model, Error> {
        if !self.is_postgres() {
            return find_cycle(&**txn, id).await;
        }
        let select = cycle::Entity::find().filter(cycle::Column::Id.eq(id));
        let select = match lock {
            Lock::Shared => select.lock_shared(),
            Lock::Exclusive => select.lock_exclusive(),
        };
        select.one(&**txn).await?.ok_or_else(|| Error::NotFound(cycle_name(id)))
    }

    /// The objective, locked exclusively until `txn` ends (PostgreSQL).
    pub(crate) async fn lock_objective(&self, txn: &WriteTxn, id: &str) -> Result<objective::Model, Error> {
        objective::Entity::find()
            .filter(objective::Column::Id.eq(id))
            .lock_exclusive()
            .one(&**txn)
            .await?
            .ok_or_else(|| Error::NotFound(objective_name(id)))
    }

    /// Objectives as shown, with their key results' roll-ups; one query
    /// for all their key results and one per cycle they belong to.
    pub(crate) async fn show_objectives(
        &self,
        conn: &impl ConnectionTrait,
        rows: &[objective::Model],
    ) -> Result<Vec<pb::Objective>, Error> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut key_results: HashMap<String, Vec<key_result::Model>> = HashMap::new();
        for key_result in key_results_of(conn, &ids).await? {
            key_results
                .entry(key_result.objective_id.clone())
                .or_default()
                .push(key_result);
        }
        let mut cycles: HashMap<String, CycleFacts> = HashMap::new();
        let now = now_micros();
        let mut shown = Vec::with_capacity(rows.len());
        for row in rows {
            let facts = match cycles.get(&row.cycle_id) {
                Some(facts) => *facts,
                None => {
                    let facts = CycleFacts::of(&find_cycle(conn, &row.cycle_id).await?)?;
                    cycles.insert(row.cycle_id.clone(), facts);
                    facts
                }
            };
            let krs = key_results
                .get(&row.id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|kr| key_result_to_proto(kr, facts, now))
                .collect::<Result<Vec<_>, _>>()?;
            shown.push(objective_to_proto(row, &krs, facts)?);
        }
        Ok(shown)
    }

    pub(crate) async fn show_objective(
        &self,
        conn: &impl ConnectionTrait,
        row: &objective::Model,
    ) -> Result<pb::Objective, Error> {
        let mut shown = self.show_objectives(conn, std::slice::from_ref(row)).await?;
        shown
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("{} vanished", objective_name(&row.id))))
    }

    pub(crate) async fn show_key_result(
        &self,
        conn: &impl ConnectionTrait,
        row: &key_result::Model,
    ) -> Result<pb::KeyResult, Error> {
        let objective = find_objective(conn, &row.objective_id).await?;
        let facts = CycleFacts::of(&find_cycle(conn, &objective.cycle_id).await?)?;
        key_result_to_proto(row, facts, now_micros())
    }
}

/// `count` comma-separated placeholders for raw SQL, numbered from `first`
/// on PostgreSQL (`$3, $4`), plain `?` on SQLite.
pub fn placeholders(backend: DbBackend, first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 4);
    for index in first..first + count {
        if index > first {
            text.push_str(", ");
        }
        match backend {
            DbBackend::Postgres => {
                text.push('$');
                text.push_str(&index.to_string());
            }
            _ => text.push('?'),
        }
    }
    text
}
