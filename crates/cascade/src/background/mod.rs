//! The graph as a projection of the change feeds: one consumer per feed
//! (org units, strategy, okr, health) applies events in sequence order,
//! skipping any it has applied already, and notifies watchers of the
//! nodes each batch touched.

mod consumer;
pub(crate) mod decode;
mod rhythm;
mod snapshots;
mod webhooks;

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{broadcast, watch};
use tracing::warn;
use trellis_foundation::time::{from_timestamp, now_micros};
use trellis_proto::feed::v1::ChangeEvent;

pub use consumer::{Consumers, Source};
pub use rhythm::RhythmTasks;
pub use snapshots::SnapshotTasks;
pub use webhooks::{WebhookSettings, WebhookTasks};

use crate::{
    graph::{Graph, NodeId, TouchKind},
    rhythm::signals::{self, Move},
};

/// A snapshot's bytes and each feed's cursor when it was taken.
#[derive(Debug)]
pub struct Taken {
    pub bytes: Vec<u8>,
    pub cursors: Vec<(String, i64)>,
    /// The newest commit time among the events the graph holds: a
    /// snapshot answers as-of questions from no earlier than this (another
    /// server's clock may run ahead of this one's).
    pub newest_commit_micros: i64,
}

/// Live lags kept per feed for the percentiles in the status.
const LAG_WINDOW: usize = 65_536;
/// Notice batches a slow watcher may fall behind by before it must resync.
const NOTICE_BUFFER: usize = 4_096;

/// A node a feed event touched.
#[derive(Debug, Clone)]
pub struct Notice {
    pub node: NodeId,
    pub kind: TouchKind,
    pub source: &'static str,
    pub sequence: i64,
    pub commit_micros: i64,
}

#[derive(Debug, Default, Clone)]
pub struct FeedStats {
    pub source: &'static str,
    pub cursor: i64,
    pub head: i64,
    pub connected: bool,
    pub caught_up: bool,
    pub applied: i64,
    pub reconnects: i32,
    pub last_error: String,
    pub last_commit_micros: i64,
    /// When this server last applied an event of the feed to the graph.
    pub last_apply_micros: i64,
    pub stored_cursor: i64,
    /// Commit-to-applied lags in microseconds of events applied live.
    lags: VecDeque<u32>,
}

impl FeedStats {
    /// The `quantiles` (0-1) of the recent live lags, in milliseconds
    /// (0 before any live event).
    pub fn lags_ms<const N: usize>(&self, quantiles: [f64; N]) -> [f64; N] {
        let mut sorted: Vec<u32> = self.lags.iter().copied().collect();
        sorted.sort_unstable();
        quantiles.map(|quantile| {
            let Some(last) = sorted.len().checked_sub(1) else {
                return 0.0;
            };
            let index = ((last as f64 * quantile).round() as usize).min(last);
            f64::from(sorted[index]) / 1_000.0
        })
    }
}

#[derive(Debug)]
pub struct Projection {
    graph: RwLock<Graph>,
    feeds: Vec<Mutex<FeedStats>>,
    notices: broadcast::Sender<Arc<Vec<Notice>>>,
    started: Instant,
    ready_after: OnceLock<Duration>,
    closing: watch::Sender<bool>,
    /// Where colour moves go, once the rhythm follows them.
    moves: OnceLock<tokio::sync::mpsc::Sender<Vec<Move>>>,
    /// Batches of moves applied to the graph whose conversations are not
    /// written yet: a snapshot is taken only when there are none, so a
    /// restart from it never skips a move.
    unwritten_moves: AtomicUsize,
    /// When the snapshot the graph started from was taken.
    restored_from: OnceLock<i64>,
}

impl Projection {
    pub fn new(sources: &[&'static str]) -> Projection {
        Projection {
            graph: RwLock::new(Graph::new()),
            feeds: sources
                .iter()
                .map(|source| {
                    Mutex::new(FeedStats {
                        source,
                        ..FeedStats::default()
                    })
                })
                .collect(),
            notices: broadcast::channel(NOTICE_BUFFER).0,
            started: Instant::now(),
            ready_after: OnceLock::new(),
            closing: watch::Sender::new(false),
            moves: OnceLock::new(),
            unwritten_moves: AtomicUsize::new(0),
            restored_from: OnceLock::new(),
        }
    }

    /// Starts from a snapshot: its graph, and each feed's cursor (a feed
    /// it does not name is replayed from the start). Call it before the
    /// consumers start.
    pub fn restore(&self, restored: crate::store::snapshots::Restored) {
        *self.graph.write().unwrap_or_else(std::sync::PoisonError::into_inner) = restored.graph;
        for feed in 0..self.feeds.len() {
            self.update(feed, |stats| {
                stats.cursor = restored.cursors.get(stats.source).copied().unwrap_or(0);
            });
        }
        let _ = self.restored_from.set(restored.taken_micros);
    }

    /// When the snapshot the graph started from was taken, if it did.
    pub fn restored_from(&self) -> Option<i64> {
        self.restored_from.get().copied()
    }

    /// The graph's snapshot bytes with each feed's cursor, consistent
    /// with each other; `None` while the rhythm has moves to write.
    pub fn snapshot(&self) -> Option<Result<Taken, crate::graph::snapshot::SnapshotError>> {
        let graph = self.graph();
        if self.unwritten_moves.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let mut newest_commit_micros = self.restored_from().unwrap_or(0);
        let cursors = (0..self.feeds.len())
            .map(|feed| {
                let stats = self.stats(feed);
                newest_commit_micros = newest_commit_micros.max(stats.last_commit_micros);
                (stats.source.to_owned(), stats.cursor)
            })
            .collect();
        Some(graph.to_snapshot().map(|bytes| Taken {
            bytes,
            cursors,
            newest_commit_micros,
        }))
    }

    /// The rhythm wrote (or found written) one batch of moves.
    pub(crate) fn moves_written(&self) {
        let _ = self
            .unwritten_moves
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| count.checked_sub(1));
    }

    /// Whether every batch of moves applied so far is written.
    pub fn moves_settled(&self) -> bool {
        self.unwritten_moves.load(Ordering::SeqCst) == 0
    }

    /// Sends every colour move the feeds make from now on to `sender`.
    pub(crate) fn follow_moves(&self, sender: tokio::sync::mpsc::Sender<Vec<Move>>) {
        if self.moves.set(sender).is_err() {
            warn!("the rhythm follows the projection's moves already");
        }
    }

    /// The graph, for reading. Hold it briefly: feeds wait while it is held.
    pub fn graph(&self) -> RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The graph when no feed batch is being applied to it, without
    /// waiting; `None` when a writer holds it.
    pub fn try_graph(&self) -> Option<RwLockReadGuard<'_, Graph>> {
        match self.graph.try_read() {
            Ok(graph) => Some(graph),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `read` over the graph on the blocking pool, so waiting for
    /// the lock while a feed applies a batch never holds a runtime thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Graph) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let projection = self.clone();
        tokio::task::spawn_blocking(move || read(&projection.graph())).await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<Notice>>> {
        self.notices.subscribe()
    }

    /// Resolves when the server is shutting down, so watch streams end.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn feeds(&self) -> Vec<FeedStats> {
        (0..self.feeds.len()).map(|index| self.stats(index).clone()).collect()
    }

    /// How long the first catch-up of every feed took, once it has.
    pub fn ready_after(&self) -> Option<Duration> {
        self.ready_after.get().copied()
    }

    fn stats(&self, feed: usize) -> MutexGuard<'_, FeedStats> {
        self.feeds[feed]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, feed: usize, change: impl FnOnce(&mut FeedStats)) {
        change(&mut self.stats(feed));
    }

    fn cursor(&self, feed: usize) -> i64 {
        self.stats(feed).cursor
    }

    /// Applies a batch on the blocking pool: the write lock waits for
    /// questions in flight, which must not hold a runtime thread.
    async fn apply_blocking(self: &Arc<Self>, feed: usize, events: Vec<ChangeEvent>) {
        let projection = self.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || projection.apply(feed, events)).await {
            tracing::error!(error = %err, "applying a feed batch did not finish");
        }
    }

    /// Applies a batch of one feed's events in order: heartbeats move the
    /// known head, events at or before the cursor were applied already.
    fn apply(&self, feed: usize, events: Vec<ChangeEvent>) {
        let source = self.stats(feed).source;
        let (mut cursor, was_caught_up) = {
            let stats = self.stats(feed);
            (stats.cursor, stats.caught_up)
        };
        let mut head = 0;
        let mut notices = Vec::new();
        let mut lags = Vec::new();
        let mut applied = 0;
        let mut last_commit_micros = None;
        let moves_to = self.moves.get();
        let mut moves = Vec::new();
        {
            let mut graph = self.graph.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = now_micros();
            for event in events {
                head = head.max(event.head_sequence);
                if event.sequence == 0 {
                    // A heartbeat: it only tells the head.
                    continue;
                }
                if event.sequence <= cursor {
                    continue;
                }
                cursor = event.sequence;
                applied += 1;
                let commit_micros = event.commit_time.as_ref().map_or(0, from_timestamp);
                last_commit_micros = Some(commit_micros);
                if was_caught_up {
                    lags.push(u32::try_from(now.saturating_sub(commit_micros).max(0)).unwrap_or(u32::MAX));
                }
                let change = match decode::decode(&event) {
                    Ok(Some(change)) => change,
                    Ok(None) => continue,
                    Err(err) => {
                        warn!(source, sequence = event.sequence, error = %err, "skipping an undecodable feed event");
                        continue;
                    }
                };
                let touched = if moves_to.is_some() {
                    let (touched, moved) =
                        signals::apply_watching(&mut graph, change, source, event.sequence, commit_micros);
                    moves.extend(moved);
                    touched
                } else {
                    graph.apply(change)
                };
                for touch in touched {
                    notices.push(Notice {
                        node: touch.node,
                        kind: touch.kind,
                        source,
                        sequence: event.sequence,
                        commit_micros,
                    });
                }
            }
            if !moves.is_empty() {
                self.unwritten_moves.fetch_add(1, Ordering::SeqCst);
            }
            // While the graph is still held: whoever reads the graph reads
            // the cursor it was built to, so a snapshot taken under the
            // read lock never replays a check-in twice (a tally is not
            // idempotent the way a resource's state is), and the newest
            // commit time it holds.
            self.update(feed, |stats| {
                stats.cursor = cursor;
                if let Some(micros) = last_commit_micros {
                    stats.last_commit_micros = micros;
                }
            });
        }
        if let Some(sender) = moves_to.filter(|_| !moves.is_empty()) {
            // On the blocking pool: a rhythm behind holds the feed back
            // rather than losing a move. Closed only at shutdown.
            let _ = sender.blocking_send(moves);
        }
        let caught_up = {
            let mut stats = self.stats(feed);
            stats.head = stats.head.max(head).max(cursor);
            stats.applied += applied;
            if applied > 0 {
                stats.last_apply_micros = now_micros();
            }
            for lag in lags {
                if stats.lags.len() == LAG_WINDOW {
                    stats.lags.pop_front();
                }
                stats.lags.push_back(lag);
            }
            stats.caught_up |= stats.cursor >= stats.head;
            stats.caught_up
        };
        if caught_up && !was_caught_up {
            self.check_ready();
        }
        if !notices.is_empty() {
            // Nobody watching is fine.
            let _ = self.notices.send(Arc::new(notices));
        }
    }

    fn check_ready(&self) {
        let all = (0..self.feeds.len()).all(|feed| self.stats(feed).caught_up);
        if all {
            let _ = self.ready_after.set(self.started.elapsed());
        }
    }
}
