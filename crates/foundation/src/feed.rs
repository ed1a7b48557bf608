//! The change feed: an outbox row per change, written in the same
//! transaction as the change, numbered from a counter row that the
//! transaction updates. Writers serialize on that row (PostgreSQL) or on the
//! writer lock (SQLite), so sequences are gap-free and in commit order: a
//! reader never sees N+1 before N. `watch` replays from a cursor and then
//! follows live, woken by commits in this process (and, for writers in other
//! processes sharing the database, by a slow fallback re-read).

use std::{sync::Arc, time::Duration};

use futures::Stream;
use prost::{Message, Name};
use prost_types::Any;
use sea_orm::{
    ConnectionTrait, DbBackend, QueryResult, Statement,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};
use tokio::sync::watch;
use tonic::Status;
use trellis_proto::{
    chain::Link,
    feed::v1::{ChangeEvent, ChangeKind, WatchChangesRequest},
};

use crate::{
    context::RequestContext,
    db::{Backend, Db, WriteTxn},
    error::Error,
    store::TableNames,
    time::{now_micros, to_timestamp},
};

/// Rows read per replay query.
const REPLAY_BATCH: u64 = 512;
/// The most events one [`ChangeFeed::events_after`] reads.
pub const MAX_EVENTS_AFTER: u64 = 4_096;
/// Rows per insert statement, well under both backends' parameter limits.
const INSERT_CHUNK: usize = 1_000;
/// How long an idle watcher waits before re-reading without a wake-up, to
/// notice commits made by another process on the same database.
const FALLBACK_REREAD: Duration = Duration::from_secs(2);
/// How often an idle watcher that asked for heartbeats gets one.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Events a watcher's stream reads ahead of its client.
const WATCH_BUFFER: usize = 256;
/// How long a watcher may leave its buffer full before it is dropped.
pub const DEFAULT_WATCH_STALL: Duration = Duration::from_secs(30);
const TYPE_URL_PREFIX: &str = "type.googleapis.com/";
/// The outbox columns, in the order rows are written: the content the
/// hash chain covers, then the hash.
pub(crate) const COLUMNS: [&str; 11] = [
    "sequence",
    "kind",
    "resource_name",
    "resource_type",
    "resource",
    "actor",
    "commit_micros",
    "request_id",
    "on_behalf_of",
    "private_to",
    "hash",
];

/// Whether a watcher may see events about a private object owned by the
/// unit with the given id. Events about objects that are not private go to
/// every watcher.
pub type Audience = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The end of a feed as a writer holding it found it: the last sequence
/// and that event's link in the hash chain, which the next event links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedTip {
    pub sequence: i64,
    pub hash: String,
}

/// Outbox inserts for a transaction that holds the feed, numbered on from
/// where the last batch ended; see [`ChangeFeed::held_append`].
#[derive(Debug)]
pub struct HeldAppend {
    feed: ChangeFeed,
    backend: DbBackend,
    first_sequence: i64,
    tip: FeedTip,
    context: RequestContext,
}

impl HeldAppend {
    /// The inserts recording `changes`, numbered and chained after the
    /// previous ones.
    pub fn statements(&mut self, changes: Vec<NewChange>) -> Vec<Statement> {
        self.feed.inserts(self.backend, &mut self.tip, &self.context, changes)
    }

    /// The counter's update, if anything was recorded (to run in the same
    /// transaction), and the last sequence used; watchers are woken when
    /// `txn` commits.
    pub fn finish(self, txn: &mut WriteTxn) -> (Option<Statement>, i64) {
        let last_sequence = self.tip.sequence;
        if last_sequence < self.first_sequence {
            return (None, last_sequence);
        }
        let advance = self.feed.tip_update(self.backend, &self.tip, true);
        self.feed.signal_on_commit(txn, last_sequence);
        (Some(advance), last_sequence)
    }
}

fn change_count(changes: &[NewChange]) -> Result<i64, Error> {
    i64::try_from(changes.len()).map_err(|_| Error::Corrupt("too many changes".into()))
}

/// One change to record, built by a service before it commits.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub kind: ChangeKind,
    pub resource_name: String,
    /// The full proto type name, for example "trellis.strategy.v1.Strategy".
    pub resource_type: String,
    pub resource: Vec<u8>,
    /// The request this change came from, when it differs from the one
    /// the transaction appends for (a group commit of many requests).
    pub origin: Option<RequestContext>,
    /// The id of the unit owning the private object this change is about
    /// ("" when it is not private): only those who may read that unit's
    /// private objects see the event.
    pub private_to: String,
}

impl NewChange {
    /// A change to `resource`, typed by its proto message's full name.
    pub fn new<M: Message + Name>(kind: ChangeKind, resource_name: impl Into<String>, resource: &M) -> NewChange {
        NewChange {
            kind,
            resource_name: resource_name.into(),
            resource_type: M::full_name(),
            resource: resource.encode_to_vec(),
            origin: None,
            private_to: String::new(),
        }
    }

    /// The same change, about a private object of the unit with id `unit`
    /// when `private`.
    pub fn private_to(self, unit: &str, private: bool) -> NewChange {
        NewChange {
            private_to: if private { unit.to_owned() } else { String::new() },
            ..self
        }
    }

    /// The same change, recorded as made by `origin`'s actor and request.
    pub fn made_by(self, origin: RequestContext) -> NewChange {
        NewChange {
            origin: Some(origin),
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct FeedState {
    last_committed: i64,
    closing: bool,
}

/// Wakes the watchers of one feed.
#[derive(Debug, Clone)]
pub struct FeedSignal(Arc<watch::Sender<FeedState>>);

impl FeedSignal {
    fn new() -> FeedSignal {
        FeedSignal(Arc::new(watch::Sender::new(FeedState::default())))
    }

    pub(crate) fn committed(&self, last_sequence: i64) {
        self.0.send_modify(|state| {
            state.last_committed = Ord::max(state.last_committed, last_sequence);
        });
    }
}

#[derive(Debug, Clone)]
pub struct ChangeFeed {
    db: Db,
    tables: Arc<TableNames>,
    signal: FeedSignal,
    /// How long a watcher that reads nothing is kept; see [`crate::watch_buffer`].
    watch_stall: Duration,
}

impl ChangeFeed {
    pub(crate) fn new(db: Db, tables: Arc<TableNames>) -> ChangeFeed {
        ChangeFeed {
            db,
            tables,
            signal: FeedSignal::new(),
            watch_stall: DEFAULT_WATCH_STALL,
        }
    }

    pub(crate) fn set_watch_stall(&mut self, stall: Duration) {
        self.watch_stall = stall;
    }

    /// Records `changes` inside `txn` and returns the last sequence used.
    /// Done last in a transaction, so the counter row is held briefly.
    pub async fn append(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        changes: Vec<NewChange>,
    ) -> Result<i64, Error> {
        let count = change_count(&changes)?;
        if count == 0 {
            return Ok(0);
        }
        let mut tip = self.reserve(txn, count).await?;
        let backend = txn.backend();
        for insert in self.inserts(backend, &mut tip, context, changes) {
            txn.execute_raw(insert).await?;
        }
        txn.execute_raw(self.tip_update(backend, &tip, false)).await?;
        self.signal_on_commit(txn, tip.sequence);
        Ok(tip.sequence)
    }

    /// For a transaction that holds the feed (it read `tip` with
    /// [`ChangeFeed::tip_held`]): the statements that record `changes`, for
    /// the caller to run with its own (one round trip with
    /// [`WriteTxn::execute_all`]), and the last sequence they use.
    pub fn append_held(
        &self,
        txn: &mut WriteTxn,
        tip: FeedTip,
        context: &RequestContext,
        changes: Vec<NewChange>,
    ) -> (Vec<Statement>, i64) {
        let mut held = self.held_append(txn.backend(), tip, context.clone());
        let mut statements = held.statements(changes);
        let (advance, last_sequence) = held.finish(txn);
        statements.extend(advance);
        (statements, last_sequence)
    }

    /// Numbers and builds outbox inserts after `tip`, which a transaction
    /// holding the feed read; the statements can be built on another thread
    /// while the transaction runs earlier ones.
    pub fn held_append(&self, backend: DbBackend, tip: FeedTip, context: RequestContext) -> HeldAppend {
        HeldAppend {
            feed: self.clone(),
            backend,
            first_sequence: tip.sequence + 1,
            tip,
            context,
        }
    }

    /// Moves the counter row to `tip` (its sequence too, unless
    /// [`ChangeFeed::reserve`] already did).
    fn tip_update(&self, backend: DbBackend, tip: &FeedTip, with_sequence: bool) -> Statement {
        let mut update = Query::update();
        update
            .table(Alias::new(&self.tables.counter))
            .value(Alias::new("last_hash"), tip.hash.clone())
            .and_where(Expr::col(Alias::new("id")).eq(1));
        if with_sequence {
            update.value(Alias::new("last_sequence"), tip.sequence);
        }
        backend.build(&update)
    }

    fn signal_on_commit(&self, txn: &mut WriteTxn, last_sequence: i64) {
        let signal = self.signal.clone();
        txn.after_commit(move || signal.committed(last_sequence));
    }

    /// The outbox inserts for `changes`, numbered and chained after `tip`,
    /// which ends at the last of them.
    fn inserts(
        &self,
        backend: DbBackend,
        tip: &mut FeedTip,
        context: &RequestContext,
        changes: Vec<NewChange>,
    ) -> Vec<Statement> {
        let commit_micros = now_micros();
        let request_id = context.request_id.clone().unwrap_or_default();
        let mut statements = Vec::new();
        let mut rows = changes.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(&self.tables.changes))
                .columns(COLUMNS.map(Alias::new));
            for change in rows.by_ref().take(INSERT_CHUNK) {
                let origin = change.origin.as_ref().unwrap_or(context);
                let actor = origin.actor.clone();
                let on_behalf_of = origin.on_behalf_of.clone().unwrap_or_default();
                let request_id = match &change.origin {
                    Some(origin) => origin.request_id.clone().unwrap_or_default(),
                    None => request_id.clone(),
                };
                let sequence = tip.sequence + 1;
                let kind = change.kind.as_str_name();
                let hash = Link {
                    sequence,
                    kind,
                    resource_name: &change.resource_name,
                    resource_type: &change.resource_type,
                    resource: &change.resource,
                    actor: &actor,
                    commit_micros,
                    request_id: &request_id,
                    on_behalf_of: &on_behalf_of,
                    private_to: &change.private_to,
                }
                .hash(&tip.hash);
                insert.values_panic([
                    sequence.into(),
                    kind.into(),
                    change.resource_name.into(),
                    change.resource_type.into(),
                    change.resource.into(),
                    actor.into(),
                    commit_micros.into(),
                    request_id.into(),
                    on_behalf_of.into(),
                    change.private_to.into(),
                    hash.clone().into(),
                ]);
                *tip = FeedTip { sequence, hash };
            }
            statements.push(backend.build(&insert));
        }
        statements
    }

    /// Takes `count` sequences: the tip before them, with the counter
    /// already moved past them.
    async fn reserve(&self, txn: &WriteTxn, count: i64) -> Result<FeedTip, Error> {
        let update = Query::update()
            .table(Alias::new(&self.tables.counter))
            .value(
                Alias::new("last_sequence"),
                Expr::col(Alias::new("last_sequence")).add(count),
            )
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .returning(Query::returning().columns([Alias::new("last_sequence"), Alias::new("last_hash")]))
            .to_owned();
        let row = txn
            .query_one(&update)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("{} has no row", self.tables.counter)))?;
        Ok(FeedTip {
            sequence: row.try_get::<i64>("", "last_sequence")? - count,
            hash: row.try_get("", "last_hash")?,
        })
    }

    /// Makes this transaction the only writer of the feed until it ends.
    ///
    /// For changes whose checks read other rows than they write (moving an
    /// org unit checks the new parent's ancestry): two such transactions
    /// would each pass against the other's old state. SQLite writers are
    /// serialized already; on PostgreSQL this locks the counter row that
    /// every writer of the feed takes at commit anyway, so it only moves
    /// that wait to the start.
    pub async fn serialize_writers(&self, txn: &WriteTxn) -> Result<(), Error> {
        if self.db.backend() != Backend::Postgres {
            return Ok(());
        }
        self.tip_held(txn).await.map(|_| ())
    }

    /// The feed's tip, with the feed's other writers held off until `txn`
    /// ends (as [`ChangeFeed::serialize_writers`]). A reader that remembers
    /// its sequence can tell, in a later transaction, whether anything was
    /// written since: every write of this service appends to its feed.
    pub async fn tip_held(&self, txn: &WriteTxn) -> Result<FeedTip, Error> {
        let mut select = Query::select();
        select
            .columns([Alias::new("last_sequence"), Alias::new("last_hash")])
            .from(Alias::new(&self.tables.counter))
            .and_where(Expr::col(Alias::new("id")).eq(1));
        if self.db.backend() == Backend::Postgres {
            select.lock_exclusive();
        }
        let row = txn
            .query_one(&select)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("{} has no row", self.tables.counter)))?;
        Ok(FeedTip {
            sequence: row.try_get("", "last_sequence")?,
            hash: row.try_get("", "last_hash")?,
        })
    }

    /// The last committed sequence (0 when the feed is empty).
    pub async fn head(&self) -> Result<i64, Error> {
        let select = Query::select()
            .column(Alias::new("last_sequence"))
            .from(Alias::new(&self.tables.counter))
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .to_owned();
        let row = self.db.conn().query_one(&select).await?;
        match row {
            Some(row) => Ok(row.try_get::<i64>("", "last_sequence")?),
            None => Err(Error::Corrupt(format!("{} has no row", self.tables.counter))),
        }
    }

    /// Ends every open watch stream, so a graceful shutdown can drain.
    pub fn close(&self) {
        self.signal.0.send_modify(|state| state.closing = true);
    }

    async fn read_after(&self, cursor: i64) -> Result<Vec<QueryResult>, Error> {
        self.read_at_most(cursor, REPLAY_BATCH).await
    }

    async fn read_at_most(&self, cursor: i64, limit: u64) -> Result<Vec<QueryResult>, Error> {
        let select = Query::select()
            .columns(COLUMNS.map(Alias::new))
            .from(Alias::new(&self.tables.changes))
            .and_where(Expr::col(Alias::new("sequence")).gt(cursor))
            .order_by(Alias::new("sequence"), Order::Asc)
            .limit(limit)
            .to_owned();
        Ok(self.db.conn().query_all(&select).await?)
    }

    /// The next changes after `cursor` (at most `limit`, capped at
    /// [`MAX_EVENTS_AFTER`]), contiguous from it, each with the unit its
    /// object is private to ("" for none): what a relay sends on. Stops
    /// before a sequence not committed yet.
    pub async fn events_after(&self, cursor: i64, limit: u64) -> Result<Vec<(ChangeEvent, String)>, Error> {
        let mut events = Vec::new();
        let rows = self.read_at_most(cursor, limit.clamp(1, MAX_EVENTS_AFTER)).await?;
        for (next, row) in (cursor + 1..).zip(rows) {
            let (event, private_to) = change_event(&row)?;
            if event.sequence != next {
                break;
            }
            events.push((event, private_to));
        }
        Ok(events)
    }

    /// Resolves once a change commits after `sequence`, the feed closes,
    /// or a while passes (a commit another process made signals nothing
    /// here).
    pub async fn committed_after(&self, sequence: i64) {
        let mut wake = self.signal.0.subscribe();
        let _ = tokio::time::timeout(
            FALLBACK_REREAD,
            wake.wait_for(|state| state.closing || state.last_committed > sequence),
        )
        .await;
    }

    /// Every change after `after_sequence`, then every new one as it
    /// commits, each exactly once and in sequence order. Only contiguous
    /// sequences are delivered, so a consumer's cursor never skips one.
    /// With `heartbeats`, also an event with sequence 0 and the feed's
    /// head each time the replay has delivered what it read, at most every
    /// [`HEARTBEAT_EVERY`]. The head may already be past what was
    /// delivered; the events up to it follow. A watcher whose client stops
    /// reading is dropped once its buffer has been full for the stall time.
    /// Events about private objects reach only the watchers `audience`
    /// lets see them (none is everyone: the service's own readers).
    pub fn watch(
        &self,
        request: WatchChangesRequest,
        audience: Option<Audience>,
    ) -> impl Stream<Item = Result<ChangeEvent, Status>> + Send + 'static {
        crate::watch_buffer::bounded(self.watch_unbuffered(request, audience), WATCH_BUFFER, self.watch_stall)
    }

    fn watch_unbuffered(
        &self,
        request: WatchChangesRequest,
        audience: Option<Audience>,
    ) -> impl Stream<Item = Result<ChangeEvent, Status>> + Send + 'static {
        let WatchChangesRequest {
            after_sequence,
            resource_types,
            heartbeats,
        } = request;
        let feed = self.clone();
        let mut wake = self.signal.0.subscribe();
        async_stream::try_stream! {
            let mut cursor = Ord::max(after_sequence, 0);
            let mut last_heartbeat: Option<tokio::time::Instant> = None;
            loop {
                if wake.borrow_and_update().closing {
                    break;
                }
                // Only consumers that follow their lag read the head: it is
                // one more query on every wake-up.
                let head = if heartbeats { feed.head().await.map_err(Status::from)? } else { 0 };
                let rows = feed.read_after(cursor).await.map_err(Status::from)?;
                let full_batch = rows.len() as u64 == REPLAY_BATCH;
                let mut delivered_all = true;
                for row in rows {
                    let (mut event, private_to) = change_event(&row).map_err(Status::from)?;
                    if heartbeats {
                        event.head_sequence = Ord::max(head, event.sequence);
                    }
                    if event.sequence != cursor + 1 {
                        delivered_all = false;
                        break;
                    }
                    cursor = event.sequence;
                    let wanted = resource_types.is_empty() || resource_types.contains(&event.resource_type);
                    let seen = private_to.is_empty()
                        || audience.as_ref().is_none_or(|audience| audience(&private_to));
                    if wanted && seen {
                        yield event;
                    }
                }
                if full_batch && delivered_all {
                    continue;
                }
                if heartbeats && last_heartbeat.is_none_or(|at| at.elapsed() >= HEARTBEAT_EVERY) {
                    last_heartbeat = Some(tokio::time::Instant::now());
                    yield ChangeEvent {
                        head_sequence: feed.head().await.map_err(Status::from)?,
                        ..ChangeEvent::default()
                    };
                }
                tokio::select! {
                    changed = wake.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    () = tokio::time::sleep(FALLBACK_REREAD) => {}
                }
            }
        }
    }
}

/// The event a row records, and the unit its object is private to ("" for
/// none).
fn change_event(row: &QueryResult) -> Result<(ChangeEvent, String), Error> {
    let kind: String = row.try_get("", "kind")?;
    let resource_type: String = row.try_get("", "resource_type")?;
    let resource: Vec<u8> = row.try_get("", "resource")?;
    let kind =
        ChangeKind::from_str_name(&kind).ok_or_else(|| Error::Corrupt(format!("unknown change kind {kind:?}")))?;
    let event = ChangeEvent {
        sequence: row.try_get("", "sequence")?,
        kind: kind as i32,
        resource_name: row.try_get("", "resource_name")?,
        resource: Some(Any {
            type_url: format!("{TYPE_URL_PREFIX}{resource_type}"),
            value: resource,
        }),
        resource_type,
        actor: row.try_get("", "actor")?,
        commit_time: Some(to_timestamp(row.try_get("", "commit_micros")?)),
        request_id: row.try_get("", "request_id")?,
        head_sequence: 0,
        on_behalf_of: row.try_get("", "on_behalf_of")?,
        private_to: row.try_get("", "private_to")?,
        hash: row.try_get("", "hash")?,
    };
    let private_to = event.private_to.clone();
    Ok((event, private_to))
}
