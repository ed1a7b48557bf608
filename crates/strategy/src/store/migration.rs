//! The strategy service's schema.

use sea_orm::sea_query::{Alias, Index, Table};
use sea_orm_migration::{
    DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait, schema::*, sea_orm::DynIden,
    sea_query::IntoIden,
};
use trellis_foundation::migration::{ChangeAudience, ChangeChain, EventRelays, SharedTables};

use crate::TABLE_PREFIX;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SharedTables::new(TABLE_PREFIX)),
            Box::new(CreateStrategies),
            Box::new(ChangeAudience::new(TABLE_PREFIX)),
            Box::new(EventRelays::new(TABLE_PREFIX)),
            Box::new(ChangeChain::new(TABLE_PREFIX)),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(format!("{TABLE_PREFIX}_migrations")).into_iden()
    }
}

struct CreateStrategies;

impl MigrationName for CreateStrategies {
    fn name(&self) -> &str {
        "m0001_strategy_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateStrategies {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("strategy_strategies"))
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("display_name"))
                    .col(string("owner_id"))
                    .col(string("parent_choice"))
                    .col(string("state"))
                    .col(big_integer("revision"))
                    .col(blob("snapshot"))
                    .col(big_integer("create_micros"))
                    .col(big_integer("update_micros"))
                    .to_owned(),
            )
            .await?;
        for column in ["owner_id", "parent_choice"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("strategy_strategies_by_{column}"))
                        .table(Alias::new("strategy_strategies"))
                        .col(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        let indexes: [(&str, &[&str]); 2] = [
            ("strategy_choices", &["kind"]),
            ("strategy_assumptions", &["status", "health_metric"]),
        ];
        for (table, extra_columns) in indexes {
            let mut create = Table::create();
            create
                .table(Alias::new(table))
                .if_not_exists()
                .col(string("name").primary_key())
                .col(string("strategy_id"))
                .col(string("id"));
            for column in extra_columns {
                create.col(string(*column));
            }
            manager.create_table(create.to_owned()).await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_by_strategy"))
                        .table(Alias::new(table))
                        .col(Alias::new("strategy_id"))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("strategy_assumptions_by_metric")
                    .table(Alias::new("strategy_assumptions"))
                    .col(Alias::new("health_metric"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("strategy_revisions"))
                    .if_not_exists()
                    .col(string("strategy_id"))
                    .col(big_integer("revision"))
                    .col(blob("snapshot"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("strategy_id"))
                            .col(Alias::new("revision")),
                    )
                    .to_owned(),
            )
            .await
    }
}
