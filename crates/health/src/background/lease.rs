//! The step runner's lease. Replicas of the health service share one
//! database, and a metric's escalation steps must run in order, by one
//! runner at a time: a PAUSE repeated by a second runner after the first
//! had already run RESUME would leave objectives paused for good. The
//! replica that holds the lease runs steps; the others stand by and take
//! over once it lapses (its holder died or hangs) or is released (its
//! holder shut down).
//!
//! A holder stops starting steps a third of the term before its claim
//! lapses, and drops a step still in flight when the claim lapses (its
//! renewals failed), before another replica may begin. Claims compare each
//! replica's own clock: the clocks must agree to well within that margin,
//! as NTP keeps them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, sea_query::Expr};
use trellis_foundation::{Store, names::generate_id, time::now_micros};

use crate::error::Error;

use crate::store::entity::lease;

/// The lease row of the step runner (written by migration m0003).
pub const STEP_RUNNER: &str = "step_runner";

/// How long a claim holds unless renewed, by default.
pub const DEFAULT_TERM: Duration = Duration::from_secs(15);

/// One replica's side of a lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    name: &'static str,
    holder: String,
    term_micros: i64,
    /// When this replica's claim ends; 0 when it holds none.
    claim_until: Arc<AtomicI64>,
    /// Until when this replica may start work: its claim's end less the
    /// margin.
    usable_until: Arc<AtomicI64>,
    /// Set when the replica plays dead for a restart test: it neither
    /// renews nor releases, as a killed process would not.
    abandoned: Arc<AtomicBool>,
}

impl Lease {
    pub fn new(name: &'static str, term: Duration) -> Lease {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        Lease {
            name,
            holder: format!("{host}/{}/{}", std::process::id(), generate_id()),
            term_micros: i64::try_from(term.as_micros()).unwrap_or(i64::MAX).max(1),
            claim_until: Arc::new(AtomicI64::new(0)),
            usable_until: Arc::new(AtomicI64::new(0)),
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// How often a holder renews: three times a term, so one slow renewal
    /// does not cost the claim.
    pub fn renew_every(&self) -> Duration {
        Duration::from_micros(u64::try_from(self.term_micros / 3).unwrap_or(1).max(1))
    }

    /// Claims the lease if it is free or lapsed, or renews this replica's
    /// claim; whether this replica holds it now.
    pub async fn claim(&self, store: &Store) -> Result<bool, Error> {
        if self.abandoned.load(Ordering::Acquire) {
            return Ok(false);
        }
        let now = now_micros();
        let until = now.saturating_add(self.term_micros);
        // Through the writer, as every write: two replicas claiming at once
        // serialize on the row, and the second finds it taken.
        let txn = store.begin_write().await?;
        let claimed = lease::Entity::update_many()
            .col_expr(lease::Column::Holder, Expr::value(self.holder.clone()))
            .col_expr(lease::Column::UntilMicros, Expr::value(until))
            .filter(lease::Column::Name.eq(self.name))
            .filter(
                Condition::any()
                    .add(lease::Column::Holder.eq(self.holder.clone()))
                    .add(lease::Column::UntilMicros.lt(now)),
            )
            .exec(&*txn)
            .await?
            .rows_affected
            == 1;
        txn.commit().await?;
        if claimed {
            self.claim_until.store(until, Ordering::Release);
            self.usable_until
                .store(until.saturating_sub(self.term_micros / 3), Ordering::Release);
        } else {
            self.forget();
        }
        Ok(claimed)
    }

    fn forget(&self) {
        self.usable_until.store(0, Ordering::Release);
        self.claim_until.store(0, Ordering::Release);
    }

    /// Whether this replica may start a piece of work now.
    pub fn held(&self) -> bool {
        now_micros() < self.usable_until.load(Ordering::Acquire)
    }

    /// Resolves once this replica's claim has ended, renewals included.
    pub async fn lapsed(&self) {
        loop {
            let left = self.claim_until.load(Ordering::Acquire).saturating_sub(now_micros());
            if left <= 0 {
                return;
            }
            tokio::time::sleep(Duration::from_micros(u64::try_from(left).unwrap_or(0))).await;
        }
    }

    /// Gives the lease up at once, so a standby replica need not wait for
    /// it to lapse.
    pub async fn release(&self, store: &Store) -> Result<(), Error> {
        self.forget();
        if self.abandoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let txn = store.begin_write().await?;
        lease::Entity::update_many()
            .col_expr(lease::Column::Holder, Expr::value(""))
            .col_expr(lease::Column::UntilMicros, Expr::value(0i64))
            .filter(lease::Column::Name.eq(self.name))
            .filter(lease::Column::Holder.eq(self.holder.clone()))
            .exec(&*txn)
            .await?;
        Ok(txn.commit().await?)
    }

    /// Stops using, renewing and releasing the lease, as if the process
    /// had died: the claim lapses at the end of its term.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        self.forget();
    }
}
