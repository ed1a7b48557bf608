//! The health-metric service: KPIs that must stay within agreed ranges,
//! their measurements and status history, and the Four Square rule as an
//! escalation policy on each metric.
//!
//! The pure rules: thresholds and their evaluation ([`thresholds`]),
//! freshness by cadence ([`freshness`]) and the escalation's state machine
//! ([`escalation`]). Around them: storage, the gRPC service, and three
//! background tasks ([`HealthApi::start_background`]): the step runner
//! that carries out escalations through the OKR and strategy services, the
//! feeder of linked key results, and the sweep that records UNKNOWN. Of
//! replicas on one database, one at a time runs steps ([`lease`]).

mod background;
mod convert;
pub mod entity;
pub mod escalation;
pub mod freshness;
mod grpc;
mod lease;
mod measurement_checks;
mod measurements;
mod metrics;
pub mod migration;
mod steps;
pub mod thresholds;

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use trellis_foundation::Store;
use trellis_proto::{
    cascade::v1::org_service_client::OrgServiceClient, okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};

pub use background::Background;
pub use lease::DEFAULT_TERM as DEFAULT_RUNNER_LEASE;
use lease::Lease;
pub use migration::Migrator;
use steps::FailPoint;

/// The prefix of every table this service owns.
pub const TABLE_PREFIX: &str = "health";

pub type OrgClient = OrgServiceClient<trellis_foundation::trace::PeerChannel>;
pub type OkrClient = OkrServiceClient<trellis_foundation::trace::PeerChannel>;
pub type StrategyClient = StrategyServiceClient<trellis_foundation::trace::PeerChannel>;

/// The peers the health service calls.
#[derive(Clone, Debug)]
pub struct Peers {
    pub org: OrgClient,
    pub okr: OkrClient,
    pub strategy: StrategyClient,
}

/// The `trellis.health.v1.HealthMetricService` implementation.
#[derive(Clone, Debug)]
pub struct HealthApi {
    store: Store,
    peers: Peers,
    /// Woken when steps were recorded.
    steps_due: Arc<Notify>,
    /// Woken when a newest measurement may need feeding to key results.
    feed_due: Arc<Notify>,
    fail_point: FailPoint,
    /// Held by one replica at a time: only it runs escalation steps.
    runner_lease: Lease,
}

impl HealthApi {
    pub fn new(store: Store, peers: Peers) -> HealthApi {
        HealthApi {
            store,
            peers,
            steps_due: Arc::new(Notify::new()),
            feed_due: Arc::new(Notify::new()),
            fail_point: FailPoint::default(),
            runner_lease: Lease::new(lease::STEP_RUNNER, lease::DEFAULT_TERM),
        }
    }

    /// How long the step runner's claim holds without renewal: how soon a
    /// standby replica takes over from one that died.
    pub fn with_runner_lease(mut self, term: Duration) -> HealthApi {
        self.runner_lease = Lease::new(lease::STEP_RUNNER, term);
        self
    }

    /// Makes the step runner stop for good right after a step of `kind`
    /// (`PAUSE_GUARDED`, `CREATE_REMEDIAL`, ...) succeeded and before it is
    /// marked done, as if the process died there; for restart tests.
    pub fn with_fail_point(mut self, kind: Option<String>) -> HealthApi {
        self.fail_point = FailPoint(kind);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
