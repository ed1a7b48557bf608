//! The gRPC face of the access service (the grants on org units), which
//! the cascade serves because it owns the org tree the grants hang on.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};
use trellis_foundation::RequestContext;
use trellis_proto::{
    access::v1::{self as pb, access_service_server::AccessService},
    feed::v1::{ChangeEvent, WatchChangesRequest},
};

use crate::ops::OrgOps;

type Reply<T> = Result<Response<T>, Status>;

/// `trellis.access.v1.AccessService` over [`OrgOps`].
#[derive(Debug, Clone)]
pub struct AccessGrpc {
    ops: OrgOps,
}

impl AccessGrpc {
    pub fn new(ops: OrgOps) -> AccessGrpc {
        AccessGrpc { ops }
    }
}

#[tonic::async_trait]
impl AccessService for AccessGrpc {
    async fn get_iam_policy(&self, request: Request<pb::GetIamPolicyRequest>) -> Reply<pb::Policy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.get_iam_policy(context, request.into_inner()).await?,
        ))
    }

    async fn set_iam_policy(&self, request: Request<pb::SetIamPolicyRequest>) -> Reply<pb::Policy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.set_iam_policy(context, request.into_inner()).await?,
        ))
    }

    async fn test_iam_permissions(
        &self,
        request: Request<pb::TestIamPermissionsRequest>,
    ) -> Reply<pb::TestIamPermissionsResponse> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.test_iam_permissions(context, request.into_inner()).await?,
        ))
    }

    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send + 'static>>;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Reply<Self::WatchChangesStream> {
        let context = RequestContext::from_request(&request);
        self.ops.check_read(&context, trellis_access::ORG_ROOT).await?;
        Ok(Response::new(Box::pin(self.ops.watch_policies(request.into_inner()))))
    }
}
