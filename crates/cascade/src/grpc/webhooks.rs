//! The gRPC face of the webhooks: unwrap the request, call the operation,
//! map the error.

use tonic::{Request, Response, Status};
use trellis_foundation::{RequestContext, with_context};
use trellis_proto::cascade::v1::{self as pb, webhook_service_server::WebhookService};

use crate::ops::webhooks::WebhookOps;

type Reply<T> = Result<Response<T>, Status>;

/// `trellis.cascade.v1.WebhookService` over [`WebhookOps`].
#[derive(Debug, Clone)]
pub struct WebhookGrpc {
    ops: WebhookOps,
}

impl WebhookGrpc {
    pub fn new(ops: WebhookOps) -> WebhookGrpc {
        WebhookGrpc { ops }
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookGrpc {
    async fn create_webhook(&self, request: Request<pb::CreateWebhookRequest>) -> Reply<pb::Webhook> {
        let context = RequestContext::from_request(&request);
        let request = request.into_inner();
        let context = context.with_request_id(&request.request_id);
        Ok(Response::new(self.ops.create_webhook(context, request).await?))
    }

    async fn get_webhook(&self, request: Request<pb::GetWebhookRequest>) -> Reply<pb::Webhook> {
        with_context!(self, request, get_webhook)
    }

    async fn list_webhooks(&self, request: Request<pb::ListWebhooksRequest>) -> Reply<pb::ListWebhooksResponse> {
        with_context!(self, request, list_webhooks)
    }

    async fn update_webhook(&self, request: Request<pb::UpdateWebhookRequest>) -> Reply<pb::Webhook> {
        with_context!(self, request, update_webhook)
    }

    async fn delete_webhook(&self, request: Request<pb::DeleteWebhookRequest>) -> Reply<()> {
        with_context!(self, request, delete_webhook)
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Reply<pb::ListWebhookDeliveriesResponse> {
        with_context!(self, request, list_webhook_deliveries)
    }
}
