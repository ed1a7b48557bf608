//! Writing many objectives and key results at once: the season import's
//! write path, and the same write without any checks or feed, which the
//! season benchmark measures as the ceiling the import is compared with.

use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryTrait, Statement};
use trellis_foundation::{Db, Error, names::is_valid_id, time::now_micros};
use trellis_proto::okr::v1::{self as pb, import_season_request::Row};

use crate::{
    entity::{key_result, objective},
    import::ImportedRow,
    lifecycle::ObjectiveState,
    names::cycle_name,
    rows::{key_result_row, objective_row},
};

/// Rows per insert statement: under SQLite's 32,766 parameters for the
/// widest table (17 columns).
const INSERT_CHUNK: usize = 1_500;

/// The rows of a season, ready to insert.
pub struct BulkRows {
    pub objectives: Vec<objective::Model>,
    pub key_results: Vec<key_result::Model>,
}

impl BulkRows {
    pub fn new(cycle_id: &str, rows: &[ImportedRow], now: i64) -> BulkRows {
        let mut objectives = Vec::with_capacity(rows.len());
        let mut key_results = Vec::with_capacity(rows.len() * 4);
        for row in rows {
            objectives.push(objective_row(
                &row.id,
                cycle_id,
                &row.objective,
                ObjectiveState::Draft,
                now,
            ));
            for (id, key_result) in &row.key_results {
                key_results.push(key_result_row(&row.id, id, key_result, now));
            }
        }
        BulkRows {
            objectives,
            key_results,
        }
    }

    pub fn len(&self) -> usize {
        self.objectives.len() + self.key_results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rows' inserts, in `insert_many` statements of `INSERT_CHUNK` rows.
pub fn insert_statements(backend: DbBackend, rows: BulkRows) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut objectives = rows.objectives.into_iter().peekable();
    while objectives.peek().is_some() {
        let chunk = objectives
            .by_ref()
            .take(INSERT_CHUNK)
            .map(IntoActiveModel::into_active_model);
        statements.push(objective::Entity::insert_many(chunk).build(backend));
    }
    let mut key_results = rows.key_results.into_iter().peekable();
    while key_results.peek().is_some() {
        let chunk = key_results
            .by_ref()
            .take(INSERT_CHUNK)
            .map(IntoActiveModel::into_active_model);
        statements.push(key_result::Entity::insert_many(chunk).build(backend));
    }
    statements
}

/// Inserts the rows in `insert_many` statements of `INSERT_CHUNK` rows.
pub async fn insert_rows(txn: &impl ConnectionTrait, rows: BulkRows) -> Result<(), Error> {
    for statement in insert_statements(txn.get_database_backend(), rows) {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// The import rows as they would be stored, without any check: ids from
/// `row_id` and key-result names (or positions).
pub fn unchecked(cycle_id: &str, rows: Vec<Row>) -> Vec<ImportedRow> {
    rows.into_iter()
        .map(|row| {
            let objective = pb::Objective {
                cycle: cycle_name(cycle_id),
                ..row.objective.unwrap_or_default()
            };
            let key_results = row
                .key_results
                .into_iter()
                .enumerate()
                .map(|(index, key_result)| {
                    let id = if is_valid_id(&key_result.name) {
                        key_result.name.clone()
                    } else {
                        format!("kr{}", index + 1)
                    };
                    (id, key_result)
                })
                .collect();
            ImportedRow {
                id: row.row_id,
                objective,
                key_results,
            }
        })
        .collect()
}

/// Writes `rows` in one transaction with no checks and no feed: the
/// ceiling for the season import. Returns the rows written.
pub async fn raw_insert(db: &Db, cycle_id: &str, rows: Vec<Row>) -> Result<usize, Error> {
    let rows = BulkRows::new(cycle_id, &unchecked(cycle_id, rows), now_micros());
    let count = rows.len();
    let txn = db.begin_write().await?;
    insert_rows(&*txn, rows).await?;
    txn.commit().await?;
    Ok(count)
}
