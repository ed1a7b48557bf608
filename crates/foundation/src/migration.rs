//! The tables every service keeps for the shared mechanisms, prefixed with
//! the service's name so services can share one database without sharing
//! tables: `{p}_changes` (the outbox), `{p}_change_counter` (the feed's
//! sequence), `{p}_requests` (create idempotency) and `{p}_meta`.

use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, CaseStatement, ColumnDef, Expr, ExprTrait, Index, IndexCreateStatement, Order, Query, Table},
};
use sea_orm_migration::{DbErr, MigrationName, MigrationTrait, SchemaManager, async_trait, schema::*};

use trellis_proto::chain::Link;

use crate::store::TableNames;

/// An index named `{table}_{name}` on `columns`.
pub fn index(table: &str, name: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(format!("{table}_{name}")).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

/// A table of `columns` whose primary key is the columns named `keys`.
pub async fn create_table(
    manager: &SchemaManager<'_>,
    table: &str,
    keys: &[&str],
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    let mut create = Table::create();
    create.table(Alias::new(table)).if_not_exists();
    for mut column in columns {
        create.col(&mut column);
    }
    let mut primary_key = Index::create();
    for key in keys {
        primary_key.col(Alias::new(*key));
    }
    create.primary_key(&mut primary_key);
    manager.create_table(create.to_owned()).await
}

/// Adds the boolean column `column` to `table`, false in existing rows.
pub async fn add_flag(manager: &SchemaManager<'_>, table: &str, column: &str) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(ColumnDef::new(Alias::new(column)).boolean().not_null().default(false))
                .to_owned(),
        )
        .await
}

/// Adds a text column that is "" on the rows there already.
pub async fn add_text(manager: &SchemaManager<'_>, table: &str, column: &str) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(ColumnDef::new(Alias::new(column)).text().not_null().default(""))
                .to_owned(),
        )
        .await
}

/// The first migration of every service.
pub struct SharedTables {
    name: String,
    tables: TableNames,
}

impl SharedTables {
    pub fn new(prefix: &str) -> SharedTables {
        SharedTables {
            name: format!("m0000_{prefix}_shared_tables"),
            tables: TableNames::new(prefix),
        }
    }
}

impl MigrationName for SharedTables {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SharedTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        let tables = &self.tables;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(&tables.changes))
                    .if_not_exists()
                    .col(big_integer("sequence").primary_key())
                    .col(string("kind"))
                    .col(string("resource_name"))
                    .col(string("resource_type"))
                    .col(blob("resource"))
                    .col(string("actor"))
                    .col(big_integer("commit_micros"))
                    .col(string("request_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(&tables.counter))
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(big_integer("last_sequence"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Alias::new(&tables.counter))
                    .columns([Alias::new("id"), Alias::new("last_sequence")])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(&tables.requests))
                    .if_not_exists()
                    .col(string("request_id").primary_key())
                    .col(string("fingerprint"))
                    .col(blob("response"))
                    .col(big_integer("create_micros"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(format!("{}_by_time", tables.requests))
                    .table(Alias::new(&tables.requests))
                    .col(Alias::new("create_micros"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(&tables.meta))
                    .if_not_exists()
                    .col(string("key").primary_key())
                    .col(string("value"))
                    .to_owned(),
            )
            .await
    }
}

/// Two columns on the outbox, in every service: `on_behalf_of` (the end
/// user a service's change was made for) and `private_to` (the owning
/// unit of a private object the change is about, which decides who may
/// see the event; "" for everyone). Existing events keep "" in both.
pub struct ChangeAudience {
    name: String,
    tables: TableNames,
}

impl ChangeAudience {
    pub fn new(prefix: &str) -> ChangeAudience {
        ChangeAudience {
            name: format!("m0100_{prefix}_change_audience"),
            tables: TableNames::new(prefix),
        }
    }
}

impl MigrationName for ChangeAudience {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ChangeAudience {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["on_behalf_of", "private_to"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(&self.tables.changes))
                        .add_column(ColumnDef::new(Alias::new(column)).string().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// `{p}_event_relays`: for each relay of the service's feed (to NATS, for
/// now), how far it has sent (`cursor`, stored only once the sends are
/// acknowledged) and which replica holds it (`holder` until `until_micros`),
/// so one replica at a time sends.
pub struct EventRelays {
    name: String,
    table: String,
}

impl EventRelays {
    pub fn new(prefix: &str) -> EventRelays {
        EventRelays {
            name: format!("m0200_{prefix}_event_relays"),
            table: crate::store::event_relays_table(prefix),
        }
    }
}

impl MigrationName for EventRelays {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EventRelays {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            &self.table,
            &["name"],
            vec![
                string("name"),
                big_integer("cursor"),
                string("holder"),
                big_integer("until_micros"),
            ],
        )
        .await
    }
}

/// The feed's hash chain: `hash` on every event (see
/// `trellis_proto::chain`) and `last_hash` on the counter, which the next
/// writer links to. Events written before this migration are chained here,
/// in order, so a feed's chain always starts at its first event.
pub struct ChangeChain {
    name: String,
    tables: TableNames,
}

impl ChangeChain {
    pub fn new(prefix: &str) -> ChangeChain {
        ChangeChain {
            name: format!("m0300_{prefix}_change_chain"),
            tables: TableNames::new(prefix),
        }
    }
}

impl MigrationName for ChangeChain {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Events chained per read and per update statement.
const CHAIN_BATCH: u64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for ChangeChain {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_text(manager, &self.tables.changes, "hash").await?;
        add_text(manager, &self.tables.counter, "last_hash").await?;
        let connection = manager.get_connection();
        let mut previous = trellis_proto::chain::GENESIS.to_owned();
        let mut cursor = 0i64;
        loop {
            let select = Query::select()
                .columns(
                    crate::feed::COLUMNS[..crate::feed::COLUMNS.len() - 1]
                        .iter()
                        .map(|column| Alias::new(*column)),
                )
                .from(Alias::new(&self.tables.changes))
                .and_where(Expr::col(Alias::new("sequence")).gt(cursor))
                .order_by(Alias::new("sequence"), Order::Asc)
                .limit(CHAIN_BATCH)
                .to_owned();
            let rows = connection.query_all(&select).await?;
            if rows.is_empty() {
                break;
            }
            let mut hashes = CaseStatement::new();
            for row in &rows {
                let text = |column: &str| row.try_get::<String>("", column);
                let sequence: i64 = row.try_get("", "sequence")?;
                let resource: Vec<u8> = row.try_get("", "resource")?;
                let hash = Link {
                    sequence,
                    kind: &text("kind")?,
                    resource_name: &text("resource_name")?,
                    resource_type: &text("resource_type")?,
                    resource: &resource,
                    actor: &text("actor")?,
                    commit_micros: row.try_get("", "commit_micros")?,
                    request_id: &text("request_id")?,
                    on_behalf_of: &text("on_behalf_of")?,
                    private_to: &text("private_to")?,
                }
                .hash(&previous);
                hashes = hashes.case(Expr::col(Alias::new("sequence")).eq(sequence), hash.clone());
                previous = hash;
                cursor = sequence;
            }
            let first: i64 = rows[0].try_get("", "sequence")?;
            let update = Query::update()
                .table(Alias::new(&self.tables.changes))
                .value(Alias::new("hash"), hashes.finally(""))
                .and_where(Expr::col(Alias::new("sequence")).between(first, cursor))
                .to_owned();
            connection.execute(&update).await?;
        }
        let tip = Query::update()
            .table(Alias::new(&self.tables.counter))
            .value(Alias::new("last_hash"), previous)
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .to_owned();
        connection.execute(&tip).await?;
        Ok(())
    }
}
