//! A database of its own for each test server: a temp SQLite file, or a
//! fresh PostgreSQL database beside the configured one, dropped after.

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

use crate::TestBackend;

/// An empty database of its own: a temp SQLite file, or a new PostgreSQL
/// database beside the configured one.
pub(crate) struct FreshDatabase {
    pub url: String,
    pub sqlite_dir: Option<TempDir>,
    pub postgres_database: Option<(String, String)>,
}

impl FreshDatabase {
    pub async fn create(backend: &TestBackend) -> anyhow::Result<FreshDatabase> {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().context("creating a temp dir")?;
                Ok(FreshDatabase {
                    url: format!("sqlite://{}", dir.path().join("trellis.db").display()),
                    sqlite_dir: Some(dir),
                    postgres_database: None,
                })
            }
            TestBackend::Postgres(base_url) => {
                let name = format!("trellis_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(base_url.as_str())
                    .await
                    .context("connecting to the test PostgreSQL")?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .context("creating a test database")?;
                admin.close().await?;
                Ok(FreshDatabase {
                    url: replace_database(base_url, &name),
                    sqlite_dir: None,
                    postgres_database: Some((base_url.clone(), name)),
                })
            }
        }
    }
}

/// `postgres://u@h:p/test?x` with its database replaced by `database`.
fn replace_database(base_url: &str, database: &str) -> String {
    let (without_query, query) = match base_url.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base_url, String::new()),
    };
    let authority_start = without_query.find("://").map_or(0, |index| index + 3);
    let prefix = match without_query[authority_start..].find('/') {
        Some(slash) => &without_query[..authority_start + slash],
        None => without_query,
    };
    format!("{prefix}/{database}{query}")
}

/// Drops a test's PostgreSQL database; from `Drop`, which cannot await.
pub(crate) fn drop_database(base_url: String, name: String) {
    // Drop cannot await; a short-lived runtime on its own thread can.
    let dropper = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            if let Ok(admin) = Database::connect(base_url.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            }
        });
    });
    let _ = dropper.join();
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/test?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
