//! Storage by URL: SQLite (embedded default, created on first start) or
//! PostgreSQL, and write transactions that serialize correctly on both.

use std::{sync::Arc, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{error::Error, wal};

/// Work to do once a transaction has committed (and only then).
type AfterCommit = Box<dyn FnOnce() + Send + Sync>;

/// Which database a URL chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool shared by every service of one process.
///
/// SQLite allows one writer at a time; a deferred transaction that reads and
/// then writes can fail with `SQLITE_BUSY` when another writer got there
/// first. So on SQLite every write transaction first takes a process-wide
/// lock, which also keeps the change feed's sequence in commit order. On
/// PostgreSQL writers run concurrently and serialize only on the feed's
/// counter row.
#[derive(Clone, Debug)]
pub struct Db {
    connection: DatabaseConnection,
    /// SQLite: the one connection writes go through. Its page cache stays
    /// warm; writes spread over the pool would each find their connection's
    /// cache outdated by the last write and re-read it from the WAL.
    writer: Option<DatabaseConnection>,
    backend: Backend,
    sqlite_writer: Option<Arc<Mutex<()>>>,
    _checkpointer: Option<Arc<wal::Checkpointer>>,
}

impl Db {
    /// Connects to `sqlite://path` (created when missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, Error> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::Config(format!(
                "database url must start with sqlite:// or postgres://, got {url:?}"
            )));
        };
        let mut options = ConnectOptions::new(connect_url(url, backend));
        // A connection is checked only after sitting idle: a ping on every
        // acquire costs a round trip per query on the hot read path.
        options
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
        match backend {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:");
                // An in-memory database lives in one connection only.
                options.max_connections(if in_memory { 1 } else { 3 });
                options.min_connections(1);
                options.map_sqlx_sqlite_opts(move |opts| {
                    opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        // 32 MiB of page cache per connection (the default
                        // is 2 MiB): a season import's transaction then
                        // keeps its index pages in memory instead of
                        // spilling them to the WAL and rewriting them.
                        .pragma("cache_size", "-32768")
                        // Statement journals (kept by every multi-row
                        // statement inside a transaction) in memory, not in
                        // a temp file written for each one.
                        .pragma("temp_store", "memory")
                        // Checkpoints run in the background (see `wal`).
                        .pragma("wal_autocheckpoint", if in_memory { "1000" } else { "0" })
                        .pragma("journal_size_limit", wal::JOURNAL_SIZE_LIMIT)
                });
            }
            Backend::Postgres => {
                options.max_connections(32);
                options.min_connections(2);
            }
        }
        let writer = if backend == Backend::Sqlite && !url.contains(":memory:") {
            let mut writer_options = options.clone();
            writer_options.max_connections(1).min_connections(1);
            Some(Database::connect(writer_options).await.map_err(Error::Database)?)
        } else {
            None
        };
        let connection = Database::connect(options).await.map_err(Error::Database)?;
        let sqlite_writer = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let checkpointer = writer.is_some().then(|| wal::start(connection.clone()));
        Ok(Db {
            connection,
            writer,
            backend,
            sqlite_writer,
            _checkpointer: checkpointer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For reads; writes go through [`Db::begin_write`].
    pub fn conn(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Starts a write transaction; on SQLite it waits for the writer lock.
    pub async fn begin_write(&self) -> Result<WriteTxn, Error> {
        let writer_guard = match &self.sqlite_writer {
            Some(lock) => Some(Arc::clone(lock).lock_owned().await),
            None => None,
        };
        let connection = self.writer.as_ref().unwrap_or(&self.connection);
        // IMMEDIATE takes SQLite's write lock at BEGIN, waiting out the busy
        // timeout. A deferred transaction that read first would instead fail
        // at its first write (SQLITE_BUSY_SNAPSHOT, no waiting) whenever
        // another process on the same file committed in between, as a
        // replica or a service run apart does.
        let txn = match self.backend {
            Backend::Sqlite => {
                connection
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            Backend::Postgres => connection.begin().await,
        }
        .map_err(Error::Database)?;
        Ok(WriteTxn {
            txn,
            _writer_guard: writer_guard,
            after_commit: Vec::new(),
        })
    }

    pub async fn close(self) -> Result<(), Error> {
        if let Some(writer) = self.writer {
            writer.close().await.map_err(Error::Database)?;
        }
        self.connection.close().await.map_err(Error::Database)
    }
}

fn connect_url(url: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite && !url.contains(":memory:") && !url.contains("mode=") {
        let separator = if url.contains('?') { '&' } else { '?' };
        return format!("{url}{separator}mode=rwc");
    }
    url.to_owned()
}

/// A write transaction. Dropped without [`WriteTxn::commit`], it rolls back
/// and nothing it wrote, change-feed rows included, becomes visible.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _writer_guard: Option<OwnedMutexGuard<()>>,
    after_commit: Vec<AfterCommit>,
}

impl WriteTxn {
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    /// Runs `statements` in order. On SQLite they go as one multi-statement
    /// query, one round trip to its connection's thread instead of one
    /// each; PostgreSQL takes one parameterized statement at a time.
    pub async fn execute_all(&self, statements: Vec<Statement>) -> Result<(), Error> {
        if self.backend() != DbBackend::Sqlite {
            for statement in statements {
                self.txn.execute_raw(statement).await?;
            }
            return Ok(());
        }
        let mut sql = String::new();
        let mut values = Vec::new();
        for statement in statements {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values.map(|values| values.0).unwrap_or_default());
        }
        if !sql.is_empty() {
            self.txn
                .execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values))
                .await?;
        }
        Ok(())
    }

    /// Runs `work` after a successful commit; a rollback drops it.
    pub fn after_commit(&mut self, work: impl FnOnce() + Send + Sync + 'static) {
        self.after_commit.push(Box::new(work));
    }

    pub async fn commit(self) -> Result<(), Error> {
        let WriteTxn {
            txn,
            _writer_guard,
            after_commit,
        } = self;
        txn.commit().await.map_err(Error::Database)?;
        for work in after_commit {
            work();
        }
        Ok(())
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
