//! Webhook deliveries. One replica at a time (a claim on the cascade's
//! `webhooks` relay row, as the NATS relay holds its own):
//!
//! - while any webhook exists, a reader per feed follows it from its
//!   stored cursor and, for each event not about a private object,
//!   queues a delivery for every webhook that wants its type (and was made
//!   before the event was committed), in the transaction that moves the
//!   cursor on, so an event is queued once whatever crashes;
//! - a sender per webhook POSTs its deliveries in order, signed, each
//!   retried with exponential backoff until it succeeds or reaches the
//!   attempt limit (then it is dead-lettered and the next one goes). A
//!   webhook whose receiver is down holds up only itself.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use tokio::{
    sync::{Notify, watch},
    task::{JoinHandle, JoinSet},
};
use tracing::{debug, info, warn};
use trellis_events::{Envelope, RelayRow, signature};
use trellis_foundation::{Db, members, names::generate_id, time::now_micros};
use trellis_proto::{cascade::v1::webhook_delivery::State, feed::v1::ChangeEvent};

use crate::{
    background::Source,
    error::Error,
    ops::webhooks::wants,
    store::{
        cursors::{CursorStore, upsert},
        entity::{webhook, webhook_delivery},
    },
};

/// How long the claim on the deliveries holds unless renewed.
const TERM: Duration = Duration::from_secs(15);
/// Events read from a feed and queued in one transaction, at most.
const BATCH: usize = 256;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the senders are matched to the webhooks, and an idle sender
/// looks again without being woken.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often a reader with nothing to queue writes its cursor down.
const STORE_IDLE_CURSOR_EVERY: Duration = Duration::from_secs(1);
/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// The most of a receiver's answer kept in `last_error`.
const MAX_ERROR: usize = 500;

/// How deliveries are tried.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: i32,
    /// The wait before the second attempt; it doubles each time.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// How long one POST may take.
    pub attempt_timeout: Duration,
    /// How long delivered and dead-lettered deliveries are kept.
    pub retention: Duration,
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            max_attempts: 10,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3_600),
            attempt_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

impl WebhookSettings {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
        self.first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_retry)
    }
}

/// The running deliveries; stopped (and the claim given up) on shutdown.
#[derive(Debug)]
pub struct WebhookTasks {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl WebhookTasks {
    pub fn start(sources: Vec<Source>, db: Db, settings: WebhookSettings) -> Result<WebhookTasks, Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.attempt_timeout)
            .connect_timeout(settings.attempt_timeout)
            // A receiver answers for itself: a redirect could point the
            // company's events anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trellis-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Corrupt(format!("building the webhook client: {err}")))?;
        let (stop, stopped) = watch::channel(false);
        let row = RelayRow::new(
            db.clone(),
            crate::TABLE_PREFIX,
            "webhooks",
            &format!("{}/{}", std::process::id(), generate_id()),
            TERM,
        );
        let deliveries = Deliveries {
            db,
            sources,
            settings,
            client,
            queued: Arc::new(Notify::new()),
        };
        let task = tokio::spawn(deliveries.run(row, stopped));
        Ok(WebhookTasks { stop, task: Some(task) })
    }

    /// Stops sending (an attempt in flight is dropped and tried again by
    /// whoever takes over) and gives up the claim.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

#[derive(Clone)]
struct Deliveries {
    db: Db,
    sources: Vec<Source>,
    settings: WebhookSettings,
    client: reqwest::Client,
    /// Woken when deliveries are queued.
    queued: Arc<Notify>,
}

impl Deliveries {
    async fn run(self, row: RelayRow, mut stopped: watch::Receiver<bool>) {
        let mut leading: Option<JoinSet<()>> = None;
        loop {
            let held = match row.claim().await {
                Ok(held) => held.is_some(),
                Err(err) => {
                    debug!(error = %err, "claiming the webhook deliveries");
                    false
                }
            };
            match (held, leading.is_some()) {
                (true, false) => {
                    info!("sending webhook deliveries from this replica");
                    leading = Some(self.lead());
                }
                (false, true) => {
                    info!("another replica sends the webhook deliveries now");
                    leading = None;
                }
                _ => {}
            }
            tokio::select! {
                () = tokio::time::sleep(row.renew_every()) => {}
                _ = stopped.changed() => break,
            }
        }
        drop(leading);
        if let Err(err) = row.release().await {
            debug!(error = %err, "giving up the webhook deliveries");
        }
    }

    /// The supervisor of the readers and senders; all stop when dropped.
    fn lead(&self) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        tasks.spawn(self.clone().supervise());
        tasks
    }

    /// A reader per feed.
    fn readers(&self) -> JoinSet<()> {
        let mut readers = JoinSet::new();
        for source in &self.sources {
            if !matches!(source, Source::Unconfigured(_)) {
                readers.spawn(self.clone().read(source.clone()));
            }
        }
        readers
    }

    /// Follows one feed and queues its events, reconnecting with backoff.
    async fn read(self, mut source: Source) {
        let feed = source.name();
        let cursor_name = format!("webhooks/{feed}");
        let service = if feed == "org" { crate::TABLE_PREFIX } else { feed };
        let envelope = match Envelope::new(service, "trellis") {
            Ok(envelope) => Arc::new(envelope),
            Err(err) => {
                warn!(feed, error = %err, "webhooks cannot encode this feed's events");
                return;
            }
        };
        let cursors = CursorStore::new(self.db.clone());
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.follow(&mut source, &cursors, &cursor_name, &envelope).await {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(err) => {
                    debug!(feed, error = %err, "webhooks: reading the feed; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }

    async fn follow(
        &self,
        source: &mut Source,
        cursors: &CursorStore,
        cursor_name: &str,
        envelope: &Arc<Envelope>,
    ) -> Result<(), Error> {
        let mut cursor = cursors.load(cursor_name).await?;
        let mut stored_at = tokio::time::Instant::now();
        let mut stream = source
            .open(cursor)
            .await
            .map_err(|status| Error::Corrupt(format!("opening the feed: {}", status.message())))?;
        while let Some(first) = stream.next().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match stream.next().now_or_never() {
                    Some(Some(event)) => batch.push(event),
                    _ => break,
                }
            }
            let mut events = Vec::with_capacity(batch.len());
            for event in batch {
                let event =
                    event.map_err(|status| Error::Corrupt(format!("reading the feed: {}", status.message())))?;
                // Heartbeats, and anything already queued.
                if event.sequence > cursor {
                    events.push(event);
                }
            }
            let Some(last) = events.last().map(|event| event.sequence) else {
                continue;
            };
            let store_anyway = stored_at.elapsed() >= STORE_IDLE_CURSOR_EVERY;
            if self.queue(envelope, cursor_name, events, last, store_anyway).await? {
                stored_at = tokio::time::Instant::now();
            }
            cursor = last;
        }
        Ok(())
    }

    /// Queues `events` for the webhooks that want them and moves the cursor
    /// to `last`, in one transaction; whether it wrote. With nothing to
    /// queue the cursor is written only when `store_anyway` (about once a
    /// second): a restart reads those events again and finds nothing to
    /// queue either.
    async fn queue(
        &self,
        envelope: &Arc<Envelope>,
        cursor_name: &str,
        events: Vec<ChangeEvent>,
        last: i64,
        store_anyway: bool,
    ) -> Result<bool, Error> {
        let webhooks: Vec<Wanted> = webhook::Entity::find()
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|row| Wanted {
                id: row.id,
                types: members::decode(&row.event_types),
                since_micros: row.create_micros,
            })
            .collect();
        let rows = if webhooks.is_empty() {
            Vec::new()
        } else {
            let envelope = Arc::clone(envelope);
            tokio::task::spawn_blocking(move || deliveries_of(&envelope, &webhooks, &events))
                .await
                .map_err(|err| Error::Corrupt(format!("encoding webhook deliveries: {err}")))?
        };
        let queued = !rows.is_empty();
        if !queued && !store_anyway {
            return Ok(false);
        }
        let txn = self.db.begin_write().await?;
        for chunk in rows.chunks(200) {
            webhook_delivery::Entity::insert_many(chunk.iter().cloned())
                .on_conflict(
                    OnConflict::columns([webhook_delivery::Column::WebhookId, webhook_delivery::Column::EventId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn.txn())
                .await?;
        }
        txn.execute(&upsert(cursor_name, last)).await?;
        txn.commit().await?;
        if queued {
            self.queued.notify_waiters();
        }
        Ok(true)
    }

    /// Keeps the feeds' readers running while there is a webhook (none
    /// read the feeds for nobody; started again, they go on from their
    /// cursors, and a webhook gets only what was committed after it was
    /// made), one sender per webhook that is not paused, and prunes old
    /// deliveries.
    async fn supervise(self) {
        let mut senders: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut readers: Option<JoinSet<()>> = None;
        let mut pruned_at: Option<tokio::time::Instant> = None;
        loop {
            match webhook::Entity::find().all(self.db.conn()).await {
                Ok(rows) => {
                    match (rows.is_empty(), readers.is_some()) {
                        (false, false) => readers = Some(self.readers()),
                        (true, true) => readers = None,
                        _ => {}
                    }
                    let active: Vec<webhook::Model> = rows.into_iter().filter(|row| !row.paused).collect();
                    senders.retain(|id, task| {
                        let keep = !task.is_finished() && active.iter().any(|row| &row.id == id);
                        if !keep {
                            task.abort();
                        }
                        keep
                    });
                    for row in active {
                        senders
                            .entry(row.id.clone())
                            .or_insert_with(|| tokio::spawn(self.clone().send(row.id)));
                    }
                }
                Err(err) => debug!(error = %err, "webhooks: reading the subscriptions"),
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(tokio::time::Instant::now());
                if let Err(err) = self.prune().await {
                    debug!(error = %err, "webhooks: pruning old deliveries");
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    async fn prune(&self) -> Result<(), Error> {
        let before = now_micros() - i64::try_from(self.settings.retention.as_micros()).unwrap_or(i64::MAX);
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::State.ne(State::Pending.as_str_name()))
            .filter(webhook_delivery::Column::LastAttemptMicros.lt(before))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// Sends webhook `id`'s deliveries in order until it is deleted or
    /// paused (the supervisor then stops this task).
    async fn send(self, id: String) {
        loop {
            let waited = self.queued.notified();
            match self.send_next(&id).await {
                Ok(Some(wait)) if wait.is_zero() => continue,
                Ok(Some(wait)) => {
                    tokio::time::sleep(wait.min(LOOK_EVERY)).await;
                }
                Ok(None) => {
                    let _ = tokio::time::timeout(LOOK_EVERY, waited).await;
                }
                Err(err) => {
                    debug!(webhook = %id, error = %err, "webhooks: sending");
                    tokio::time::sleep(LOOK_EVERY).await;
                }
            }
        }
    }

    /// Tries the webhook's oldest pending delivery if it is due: how long
    /// until the next one may go, or `None` when nothing is pending.
    async fn send_next(&self, id: &str) -> Result<Option<Duration>, Error> {
        use webhook_delivery::Column;
        let Some(delivery) = webhook_delivery::Entity::find()
            .filter(Column::WebhookId.eq(id))
            .filter(Column::State.eq(State::Pending.as_str_name()))
            .order_by_asc(Column::CreateMicros)
            .order_by_asc(Column::Sequence)
            .order_by_asc(Column::EventId)
            .limit(1)
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        // Read after the delivery, so a pause committed before it was
        // queued is seen: paused or deleted since the supervisor looked.
        let hook = webhook::Entity::find_by_id(id.to_owned()).one(self.db.conn()).await?;
        let Some(hook) = hook.filter(|hook| !hook.paused) else {
            return Ok(None);
        };
        let now = now_micros();
        if delivery.next_attempt_micros > now {
            return Ok(Some(Duration::from_micros(
                u64::try_from(delivery.next_attempt_micros - now).unwrap_or(0),
            )));
        }
        let (status_code, error) = self.attempt(&hook, &delivery).await;
        let attempts = delivery.attempts + 1;
        let state = if error.is_empty() {
            State::Delivered
        } else if attempts >= self.settings.max_attempts {
            warn!(webhook = %id, event = %delivery.event_id, attempts, error = %error, "webhook delivery dead-lettered");
            State::DeadLettered
        } else {
            State::Pending
        };
        let finished = now_micros();
        let next =
            finished.saturating_add(i64::try_from(self.settings.backoff(attempts).as_micros()).unwrap_or(i64::MAX));
        let update = webhook_delivery::ActiveModel {
            state: Set(state.as_str_name().to_owned()),
            attempts: Set(attempts),
            last_status_code: Set(status_code),
            last_error: Set(error),
            last_attempt_micros: Set(finished),
            next_attempt_micros: Set(if state == State::Pending { next } else { 0 }),
            ..Default::default()
        };
        webhook_delivery::Entity::update_many()
            .set(update)
            .filter(Column::WebhookId.eq(id))
            .filter(Column::EventId.eq(delivery.event_id.clone()))
            .exec(self.db.conn())
            .await?;
        Ok(Some(if state == State::Pending {
            self.settings.backoff(attempts)
        } else {
            Duration::ZERO
        }))
    }

    /// One POST: the answer's status code (0 for none) and what went wrong
    /// ("" when the receiver answered 2xx).
    async fn attempt(&self, hook: &webhook::Model, delivery: &webhook_delivery::Model) -> (i32, String) {
        let timestamp = now_micros() / 1_000_000;
        let signed = signature::sign(&hook.secret, &delivery.event_id, timestamp, &delivery.payload);
        let sent = self
            .client
            .post(&hook.url)
            .header("content-type", "application/cloudevents+json")
            .header(signature::ID_HEADER, &delivery.event_id)
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signed)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => (i32::from(answer.status().as_u16()), String::new()),
            Ok(answer) => {
                let code = answer.status();
                let text = answer.text().await.unwrap_or_default();
                let text: String = text.chars().take(MAX_ERROR).collect();
                (
                    i32::from(code.as_u16()),
                    format!("the receiver answered {code}: {text}"),
                )
            }
            Err(err) => (0, format!("no answer: {err}")),
        }
    }
}

/// A webhook as the readers match events to it.
struct Wanted {
    id: String,
    types: Vec<String>,
    /// When it was made: it gets the events committed from then on, not
    /// the history before it.
    since_micros: i64,
}

/// The delivery rows for `events`: one per webhook that wants each event,
/// events about private objects left out.
fn deliveries_of(
    envelope: &Envelope,
    webhooks: &[Wanted],
    events: &[ChangeEvent],
) -> Vec<webhook_delivery::ActiveModel> {
    let now = now_micros();
    let mut rows = Vec::new();
    for event in events.iter().filter(|event| event.private_to.is_empty()) {
        let event_type = envelope.event_type(event);
        let committed = event
            .commit_time
            .as_ref()
            .map_or(0, trellis_foundation::time::from_timestamp);
        let mut wanted_by = webhooks
            .iter()
            .filter(|webhook| committed >= webhook.since_micros && wants(&webhook.types, &event_type))
            .peekable();
        if wanted_by.peek().is_none() {
            continue;
        }
        let payload = match envelope.encode(event) {
            Ok(payload) => payload,
            Err(err) => {
                warn!(event = %envelope.id(event), error = %err, "webhooks: encoding the event; skipped");
                continue;
            }
        };
        for webhook in wanted_by {
            rows.push(webhook_delivery::ActiveModel {
                webhook_id: Set(webhook.id.clone()),
                event_id: Set(envelope.id(event)),
                sequence: Set(event.sequence),
                event_type: Set(event_type.clone()),
                subject: Set(event.resource_name.clone()),
                payload: Set(payload.clone()),
                state: Set(State::Pending.as_str_name().to_owned()),
                attempts: Set(0),
                last_status_code: Set(0),
                last_error: Set(String::new()),
                create_micros: Set(now),
                last_attempt_micros: Set(0),
                next_attempt_micros: Set(0),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let settings = WebhookSettings {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
            ..WebhookSettings::default()
        };
        let waits: Vec<u64> = (1..=8).map(|attempts| settings.backoff(attempts).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(settings.backoff(i32::MAX), Duration::from_secs(60));
    }
}
