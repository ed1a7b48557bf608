//! One service's handle on the shared mechanisms: its database, change feed,
//! request log and page-token key.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};

use crate::{
    db::{Db, WriteTxn},
    error::Error,
    feed::ChangeFeed,
    paging::PageTokens,
};

const PAGE_TOKEN_KEY: &str = "page_token_key";

/// The table of a service's event relays (see `migration::EventRelays`).
pub fn event_relays_table(prefix: &str) -> String {
    format!("{prefix}_event_relays")
}

/// The names of a service's shared tables.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub changes: String,
    pub counter: String,
    pub requests: String,
    pub meta: String,
}

impl TableNames {
    pub fn new(prefix: &str) -> TableNames {
        TableNames {
            changes: format!("{prefix}_changes"),
            counter: format!("{prefix}_change_counter"),
            requests: format!("{prefix}_requests"),
            meta: format!("{prefix}_meta"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub db: Db,
    pub feed: ChangeFeed,
    pub page_tokens: PageTokens,
    pub(crate) tables: Arc<TableNames>,
}

impl Store {
    /// Opens the mechanisms of the service whose tables carry `prefix`; its
    /// migrations must have run.
    pub async fn open(db: Db, prefix: &str) -> Result<Store, Error> {
        let tables = Arc::new(TableNames::new(prefix));
        let key = page_token_key(&db, &tables.meta).await?;
        Ok(Store {
            feed: ChangeFeed::new(db.clone(), Arc::clone(&tables)),
            page_tokens: PageTokens::new(&key),
            db,
            tables,
        })
    }

    /// How long a change-feed watcher that reads nothing is kept.
    pub fn with_watch_stall(mut self, stall: std::time::Duration) -> Store {
        self.feed.set_watch_stall(stall);
        self
    }

    pub async fn begin_write(&self) -> Result<WriteTxn, Error> {
        self.db.begin_write().await
    }
}

/// The key that signs page tokens lives in the database, so every replica
/// on the same database accepts the tokens of every other, across restarts.
async fn page_token_key(db: &Db, meta_table: &str) -> Result<Vec<u8>, Error> {
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    let insert = Query::insert()
        .into_table(Alias::new(meta_table))
        .columns([Alias::new("key"), Alias::new("value")])
        .values_panic([PAGE_TOKEN_KEY.into(), STANDARD.encode(fresh).into()])
        .on_conflict(OnConflict::column(Alias::new("key")).do_nothing().to_owned())
        .to_owned();
    let txn = db.begin_write().await?;
    txn.execute(&insert).await?;
    txn.commit().await?;
    let select = Query::select()
        .column(Alias::new("value"))
        .from(Alias::new(meta_table))
        .and_where(Expr::col(Alias::new("key")).eq(PAGE_TOKEN_KEY))
        .to_owned();
    let row = db
        .conn()
        .query_one(&select)
        .await?
        .ok_or_else(|| Error::Corrupt("page token key missing".into()))?;
    let encoded: String = row.try_get("", "value")?;
    STANDARD
        .decode(encoded)
        .map_err(|err| Error::Corrupt(format!("page token key: {err}")))
}
