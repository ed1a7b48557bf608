//! The gRPC face of the strategy service: unwrap the request, call the
//! operation, map the error. No rule lives here.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};
use trellis_foundation::{RequestContext, with_context};
use trellis_proto::{
    feed::v1::{ChangeEvent, WatchChangesRequest},
    strategy::v1::{self as pb, strategy_service_server::StrategyService},
};

use crate::{StrategyOps, lifecycle::Transition};

type Reply<T> = Result<Response<T>, Status>;

/// The caller's context, with the request id of a create.
fn create_context<T>(request: &Request<T>, request_id: impl Fn(&T) -> &str) -> RequestContext {
    RequestContext::from_request(request).with_request_id(request_id(request.get_ref()))
}

/// `trellis.strategy.v1.StrategyService` over [`StrategyOps`].
#[derive(Debug, Clone)]
pub struct StrategyGrpc {
    ops: StrategyOps,
}

impl StrategyGrpc {
    pub fn new(ops: StrategyOps) -> StrategyGrpc {
        StrategyGrpc { ops }
    }
}

#[tonic::async_trait]
impl StrategyService for StrategyGrpc {
    async fn create_strategy(&self, request: Request<pb::CreateStrategyRequest>) -> Reply<pb::Strategy> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_strategy(context, request.into_inner()).await?,
        ))
    }

    async fn get_strategy(&self, request: Request<pb::GetStrategyRequest>) -> Reply<pb::Strategy> {
        with_context!(self, request, get_strategy)
    }

    async fn list_strategies(&self, request: Request<pb::ListStrategiesRequest>) -> Reply<pb::ListStrategiesResponse> {
        with_context!(self, request, list_strategies)
    }

    async fn update_strategy(&self, request: Request<pb::UpdateStrategyRequest>) -> Reply<pb::Strategy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.update_strategy(context, request.into_inner()).await?,
        ))
    }

    async fn delete_strategy(&self, request: Request<pb::DeleteStrategyRequest>) -> Reply<()> {
        let context = RequestContext::from_request(&request);
        self.ops.delete_strategy(context, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn list_strategy_revisions(
        &self,
        request: Request<pb::ListStrategyRevisionsRequest>,
    ) -> Reply<pb::ListStrategyRevisionsResponse> {
        with_context!(self, request, list_revisions)
    }

    async fn activate_strategy(&self, request: Request<pb::TransitionStrategyRequest>) -> Reply<pb::Strategy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops
                .transition(context, request.into_inner(), Transition::Activate)
                .await?,
        ))
    }

    async fn review_strategy(&self, request: Request<pb::TransitionStrategyRequest>) -> Reply<pb::Strategy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops
                .transition(context, request.into_inner(), Transition::Review)
                .await?,
        ))
    }

    async fn retire_strategy(&self, request: Request<pb::TransitionStrategyRequest>) -> Reply<pb::Strategy> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops
                .transition(context, request.into_inner(), Transition::Retire)
                .await?,
        ))
    }

    async fn create_choice(&self, request: Request<pb::CreateChoiceRequest>) -> Reply<pb::Choice> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_choice(context, request.into_inner()).await?,
        ))
    }

    async fn get_choice(&self, request: Request<pb::GetChoiceRequest>) -> Reply<pb::Choice> {
        with_context!(self, request, get_choice)
    }

    async fn list_choices(&self, request: Request<pb::ListChoicesRequest>) -> Reply<pb::ListChoicesResponse> {
        with_context!(self, request, list_choices)
    }

    async fn update_choice(&self, request: Request<pb::UpdateChoiceRequest>) -> Reply<pb::Choice> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.update_choice(context, request.into_inner()).await?,
        ))
    }

    async fn delete_choice(&self, request: Request<pb::DeleteChoiceRequest>) -> Reply<()> {
        let context = RequestContext::from_request(&request);
        self.ops.delete_choice(context, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn batch_get_choices(
        &self,
        request: Request<pb::BatchGetChoicesRequest>,
    ) -> Reply<pb::BatchGetChoicesResponse> {
        with_context!(self, request, batch_get_choices)
    }

    async fn create_assumption(&self, request: Request<pb::CreateAssumptionRequest>) -> Reply<pb::Assumption> {
        let context = create_context(&request, |r| &r.request_id);
        Ok(Response::new(
            self.ops.create_assumption(context, request.into_inner()).await?,
        ))
    }

    async fn get_assumption(&self, request: Request<pb::GetAssumptionRequest>) -> Reply<pb::Assumption> {
        with_context!(self, request, get_assumption)
    }

    async fn list_assumptions(
        &self,
        request: Request<pb::ListAssumptionsRequest>,
    ) -> Reply<pb::ListAssumptionsResponse> {
        with_context!(self, request, list_assumptions)
    }

    async fn update_assumption(&self, request: Request<pb::UpdateAssumptionRequest>) -> Reply<pb::Assumption> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.update_assumption(context, request.into_inner()).await?,
        ))
    }

    async fn delete_assumption(&self, request: Request<pb::DeleteAssumptionRequest>) -> Reply<()> {
        let context = RequestContext::from_request(&request);
        self.ops.delete_assumption(context, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn set_assumption_status(&self, request: Request<pb::SetAssumptionStatusRequest>) -> Reply<pb::Assumption> {
        let context = RequestContext::from_request(&request);
        Ok(Response::new(
            self.ops.set_assumption_status(context, request.into_inner()).await?,
        ))
    }

    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send + 'static>>;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Reply<Self::WatchChangesStream> {
        let request = request.into_inner();
        Ok(Response::new(Box::pin(self.ops.store().feed.watch(request, None))))
    }
}
