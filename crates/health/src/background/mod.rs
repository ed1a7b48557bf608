//! The service's background work, one task each: the step runner, the
//! feeder of linked key results, and the sweep that records UNKNOWN. All
//! of it is driven by the database (steps and markers live in tables), so
//! a restart picks up where the last process stopped. Of several replicas
//! on one database, only the holder of the runner lease runs steps (their
//! order matters); the feeder and the sweep only repeat idempotent work,
//! so every replica runs them.

pub mod lease;
pub(crate) mod steps;

use crate::error::Error;
use std::time::Duration;

use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use trellis_foundation::{
    RequestContext,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{FeedMetricValuesRequest, MetricValue},
};

use crate::{
    HealthOps,
    names::metric_name,
    ops::{
        measurements::{Applied, record_status, save},
        metrics::{change, show},
    },
    store::{
        codec::{current, expiry},
        entity::metric,
    },
};

/// How often the sweep looks for metrics whose cadence ran out.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Idle wake-up of the step runner and the feeder, to retry.
const IDLE: Duration = Duration::from_secs(5);
/// Idle wake-up of the step runner: steps recorded by another replica
/// wake only that replica, so the lease holder looks this often.
const STEPS_IDLE: Duration = Duration::from_secs(1);
/// A standby replica tries for the runner lease at least this often, so
/// it takes over soon after the holder releases it.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
/// The feeder sends at most one round per this, however busy recording is.
const FEED_AT_MOST_EVERY: Duration = Duration::from_millis(100);
/// Metrics per feeding round (the OKR service takes 1,000 values a call).
const FEED_ROUND: u64 = 1_000;
const SWEEP_ROUND: u64 = 1_000;

/// The running tasks; stopped when dropped.
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
    ops: HealthOps,
}

impl Background {
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Stops the tasks and hands the runner lease over at once, so a
    /// standby replica need not wait for it to lapse.
    pub async fn shutdown(&mut self) {
        self.stop();
        if let Err(err) = self.ops.runner_lease.release(&self.ops.store).await {
            warn!(error = %err, "releasing the step runner's lease; it lapses by itself");
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

impl HealthOps {
    pub fn start_background(&self) -> Background {
        let runner = self.clone();
        let feeder = self.clone();
        let sweeper = self.clone();
        let claimer = self.clone();
        Background {
            tasks: vec![
                tokio::spawn(async move { claimer.hold_runner_lease_forever().await }),
                tokio::spawn(async move { runner.run_steps_forever().await }),
                tokio::spawn(async move { feeder.feed_forever().await }),
                tokio::spawn(async move { sweeper.sweep_forever().await }),
            ],
            ops: self.clone(),
        }
    }

    /// Claims the runner lease, or renews it, every third of its term;
    /// wakes the runner when this replica takes it over.
    async fn hold_runner_lease_forever(&self) {
        let mut holding = false;
        loop {
            match self.runner_lease.claim(&self.store).await {
                Ok(held) => {
                    if held && !holding {
                        info!("this replica now runs the escalation steps");
                        self.steps_due.notify_one();
                    } else if holding && !held {
                        warn!("another replica took over the escalation steps");
                    }
                    holding = held;
                }
                Err(err) => warn!(error = %err, "claiming the step runner's lease"),
            }
            let renew_every = self.runner_lease.renew_every();
            tokio::time::sleep(if holding {
                renew_every
            } else {
                renew_every.min(STANDBY_RETRY)
            })
            .await;
        }
    }

    async fn run_steps_forever(&self) {
        loop {
            let wait = match self.run_due_steps().await {
                Ok(Some(due)) => Duration::from_micros(u64::try_from(due - now_micros()).unwrap_or(0)).min(STEPS_IDLE),
                Ok(None) => STEPS_IDLE,
                Err(err) => {
                    warn!(error = %err, "running escalation steps");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.steps_due.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn feed_forever(&self) {
        let mut failures = 0u32;
        loop {
            let wait = match self.feed_round().await {
                Ok(true) => {
                    failures = 0;
                    FEED_AT_MOST_EVERY
                }
                Ok(false) => {
                    failures = 0;
                    tokio::select! {
                        () = self.feed_due.notified() => {}
                        () = tokio::time::sleep(IDLE) => {}
                    }
                    FEED_AT_MOST_EVERY
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    warn!(error = %err, failures, "feeding metric values to key results");
                    Duration::from_millis(200u64.saturating_mul(1 << Ord::min(failures, 8)))
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Feeds the newest measurement of each metric that has one not yet
    /// fed; whether there was any.
    async fn feed_round(&self) -> Result<bool, Error> {
        let conn = self.store.db.conn();
        let due: Vec<(String, i64, f64, String)> = metric::Entity::find()
            .select_only()
            .column(metric::Column::Id)
            .column(metric::Column::LatestMicros)
            .column(metric::Column::LatestValue)
            .column(metric::Column::LatestSource)
            .filter(Expr::col(metric::Column::LatestMicros).gt(Expr::col(metric::Column::FedMicros)))
            .limit(FEED_ROUND)
            .into_tuple()
            .all(conn)
            .await?;
        if due.is_empty() {
            return Ok(false);
        }
        let values = due
            .iter()
            .map(|(id, micros, value, source)| MetricValue {
                health_metric: metric_name(id),
                value: *value,
                measure_time: Some(to_timestamp(*micros)),
                source: source.clone(),
            })
            .collect();
        self.peers
            .okr
            .clone()
            .feed_metric_values(FeedMetricValuesRequest { values })
            .await
            .map_err(Error::peer("okr"))?;
        // Through the writer, as every write: on SQLite a write beside it
        // would invalidate the snapshot of a recording transaction; on
        // PostgreSQL, taking the rows in another order than recording does
        // would deadlock with it.
        let txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        for (id, micros, _, _) in due {
            metric::Entity::update_many()
                .col_expr(metric::Column::FedMicros, Expr::value(micros))
                .filter(metric::Column::Id.eq(id))
                .filter(metric::Column::FedMicros.lt(micros))
                .exec(&*txn)
                .await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    async fn sweep_forever(&self) {
        loop {
            if let Err(err) = self.sweep().await {
                warn!(error = %err, "recording metrics gone UNKNOWN");
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    }

    /// Records UNKNOWN for every metric whose cadence ran out without a
    /// measurement: in the history and on the feed, without anyone asking.
    pub(crate) async fn sweep(&self) -> Result<(), Error> {
        let now = now_micros();
        let unknown = "UNKNOWN";
        let expired = metric::Entity::find()
            .select_only()
            .column(metric::Column::Id)
            .filter(metric::Column::ExpireMicros.lt(now))
            .filter(metric::Column::Status.ne(unknown))
            .limit(SWEEP_ROUND)
            .into_tuple::<String>()
            .all(self.store.db.conn())
            .await?;
        if expired.is_empty() {
            return Ok(());
        }
        let mut txn = self.store.begin_write().await?;
        self.store.feed.serialize_writers(&txn).await?;
        let rows = metric::Entity::find()
            .filter(metric::Column::Id.is_in(expired))
            .all(&*txn)
            .await?;
        let mut swept = Vec::new();
        for mut row in rows {
            let live = current(&row, now);
            let mut changes = Vec::new();
            record_status(&mut row, &mut changes, live.status, live.since_micros);
            if changes.is_empty() {
                continue;
            }
            row.expire_micros = expiry(&row);
            row.update_micros = now;
            let applied = Applied {
                row,
                changes,
                steps: Vec::new(),
            };
            save(&txn, &applied).await?;
            let row = applied.row;
            swept.push(row);
        }
        let shown = show(&*txn, &swept).await?;
        let events = shown.iter().map(|metric| change(ChangeKind::Updated, metric)).collect();
        self.store
            .feed
            .append(&mut txn, &RequestContext::system("trellis-health"), events)
            .await?;
        Ok(txn.commit().await?)
    }
}
