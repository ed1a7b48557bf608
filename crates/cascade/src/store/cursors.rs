//! The cursors the projection has reached, written down about once a
//! second per feed, so an operator (and `GetProjectionStatus`) can see how
//! far the projection on this database got before a restart.

use crate::error::Error;
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query},
};
use trellis_foundation::{Db, time::now_micros};

pub const CURSOR_TABLE: &str = "cascade_feed_cursors";

#[derive(Debug, Clone)]
pub struct CursorStore {
    db: Db,
}

impl CursorStore {
    pub fn new(db: Db) -> CursorStore {
        CursorStore { db }
    }

    /// The stored cursor of `source`; 0 when none was stored.
    pub async fn load(&self, source: &str) -> Result<i64, Error> {
        let select = Query::select()
            .column(Alias::new("sequence"))
            .from(Alias::new(CURSOR_TABLE))
            .and_where(Expr::col(Alias::new("source")).eq(source))
            .to_owned();
        match self.db.conn().query_one(&select).await? {
            Some(row) => Ok(row.try_get::<i64>("", "sequence")?),
            None => Ok(0),
        }
    }

    pub async fn save(&self, source: &str, sequence: i64) -> Result<(), Error> {
        let txn = self.db.begin_write().await?;
        txn.execute(&upsert(source, sequence)).await?;
        Ok(txn.commit().await?)
    }
}

/// Sets the cursor of `source`, for a transaction that writes what it
/// derived from the feed up to there.
pub fn upsert(source: &str, sequence: i64) -> InsertStatement {
    Query::insert()
        .into_table(Alias::new(CURSOR_TABLE))
        .columns(["source", "sequence", "update_micros"].map(Alias::new))
        .values_panic([source.into(), sequence.into(), now_micros().into()])
        .on_conflict(
            OnConflict::column(Alias::new("source"))
                .update_columns(["sequence", "update_micros"].map(Alias::new))
                .to_owned(),
        )
        .to_owned()
}
