//! The gRPC face of the okr service: unwrap the request, call the
//! operation, map the error. No rule lives here.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};
use trellis_access::ResourceKind;
use trellis_foundation::{RequestContext, with_context};
use trellis_proto::{
    feed::v1::{ChangeEvent, WatchChangesRequest},
    okr::v1::{self as pb, okr_service_server::OkrService},
};

use crate::{
    Error, OkrOps,
    lifecycle::{CycleState, ObjectiveMove},
};

type Reply<T> = Result<Response<T>, Status>;

/// The caller's context, with the request id of a create.
fn create_context<T>(request: &Request<T>, request_id: impl Fn(&T) -> &str) -> RequestContext {
    RequestContext::from_request(request).with_request_id(request_id(request.get_ref()))
}

/// Moves the named objective with the request's reason.
macro_rules! objective_move {
    ($self:ident, $request:ident, $move:expr) => {{
        let context = RequestContext::from_request(&$request);
        let request = $request.into_inner();
        Ok(Response::new(
            $self
                .ops
                .move_objective(context, &request.name, &request.reason, $move)
                .await?,
        ))
    }};
}

/// `trellis.okr.v1.OkrService` over [`OkrOps`].
#[derive(Debug, Clone)]
pub struct OkrGrpc {
    ops: OkrOps,
}

/// Why the import stream failed: a message the server refused on the wire
/// is the client's mistake and answers as it was refused; anything else
/// broke the stream off.
fn stream_error(status: Status) -> Error {
    match status.code() {
        Code::InvalidArgument | Code::ResourceExhausted => Error::Shared(trellis_foundation::Error::Refused(status)),
        _ => Error::StreamBroken {
            reason: status.message().to_owned(),
        },
    }
}

impl OkrGrpc {
    pub fn new(ops: OkrOps) -> OkrGrpc {
        OkrGrpc { ops }
    }
}

#[tonic::async_trait]
impl OkrService for OkrGrpc {
    async fn create_cycle(&self, request: Request<pb::CreateCycleRequest>) -> Reply<pb::Cycle> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_cycle(context, request.into_inner()).await?,
        ))
    }

    async fn get_cycle(&self, request: Request<pb::GetCycleRequest>) -> Reply<pb::Cycle> {
        with_context!(self, request, get_cycle)
    }

    async fn list_cycles(&self, request: Request<pb::ListCyclesRequest>) -> Reply<pb::ListCyclesResponse> {
        with_context!(self, request, list_cycles)
    }

    async fn update_cycle(&self, request: Request<pb::UpdateCycleRequest>) -> Reply<pb::Cycle> {
        with_context!(self, request, update_cycle)
    }

    async fn activate_cycle(&self, request: Request<pb::TransitionCycleRequest>) -> Reply<pb::Cycle> {
        self.cycle_move(request, CycleState::Active).await
    }

    async fn review_cycle(&self, request: Request<pb::TransitionCycleRequest>) -> Reply<pb::Cycle> {
        self.cycle_move(request, CycleState::Review).await
    }

    async fn close_cycle(&self, request: Request<pb::TransitionCycleRequest>) -> Reply<pb::Cycle> {
        self.cycle_move(request, CycleState::Closed).await
    }

    async fn create_objective(&self, request: Request<pb::CreateObjectiveRequest>) -> Reply<pb::Objective> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_objective(context, request.into_inner()).await?,
        ))
    }

    async fn get_objective(&self, request: Request<pb::GetObjectiveRequest>) -> Reply<pb::Objective> {
        with_context!(self, request, get_objective)
    }

    async fn list_objectives(&self, request: Request<pb::ListObjectivesRequest>) -> Reply<pb::ListObjectivesResponse> {
        with_context!(self, request, list_objectives)
    }

    async fn update_objective(&self, request: Request<pb::UpdateObjectiveRequest>) -> Reply<pb::Objective> {
        with_context!(self, request, update_objective)
    }

    async fn delete_objective(&self, request: Request<pb::DeleteObjectiveRequest>) -> Reply<()> {
        with_context!(self, request, delete_objective)
    }

    async fn replan_objective(&self, request: Request<pb::ReplanObjectiveRequest>) -> Reply<pb::Objective> {
        with_context!(self, request, replan_objective)
    }

    async fn list_replans(&self, request: Request<pb::ListReplansRequest>) -> Reply<pb::ListReplansResponse> {
        with_context!(self, request, list_replans)
    }

    async fn pause_objective(&self, request: Request<pb::PauseObjectiveRequest>) -> Reply<pb::Objective> {
        objective_move!(self, request, ObjectiveMove::Pause)
    }

    async fn resume_objective(&self, request: Request<pb::ResumeObjectiveRequest>) -> Reply<pb::Objective> {
        objective_move!(self, request, ObjectiveMove::Resume)
    }

    async fn complete_objective(&self, request: Request<pb::CompleteObjectiveRequest>) -> Reply<pb::Objective> {
        objective_move!(self, request, ObjectiveMove::Complete)
    }

    async fn cancel_objective(&self, request: Request<pb::CancelObjectiveRequest>) -> Reply<pb::Objective> {
        objective_move!(self, request, ObjectiveMove::Cancel)
    }

    async fn create_remedial_objective(
        &self,
        request: Request<pb::CreateRemedialObjectiveRequest>,
    ) -> Reply<pb::Objective> {
        with_context!(self, request, create_remedial_objective)
    }

    async fn create_key_result(&self, request: Request<pb::CreateKeyResultRequest>) -> Reply<pb::KeyResult> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_key_result(context, request.into_inner()).await?,
        ))
    }

    async fn get_key_result(&self, request: Request<pb::GetKeyResultRequest>) -> Reply<pb::KeyResult> {
        with_context!(self, request, get_key_result)
    }

    async fn list_key_results(&self, request: Request<pb::ListKeyResultsRequest>) -> Reply<pb::ListKeyResultsResponse> {
        with_context!(self, request, list_key_results)
    }

    async fn update_key_result(&self, request: Request<pb::UpdateKeyResultRequest>) -> Reply<pb::KeyResult> {
        with_context!(self, request, update_key_result)
    }

    async fn delete_key_result(&self, request: Request<pb::DeleteKeyResultRequest>) -> Reply<()> {
        with_context!(self, request, delete_key_result)
    }

    async fn score_key_result(&self, request: Request<pb::ScoreKeyResultRequest>) -> Reply<pb::KeyResult> {
        with_context!(self, request, score_key_result)
    }

    async fn create_check_in(&self, request: Request<pb::CreateCheckInRequest>) -> Reply<pb::CheckIn> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_check_in(context, request.into_inner()).await?,
        ))
    }

    async fn list_check_ins(&self, request: Request<pb::ListCheckInsRequest>) -> Reply<pb::ListCheckInsResponse> {
        with_context!(self, request, list_check_ins)
    }

    async fn record_metric_value(&self, request: Request<pb::RecordMetricValueRequest>) -> Reply<pb::CheckIn> {
        with_context!(self, request, record_metric_value)
    }

    async fn feed_metric_values(
        &self,
        request: Request<pb::FeedMetricValuesRequest>,
    ) -> Reply<pb::FeedMetricValuesResponse> {
        with_context!(self, request, feed_metric_values)
    }

    async fn import_season(
        &self,
        request: Request<Streaming<pb::ImportSeasonRequest>>,
    ) -> Reply<pb::ImportSeasonResponse> {
        let context = RequestContext::from_request(&request);
        let stream = request.into_inner().map(|message| message.map_err(stream_error));
        Ok(Response::new(self.ops.import_season(context, stream).await?))
    }

    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send + 'static>>;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Reply<Self::WatchChangesStream> {
        // Events about private objectives (and their key results,
        // check-ins and re-plans) reach only those who may read them.
        let context = RequestContext::from_request(&request);
        let audience = self.ops.access.reader(&context).await.audience(ResourceKind::Objective);
        Ok(Response::new(Box::pin(
            self.ops.store().feed.watch(request.into_inner(), audience),
        )))
    }
}

impl OkrGrpc {
    async fn cycle_move(&self, request: Request<pb::TransitionCycleRequest>, to: CycleState) -> Reply<pb::Cycle> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.transition_cycle(context, request.into_inner(), to).await?,
        ))
    }
}
