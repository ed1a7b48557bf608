//! The OKR service's schema.

use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, ColumnDef, Table},
};
use sea_orm_migration::{
    DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait, schema::*, sea_orm::DynIden,
    sea_query::IntoIden,
};
use trellis_foundation::migration::{
    ChangeAudience, ChangeChain, EventRelays, SharedTables, add_flag, create_table as create, index,
};

use crate::TABLE_PREFIX;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SharedTables::new(TABLE_PREFIX)),
            Box::new(CreateOkrTables),
            Box::new(PartialIndexes),
            Box::new(GuardrailColumn),
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

struct CreateOkrTables;

impl MigrationName for CreateOkrTables {
    fn name(&self) -> &str {
        "m0001_okr_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOkrTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            "okr_cycles",
            &["id"],
            vec![
                string("id"),
                string("org_unit_id"),
                string("state"),
                big_integer("version"),
                blob("snapshot"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        create(
            manager,
            "okr_objectives",
            &["id"],
            vec![
                string("id"),
                string("cycle_id"),
                string("owner_id"),
                string("state"),
                string("kind"),
                string("origin"),
                string("remedial_for"),
                big_integer("version"),
                blob("snapshot"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        manager
            .create_index(index("okr_objectives", "by_cycle", &["cycle_id", "id"]))
            .await?;
        manager
            .create_index(index("okr_objectives", "by_owner", &["owner_id"]))
            .await?;
        create(
            manager,
            "okr_key_results",
            &["objective_id", "id"],
            vec![
                string("objective_id"),
                string("id"),
                string("kind"),
                string("health_metric"),
                big_integer("version"),
                blob("snapshot"),
                big_integer("check_ins"),
                big_integer("in_band"),
                double("current_value"),
                integer("confidence"),
                big_integer("last_check_in_micros"),
                boolean("scored"),
                double("score"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        manager
            .create_index(index("okr_key_results", "by_metric", &["health_metric"]))
            .await?;
        create(
            manager,
            "okr_check_ins",
            &["objective_id", "key_result_id", "id"],
            vec![
                string("objective_id"),
                string("key_result_id"),
                string("id"),
                double("value"),
                integer("confidence"),
                text("note"),
                string("author"),
                string("source"),
                big_integer("measure_micros"),
                string("dedupe_key"),
                big_integer("create_micros"),
            ],
        )
        .await?;
        manager
            .create_index(
                index(
                    "okr_check_ins",
                    "dedupe",
                    &["objective_id", "key_result_id", "dedupe_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        create(
            manager,
            "okr_remedial",
            &["cycle_id", "health_metric"],
            vec![string("cycle_id"), string("health_metric"), string("objective_id")],
        )
        .await?;
        create(
            manager,
            "okr_replans",
            &["objective_id", "number"],
            vec![string("objective_id"), big_integer("number"), blob("snapshot")],
        )
        .await
    }
}

/// Indexes of columns that are mostly "" keep only the other rows:
/// - only check-ins that can be repeated (a retried request, a metric's
///   measurement) carry a dedupe key; the rest stay out of the unique
///   index, which every batch of check-ins would otherwise touch at one
///   more random page per row;
/// - only key results linked to a health metric are found by metric, and
///   a season import need not index 200,000 unlinked ones.
///
/// SQLite uses such an index only for a query that repeats its condition
/// literally (`AND health_metric <> ''`).
struct PartialIndexes;

impl MigrationName for PartialIndexes {
    fn name(&self) -> &str {
        "m0002_okr_partial_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PartialIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE okr_check_ins SET dedupe_key = '' WHERE dedupe_key = id")
            .await?;
        db.execute_unprepared("DROP INDEX okr_check_ins_dedupe").await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX okr_check_ins_dedupe_key ON okr_check_ins \
             (objective_id, key_result_id, dedupe_key) WHERE dedupe_key <> ''",
        )
        .await?;
        db.execute_unprepared("DROP INDEX okr_key_results_by_metric").await?;
        db.execute_unprepared(
            "CREATE INDEX okr_key_results_linked ON okr_key_results (health_metric) WHERE health_metric <> ''",
        )
        .await?;
        Ok(())
    }
}

/// The metrics an objective lists as guardrails, as a column the health
/// service's escalation can query ("which objectives does CSAT guard?")
/// instead of reading every snapshot: `|healthMetrics/a|healthMetrics/b|`,
/// or "" for none. Existing objectives are filled in from their snapshots.
struct GuardrailColumn;

impl MigrationName for GuardrailColumn {
    fn name(&self) -> &str {
        "m0003_okr_objective_guardrails"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for GuardrailColumn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use prost::Message;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

        use crate::store::entity::objective;

        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("okr_objectives"))
                    .add_column(ColumnDef::new(Alias::new("guardrails")).text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let snapshots: Vec<(String, Vec<u8>)> = objective::Entity::find()
            .select_only()
            .column(objective::Column::Id)
            .column(objective::Column::Snapshot)
            .into_tuple()
            .all(db)
            .await?;
        for (id, snapshot) in snapshots {
            let stored = trellis_proto::storage::okr::v1::Objective::decode(snapshot.as_slice())
                .map_err(|err| DbErr::Custom(format!("objectives/{id}: undecodable snapshot: {err}")))?;
            let guardrails = trellis_foundation::members::encode(&stored.guardrails);
            if guardrails.is_empty() {
                continue;
            }
            objective::Entity::update_many()
                .col_expr(objective::Column::Guardrails, guardrails.into())
                .filter(objective::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Whether an objective is private, as a column: a list can tell without
/// decoding snapshots, and filter on it. Every objective before it was
/// public.
struct PrivateColumn;

impl MigrationName for PrivateColumn {
    fn name(&self) -> &str {
        "m0004_okr_objective_private"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PrivateColumn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_flag(manager, "okr_objectives", "private").await
    }
}
