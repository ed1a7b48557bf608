//! The cascade service's schema.

use sea_orm::sea_query::{Alias, Index, Table};
use sea_orm_migration::{
    DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait, schema::*, sea_orm::DynIden,
    sea_query::IntoIden,
};
use trellis_foundation::migration::{
    ChangeAudience, ChangeChain, EventRelays, SharedTables, add_text, create_table, index,
};

use crate::TABLE_PREFIX;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SharedTables::new(TABLE_PREFIX)),
            Box::new(CreateOrgUnits),
            Box::new(CreateFeedCursors),
            Box::new(CreateIamPolicies),
            Box::new(ChangeAudience::new(TABLE_PREFIX)),
            Box::new(AddUnitLeads),
            Box::new(CreateConversations),
            Box::new(CreateInitiativesAndWeeks),
            Box::new(CreateSnapshots),
            Box::new(EventRelays::new(TABLE_PREFIX)),
            Box::new(ChangeChain::new(TABLE_PREFIX)),
            Box::new(CreateWebhooks),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(format!("{TABLE_PREFIX}_migrations")).into_iden()
    }
}

struct CreateOrgUnits;

impl MigrationName for CreateOrgUnits {
    fn name(&self) -> &str {
        "m0001_cascade_org_units"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOrgUnits {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Alias::new("cascade_org_units");
        manager
            .create_table(
                Table::create()
                    .table(table.clone())
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("parent_id"))
                    .col(string("display_name"))
                    .col(string("kind"))
                    .col(text("description"))
                    .col(integer("depth"))
                    .col(text("path"))
                    .col(big_integer("version"))
                    .col(big_integer("create_micros"))
                    .col(big_integer("update_micros"))
                    .to_owned(),
            )
            .await?;
        for column in ["parent_id", "path"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("cascade_org_units_by_{column}"))
                        .table(table.clone())
                        .col(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Where the projection stands in each feed it follows.
struct CreateFeedCursors;

impl MigrationName for CreateFeedCursors {
    fn name(&self) -> &str {
        "m0002_cascade_feed_cursors"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFeedCursors {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            crate::store::cursors::CURSOR_TABLE,
            &["source"],
            vec![string("source"), big_integer("sequence"), big_integer("update_micros")],
        )
        .await
    }
}

/// The grants made on each org unit (and on the org root, "-").
struct CreateIamPolicies;

impl MigrationName for CreateIamPolicies {
    fn name(&self) -> &str {
        "m0003_cascade_iam_policies"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIamPolicies {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            "cascade_iam_policies",
            &["unit_id"],
            vec![
                string("unit_id"),
                text("bindings"),
                big_integer("version"),
                string("updater"),
                big_integer("update_micros"),
            ],
        )
        .await
    }
}

/// Org units gain a lead.
struct AddUnitLeads;

impl MigrationName for AddUnitLeads {
    fn name(&self) -> &str {
        "m0005_cascade_org_unit_leads"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddUnitLeads {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_text(manager, "cascade_org_units", "lead").await
    }
}

/// The rhythm's conversations and the steps missed check-ins took.
struct CreateConversations;

impl MigrationName for CreateConversations {
    fn name(&self) -> &str {
        "m0006_cascade_conversations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateConversations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = "cascade_conversations";
        create_table(
            manager,
            table,
            &["id"],
            vec![
                string("id"),
                string("reason"),
                string("subject"),
                text("subject_title"),
                string("org_unit"),
                boolean("private"),
                string("person"),
                string("from_colour"),
                string("to_colour"),
                integer("moves"),
                text("detail"),
                string("state"),
                big_integer("open_key"),
                big_integer("last_sequence"),
                big_integer("open_micros"),
                big_integer("move_micros"),
                text("note"),
                string("closed_by"),
                big_integer("close_micros"),
            ],
        )
        .await?;
        manager
            .create_index(
                index(table, "by_opening", &["subject", "reason", "open_key"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(table, "by_person", &["person", "state"]))
            .await?;
        manager
            .create_index(index(table, "by_state", &["state", "reason"]))
            .await?;
        let escalations = "cascade_conversation_escalations";
        create_table(
            manager,
            escalations,
            &["conversation_id", "step"],
            vec![
                string("conversation_id"),
                string("step"),
                string("person"),
                string("org_unit"),
                big_integer("create_micros"),
            ],
        )
        .await?;
        manager.create_index(index(escalations, "by_person", &["person"])).await
    }
}

/// The work units do and their weekly priorities.
struct CreateInitiativesAndWeeks;

impl MigrationName for CreateInitiativesAndWeeks {
    fn name(&self) -> &str {
        "m0007_cascade_initiatives_and_weeks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInitiativesAndWeeks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = "cascade_initiatives";
        create_table(
            manager,
            table,
            &["id"],
            vec![
                string("id"),
                string("owner_id"),
                text("title"),
                text("description"),
                string("accountable"),
                text("key_results"),
                string("status"),
                text("status_reason"),
                string("target_week"),
                big_integer("version"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        manager
            .create_index(index(table, "by_owner", &["owner_id", "status"]))
            .await?;
        create_table(
            manager,
            "cascade_weekly_plans",
            &["unit_id", "week"],
            vec![
                string("unit_id"),
                string("week"),
                big_integer("week_start_micros"),
                text("priorities"),
                big_integer("version"),
                string("updater"),
                big_integer("update_micros"),
            ],
        )
        .await
    }
}

/// The graph's snapshots and their bytes.
struct CreateSnapshots;

impl MigrationName for CreateSnapshots {
    fn name(&self) -> &str {
        "m0008_cascade_snapshots"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSnapshots {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use crate::store::snapshots::{CHUNK_TABLE, SNAPSHOT_TABLE};
        create_table(
            manager,
            SNAPSHOT_TABLE,
            &["id"],
            vec![
                big_integer("id"),
                integer("format_version"),
                text("cursors"),
                big_integer("size"),
                string("sha256"),
                big_integer("chunks"),
            ],
        )
        .await?;
        create_table(
            manager,
            CHUNK_TABLE,
            &["snapshot_id", "part"],
            vec![big_integer("snapshot_id"), big_integer("part"), blob("bytes")],
        )
        .await
    }
}

/// Webhook subscriptions and their deliveries.
struct CreateWebhooks;

impl MigrationName for CreateWebhooks {
    fn name(&self) -> &str {
        "m0009_cascade_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWebhooks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            manager,
            "cascade_webhooks",
            &["id"],
            vec![
                string("id"),
                string("display_name"),
                text("url"),
                text("event_types"),
                text("secret"),
                boolean("paused"),
                string("creator"),
                big_integer("version"),
                big_integer("create_micros"),
                big_integer("update_micros"),
            ],
        )
        .await?;
        let table = "cascade_webhook_deliveries";
        create_table(
            manager,
            table,
            &["webhook_id", "event_id"],
            vec![
                string("webhook_id"),
                string("event_id"),
                big_integer("sequence"),
                string("event_type"),
                text("subject"),
                blob("payload"),
                string("state"),
                integer("attempts"),
                integer("last_status_code"),
                text("last_error"),
                big_integer("create_micros"),
                big_integer("last_attempt_micros"),
                big_integer("next_attempt_micros"),
            ],
        )
        .await?;
        manager
            .create_index(index(
                table,
                "in_order",
                &["webhook_id", "state", "create_micros", "sequence"],
            ))
            .await
    }
}
