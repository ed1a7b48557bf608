//! The gRPC face of the cascade service.

use std::{pin::Pin, sync::Arc};

use futures::Stream;
use tokio::sync::{Semaphore, broadcast::error::RecvError};
use tonic::{Request, Response, Status};
use trellis_foundation::{Error, time::to_timestamp};
use trellis_proto::cascade::v1::{self as pb, alignment_change, cascade_service_server::CascadeService};

use crate::graph::{Kind, TouchKind};
use crate::ops::{
    AlignmentOps,
    answers::{Resolver, duration, node_view},
};

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(answer: Result<T, Error>) -> Reply<T> {
    answer.map(Response::new).map_err(Status::from)
}

/// `trellis.cascade.v1.CascadeService` over [`AlignmentOps`].
#[derive(Debug, Clone)]
pub struct CascadeGrpc {
    ops: AlignmentOps,
    /// Questions being answered at once: one per core. More threads
    /// would only take turns on the cores and crowd the graph's lock, so
    /// the feeds' writer waits longer; the rest wait without a thread.
    answering: Arc<Semaphore>,
}

impl CascadeGrpc {
    pub fn new(ops: AlignmentOps) -> CascadeGrpc {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        CascadeGrpc {
            ops,
            answering: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Answers a question on the blocking pool, at most one per core:
    /// questions read the graph under its lock and a full roll-up takes
    /// milliseconds, which must not hold a runtime thread that other calls'
    /// I/O is waiting for.
    async fn ask<Q, A>(&self, request: Request<Q>, question: fn(&AlignmentOps, &Q) -> Result<A, Error>) -> Reply<A>
    where
        Q: Send + 'static,
        A: Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.answering).acquire_owned().await else {
            return Err(Status::unavailable("the cascade is shutting down"));
        };
        let api = self.ops.clone();
        let request = request.into_inner();
        let answered = tokio::task::spawn_blocking(move || {
            let answer = question(&api, &request);
            drop(permit);
            answer
        });
        match answered.await {
            Ok(answer) => reply(answer),
            Err(err) => {
                tracing::error!(error = %err, "a cascade question did not finish");
                Err(Status::internal("the question could not be answered"))
            }
        }
    }
}

#[tonic::async_trait]
impl CascadeService for CascadeGrpc {
    async fn get_alignment_path(&self, request: Request<pb::GetAlignmentPathRequest>) -> Reply<pb::AlignmentPath> {
        self.ask(request, AlignmentOps::alignment_path).await
    }

    async fn list_aligned_descendants(
        &self,
        request: Request<pb::ListAlignedDescendantsRequest>,
    ) -> Reply<pb::ListAlignedDescendantsResponse> {
        self.ask(request, AlignmentOps::aligned_descendants).await
    }

    async fn get_rollup(&self, request: Request<pb::GetRollupRequest>) -> Reply<pb::Rollup> {
        self.ask(request, AlignmentOps::rollup).await
    }

    async fn list_rollup_contributors(
        &self,
        request: Request<pb::ListRollupContributorsRequest>,
    ) -> Reply<pb::ListRollupContributorsResponse> {
        self.ask(request, AlignmentOps::rollup_contributors).await
    }

    async fn list_orphans(&self, request: Request<pb::ListOrphansRequest>) -> Reply<pb::ListOrphansResponse> {
        self.ask(request, AlignmentOps::orphans).await
    }

    async fn list_misalignments(
        &self,
        request: Request<pb::ListMisalignmentsRequest>,
    ) -> Reply<pb::ListMisalignmentsResponse> {
        self.ask(request, AlignmentOps::misalignments).await
    }

    async fn list_uncovered_choices(
        &self,
        request: Request<pb::ListUncoveredChoicesRequest>,
    ) -> Reply<pb::ListUncoveredChoicesResponse> {
        self.ask(request, AlignmentOps::uncovered_choices).await
    }

    async fn list_risks(&self, request: Request<pb::ListRisksRequest>) -> Reply<pb::ListRisksResponse> {
        self.ask(request, AlignmentOps::risks).await
    }

    async fn get_planning_status(&self, request: Request<pb::GetPlanningStatusRequest>) -> Reply<pb::PlanningStatus> {
        self.ask(request, AlignmentOps::planning_status).await
    }

    type WatchAlignmentStream = Pin<Box<dyn Stream<Item = Result<pb::AlignmentChange, Status>> + Send + 'static>>;

    async fn watch_alignment(&self, request: Request<pb::WatchAlignmentRequest>) -> Reply<Self::WatchAlignmentStream> {
        let under = request.into_inner().under;
        // Subscribed before the name is checked, so nothing applied after
        // this call returns is missed.
        let mut notices = self.ops.projection.subscribe();
        let checked = under.clone();
        self.ops
            .projection
            .read(move |graph| {
                let mut resolver = Resolver::new(graph);
                resolver.optional(
                    "under",
                    &checked,
                    &[
                        Kind::OrgUnit,
                        Kind::Strategy,
                        Kind::Choice,
                        Kind::Objective,
                        Kind::KeyResult,
                        Kind::Cycle,
                    ],
                );
                resolver.finish()
            })
            .await
            .map_err(|err| Status::internal(format!("checking the stream's root: {err}")))?
            .map_err(Status::from)?;
        let projection = self.ops.projection.clone();
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
                let under = under.clone();
                let changes = projection.read(move |graph| {
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
                            node: Some(node_view(graph, notice.node)),
                            source: notice.source.to_owned(),
                            sequence: notice.sequence,
                            commit_time: Some(to_timestamp(notice.commit_micros)),
                        })
                        .collect::<Vec<pb::AlignmentChange>>()
                }).await;
                let Ok(changes) = changes else {
                    yield Err(Status::internal("the alignment stream could not read the graph"));
                    break;
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
            .ops
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
        let (nodes, edges) = self
            .ops
            .projection
            .read(|graph| (graph.len() as i64, graph.edge_count() as i64))
            .await
            .map_err(|err| Status::internal(format!("reading the graph's size: {err}")))?;
        Ok(Response::new(pb::ProjectionStatus {
            feeds,
            ready: self.ops.projection.ready_after().is_some(),
            rebuild_time: self.ops.projection.ready_after().map(duration),
            nodes,
            edges,
        }))
    }
}
