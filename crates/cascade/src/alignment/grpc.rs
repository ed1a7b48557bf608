//! The gRPC face of the cascade service.

use std::pin::Pin;

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};
use trellis_foundation::{Error, time::to_timestamp};
use trellis_proto::cascade::v1::{self as pb, alignment_change, cascade_service_server::CascadeService};

use super::{
    CascadeApi,
    view::{Resolver, duration, node_view},
};
use crate::graph::{Kind, TouchKind};

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(answer: Result<T, Error>) -> Reply<T> {
    answer.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl CascadeService for CascadeApi {
    async fn get_alignment_path(&self, request: Request<pb::GetAlignmentPathRequest>) -> Reply<pb::AlignmentPath> {
        reply(self.alignment_path(request.get_ref()))
    }

    async fn list_aligned_descendants(
        &self,
        request: Request<pb::ListAlignedDescendantsRequest>,
    ) -> Reply<pb::ListAlignedDescendantsResponse> {
        reply(self.aligned_descendants(request.get_ref()))
    }

    async fn get_rollup(&self, request: Request<pb::GetRollupRequest>) -> Reply<pb::Rollup> {
        reply(self.rollup(request.get_ref()))
    }

    async fn list_rollup_contributors(
        &self,
        request: Request<pb::ListRollupContributorsRequest>,
    ) -> Reply<pb::ListRollupContributorsResponse> {
        reply(self.rollup_contributors(request.get_ref()))
    }

    async fn list_orphans(&self, request: Request<pb::ListOrphansRequest>) -> Reply<pb::ListOrphansResponse> {
        reply(self.orphans(request.get_ref()))
    }

    async fn list_misalignments(
        &self,
        request: Request<pb::ListMisalignmentsRequest>,
    ) -> Reply<pb::ListMisalignmentsResponse> {
        reply(self.misalignments(request.get_ref()))
    }

    async fn list_uncovered_choices(
        &self,
        request: Request<pb::ListUncoveredChoicesRequest>,
    ) -> Reply<pb::ListUncoveredChoicesResponse> {
        reply(self.uncovered_choices(request.get_ref()))
    }

    async fn list_risks(&self, request: Request<pb::ListRisksRequest>) -> Reply<pb::ListRisksResponse> {
        reply(self.risks(request.get_ref()))
    }

    async fn get_planning_status(&self, request: Request<pb::GetPlanningStatusRequest>) -> Reply<pb::PlanningStatus> {
        reply(self.planning_status(request.get_ref()))
    }

    type WatchAlignmentStream = Pin<Box<dyn Stream<Item = Result<pb::AlignmentChange, Status>> + Send + 'static>>;

    async fn watch_alignment(&self, request: Request<pb::WatchAlignmentRequest>) -> Reply<Self::WatchAlignmentStream> {
        let under = request.into_inner().under;
        // Subscribed before the name is checked, so nothing applied after
        // this call returns is missed.
        let mut notices = self.projection.subscribe();
        {
            let graph = self.projection.graph();
            let mut resolver = Resolver::new(&graph);
            resolver.optional(
                "under",
                &under,
                &[
                    Kind::OrgUnit,
                    Kind::Strategy,
                    Kind::Choice,
                    Kind::Objective,
                    Kind::KeyResult,
                    Kind::Cycle,
                ],
            );
            resolver.finish().map_err(Status::from)?;
        }
        let projection = self.projection.clone();
        let mut closing = projection.closing();
        let stream = async_stream::stream! {
            loop {
                let batch = tokio::select! {
                    batch = notices.recv() => batch,
                    _ = closing.wait_for(|closing| *closing) => break,
                };
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(RecvError::Lagged(_)) => {
                        yield Ok(pb::AlignmentChange {
                            kind: alignment_change::Kind::Resync as i32,
                            ..pb::AlignmentChange::default()
                        });
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let changes: Vec<pb::AlignmentChange> = {
                    let graph = projection.graph();
                    let root = (!under.is_empty()).then(|| graph.id(&under));
                    batch
                        .iter()
                        .filter(|notice| match root {
                            None => true,
                            Some(Some(root)) => graph.is_under(notice.node, root),
                            Some(None) => false,
                        })
                        .map(|notice| pb::AlignmentChange {
                            kind: match notice.kind {
                                TouchKind::Upserted => alignment_change::Kind::Upserted,
                                TouchKind::Deleted => alignment_change::Kind::Deleted,
                                TouchKind::Progressed => alignment_change::Kind::Progressed,
                            } as i32,
                            node: Some(node_view(&graph, notice.node)),
                            source: notice.source.to_owned(),
                            sequence: notice.sequence,
                            commit_time: Some(to_timestamp(notice.commit_micros)),
                        })
                        .collect()
                };
                for change in changes {
                    yield Ok(change);
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_projection_status(
        &self,
        _request: Request<pb::GetProjectionStatusRequest>,
    ) -> Reply<pb::ProjectionStatus> {
        let feeds = self
            .projection
            .feeds()
            .into_iter()
            .map(|feed| {
                let [lag_p50_ms, lag_p99_ms] = feed.lags_ms([0.5, 0.99]);
                pb::FeedStatus {
                    source: feed.source.to_owned(),
                    cursor: feed.cursor,
                    head_sequence: feed.head,
                    lag_events: (feed.head - feed.cursor).max(0),
                    connected: feed.connected,
                    caught_up: feed.caught_up,
                    events_applied: feed.applied,
                    reconnects: feed.reconnects,
                    last_error: feed.last_error.clone(),
                    last_commit_time: (feed.last_commit_micros > 0).then(|| to_timestamp(feed.last_commit_micros)),
                    lag_p50_ms,
                    lag_p99_ms,
                    stored_cursor: feed.stored_cursor,
                }
            })
            .collect();
        let graph = self.projection.graph();
        Ok(Response::new(pb::ProjectionStatus {
            feeds,
            ready: self.projection.ready_after().is_some(),
            rebuild_time: self.projection.ready_after().map(duration),
            nodes: graph.len() as i64,
            edges: graph.edge_count() as i64,
        }))
    }
}
