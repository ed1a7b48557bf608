//! Loading rows and locking them for a write.
//!
//! Writes that depend on a cycle's state hold its row shared (PostgreSQL)
//! until they commit, and cycle transitions hold it exclusively, so no
//! objective is drafted into a cycle that has just been activated. On
//! SQLite the writer lock already serializes every write.

use crate::{
    OkrOps,
    error::Error,
    names::{cycle_name, key_result_name, objective_name},
    store::entity::{cycle, key_result, objective},
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use trellis_foundation::{Backend, WriteTxn};

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
        .ok_or_else(|| Error::NotFound { name: cycle_name(id) })
}

pub async fn find_objective(conn: &impl ConnectionTrait, id: &str) -> Result<objective::Model, Error> {
    objective::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound {
            name: objective_name(id),
        })
}

pub async fn find_key_result(
    conn: &impl ConnectionTrait,
    objective_id: &str,
    id: &str,
) -> Result<key_result::Model, Error> {
    key_result::Entity::find_by_id((objective_id.to_owned(), id.to_owned()))
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound {
            name: key_result_name(objective_id, id),
        })
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

impl OkrOps {
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
        select
            .one(&**txn)
            .await?
            .ok_or_else(|| Error::NotFound { name: cycle_name(id) })
    }

    /// The objective, locked exclusively until `txn` ends (PostgreSQL).
    pub(crate) async fn lock_objective(&self, txn: &WriteTxn, id: &str) -> Result<objective::Model, Error> {
        objective::Entity::find()
            .filter(objective::Column::Id.eq(id))
            .lock_exclusive()
            .one(&**txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                name: objective_name(id),
            })
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
