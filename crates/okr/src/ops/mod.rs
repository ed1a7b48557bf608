//! The okr service's domain operations, one file per resource: each checks
//! every field (collecting every violation), writes in one transaction and
//! appends its change events. A method lives in the file of the resource it
//! acts on.

pub(crate) mod check_ins;
pub(crate) mod cycles;
pub(crate) mod import;
pub(crate) mod key_results;
pub(crate) mod metric_feed;
pub(crate) mod objective_reads;
pub(crate) mod objective_states;
pub(crate) mod objectives;
pub(crate) mod references;
pub(crate) mod replans;

use trellis_access::{Access, Permission, ResourceKind};
use trellis_foundation::{RequestContext, Store};

use crate::{OrgClient, StrategyClient, background::check_in_writer::CheckInWriter, error::Error};

/// The okr service's operations, grouped by resource in this module's
/// files; `grpc::OkrGrpc` puts them on the wire.
#[derive(Clone, Debug)]
pub struct OkrOps {
    pub(crate) store: Store,
    pub(crate) org: OrgClient,
    pub(crate) strategy: StrategyClient,
    pub(crate) check_ins: CheckInWriter,
    pub(crate) access: Access,
}

impl OkrOps {
    /// `org` and `strategy` reach those services, in this process or not.
    pub async fn new(store: Store, org: OrgClient, strategy: StrategyClient) -> Result<OkrOps, Error> {
        let check_ins = CheckInWriter::start(store.clone());
        Ok(OkrOps {
            store,
            org,
            strategy,
            check_ins,
            access: Access::open(),
        })
    }

    /// Sets what is told the size of each batch of check-ins committed
    /// together.
    pub fn observe_check_in_batches(&self, observer: crate::BatchObserver) {
        self.check_ins.observe_batches(observer);
    }

    /// Holds every request to the access policy (`--auth-mode oidc`).
    pub fn with_access(self, access: Access) -> OkrOps {
        let check_ins = self.check_ins.with_access(access.clone());
        OkrOps {
            access,
            check_ins,
            ..self
        }
    }

    /// PERMISSION_DENIED unless the caller may change objective `id` owned
    /// by `owner` (and, when it is handed over, by `previous_owner` too);
    /// NOT_FOUND when it is `private` and out of the caller's sight.
    pub(crate) async fn may_edit_objective(
        &self,
        context: &RequestContext,
        id: &str,
        owner: &str,
        previous_owner: Option<&str>,
        private: bool,
    ) -> Result<(), Error> {
        let name = crate::names::objective_name(id);
        for unit in std::iter::once(owner).chain(previous_owner) {
            self.access
                .check_sees(context, ResourceKind::Objective, unit, private, &name)
                .await?;
        }
        Ok(self
            .access
            .check_handover(
                context,
                Permission::EditOkrs,
                ResourceKind::Objective,
                id,
                owner,
                previous_owner,
            )
            .await?)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
