//! Writing many objectives and key results at once: the season import's
//! write path, and the same write without any checks or feed, which the
//! season benchmark measures as the ceiling the import is compared with.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, IntoActiveModel, Iterable, Statement,
    sea_query::{Expr, Query},
};
use trellis_foundation::{Db, names::is_valid_id, time::now_micros};
use trellis_proto::okr::v1::{self as pb, import_season_request::Row};

use crate::{
    error::Error,
    lifecycle::ObjectiveState,
    names::cycle_name,
    season::ImportedRow,
    store::{
        entity::{key_result, objective},
        rows::{key_result_row, objective_row},
    },
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

/// The rows' inserts, `INSERT_CHUNK` rows a statement. What every row of
/// one import shares (cycle, state, version, times, empty tallies) is
/// written into the SQL instead of bound: 5 of an objective's 11 values and
/// 10 of a key result's 17 are not copied and bound, and full chunks still
/// share one prepared statement.
pub fn insert_statements(backend: DbBackend, rows: BulkRows) -> Result<Vec<Statement>, Error> {
    use key_result::Column as Kr;
    use objective::Column as O;
    let mut statements = Vec::new();
    let shared = [O::CycleId, O::State, O::Version, O::CreateMicros, O::UpdateMicros];
    for chunk in rows.objectives.chunks(INSERT_CHUNK) {
        statements.push(insert_sharing::<objective::Entity>(backend, chunk, &shared)?);
    }
    let shared = [
        Kr::Version,
        Kr::CheckIns,
        Kr::InBand,
        Kr::CurrentValue,
        Kr::Confidence,
        Kr::LastCheckInMicros,
        Kr::Scored,
        Kr::Score,
        Kr::CreateMicros,
        Kr::UpdateMicros,
    ];
    for chunk in rows.key_results.chunks(INSERT_CHUNK) {
        statements.push(insert_sharing::<key_result::Entity>(backend, chunk, &shared)?);
    }
    Ok(statements)
}

/// An insert of `models` with the `shared` columns' values written as SQL
/// constants (escaped by the query builder) and the others bound.
fn insert_sharing<E>(backend: DbBackend, models: &[E::Model], shared: &[E::Column]) -> Result<Statement, Error>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let shared: Vec<&str> = shared.iter().map(|column| column.as_str()).collect();
    let mut insert = Query::insert();
    insert.into_table(E::default().table_ref()).columns(E::Column::iter());
    for model in models {
        let row = model.clone().into_active_model();
        let mut values = Vec::with_capacity(E::Column::iter().len());
        for column in E::Column::iter() {
            let value = row
                .get(column)
                .into_value()
                .ok_or_else(|| Error::Corrupt(format!("a new row lacks {}", column.as_str())))?;
            values.push(if shared.contains(&column.as_str()) {
                Expr::Constant(value)
            } else {
                Expr::val(value)
            });
        }
        insert.values_panic(values);
    }
    Ok(backend.build(&insert))
}

/// Inserts the rows with sea-orm's `insert_many`, `INSERT_CHUNK` rows a
/// statement, every value bound.
pub async fn insert_rows(txn: &impl ConnectionTrait, rows: BulkRows) -> Result<(), Error> {
    let mut objectives = rows.objectives.into_iter().peekable();
    while objectives.peek().is_some() {
        let chunk = objectives
            .by_ref()
            .take(INSERT_CHUNK)
            .map(IntoActiveModel::into_active_model);
        objective::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    let mut key_results = rows.key_results.into_iter().peekable();
    while key_results.peek().is_some() {
        let chunk = key_results
            .by_ref()
            .take(INSERT_CHUNK)
            .map(IntoActiveModel::into_active_model);
        key_result::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
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
