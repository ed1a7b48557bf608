//! Snapshots of the graph on a schedule (and one more at shutdown), once
//! every feed has been replayed and the rhythm has written every move the
//! graph has applied. Encoding holds the graph for reading, so feed
//! batches wait meanwhile (a few hundred milliseconds at a million nodes).

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};
use trellis_foundation::{Db, time::now_micros};

use crate::{
    background::Projection,
    error::Error,
    store::snapshots::{Retention, SnapshotStore},
};

/// The running snapshot schedule; stopped on shutdown.
#[derive(Debug)]
pub struct SnapshotTasks {
    projection: Arc<Projection>,
    store: SnapshotStore,
    retention: Retention,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SnapshotTasks {
    /// Snapshots every `every` (never on a schedule when zero), keeping
    /// what `retention` keeps.
    pub fn start(projection: Arc<Projection>, db: Db, every: Duration, retention: Retention) -> SnapshotTasks {
        let (stop, mut stopped) = watch::channel(false);
        let store = SnapshotStore::new(db);
        let task = (!every.is_zero()).then(|| {
            let (projection, store) = (projection.clone(), store.clone());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    if let Err(err) = take(&projection, &store, retention).await {
                        warn!(error = %err, "taking a snapshot of the graph");
                    }
                }
            })
        });
        SnapshotTasks {
            projection,
            store,
            retention,
            stop,
            task,
        }
    }

    /// Stops the schedule and takes one last snapshot, once the rhythm
    /// has written its moves (waiting at most `wait` for it).
    pub async fn stop_with_snapshot(&mut self, wait: Duration) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let deadline = tokio::time::Instant::now() + wait;
        while !self.projection.moves_settled() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(err) = take(&self.projection, &self.store, self.retention).await {
            warn!(error = %err, "taking the snapshot at shutdown");
        }
    }
}

/// Takes and keeps a snapshot, if the graph is ready for one.
async fn take(projection: &Arc<Projection>, store: &SnapshotStore, retention: Retention) -> Result<(), Error> {
    if projection.ready_after().is_none() {
        return Ok(());
    }
    let reader = projection.clone();
    let snapshot = tokio::task::spawn_blocking(move || reader.snapshot())
        .await
        .map_err(|err| Error::Corrupt(format!("encoding the snapshot: {err}")))?;
    let Some(encoded) = snapshot else {
        return Ok(());
    };
    let taken = encoded.map_err(|err| Error::Corrupt(format!("encoding the snapshot: {err}")))?;
    // Stamped once encoded, so every event it holds committed no later
    // (an as-of question at this time or after may start from it).
    let taken_micros = now_micros().max(taken.newest_commit_micros);
    store
        .save(&taken.bytes, &taken.cursors, taken_micros, retention)
        .await?;
    info!(bytes = taken.bytes.len(), "took a snapshot of the graph");
    Ok(())
}
