//! A relay's row in `{service}_event_relays`: how far it has sent, and
//! which replica holds it until when. Claims compare the replicas' clocks,
//! which NTP keeps well within the term.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};
use trellis_foundation::{Db, time::now_micros};

use crate::Error;

/// One replica's side of one relay's row.
#[derive(Debug, Clone)]
pub struct RelayRow {
    db: Db,
    table: String,
    name: &'static str,
    holder: String,
    term_micros: i64,
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

impl RelayRow {
    /// The row of relay `name` of `service`'s feed, held as `holder`.
    pub fn new(db: Db, service: &str, name: &'static str, holder: &str, term: Duration) -> RelayRow {
        RelayRow {
            db,
            table: trellis_foundation::store::event_relays_table(service),
            name,
            holder: holder.to_owned(),
            term_micros: Ord::max(i64::try_from(term.as_micros()).unwrap_or(i64::MAX), 1),
        }
    }

    /// How often a holder renews: three times a term.
    pub fn renew_every(&self) -> Duration {
        Duration::from_micros(Ord::max(u64::try_from(self.term_micros / 3).unwrap_or(1), 1))
    }

    /// Claims the relay if it is free or lapsed (or renews this replica's
    /// claim): the cursor to send from, or `None` when another replica
    /// holds it.
    pub async fn claim(&self) -> Result<Option<i64>, Error> {
        let now = now_micros();
        let txn = self.db.begin_write().await?;
        let insert = Query::insert()
            .into_table(col(&self.table))
            .columns(["name", "cursor", "holder", "until_micros"].map(col))
            .values_panic([self.name.into(), 0i64.into(), "".into(), 0i64.into()])
            .on_conflict(OnConflict::column(col("name")).do_nothing().to_owned())
            .to_owned();
        txn.execute(&insert).await?;
        let claim = Query::update()
            .table(col(&self.table))
            .value(col("holder"), self.holder.clone())
            .value(col("until_micros"), now.saturating_add(self.term_micros))
            .and_where(Expr::col(col("name")).eq(self.name))
            .and_where(
                Expr::col(col("holder"))
                    .eq(self.holder.clone())
                    .or(Expr::col(col("until_micros")).lt(now)),
            )
            .to_owned();
        let claimed = txn.execute(&claim).await?.rows_affected() == 1;
        let cursor = if claimed {
            let select = Query::select()
                .column(col("cursor"))
                .from(col(&self.table))
                .and_where(Expr::col(col("name")).eq(self.name))
                .to_owned();
            let row = txn
                .query_one(&select)
                .await?
                .ok_or_else(|| Error::Store(trellis_foundation::Error::Corrupt("the relay's row is gone".into())))?;
            Some(
                row.try_get::<i64>("", "cursor")
                    .map_err(trellis_foundation::Error::from)?,
            )
        } else {
            None
        };
        txn.commit().await?;
        Ok(cursor)
    }

    /// Stores `cursor` and renews the claim, if this replica still holds
    /// it (its claim has not lapsed); whether it did.
    pub async fn store(&self, cursor: i64) -> Result<bool, Error> {
        let now = now_micros();
        let txn = self.db.begin_write().await?;
        let update = Query::update()
            .table(col(&self.table))
            .value(col("cursor"), cursor)
            .value(col("until_micros"), now.saturating_add(self.term_micros))
            .and_where(Expr::col(col("name")).eq(self.name))
            .and_where(Expr::col(col("holder")).eq(self.holder.clone()))
            .and_where(Expr::col(col("until_micros")).gte(now))
            .to_owned();
        let held = txn.execute(&update).await?.rows_affected() == 1;
        txn.commit().await?;
        Ok(held)
    }

    /// Gives the claim up, so another replica need not wait for it to
    /// lapse.
    pub async fn release(&self) -> Result<(), Error> {
        let txn = self.db.begin_write().await?;
        let update = Query::update()
            .table(col(&self.table))
            .value(col("holder"), "")
            .value(col("until_micros"), 0i64)
            .and_where(Expr::col(col("name")).eq(self.name))
            .and_where(Expr::col(col("holder")).eq(self.holder.clone()))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// How far relay `name` of `service`'s feed has sent (its stored cursor; 0
/// before it first ran), read by any replica for the relay's lag.
pub async fn relayed_up_to(db: &Db, service: &str, name: &str) -> Result<i64, Error> {
    let select = Query::select()
        .column(col("cursor"))
        .from(col(&trellis_foundation::store::event_relays_table(service)))
        .and_where(Expr::col(col("name")).eq(name))
        .to_owned();
    match db.conn().query_one(&select).await? {
        Some(row) => Ok(row
            .try_get::<i64>("", "cursor")
            .map_err(trellis_foundation::Error::from)?),
        None => Ok(0),
    }
}
