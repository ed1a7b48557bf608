//! The gRPC face of the health service: unwrap the request, call the
//! operation, map the error. No rule lives here.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};
use trellis_access::ResourceKind;
use trellis_foundation::{RequestContext, with_context};
use trellis_proto::{
    feed::v1::{ChangeEvent, WatchChangesRequest},
    health::v1::{self as pb, health_metric_service_server::HealthMetricService},
};

use crate::HealthOps;

type Reply<T> = Result<Response<T>, Status>;

/// `trellis.health.v1.HealthMetricService` over [`HealthOps`].
#[derive(Debug, Clone)]
pub struct HealthGrpc {
    ops: HealthOps,
}

impl HealthGrpc {
    pub fn new(ops: HealthOps) -> HealthGrpc {
        HealthGrpc { ops }
    }
}

#[tonic::async_trait]
impl HealthMetricService for HealthGrpc {
    async fn create_health_metric(&self, request: Request<pb::CreateHealthMetricRequest>) -> Reply<pb::HealthMetric> {
        let context = RequestContext::from_request(&request);
        let request = request.into_inner();
        let context = context.with_request_id(&request.request_id);
        Ok(Response::new(self.ops.create_metric(context, request).await?))
    }

    async fn get_health_metric(&self, request: Request<pb::GetHealthMetricRequest>) -> Reply<pb::HealthMetric> {
        with_context!(self, request, get_metric)
    }

    async fn batch_get_health_metrics(
        &self,
        request: Request<pb::BatchGetHealthMetricsRequest>,
    ) -> Reply<pb::BatchGetHealthMetricsResponse> {
        with_context!(self, request, batch_get_metrics)
    }

    async fn list_health_metrics(
        &self,
        request: Request<pb::ListHealthMetricsRequest>,
    ) -> Reply<pb::ListHealthMetricsResponse> {
        with_context!(self, request, list_metrics)
    }

    async fn update_health_metric(&self, request: Request<pb::UpdateHealthMetricRequest>) -> Reply<pb::HealthMetric> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.update_metric(context, request.into_inner()).await?,
        ))
    }

    async fn delete_health_metric(&self, request: Request<pb::DeleteHealthMetricRequest>) -> Reply<()> {
        let context = RequestContext::from_request(&request);
        self.ops.delete_metric(context, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn record_measurement(
        &self,
        request: Request<pb::RecordMeasurementRequest>,
    ) -> Reply<pb::RecordMeasurementsResponse> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.record_measurement(context, request.into_inner()).await?,
        ))
    }

    async fn batch_record_measurements(
        &self,
        request: Request<pb::BatchRecordMeasurementsRequest>,
    ) -> Reply<pb::RecordMeasurementsResponse> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops
                .batch_record_measurements(context, request.into_inner())
                .await?,
        ))
    }

    async fn list_measurements(
        &self,
        request: Request<pb::ListMeasurementsRequest>,
    ) -> Reply<pb::ListMeasurementsResponse> {
        with_context!(self, request, list_measurements)
    }

    async fn list_status_changes(
        &self,
        request: Request<pb::ListStatusChangesRequest>,
    ) -> Reply<pb::ListStatusChangesResponse> {
        with_context!(self, request, list_status_changes)
    }

    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send + 'static>>;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Reply<Self::WatchChangesStream> {
        // Events about private metrics reach only those who may read them.
        let context = RequestContext::from_request(&request);
        let audience = self
            .ops
            .access
            .reader(&context)
            .await
            .audience(ResourceKind::HealthMetric);
        let stream = self.ops.store().feed.watch(request.into_inner(), audience);
        Ok(Response::new(Box::pin(stream)))
    }
}
