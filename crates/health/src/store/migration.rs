//! The health service's schema.

use sea_orm::sea_query::{Alias, ColumnDef, Query, Table};
use sea_orm_migration::{
    DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait, schema::*, sea_orm::DynIden,
    sea_query::IntoIden,
};
use trellis_foundation::migration::{
    ChangeAudience, ChangeChain, EventRelays, SharedTables, add_flag, create_table, index,
};

use crate::TABLE_PREFIX;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SharedTables::new(TABLE_PREFIX)),
            Box::new(CreateHealthTables),
            Box::new(StepTraceColumn),
            Box::new(RunnerLease),
            Box::new(ChangeAudience::new(TABLE_PREFIX)),
            Box::new(PrivateColumn),
            Box::new(EventRelays::new(TABLE_PREFIX)),
            Box::new(ChangeChain::new(TABLE_PREFIX)),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(format!("{TABLE_PREFIX}_migrations")).into_iden()
    }
}

struct CreateHealthTables;

impl MigrationName for CreateHealthTables {
    fn name(&self) -> &str {
        "m0001_health_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateHealthTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            "health_metrics",
            &["id"],
            vec![
                string("id"),
                string("owner_id"),
                string("direction"),
                big_integer("version"),
                blob("snapshot"),
                big_integer("cadence_micros"),
                string("status"),
                big_integer("status_micros"),
                big_integer("expire_micros"),
                big_integer("latest_micros"),
                double("latest_value"),
                string("latest_level"),
                text("latest_source"),
                big_integer("latest_record_micros"),
                big_integer("level_since_micros"),
                big_integer("fed_micros"),
                string("stage"),
                big_integer("stage_micros"),
                integer("consecutive_red"),
                integer("red_while_escalated"),
                string("remedial_objective"),
                text("paused_objectives"),
                big_integer("last_step"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        for (name, columns) in [("by_owner", &["owner_id"][..]), ("by_expiry", &["expire_micros"][..])] {
            manager.create_index(index("health_metrics", name, columns)).await?;
        }
        create_table(
            manager,
            "health_measurements",
            &["metric_id", "measure_micros"],
            vec![
                string("metric_id"),
                big_integer("measure_micros"),
                double("value"),
                text("source"),
                string("level"),
                big_integer("record_micros"),
            ],
        )
        .await?;
        create_table(
            manager,
            "health_status_changes",
            &["metric_id", "change_micros"],
            vec![
                string("metric_id"),
                big_integer("change_micros"),
                string("status"),
                string("previous"),
            ],
        )
        .await?;
        create_table(
            manager,
            "health_steps",
            &["metric_id", "seq"],
            vec![
                string("metric_id"),
                big_integer("seq"),
                string("kind"),
                integer("attempts"),
                text("last_error"),
                big_integer("next_micros"),
                big_integer("create_micros"),
            ],
        )
        .await
    }
}

/// The `traceparent` of the request that called for a step, so the step's
/// calls to other services continue that request's trace; "" when it had
/// none (and for steps written before this column).
struct StepTraceColumn;

impl MigrationName for StepTraceColumn {
    fn name(&self) -> &str {
        "m0002_health_step_trace"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for StepTraceColumn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("health_steps"))
                    .add_column(ColumnDef::new(Alias::new("trace_parent")).text().not_null().default(""))
                    .to_owned(),
            )
            .await
    }
}

/// The step runner's lease, one row: replicas on one database take turns
/// running escalation steps (see `lease.rs`).
struct RunnerLease;

impl MigrationName for RunnerLease {
    fn name(&self) -> &str {
        "m0003_health_runner_lease"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RunnerLease {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            "health_leases",
            &["name"],
            vec![string("name"), string("holder"), big_integer("until_micros")],
        )
        .await?;
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("health_leases"))
            .columns([Alias::new("name"), Alias::new("holder"), Alias::new("until_micros")])
            .values([crate::background::lease::STEP_RUNNER.into(), "".into(), 0i64.into()])
            .map_err(|err| DbErr::Custom(format!("the lease row: {err}")))?;
        manager.exec_stmt(insert.to_owned()).await
    }
}

/// Whether a metric is private, as a column a list reads without decoding
/// snapshots. Every metric before it was public.
struct PrivateColumn;

impl MigrationName for PrivateColumn {
    fn name(&self) -> &str {
        "m0004_health_metric_private"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PrivateColumn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_flag(manager, "health_metrics", "private").await
    }
}
