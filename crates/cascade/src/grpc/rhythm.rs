//! The gRPC face of the rhythm: unwrap the request, call the operation,
//! map the error.

use tonic::{Request, Response, Status};
use trellis_foundation::with_context;
use trellis_proto::cascade::v1::{self as pb, rhythm_service_server::RhythmService};

use crate::ops::RhythmOps;

type Reply<T> = Result<Response<T>, Status>;

/// `trellis.cascade.v1.RhythmService` over [`RhythmOps`].
#[derive(Debug, Clone)]
pub struct RhythmGrpc {
    ops: RhythmOps,
}

impl RhythmGrpc {
    pub fn new(ops: RhythmOps) -> RhythmGrpc {
        RhythmGrpc { ops }
    }
}

#[tonic::async_trait]
impl RhythmService for RhythmGrpc {
    async fn create_initiative(&self, request: Request<pb::CreateInitiativeRequest>) -> Reply<pb::Initiative> {
        let context = trellis_foundation::RequestContext::from_request(&request);
        let request = request.into_inner();
        let context = context.with_request_id(&request.request_id);
        Ok(Response::new(self.ops.create_initiative(context, request).await?))
    }

    async fn get_initiative(&self, request: Request<pb::GetInitiativeRequest>) -> Reply<pb::Initiative> {
        with_context!(self, request, get_initiative)
    }

    async fn list_initiatives(
        &self,
        request: Request<pb::ListInitiativesRequest>,
    ) -> Reply<pb::ListInitiativesResponse> {
        with_context!(self, request, list_initiatives)
    }

    async fn update_initiative(&self, request: Request<pb::UpdateInitiativeRequest>) -> Reply<pb::Initiative> {
        with_context!(self, request, update_initiative)
    }

    async fn get_weekly_plan(&self, request: Request<pb::GetWeeklyPlanRequest>) -> Reply<pb::WeeklyPlan> {
        with_context!(self, request, get_weekly_plan)
    }

    async fn update_weekly_plan(&self, request: Request<pb::UpdateWeeklyPlanRequest>) -> Reply<pb::WeeklyPlan> {
        with_context!(self, request, update_weekly_plan)
    }

    async fn list_weekly_plans(
        &self,
        request: Request<pb::ListWeeklyPlansRequest>,
    ) -> Reply<pb::ListWeeklyPlansResponse> {
        with_context!(self, request, list_weekly_plans)
    }

    async fn get_board(&self, request: Request<pb::GetBoardRequest>) -> Reply<pb::Board> {
        with_context!(self, request, board)
    }

    async fn get_conversation(&self, request: Request<pb::GetConversationRequest>) -> Reply<pb::Conversation> {
        with_context!(self, request, get)
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Reply<pb::ListConversationsResponse> {
        with_context!(self, request, list)
    }

    async fn close_conversation(&self, request: Request<pb::CloseConversationRequest>) -> Reply<pb::Conversation> {
        with_context!(self, request, close)
    }

    async fn get_inbox(&self, request: Request<pb::GetInboxRequest>) -> Reply<pb::Inbox> {
        with_context!(self, request, inbox)
    }
}
