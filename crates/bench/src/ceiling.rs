//! Ceilings measured in the same run as a workload, so its figures compare
//! across machines: the same rows written straight into a fresh database
//! of the server's backend, with no validation, no feed and no gRPC.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::{ConnectionTrait, EntityTrait};
use sea_orm_migration::MigratorTrait;
use trellis_foundation::Db;

use crate::{
    Args,
    load::{Phase, PhaseResult, run_phase},
};

/// Whose tables the ceiling database gets.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    Okr,
    Health,
}

/// What to undo after the raw insert.
pub enum Cleanup {
    /// A temp SQLite file, removed with its directory when dropped.
    RemoveDir(tempfile::TempDir),
    DropDatabase {
        admin_url: String,
        name: String,
    },
}

impl Cleanup {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Cleanup::RemoveDir(dir) => {
                dir.close()?;
                Ok(())
            }
            Cleanup::DropDatabase { admin_url, name } => {
                let admin = Db::connect(&admin_url).await?;
                admin
                    .conn()
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                    .await?;
                admin.close().await?;
                Ok(())
            }
        }
    }
}

/// A fresh, migrated database of the server's backend for the raw insert.
pub async fn raw_database(args: &Args, backend: &str, schema: Schema) -> anyhow::Result<Option<(Db, Cleanup)>> {
    if let Some(url) = args.database_url.as_deref().filter(|url| url.starts_with("postgres")) {
        let name = format!("trellis_bench_raw_{}", std::process::id());
        let admin = Db::connect(url).await?;
        for statement in [
            format!("DROP DATABASE IF EXISTS \"{name}\""),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin.conn().execute_unprepared(&statement).await?;
        }
        admin.close().await?;
        let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
        let db = Db::connect(&format!("{base}/{name}")).await?;
        let cleanup = Cleanup::DropDatabase {
            admin_url: url.to_owned(),
            name,
        };
        return migrated(db, cleanup, schema).await;
    }
    if backend == "sqlite" {
        let dir = tempfile::tempdir()?;
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("raw.db").display())).await?;
        return migrated(db, Cleanup::RemoveDir(dir), schema).await;
    }
    eprintln!("no database for the raw-insert ceiling: give --database-url (or --spawn)");
    Ok(None)
}

async fn migrated(db: Db, cleanup: Cleanup, schema: Schema) -> anyhow::Result<Option<(Db, Cleanup)>> {
    match schema {
        Schema::Okr => trellis_okr::Migrator::up(db.conn(), None).await,
        Schema::Health => trellis_health::Migrator::up(db.conn(), None).await,
    }
    .context("migrating the raw-insert database")?;
    Ok(Some((db, cleanup)))
}

/// Runs `phase` against a fresh database of the backend, each call
/// inserting what `rows(worker, sequence)` gives in one statement; `None`
/// when there is no database to measure on.
pub async fn insert_phase<E, F>(
    args: &Args,
    backend: &str,
    schema: Schema,
    phase: Phase,
    rows: F,
) -> anyhow::Result<Option<PhaseResult>>
where
    E: EntityTrait,
    E::ActiveModel: Send,
    F: Fn(usize, u64) -> Vec<E::ActiveModel> + Send + Sync + 'static,
{
    let Some((db, cleanup)) = raw_database(args, backend, schema).await? else {
        return Ok(None);
    };
    let shared = Arc::new(db.clone());
    let result = run_phase(phase, move |worker, sequence| {
        let db = Arc::clone(&shared);
        let models = rows(worker, sequence);
        async move {
            E::insert_many(models).exec(db.conn()).await?;
            Ok(())
        }
    })
    .await;
    db.close().await?;
    cleanup.run().await?;
    Ok(Some(result?))
}
