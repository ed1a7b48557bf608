//! Check-ins and values fed from health metrics, written by group commit:
//! one task takes whatever requests are waiting (up to `MAX_BATCH`), checks
//! each against its key result, objective and cycle (remembered between
//! batches, see `check_in_facts`), and commits them in one transaction: the
//! check-in rows, one tally update per key result, and their feed events,
//! sent together. Each request still gets its own answer; a request that
//! fails its checks does not fail the others.

use crate::{
    background::check_in_facts::{Admission, FactsCache},
    error::Error,
    names::check_in_name,
    store::{entity::check_in, queries::placeholders},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Statement, Value,
};
use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};
use tokio::sync::{mpsc, oneshot};
use trellis_access::{Access, Permission, ResourceKind, unit_id};
use trellis_foundation::{
    NewChange, RequestContext, Store,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{feed::v1::ChangeKind, okr::v1 as pb};
use trellis_rules::progress::Tally;

/// Requests committed together at most.
const MAX_BATCH: usize = 512;

/// Requests waiting for the writer at most, before callers wait to queue.
const QUEUE: usize = 8_192;

/// A check-in to record.
#[derive(Debug, Clone)]
pub(crate) struct NewCheckIn {
    pub(crate) objective_id: String,
    pub(crate) key_result_id: String,
    pub(crate) value: f64,
    /// -1 for a metric value (it has no confidence of its own).
    pub(crate) confidence: i32,
    pub(crate) note: String,
    pub(crate) source: String,
    /// Set for a metric value: the metric it must come from.
    pub(crate) health_metric: Option<String>,
    pub(crate) measure_micros: i64,
    /// What makes a repeat of this check-in the same one: the request id
    /// of a retried create, or a metric's measurement time. `None`: every
    /// check-in is new (stored as "", outside the unique index).
    pub(crate) dedupe: Option<String>,
    pub(crate) context: RequestContext,
}

/// A health metric's measurement, fed to the key results linked to it.
pub(crate) struct MetricValue<'a> {
    pub health_metric: &'a str,
    pub value: f64,
    pub measure_micros: i64,
    pub source: &'a str,
}

impl MetricValue<'_> {
    pub fn check_in(&self, objective_id: &str, key_result_id: &str, context: RequestContext) -> NewCheckIn {
        NewCheckIn {
            objective_id: objective_id.to_owned(),
            key_result_id: key_result_id.to_owned(),
            value: self.value,
            confidence: -1,
            note: String::new(),
            source: self.source.to_owned(),
            health_metric: Some(self.health_metric.to_owned()),
            measure_micros: self.measure_micros,
            dedupe: Some(format!("{}@{}", self.health_metric, self.measure_micros)),
            context,
        }
    }
}

struct Job {
    check_in: Queued,
    reply: oneshot::Sender<Result<pb::CheckIn, Error>>,
}

/// A check-in with the access checks of the handle it came through.
struct Queued {
    check_in: NewCheckIn,
    access: Access,
}

/// Told the number of check-ins in each batch the writer commits in one
/// transaction (the operators' group-commit metric).
pub type BatchObserver = Box<dyn Fn(usize) + Send + Sync>;

/// The handle request handlers queue check-ins on.
#[derive(Clone)]
pub struct CheckInWriter {
    jobs: mpsc::Sender<Job>,
    /// Each check-in is checked once its objective's owner is read, in the
    /// batch that writes it.
    access: Access,
    observer: Arc<OnceLock<BatchObserver>>,
}

impl std::fmt::Debug for CheckInWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckInWriter").finish_non_exhaustive()
    }
}

impl CheckInWriter {
    pub fn start(store: Store) -> CheckInWriter {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let observer = Arc::new(OnceLock::new());
        tokio::spawn(run(store, receiver, Arc::clone(&observer)));
        CheckInWriter {
            jobs,
            access: Access::open(),
            observer,
        }
    }

    /// Sets what is told each committed batch's size (once; later calls
    /// are ignored).
    pub fn observe_batches(&self, observer: BatchObserver) {
        let _ = self.observer.set(observer);
    }

    pub fn with_access(self, access: Access) -> CheckInWriter {
        CheckInWriter { access, ..self }
    }

    pub(crate) async fn submit(&self, check_in: NewCheckIn) -> Result<pb::CheckIn, Error> {
        let (reply, answer) = oneshot::channel();
        let check_in = Queued {
            check_in,
            access: self.access.clone(),
        };
        self.jobs
            .send(Job { check_in, reply })
            .await
            .map_err(|_| Error::WriterStopped)?;
        answer.await.map_err(|_| Error::WriterStopped)?
    }
}

async fn run(store: Store, mut receiver: mpsc::Receiver<Job>, observer: Arc<OnceLock<BatchObserver>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut facts = FactsCache::default();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (check_ins, replies): (Vec<Queued>, Vec<_>) = batch.drain(..).map(|job| (job.check_in, job.reply)).unzip();
        match write_batch(&store, &mut facts, &check_ins).await {
            Ok(answers) => {
                if let Some(observe) = observer.get() {
                    observe(check_ins.len());
                }
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(err) => {
                // One request's conflict must not fail the others: each is
                // tried alone, so only the one at fault fails.
                tracing::debug!(error = %err, size = check_ins.len(), "check-in batch failed; writing one by one");
                facts.forget();
                for (check_in, reply) in check_ins.iter().zip(replies) {
                    let answer = match write_batch(&store, &mut facts, std::slice::from_ref(check_in)).await {
                        Ok(mut answers) => answers.pop().unwrap_or_else(|| Err(Error::Corrupt("no answer".into()))),
                        Err(err) => {
                            facts.forget();
                            Err(err)
                        }
                    };
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// Check-ins already recorded that `jobs` repeat, by (objective, key
/// result, dedupe key).
async fn recorded_repeats(
    txn: &impl ConnectionTrait,
    jobs: &[Queued],
) -> Result<HashMap<(String, String, String), check_in::Model>, Error> {
    let mut recorded = HashMap::new();
    let mut repeats = Condition::any();
    for Queued { check_in: job, .. } in jobs {
        if let Some(dedupe) = &job.dedupe {
            repeats = repeats.add(
                Condition::all()
                    .add(check_in::Column::ObjectiveId.eq(job.objective_id.as_str()))
                    .add(check_in::Column::KeyResultId.eq(job.key_result_id.as_str()))
                    .add(check_in::Column::DedupeKey.eq(dedupe.as_str())),
            );
        }
    }
    if repeats.is_empty() {
        return Ok(recorded);
    }
    // The literal `<> ''` lets SQLite use the partial unique index.
    for row in check_in::Entity::find()
        .filter(repeats)
        .filter(check_in::Column::DedupeKey.ne(""))
        .all(txn)
        .await?
    {
        recorded.insert(
            (
                row.objective_id.clone(),
                row.key_result_id.clone(),
                row.dedupe_key.clone(),
            ),
            row,
        );
    }
    Ok(recorded)
}

pub(crate) fn to_proto(row: &check_in::Model) -> pb::CheckIn {
    pb::CheckIn {
        name: check_in_name(&row.objective_id, &row.key_result_id, &row.id),
        value: row.value,
        confidence: row.confidence.max(0),
        note: row.note.clone(),
        author: row.author.clone(),
        create_time: Some(to_timestamp(row.create_micros)),
        source: row.source.clone(),
        measure_time: (row.measure_micros != 0).then(|| to_timestamp(row.measure_micros)),
    }
}

/// What one batch adds to a key result's tally.
struct TallyChange {
    added: Tally,
    /// The latest person's confidence; `None` keeps the stored one.
    confidence: Option<i32>,
    micros: i64,
}

/// Writes the batch in one transaction and returns each job's answer, in
/// order. `Err` means the transaction failed and nothing was written.
async fn write_batch(
    store: &Store,
    facts: &mut FactsCache,
    jobs: &[Queued],
) -> Result<Vec<Result<pb::CheckIn, Error>>, Error> {
    let mut txn = store.begin_write().await?;
    let tip = store.feed.tip_held(&txn).await?;
    let wanted = jobs
        .iter()
        .map(|job| (job.check_in.objective_id.as_str(), job.check_in.key_result_id.as_str()));
    facts.refresh(&txn, tip.sequence, wanted).await?;
    let recorded = recorded_repeats(&*txn, jobs).await?;
    let now = now_micros();
    let mut answers = Vec::with_capacity(jobs.len());
    let mut rows: Vec<check_in::Model> = Vec::new();
    let mut changes: Vec<NewChange> = Vec::new();
    let mut tallies: HashMap<(String, String), TallyChange> = HashMap::new();
    let mut seen_keys: HashMap<(String, String, String), pb::CheckIn> = HashMap::new();
    let context = RequestContext::system("okr-check-ins");
    for Queued { check_in, access } in jobs {
        let admission = Admission {
            objective_id: &check_in.objective_id,
            key_result_id: &check_in.key_result_id,
            health_metric: check_in.health_metric.as_deref(),
        };
        let (measure, owner, private) = match facts.admit(&admission) {
            Ok(facts) => (facts.measure, facts.owner.clone(), facts.private),
            Err(err) => {
                answers.push(Err(err));
                continue;
            }
        };
        let name = crate::names::objective_name(&check_in.objective_id);
        let allowed = match access
            .check_sees(&check_in.context, ResourceKind::Objective, &owner, private, &name)
            .await
        {
            Ok(()) => {
                access
                    .check_owned(
                        &check_in.context,
                        Permission::CheckIn,
                        ResourceKind::Objective,
                        &check_in.objective_id,
                        &owner,
                    )
                    .await
            }
            hidden => hidden,
        };
        if let Err(denied) = allowed {
            answers.push(Err(denied.into()));
            continue;
        }
        let dedupe = check_in.dedupe.as_ref().map(|dedupe| {
            (
                check_in.objective_id.clone(),
                check_in.key_result_id.clone(),
                dedupe.clone(),
            )
        });
        if let Some(dedupe) = &dedupe {
            if let Some(existing) = recorded.get(dedupe) {
                answers.push(Ok(to_proto(existing)));
                continue;
            }
            if let Some(existing) = seen_keys.get(dedupe) {
                answers.push(Ok(existing.clone()));
                continue;
            }
        }
        let key = (check_in.objective_id.clone(), check_in.key_result_id.clone());
        let id = format!("c{}", uuid::Uuid::now_v7().simple());
        let row = check_in::Model {
            objective_id: key.0.clone(),
            key_result_id: key.1.clone(),
            id: id.clone(),
            value: check_in.value,
            confidence: check_in.confidence,
            note: check_in.note.clone(),
            author: check_in.context.actor.clone(),
            source: check_in.source.clone(),
            measure_micros: check_in.measure_micros,
            dedupe_key: check_in.dedupe.clone().unwrap_or_default(),
            create_micros: now,
        };
        let shown = to_proto(&row);
        let change = tallies.entry(key).or_insert_with(|| TallyChange {
            added: Tally::default(),
            confidence: None,
            micros: now,
        });
        change.added = change.added.record(&measure, check_in.value);
        if check_in.confidence >= 0 {
            change.confidence = Some(check_in.confidence);
        }
        if let Some(dedupe) = dedupe {
            seen_keys.insert(dedupe, shown.clone());
        }
        changes.push(
            NewChange::new(ChangeKind::Created, shown.name.clone(), &shown)
                .made_by(check_in.context.clone())
                .private_to(unit_id(&owner).unwrap_or_default(), private),
        );
        rows.push(row);
        answers.push(Ok(shown));
    }
    if rows.is_empty() {
        drop(txn);
    } else {
        let backend = txn.backend();
        let mut statements = vec![insert_rows(backend, rows), update_tallies(backend, tallies)];
        let (feed, last_sequence) = store.feed.append_held(&mut txn, tip, &context, changes);
        statements.extend(feed);
        txn.execute_all(statements).await?;
        txn.commit().await?;
        facts.committed(last_sequence);
    }
    Ok(answers)
}

fn insert_rows(backend: DbBackend, rows: Vec<check_in::Model>) -> Statement {
    check_in::Entity::insert_many(rows.into_iter().map(sea_orm::IntoActiveModel::into_active_model)).build(backend)
}

/// One statement for the whole batch: counts are added (so writers in
/// other processes are not lost), the latest value set, and the latest
/// confidence unless only metrics (which have none) reported.
fn update_tallies(backend: DbBackend, tallies: HashMap<(String, String), TallyChange>) -> Statement {
    let mut values: Vec<Value> = Vec::with_capacity(tallies.len() * 7);
    let mut tuples = Vec::with_capacity(tallies.len());
    for ((objective_id, key_result_id), change) in tallies {
        tuples.push(format!("({})", placeholders(backend, values.len() + 1, 7)));
        values.extend([
            Value::from(objective_id),
            Value::from(key_result_id),
            Value::from(change.added.check_ins),
            Value::from(change.added.in_band),
            Value::from(change.added.latest.unwrap_or_default()),
            Value::from(change.confidence.unwrap_or(-1)),
            Value::from(change.micros),
        ]);
    }
    let sql = format!(
        "WITH v(objective_id, id, n, in_band, current_value, confidence, micros) AS (VALUES {}) \
         UPDATE okr_key_results SET \
         check_ins = okr_key_results.check_ins + v.n, \
         in_band = okr_key_results.in_band + v.in_band, \
         current_value = v.current_value, \
         confidence = CASE WHEN v.confidence < 0 THEN okr_key_results.confidence ELSE v.confidence END, \
         last_check_in_micros = v.micros \
         FROM v WHERE okr_key_results.objective_id = v.objective_id AND okr_key_results.id = v.id",
        tuples.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}
