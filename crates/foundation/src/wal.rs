//! SQLite WAL checkpoints, off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! WAL's size limit: that commit copies the WAL into the database file and
//! waits for an fsync, and every writer queued behind it waits too (a
//! profile of steady check-ins spent a fifth of the writer's time there).
//! Connections opened by [`crate::Db`] turn it off, and this task runs a
//! PASSIVE checkpoint on a reader connection instead, which never blocks
//! the writer: it copies what it can, and the WAL starts over once a
//! checkpoint has caught up with it.

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::task::AbortHandle;

/// How often the WAL is checkpointed; what a busy writer appends in this
/// time is what the WAL holds at most between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(250);
/// What a truncated WAL keeps on disk after a large write (a season import
/// can grow it to hundreds of MiB).
pub const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// Stops the checkpoint task when the last handle to the database goes.
#[derive(Debug)]
pub struct Checkpointer(AbortHandle);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts checkpointing the database `connection` reads from.
pub fn start(connection: DatabaseConnection) -> Arc<Checkpointer> {
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if connection.get_sqlite_connection_pool().is_closed() {
                return;
            }
            if let Err(err) = connection.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %err, "WAL checkpoint failed; retrying at the next interval");
            }
        }
    });
    Arc::new(Checkpointer(task.abort_handle()))
}
