//! The health service's domain operations, one file per resource: each
//! checks every field (collecting every violation), writes in one
//! transaction and appends its change events. A method lives in the file
//! of the resource it acts on; what runs on its own is in `background/`.

pub(crate) mod measurement_checks;
pub(crate) mod measurements;
pub(crate) mod metrics;

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use trellis_access::{Access, Permission, ResourceKind};
use trellis_foundation::{RequestContext, Store};

use crate::{
    OkrClient, OrgClient, StrategyClient,
    background::{
        lease::{self, Lease},
        steps::FailPoint,
    },
    store::entity::metric,
};

/// The peers the health service calls.
#[derive(Clone, Debug)]
pub struct Peers {
    pub org: OrgClient,
    pub okr: OkrClient,
    pub strategy: StrategyClient,
}

/// The health service's operations, grouped by resource in `ops/` and by
/// task in `background/`; `grpc::HealthGrpc` puts them on the wire.
#[derive(Clone, Debug)]
pub struct HealthOps {
    pub(crate) store: Store,
    pub(crate) peers: Peers,
    /// Woken when steps were recorded.
    pub(crate) steps_due: Arc<Notify>,
    /// Woken when a newest measurement may need feeding to key results.
    pub(crate) feed_due: Arc<Notify>,
    pub(crate) fail_point: FailPoint,
    /// Held by one replica at a time: only it runs escalation steps.
    pub(crate) runner_lease: Lease,
    pub(crate) access: Access,
}

impl HealthOps {
    pub fn new(store: Store, peers: Peers) -> HealthOps {
        HealthOps {
            store,
            peers,
            steps_due: Arc::new(Notify::new()),
            feed_due: Arc::new(Notify::new()),
            fail_point: FailPoint::default(),
            runner_lease: Lease::new(lease::STEP_RUNNER, lease::DEFAULT_TERM),
            access: Access::open(),
        }
    }

    /// Holds every request to the access policy (`--auth-mode oidc`).
    pub fn with_access(mut self, access: Access) -> HealthOps {
        self.access = access;
        self
    }

    /// PERMISSION_DENIED unless the caller may do `permission` to the
    /// metric `row`; NOT_FOUND when it is private and the caller may not
    /// even read it.
    pub(crate) async fn may(
        &self,
        context: &RequestContext,
        permission: Permission,
        row: &metric::Model,
    ) -> Result<(), crate::Error> {
        let owner = trellis_access::unit_name(&row.owner_id);
        let name = crate::names::metric_name(&row.id);
        self.access
            .check_sees(context, ResourceKind::HealthMetric, &owner, row.private, &name)
            .await?;
        Ok(self
            .access
            .check_owned(context, permission, ResourceKind::HealthMetric, &row.id, &owner)
            .await?)
    }

    /// Ok when the caller may read the metric `row`; NOT_FOUND for a
    /// private one it may not see, as if it did not exist.
    pub(crate) async fn readable(&self, context: &RequestContext, row: &metric::Model) -> Result<(), crate::Error> {
        let reader = self.access.reader(context).await;
        Ok(reader.check(
            ResourceKind::HealthMetric,
            &row.owner_id,
            row.private,
            &crate::names::metric_name(&row.id),
        )?)
    }

    /// How long the step runner's claim holds without renewal: how soon a
    /// standby replica takes over from one that died.
    pub fn with_runner_lease(mut self, term: Duration) -> HealthOps {
        self.runner_lease = Lease::new(lease::STEP_RUNNER, term);
        self
    }

    /// Makes the step runner stop for good right after a step of `kind`
    /// (`PAUSE_GUARDED`, `CREATE_REMEDIAL`, ...) succeeded and before it is
    /// marked done, as if the process died there; for restart tests.
    pub fn with_fail_point(mut self, kind: Option<String>) -> HealthOps {
        self.fail_point = FailPoint(kind);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
