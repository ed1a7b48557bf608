//! The cascade over time. The feeds keep every change, so the graph as it
//! stood at any past time is the nearest snapshot taken by then plus the
//! feeds' events up to that time ([`replay`]); a few recent ones are kept
//! (bounded by count, each the size of the live graph). How one node
//! changed over a range is read off the same history ([`changes`]).

pub mod changes;
mod replay;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use chrono::{DateTime, SecondsFormat};
use tracing::warn;
use trellis_foundation::time::now_micros;

use crate::{
    background::{Source, decode},
    error::Error,
    graph::Graph,
    store::snapshots::SnapshotStore,
};
pub use replay::{Replay, Replayed};

/// Events applied to an as-of graph per hand-off to the blocking pool.
const APPLY_BATCH: usize = 4_096;

/// A graph as of a time, and each feed's cursor it was built to.
#[derive(Debug)]
pub struct AsOf {
    pub graph: Graph,
    pub cursors: HashMap<String, i64>,
}

/// The feeds' history and the snapshots, for questions about the past.
#[derive(Debug)]
pub struct History {
    sources: Vec<Source>,
    snapshots: Option<SnapshotStore>,
    cached: Mutex<VecDeque<(i64, Arc<AsOf>)>>,
    capacity: usize,
    /// One graph is built at a time: each may take the memory of the live
    /// graph, and a second asker of the same time finds it cached.
    building: tokio::sync::Mutex<()>,
    /// The first commit time any feed holds (feeds are never pruned).
    start: OnceLock<i64>,
}

/// A time as RFC 3339, for messages.
pub fn rfc3339(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs after the epoch"),
        |time| time.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
}

impl History {
    /// Over `sources` (as the projection follows them), starting from
    /// `snapshots` when they are kept, keeping `capacity` graphs.
    pub fn new(sources: Vec<Source>, snapshots: Option<SnapshotStore>, capacity: usize) -> History {
        History {
            sources,
            snapshots,
            cached: Mutex::new(VecDeque::new()),
            capacity,
            building: tokio::sync::Mutex::new(()),
            start: OnceLock::new(),
        }
    }

    /// The commit time of the first change any feed holds; `None` while
    /// none holds one.
    pub async fn start_micros(&self) -> Result<Option<i64>, Error> {
        if let Some(start) = self.start.get() {
            return Ok(Some(*start));
        }
        let mut replay = self.replay(&HashMap::new(), i64::MAX).await?;
        let Some(first) = replay.next().await? else {
            return Ok(None);
        };
        Ok(Some(*self.start.get_or_init(|| first.commit_micros)))
    }

    /// What is wrong with asking about `at`, in words with the range
    /// that exists: before the first change any feed holds, or in the
    /// future. `None` when `at` is within the history.
    pub async fn range_problem(&self, at: i64) -> Result<Option<String>, Error> {
        let now = now_micros();
        let start = self.start_micros().await?;
        let range = match start {
            Some(start) => format!("the history runs from {} to now ({})", rfc3339(start), rfc3339(now)),
            None => "no feed holds a change yet".to_owned(),
        };
        let problem = if at > now {
            "is in the future"
        } else if start.is_none_or(|start| at < start) {
            "is before the history"
        } else {
            return Ok(None);
        };
        Ok(Some(format!("{} {problem}: {range}", rfc3339(at))))
    }

    /// The feeds from `cursors` up to `until_micros`, read as the service's
    /// own work: opened on a task of their own, which carries no caller's
    /// token, so every event comes as the projection reads it (a graph of
    /// the past is shared by every asker; each answer is cut to its
    /// asker's sight afterwards).
    pub async fn replay(&self, cursors: &HashMap<String, i64>, until_micros: i64) -> Result<Replay, Error> {
        let (sources, cursors) = (self.sources.clone(), cursors.clone());
        tokio::spawn(async move { Replay::open(&sources, &cursors, until_micros).await })
            .await
            .map_err(|err| Error::Corrupt(format!("opening the feeds' history: {err}")))?
    }

    /// The graph as of `at` (checked to be within the history), from the
    /// cache or built.
    pub async fn graph_at(&self, at: i64) -> Result<Arc<AsOf>, Error> {
        if let Some(found) = self.cached(at) {
            return Ok(found);
        }
        let _building = self.building.lock().await;
        if let Some(found) = self.cached(at) {
            return Ok(found);
        }
        let built = Arc::new(self.build(at).await?);
        if self.capacity > 0 {
            let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
            if cached.len() >= self.capacity {
                cached.pop_back();
            }
            cached.push_front((at, built.clone()));
        }
        Ok(built)
    }

    /// A cached graph as of `at`, made the most recently used.
    fn cached(&self, at: i64) -> Option<Arc<AsOf>> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let index = cached.iter().position(|(time, _)| *time == at)?;
        let found = cached.remove(index)?;
        let graph = found.1.clone();
        cached.push_front(found);
        Some(graph)
    }

    /// The graph as of `at`, built afresh (not cached): the newest
    /// snapshot taken by then, or an empty graph, and the feeds up to
    /// `at`.
    pub async fn build(&self, at: i64) -> Result<AsOf, Error> {
        let base = match &self.snapshots {
            Some(snapshots) => snapshots.newest_taken_by(at).await.unwrap_or_else(|err| {
                warn!(error = %err, "reading snapshots for an as-of graph; replaying from the start");
                None
            }),
            None => None,
        };
        let (graph, cursors) = match base {
            Some(restored) => (restored.graph, restored.cursors),
            None => (Graph::new(), HashMap::new()),
        };
        let mut as_of = AsOf { graph, cursors };
        let mut replay = self.replay(&as_of.cursors, at).await?;
        loop {
            let batch = replay.next_batch(APPLY_BATCH).await?;
            if batch.is_empty() {
                return Ok(as_of);
            }
            as_of = tokio::task::spawn_blocking(move || {
                for replayed in batch {
                    as_of.apply(&replayed);
                }
                as_of
            })
            .await
            .map_err(|err| Error::Corrupt(format!("building an as-of graph: {err}")))?;
        }
    }
}

impl AsOf {
    /// Applies one event of the history and moves its feed's cursor.
    pub fn apply(&mut self, replayed: &Replayed) -> bool {
        match self.cursors.get_mut(replayed.source) {
            Some(cursor) => *cursor = replayed.event.sequence,
            None => {
                self.cursors.insert(replayed.source.to_owned(), replayed.event.sequence);
            }
        }
        match decode::decode(&replayed.event) {
            Ok(Some(change)) => {
                self.graph.apply(change);
                true
            }
            Ok(None) => false,
            Err(err) => {
                warn!(source = replayed.source, sequence = replayed.event.sequence, error = %err, "skipping an undecodable feed event");
                false
            }
        }
    }
}
