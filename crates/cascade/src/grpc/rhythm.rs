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
