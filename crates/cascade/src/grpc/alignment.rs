//! The gRPC face of the cascade service.

use crate::error::Error;
use std::{pin::Pin, sync::Arc};

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};
use trellis_foundation::{RequestContext, time::to_timestamp};
use trellis_proto::cascade::v1::{self as pb, alignment_change, cascade_service_server::CascadeService};

use crate::graph::{Graph, Kind, Sight, TouchKind};
use crate::ops::{
    AlignmentOps,
    answers::{Resolver, duration, node_view},
    sight::Asker,
};

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(answer: Result<T, Error>) -> Reply<T> {
    answer.map(Response::new).map_err(Status::from)
}

/// `trellis.cascade.v1.CascadeService` over [`AlignmentOps`].
#[derive(Debug, Clone)]
pub struct CascadeGrpc {
    ops: AlignmentOps,
}

/// How much of the graph a question may walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    /// A path or a page below one node: microseconds, answered in place
    /// when the graph is free.
    Light,
    /// A roll-up or a scan of a whole cycle: milliseconds at a million
    /// nodes, always answered on the blocking pool.
    Heavy,
}

impl CascadeGrpc {
    pub fn new(ops: AlignmentOps) -> CascadeGrpc {
        CascadeGrpc { ops }
    }

    /// Answers a question without holding a runtime thread on the graph's
    /// lock or on a long walk: a light question is answered in place when
    /// no feed batch holds the graph (measured fastest: a hand-off to
    /// another thread costs more than the question), and otherwise, like
    /// every heavy question, on the blocking pool.
    async fn ask<Q, A>(
        &self,
        request: Request<Q>,
        weight: Weight,
        question: fn(&AlignmentOps, &Graph, Sight, &Q) -> Result<A, Error>,
    ) -> Reply<A>
    where
        Q: AsOfQuestion + Send + 'static,
        A: Send + 'static,
    {
        let context = RequestContext::from_request(&request);
        let asker = Asker::new(self.ops.access.reader(&context).await);
        let request = request.into_inner();
        if let Some(as_of) = request.as_of() {
            // The past: a graph of its own, from the cache or built.
            let (ops, past) = match self.ops.as_of(as_of).await {
                Ok(found) => found,
                Err(err) => return reply(Err(err)),
            };
            let answered = tokio::task::spawn_blocking(move || {
                asker.ask(&past.graph, weight == Weight::Heavy, |sight| {
                    question(&ops, &past.graph, sight, &request)
                })
            });
            return finish(answered.await);
        }
        if weight == Weight::Light
            && let Some(graph) = self.ops.projection.try_graph()
        {
            return reply(asker.ask(&graph, false, |sight| question(&self.ops, &graph, sight, &request)));
        }
        let ops = self.ops.clone();
        let answered = tokio::task::spawn_blocking(move || {
            let graph = ops.projection.graph();
            asker.ask(&graph, weight == Weight::Heavy, |sight| {
                question(&ops, &graph, sight, &request)
            })
        });
        finish(answered.await)
    }
}

fn finish<A>(answered: Result<Result<A, Error>, tokio::task::JoinError>) -> Reply<A> {
    match answered {
        Ok(answer) => reply(answer),
        Err(err) => {
            tracing::error!(error = %err, "a cascade question did not finish");
            Err(Status::internal("the question could not be answered"))
        }
    }
}

/// A question that may be asked of a past time.
trait AsOfQuestion {
    fn as_of(&self) -> Option<&prost_types::Timestamp>;
}

macro_rules! as_of_questions {
    ($($request:ty),* $(,)?) => {
        $(impl AsOfQuestion for $request {
            fn as_of(&self) -> Option<&prost_types::Timestamp> {
                self.as_of.as_ref()
            }
        })*
    };
}

as_of_questions!(
    pb::GetAlignmentPathRequest,
    pb::ListAlignedDescendantsRequest,
    pb::GetRollupRequest,
    pb::ListRollupContributorsRequest,
    pb::ListOrphansRequest,
    pb::ListMisalignmentsRequest,
    pb::ListUncoveredChoicesRequest,
    pb::ListAccountabilitySpreadRequest,
    pb::ListRisksRequest,
    pb::GetPlanningStatusRequest,
);

#[tonic::async_trait]
impl CascadeService for CascadeGrpc {
    async fn get_alignment_path(&self, request: Request<pb::GetAlignmentPathRequest>) -> Reply<pb::AlignmentPath> {
        self.ask(request, Weight::Light, AlignmentOps::alignment_path).await
    }

    async fn list_aligned_descendants(
        &self,
        request: Request<pb::ListAlignedDescendantsRequest>,
    ) -> Reply<pb::ListAlignedDescendantsResponse> {
        self.ask(request, Weight::Light, AlignmentOps::aligned_descendants)
            .await
    }

    async fn get_rollup(&self, request: Request<pb::GetRollupRequest>) -> Reply<pb::Rollup> {
        self.ask(request, Weight::Heavy, AlignmentOps::rollup).await
    }

    async fn list_rollup_contributors(
        &self,
        request: Request<pb::ListRollupContributorsRequest>,
    ) -> Reply<pb::ListRollupContributorsResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::rollup_contributors)
            .await
    }

    async fn list_orphans(&self, request: Request<pb::ListOrphansRequest>) -> Reply<pb::ListOrphansResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::orphans).await
    }

    async fn list_misalignments(
        &self,
        request: Request<pb::ListMisalignmentsRequest>,
    ) -> Reply<pb::ListMisalignmentsResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::misalignments).await
    }

    async fn list_uncovered_choices(
        &self,
        request: Request<pb::ListUncoveredChoicesRequest>,
    ) -> Reply<pb::ListUncoveredChoicesResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::uncovered_choices).await
    }

    async fn list_accountability_spread(
        &self,
        request: Request<pb::ListAccountabilitySpreadRequest>,
    ) -> Reply<pb::ListAccountabilitySpreadResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::accountability_spread)
            .await
    }

    async fn list_risks(&self, request: Request<pb::ListRisksRequest>) -> Reply<pb::ListRisksResponse> {
        self.ask(request, Weight::Heavy, AlignmentOps::risks).await
    }

    async fn get_planning_status(&self, request: Request<pb::GetPlanningStatusRequest>) -> Reply<pb::PlanningStatus> {
        self.ask(request, Weight::Heavy, AlignmentOps::planning_status).await
    }

    type WatchAlignmentStream = Pin<Box<dyn Stream<Item = Result<pb::AlignmentChange, Status>> + Send + 'static>>;

    async fn watch_alignment(&self, request: Request<pb::WatchAlignmentRequest>) -> Reply<Self::WatchAlignmentStream> {
        let context = RequestContext::from_request(&request);
        // Changes to what the caller may not read are not sent.
        let asker = Arc::new(Asker::new(self.ops.access.reader(&context).await));
        let under = request.into_inner().under;
        // Subscribed before the name is checked, so nothing applied after
        // this call returns is missed.
        let mut notices = self.ops.projection.subscribe();
        let checked = under.clone();
        let checker = Arc::clone(&asker);
        self.ops
            .projection
            .read(move |graph| {
                checker.ask(graph, false, |sight| {
                    let mut resolver = Resolver::new(graph, sight);
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
                let asker = Arc::clone(&asker);
                let changes = projection.read(move |graph| asker.ask(graph, false, |sight| {
                    let root = (!under.is_empty()).then(|| graph.id(&under));
                    batch
                        .iter()
                        .filter(|notice| sight.sees(notice.node))
                        .filter(|notice| match root {
                            None => true,
                            Some(Some(root)) => graph.is_under(notice.node, root, sight),
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
                })).await;
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

    async fn list_alignment_history(
        &self,
        request: Request<pb::ListAlignmentHistoryRequest>,
    ) -> Reply<pb::ListAlignmentHistoryResponse> {
        let context = RequestContext::from_request(&request);
        let asker = Asker::new(self.ops.access.reader(&context).await);
        reply(self.ops.alignment_history(asker, request.into_inner()).await)
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
            snapshot_time: self.ops.projection.restored_from().map(to_timestamp),
            // Unknown (unset) while a feed cannot be read: the status
            // reports that feed's trouble on its own.
            history_start_time: match &self.ops.history {
                Some(history) => history.start_micros().await.ok().flatten().map(to_timestamp),
                None => None,
            },
            nodes,
            edges,
        }))
    }
}
