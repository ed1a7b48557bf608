//! One service's relay: its feed, sent on to a JetStream stream event by
//! event, in order, each exactly once.
//!
//! - One replica at a time relays a feed: the one holding the relay's row
//!   in `{service}_event_relays` (claimed like the health runner's lease,
//!   renewed while it works, given up at shutdown).
//! - A batch of events is published with each publish's acknowledgement
//!   awaited together; only once JetStream has acknowledged all of a batch
//!   is the cursor stored, in the same statement that renews the claim.
//!   Two batches are in flight: the next is read and encoded (on the
//!   blocking pool, a chunk per core) and published while the one before
//!   is acknowledged.
//! - A crash after publishing and before the cursor is stored resends what
//!   was in flight: each message's `Nats-Msg-Id` is the event's id, and the stream
//!   drops a message whose id it has seen within its duplicate window.
//! - NATS away: the relay retries with backoff and resumes from its
//!   cursor; nothing is skipped.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use async_nats::jetstream::{self, stream};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};
use trellis_foundation::{ChangeFeed, Db, names::generate_id};
use trellis_proto::feed::v1::ChangeEvent;

use crate::{Error, cloud_event::Envelope, store::RelayRow};

/// The relay's row in `{service}_event_relays`.
pub const RELAY_NAME: &str = "nats";
/// How long a claim on a relay holds unless renewed.
const TERM: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Events read, encoded and published as one batch, at most.
pub const BATCH: u64 = 4_096;
/// Batches published at once: the next goes out while the one before
/// is acknowledged.
const BATCHES_IN_FLIGHT: usize = 2;
/// Fewer events than this are not worth a blocking task of their own.
const MIN_CHUNK: usize = 128;
/// How long one publish's acknowledgement is waited for.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the events go.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `nats://host:port`.
    pub nats_url: String,
    /// The JetStream stream, made if missing.
    pub stream: String,
    /// The first token of every subject (`trellis`).
    pub subject_prefix: String,
    /// How long the stream keeps events.
    pub max_age: Duration,
    /// How long the stream remembers message ids to drop a resent one.
    pub duplicate_window: Duration,
}

/// The running relays of a process; stopped (and their claims given up)
/// on shutdown.
#[derive(Debug, Default)]
pub struct Relays {
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Relays {
    /// Starts one relay per `(service, its feed, its database)`; the
    /// service name is its tables' prefix.
    pub fn start(settings: RelaySettings, feeds: Vec<(&'static str, ChangeFeed, Db)>) -> Result<Relays, Error> {
        let (stop, stopped) = watch::channel(false);
        let settings = Arc::new(settings);
        let mut tasks = Vec::with_capacity(feeds.len());
        for (service, feed, db) in feeds {
            let relay = Relay {
                envelope: Envelope::new(service, &settings.subject_prefix)?,
                settings: Arc::clone(&settings),
                feed,
                row: RelayRow::new(
                    db,
                    service,
                    RELAY_NAME,
                    &format!("{}/{}", std::process::id(), generate_id()),
                    TERM,
                ),
                stopped: stopped.clone(),
            };
            tasks.push(tokio::spawn(relay.run()));
        }
        Ok(Relays {
            stop: Some(stop),
            tasks,
        })
    }

    /// Stops every relay once its batch in flight is done, and gives up
    /// their claims so another replica takes over at once.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(ACK_TIMEOUT, task).await;
        }
    }
}

struct Relay {
    envelope: Envelope,
    settings: Arc<RelaySettings>,
    feed: ChangeFeed,
    row: RelayRow,
    stopped: watch::Receiver<bool>,
}

/// One encoded message: its id (`Nats-Msg-Id`), subject and CloudEvent.
type Encoded = (String, String, Vec<u8>);

/// A batch read and encoded: its messages and the last sequence in it.
type Batch = (Vec<Encoded>, Option<i64>);

/// Reads the events after `cursor` and encodes them: on the blocking
/// pool, in as many chunks as there are cores, since a batch's JSON is
/// milliseconds of work the runtime should not wait on.
async fn read_and_encode(feed: ChangeFeed, envelope: Envelope, cursor: i64) -> Result<Batch, Error> {
    let events = feed.events_after(cursor, BATCH).await?;
    let last = events.last().map(|(event, _)| event.sequence);
    if events.is_empty() {
        return Ok((Vec::new(), None));
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = events.len().div_ceil(cores).max(MIN_CHUNK);
    let envelope = Arc::new(envelope);
    let mut tasks = Vec::new();
    let mut events = events.into_iter();
    loop {
        let part: Vec<(ChangeEvent, String)> = events.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let envelope = Arc::clone(&envelope);
        tasks.push(tokio::task::spawn_blocking(move || {
            part.iter()
                .map(|(event, private_to)| {
                    Ok((
                        envelope.id(event),
                        envelope.subject(event, !private_to.is_empty()),
                        envelope.encode(event)?,
                    ))
                })
                .collect::<Result<Vec<Encoded>, Error>>()
        }));
    }
    let mut encoded = Vec::new();
    for task in tasks {
        encoded.extend(
            task.await
                .map_err(|err| Error::Encode(format!("encoding a batch did not finish: {err}")))??,
        );
    }
    Ok((encoded, last))
}

impl Relay {
    fn prefetch(&self, cursor: i64) -> JoinHandle<Result<Batch, Error>> {
        tokio::spawn(read_and_encode(self.feed.clone(), self.envelope.clone(), cursor))
    }

    async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        while !*self.stopped.borrow() {
            match self.relay().await {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(err) => {
                    warn!(service = self.envelope.service, error = %err, "relaying events; retrying");
                    let mut stopped = self.stopped.clone();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Err(err) = self.row.release().await {
            warn!(service = self.envelope.service, error = %err, "giving up the relay's claim");
        }
    }

    /// Connects, then relays while this replica holds the claim; returns
    /// when it stops holding it or is stopped.
    async fn relay(&mut self) -> Result<(), Error> {
        let Some(mut cursor) = self.row.claim().await? else {
            // Another replica relays: wait, and try again.
            let mut stopped = self.stopped.clone();
            tokio::select! {
                () = tokio::time::sleep(self.row.renew_every()) => {}
                _ = stopped.changed() => {}
            }
            return Ok(());
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.settings.nats_url.as_str())
            .await
            .map_err(|err| Error::Nats(format!("connecting to {}: {err}", self.settings.nats_url)))?;
        // Every acknowledgement of the batches in flight may be awaited at
        // once (the client's default allows 5,000).
        let jetstream = jetstream::ContextBuilder::new()
            .max_ack_inflight(BATCHES_IN_FLIGHT * BATCH as usize)
            .build(client);
        jetstream
            .get_or_create_stream(stream::Config {
                name: self.settings.stream.clone(),
                subjects: vec![format!("{}.>", self.settings.subject_prefix)],
                max_age: self.settings.max_age,
                duplicate_window: self.settings.duplicate_window,
                ..stream::Config::default()
            })
            .await
            .map_err(|err| Error::Nats(format!("making the stream {}: {err}", self.settings.stream)))?;
        info!(service = self.envelope.service, cursor, stream = %self.settings.stream, "relaying events to NATS");
        // The next batch is read and encoded while this one's
        // acknowledgements are awaited, and a batch is published before
        // the one ahead of it is acknowledged, so JetStream always has
        // work while the relay stores a cursor.
        let mut next = StopOnDrop(self.prefetch(cursor));
        let mut published: VecDeque<Published> = VecDeque::with_capacity(BATCHES_IN_FLIGHT);
        loop {
            if *self.stopped.borrow() {
                // What is published is confirmed, so the next holder does
                // not send it again.
                self.confirm_all(&mut published, &mut cursor).await?;
                return Ok(());
            }
            let (messages, last) = (&mut next.0)
                .await
                .map_err(|err| Error::Encode(format!("reading a batch did not finish: {err}")))??;
            let Some(last) = last else {
                if !self.confirm_all(&mut published, &mut cursor).await? {
                    return Ok(());
                }
                let mut stopped = self.stopped.clone();
                tokio::select! {
                    () = self.feed.committed_after(cursor) => {}
                    _ = stopped.changed() => {}
                }
                // Renew the claim while the feed is quiet.
                if !self.row.store(cursor).await? {
                    return Ok(());
                }
                next = StopOnDrop(self.prefetch(cursor));
                continue;
            };
            let mut acks = Vec::with_capacity(messages.len());
            for (id, subject, payload) in messages {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                let ack = jetstream
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .map_err(|err| Error::Nats(format!("publishing {id}: {err}")))?;
                acks.push(ack);
            }
            next = StopOnDrop(self.prefetch(last));
            published.push_back(Published { acks, last });
            if published.len() >= BATCHES_IN_FLIGHT
                && let Some(batch) = published.pop_front()
                && !self.confirm(batch, &mut cursor).await?
            {
                return Ok(());
            }
        }
    }

    /// Confirms every batch in `published`, oldest first; false when the
    /// claim lapsed.
    async fn confirm_all(&self, published: &mut VecDeque<Published>, cursor: &mut i64) -> Result<bool, Error> {
        while let Some(batch) = published.pop_front() {
            if !self.confirm(batch, cursor).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Awaits every acknowledgement of `batch`, then stores its last
    /// sequence as the cursor; false when the claim lapsed meanwhile
    /// (another replica may relay now, and resends are dropped by their
    /// ids).
    async fn confirm(&self, batch: Published, cursor: &mut i64) -> Result<bool, Error> {
        for ack in
            futures::future::join_all(batch.acks.into_iter().map(|ack| tokio::time::timeout(ACK_TIMEOUT, ack))).await
        {
            ack.map_err(|_| Error::Nats("no acknowledgement within 10 s".into()))?
                .map_err(|err| Error::Nats(format!("an event was not acknowledged: {err}")))?;
        }
        if !self.row.store(batch.last).await? {
            return Ok(false);
        }
        *cursor = batch.last;
        Ok(true)
    }
}

/// A batch published and not yet acknowledged.
struct Published {
    acks: Vec<jetstream::context::PublishAckFuture>,
    last: i64,
}

/// A task aborted when its handle goes: a prefetch not needed any more
/// (the relay stopped or failed) does not run on.
struct StopOnDrop<T>(JoinHandle<T>);

impl<T> Drop for StopOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
