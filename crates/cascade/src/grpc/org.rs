//! The gRPC face of the org service: unwrap the request, call the
//! operation, map the error.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};
use trellis_foundation::{RequestContext, with_context};
use trellis_proto::{
    cascade::v1::{self as pb, org_service_server::OrgService},
    feed::v1::{ChangeEvent, WatchChangesRequest},
};

use crate::ops::OrgOps;

type Reply<T> = Result<Response<T>, Status>;

/// `trellis.cascade.v1.OrgService` over [`OrgOps`].
#[derive(Debug, Clone)]
pub struct OrgGrpc {
    ops: OrgOps,
}

impl OrgGrpc {
    pub fn new(ops: OrgOps) -> OrgGrpc {
        OrgGrpc { ops }
    }
}

#[tonic::async_trait]
impl OrgService for OrgGrpc {
    async fn create_org_unit(&self, request: Request<pb::CreateOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        let context = RequestContext::from_request(&request);
        let request = request.into_inner();
        let context = context.with_request_id(&request.request_id);
        Ok(Response::new(self.ops.create(context, request).await?))
    }

    async fn get_org_unit(&self, request: Request<pb::GetOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        with_context!(self, request, get)
    }

    async fn list_org_units(&self, request: Request<pb::ListOrgUnitsRequest>) -> Reply<pb::ListOrgUnitsResponse> {
        with_context!(self, request, list)
    }

    async fn update_org_unit(&self, request: Request<pb::UpdateOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(self.ops.update(context, request.into_inner()).await?))
    }

    async fn delete_org_unit(&self, request: Request<pb::DeleteOrgUnitRequest>) -> Reply<()> {
        let context = RequestContext::from_request(&request);
        self.ops.delete(context, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn move_org_unit(&self, request: Request<pb::MoveOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(self.ops.move_unit(context, request.into_inner()).await?))
    }

    async fn batch_create_org_units(
        &self,
        request: Request<pb::BatchCreateOrgUnitsRequest>,
    ) -> Reply<pb::BatchCreateOrgUnitsResponse> {
        let context = RequestContext::from_request(&request);
        let request = request.into_inner();
        let context = context.with_request_id(&request.request_id);
        Ok(Response::new(self.ops.batch_create(context, request).await?))
    }

    async fn batch_get_org_units(
        &self,
        request: Request<pb::BatchGetOrgUnitsRequest>,
    ) -> Reply<pb::BatchGetOrgUnitsResponse> {
        with_context!(self, request, batch_get)
    }

    async fn list_descendants(
        &self,
        request: Request<pb::ListDescendantsRequest>,
    ) -> Reply<pb::ListDescendantsResponse> {
        with_context!(self, request, descendants)
    }

    async fn list_ancestors(&self, request: Request<pb::ListAncestorsRequest>) -> Reply<pb::ListAncestorsResponse> {
        with_context!(self, request, ancestors)
    }

    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send + 'static>>;

    /// Org units, unless the request names types: the same feed holds the
    /// grants (`trellis.access.v1.Policy`), which the access service
    /// serves on its own and a server's access checks ask for by name.
    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Reply<Self::WatchChangesStream> {
        let mut request = request.into_inner();
        if request.resource_types.is_empty() {
            request.resource_types = vec![<pb::OrgUnit as prost::Name>::full_name()];
        }
        let stream = self.ops.store().feed.watch(request, None);
        Ok(Response::new(Box::pin(stream)))
    }
}
