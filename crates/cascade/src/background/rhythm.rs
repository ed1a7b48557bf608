//! The rhythm's work of its own: turning the colour moves the projection
//! reports into conversations, and sweeping the graph for key results past
//! their cadence. Both are idempotent (see `store/conversations.rs`), so
//! every replica may run them; the moves of events derived before (a
//! restart replays every feed) are skipped by the rhythm's own cursors.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::warn;
use trellis_foundation::{Db, time::now_micros};

use crate::{
    background::Projection,
    error::Error,
    rhythm::{missed::overdue, signals::Move},
    store::{
        conversations::{ConversationStore, SYSTEM_CLOSER, cursor_source, step_name},
        cursors::CursorStore,
    },
};

/// Batches of moves the projection may run ahead of the rhythm by.
const MOVE_BATCHES: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The running rhythm tasks; stopped on shutdown.
#[derive(Debug)]
pub struct RhythmTasks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RhythmTasks {
    /// Follows the projection's colour moves and sweeps for missed
    /// check-ins every `sweep_every`. Start it before the feed consumers:
    /// moves applied before it follows are not seen.
    pub fn start(projection: Arc<Projection>, db: Db, sweep_every: Duration) -> RhythmTasks {
        let (stop, stopped) = watch::channel(false);
        let (sender, moves) = mpsc::channel(MOVE_BATCHES);
        projection.follow_moves(sender);
        let store = ConversationStore::new(db.clone());
        let derive = tokio::spawn(derive(
            projection.clone(),
            moves,
            store.clone(),
            CursorStore::new(db),
            stopped.clone(),
        ));
        let sweeps = tokio::spawn(sweep_loop(projection, store, sweep_every, stopped));
        RhythmTasks {
            stop,
            tasks: vec![derive, sweeps],
        }
    }

    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for RhythmTasks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Retries `work` with backoff until it succeeds; `None` once stopped.
async fn retrying<T, F: Future<Output = Result<T, Error>>>(
    what: &str,
    stopped: &mut watch::Receiver<bool>,
    mut work: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match work().await {
            Ok(done) => return Some(done),
            Err(err) => warn!(error = %err, "{what}; trying again"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return None,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn derive(
    projection: Arc<Projection>,
    mut moves: mpsc::Receiver<Vec<Move>>,
    store: ConversationStore,
    cursors: CursorStore,
    mut stopped: watch::Receiver<bool>,
) {
    let mut applied: HashMap<&'static str, i64> = HashMap::new();
    loop {
        let batch = tokio::select! {
            batch = moves.recv() => batch,
            _ = stopped.changed() => return,
        };
        let Some(batch) = batch else { return };
        for moved in &batch {
            if !applied.contains_key(moved.source) {
                let source = cursor_source(moved.source);
                let Some(cursor) =
                    retrying("reading the rhythm's cursor", &mut stopped, || cursors.load(&source)).await
                else {
                    return;
                };
                applied.insert(moved.source, cursor);
            }
        }
        let fresh: Vec<Move> = batch
            .into_iter()
            .filter(|moved| applied.get(moved.source).is_none_or(|cursor| moved.sequence > *cursor))
            .collect();
        if !fresh.is_empty() {
            if retrying("writing conversations", &mut stopped, || store.apply_moves(&fresh))
                .await
                .is_none()
            {
                return;
            }
            for moved in &fresh {
                let cursor = applied.entry(moved.source).or_default();
                *cursor = (*cursor).max(moved.sequence);
            }
        }
        projection.moves_written();
    }
}

async fn sweep_loop(
    projection: Arc<Projection>,
    store: ConversationStore,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        // Until every feed is replayed the graph's check-ins are old, and
        // everything would look overdue.
        if projection.ready_after().is_none() {
            continue;
        }
        if let Err(err) = sweep(&projection, &store).await {
            warn!(error = %err, "sweeping for missed check-ins");
        }
    }
}

/// Ends the lapses a check-in (or the end of the cycle) ended, and opens
/// or climbs the ones due.
async fn sweep(projection: &Arc<Projection>, store: &ConversationStore) -> Result<(), Error> {
    let now = now_micros();
    let open = store.open_lapses().await?;
    let watched: Vec<String> = open.iter().map(|(row, _)| row.subject.clone()).collect();
    let (late, expected) = projection
        .read(move |graph| overdue(graph, now, &watched))
        .await
        .map_err(|err| Error::Corrupt(format!("reading the graph: {err}")))?;
    let mut taken: HashMap<(String, i64), Vec<String>> = HashMap::new();
    for (row, steps) in open {
        let note = match expected.get(&row.subject) {
            Some(since) if *since == row.open_key => {
                taken.insert((row.subject, row.open_key), steps);
                continue;
            }
            Some(_) => "checked in: the lapse is over",
            None => "no check-in is expected any more (the objective or its cycle is no longer ACTIVE)",
        };
        store.close(&row.id, note, SYSTEM_CLOSER, now).await?;
    }
    for lapse in late {
        let recorded = taken.get(&(lapse.subject.clone(), lapse.since_micros));
        let news = recorded.is_none_or(|recorded| {
            lapse
                .steps
                .iter()
                .any(|(step, _, _)| !recorded.iter().any(|name| name == step_name(*step)))
        });
        if news {
            store.record_lapse(&lapse, now).await?;
        }
    }
    Ok(())
}
