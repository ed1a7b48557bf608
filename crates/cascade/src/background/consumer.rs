//! One task per feed: open `WatchChanges` after the cursor, apply what
//! arrives in batches, and on any failure reconnect with backoff from
//! where it left off.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use tokio::{sync::watch, task::JoinHandle};
use tonic::Status;
use tracing::{debug, info, warn};
use trellis_foundation::{ChangeFeed, Db, trace::PeerChannel};
use trellis_proto::{
    feed::v1::{ChangeEvent, WatchChangesRequest},
    health::v1::health_metric_service_client::HealthMetricServiceClient,
    okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};

use crate::{background::Projection, store::cursors::CursorStore};

/// Events applied under one hold of the graph's write lock.
const BATCH: usize = 2_048;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the cursors are written down.
const STORE_EVERY: Duration = Duration::from_secs(1);

/// A feed the projection follows.
#[derive(Debug, Clone)]
pub enum Source {
    /// This service's own org units, read in process.
    Org(ChangeFeed),
    Strategy(StrategyServiceClient<PeerChannel>),
    Okr(OkrServiceClient<PeerChannel>),
    Health(HealthMetricServiceClient<PeerChannel>),
    /// A feed nobody said where to find: reported, never followed.
    Unconfigured(&'static str),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Org(_) => "org",
            Source::Strategy(_) => "strategy",
            Source::Okr(_) => "okr",
            Source::Health(_) => "health",
            Source::Unconfigured(name) => name,
        }
    }

    pub(crate) async fn open(
        &mut self,
        after_sequence: i64,
    ) -> Result<BoxStream<'static, Result<ChangeEvent, Status>>, Status> {
        let request = WatchChangesRequest {
            after_sequence,
            resource_types: Vec::new(),
            heartbeats: true,
        };
        Ok(match self {
            Source::Org(feed) => feed.watch(request, None).boxed(),
            Source::Strategy(client) => client.watch_changes(request).await?.into_inner().boxed(),
            Source::Okr(client) => client.watch_changes(request).await?.into_inner().boxed(),
            Source::Health(client) => client.watch_changes(request).await?.into_inner().boxed(),
            Source::Unconfigured(name) => {
                return Err(Status::failed_precondition(format!(
                    "no address for the {name} service: run it in this process or set --peer-{name}"
                )));
            }
        })
    }
}

/// The running consumers; stopped on shutdown.
#[derive(Debug)]
pub struct Consumers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Consumers {
    /// Starts one consumer per source, in the order the projection was
    /// made with.
    pub fn start(projection: Arc<Projection>, sources: Vec<Source>, db: Db) -> Consumers {
        let (stop, stopped) = watch::channel(false);
        let cursors = CursorStore::new(db);
        let tasks = sources
            .into_iter()
            .enumerate()
            .map(|(feed, source)| {
                let consumer = Consumer {
                    projection: projection.clone(),
                    feed,
                    source,
                    cursors: cursors.clone(),
                    stopped: stopped.clone(),
                };
                tokio::spawn(consumer.run())
            })
            .collect();
        Consumers { stop, tasks }
    }

    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Consumers {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Consumer {
    projection: Arc<Projection>,
    feed: usize,
    source: Source,
    cursors: CursorStore,
    stopped: watch::Receiver<bool>,
}

impl Consumer {
    async fn run(mut self) {
        let name = self.source.name();
        if let Source::Unconfigured(_) = self.source {
            let error = self
                .source
                .open(0)
                .await
                .err()
                .map(|status| status.message().to_owned());
            warn!(source = name, "{}", error.as_deref().unwrap_or_default());
            self.projection.update(self.feed, |stats| {
                stats.last_error = error.unwrap_or_default();
                stats.caught_up = true;
            });
            self.projection.check_ready();
            return;
        }
        match self.cursors.load(name).await {
            Ok(stored) => self.projection.update(self.feed, |stats| stats.stored_cursor = stored),
            Err(err) => warn!(source = name, error = %err, "reading the stored cursor"),
        }
        let mut backoff = FIRST_BACKOFF;
        let mut last_stored = tokio::time::Instant::now();
        loop {
            let cursor = self.projection.cursor(self.feed);
            let opened = tokio::select! {
                opened = self.source.open(cursor) => opened,
                _ = self.stopped.changed() => return,
            };
            match opened {
                Ok(stream) => {
                    debug!(source = name, cursor, "following the feed");
                    self.projection.update(self.feed, |stats| stats.connected = true);
                    let mut batches = stream.ready_chunks(BATCH);
                    let ended = loop {
                        let batch = tokio::select! {
                            batch = batches.next() => batch,
                            _ = self.stopped.changed() => return,
                        };
                        let Some(batch) = batch else {
                            break "the feed ended".to_owned();
                        };
                        let mut events = Vec::with_capacity(batch.len());
                        let mut failure = None;
                        for item in batch {
                            match item {
                                Ok(event) => events.push(event),
                                Err(status) => {
                                    failure = Some(status);
                                    break;
                                }
                            }
                        }
                        if !events.is_empty() {
                            self.projection.apply_blocking(self.feed, events).await;
                            backoff = FIRST_BACKOFF;
                        }
                        if last_stored.elapsed() >= STORE_EVERY {
                            last_stored = tokio::time::Instant::now();
                            self.store_cursor().await;
                        }
                        if let Some(status) = failure {
                            break status.message().to_owned();
                        }
                    };
                    info!(source = name, reason = %ended, "feed stream ended; reconnecting");
                    self.projection.update(self.feed, |stats| {
                        stats.connected = false;
                        stats.last_error = ended;
                    });
                    self.store_cursor().await;
                }
                Err(status) => {
                    debug!(source = name, error = %status.message(), "cannot open the feed yet");
                    self.projection.update(self.feed, |stats| {
                        stats.connected = false;
                        stats.last_error = status.message().to_owned();
                    });
                }
            }
            self.projection.update(self.feed, |stats| stats.reconnects += 1);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = self.stopped.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn store_cursor(&self) {
        let cursor = self.projection.cursor(self.feed);
        match self.cursors.save(self.source.name(), cursor).await {
            Ok(()) => self.projection.update(self.feed, |stats| stats.stored_cursor = cursor),
            Err(err) => warn!(source = self.source.name(), error = %err, "storing the cursor"),
        }
    }
}
