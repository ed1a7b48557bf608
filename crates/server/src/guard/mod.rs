//! The guard every request passes before a handler sees it, as one tower
//! layer: request messages checked on the wire ([`wire`]), held to the
//! message limit, long-lived streams (watchers, imports) held to their
//! caps, unary calls from clients held to a concurrency limit (shed at
//! once, never queued) and a default deadline, requests in flight counted
//! (for a drain that waits for them and for a connection's idle time), and
//! new requests from clients refused once the server drains, while its own
//! services' calls to each other still get through.

mod body;
mod deadline;
pub mod wire;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use prost_reflect::{DescriptorPool, MessageDescriptor};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tonic::{Status, codegen::http};
use tower_layer::Layer;
use tower_service::Service;
use trellis_foundation::trace::PEER_CALL_HEADER;

use crate::connections::ConnectionInfo;
use body::{CheckedBody, TicketedBody};

/// The caps the guard enforces; each is a server setting.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    pub max_message_bytes: usize,
    /// Open server streams (WatchChanges, WatchAlignment) at once.
    pub max_watchers: usize,
    /// Client streams (ImportSeason) at once: each holds its rows in memory
    /// until it commits.
    pub max_imports: usize,
    /// Unary calls from clients in flight at once; more are shed.
    pub max_concurrent_calls: usize,
    /// How long a unary call may run (a client's shorter `grpc-timeout`
    /// applies as well).
    pub call_timeout: Duration,
}

/// What a method's calls hold while they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    Watcher,
    Import,
}

struct Method {
    input: MessageDescriptor,
    slot: Slot,
}

struct GuardState {
    methods: HashMap<String, Method>,
    limits: GuardLimits,
    watchers: Arc<Semaphore>,
    imports: Arc<Semaphore>,
    calls: Arc<Semaphore>,
    in_flight: AtomicUsize,
    drained: Notify,
    draining: AtomicBool,
}

/// The layer, and the handle a shutdown uses to drain.
#[derive(Clone)]
pub struct Guard {
    state: Arc<GuardState>,
}

impl Guard {
    /// A guard for every method of the services in `pool`.
    pub fn new(pool: &DescriptorPool, limits: GuardLimits) -> Guard {
        let mut methods = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                // Reflection's conversation (both ways) is short and small.
                let slot = match (method.is_client_streaming(), method.is_server_streaming()) {
                    (true, false) => Slot::Import,
                    (false, true) => Slot::Watcher,
                    _ => Slot::None,
                };
                methods.insert(
                    format!("/{}/{}", service.full_name(), method.name()),
                    Method {
                        input: method.input(),
                        slot,
                    },
                );
            }
        }
        Guard {
            state: Arc::new(GuardState {
                methods,
                limits,
                watchers: Arc::new(Semaphore::new(limits.max_watchers)),
                imports: Arc::new(Semaphore::new(limits.max_imports)),
                calls: Arc::new(Semaphore::new(limits.max_concurrent_calls)),
                in_flight: AtomicUsize::new(0),
                drained: Notify::new(),
                draining: AtomicBool::new(false),
            }),
        }
    }

    /// Refuses new client requests from now on (UNAVAILABLE) and waits,
    /// at most `grace`, until every request in flight has finished. Calls
    /// between this server's own services still run, so a request in
    /// flight can finish what it started.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.state.draining.store(true, Ordering::SeqCst);
        let wait = async {
            loop {
                let drained = self.state.drained.notified();
                if self.state.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                drained.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }

    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }
}

impl<S> Layer<S> for Guard {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    state: Arc<GuardState>,
}

/// A request's place among those in flight (and on its connection), and
/// its stream slot; given back when dropped.
pub struct Ticket {
    state: Arc<GuardState>,
    connection: Option<ConnectionInfo>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(connection) = &self.connection {
            connection.request_ended();
        }
        if self.state.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.state.drained.notify_waiters();
        }
    }
}

type HttpRequest = http::Request<tonic::body::Body>;
type HttpResponse = http::Response<tonic::body::Body>;

impl<S> Service<HttpRequest> for GuardService<S>
where
    S: Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let state = &self.state;
        let path = request.uri().path();
        let method = state.methods.get(path);
        // Probes, and calls between this server's services (the calls they
        // serve already hold a place), are neither refused while draining
        // nor shed.
        let exempt = request.headers().contains_key(PEER_CALL_HEADER) || path.starts_with("/grpc.health.");
        if state.draining.load(Ordering::SeqCst) && !exempt {
            tracing::debug!(path, "refused: the server is draining");
            return refuse(Status::unavailable(
                "the server is shutting down; retry, another replica will answer",
            ));
        }
        let kind = method.map_or(Slot::None, |method| method.slot);
        let slot = match kind {
            Slot::None if !exempt => match Arc::clone(&state.calls).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return refuse(Status::unavailable(format!(
                        "the server is at its limit of {} concurrent calls; retry with backoff",
                        state.limits.max_concurrent_calls
                    )));
                }
            },
            Slot::None => None,
            Slot::Watcher => match Arc::clone(&state.watchers).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return refuse(Status::resource_exhausted(format!(
                        "this server already serves {} open streams (the --max-watchers limit); retry later",
                        state.limits.max_watchers
                    )));
                }
            },
            Slot::Import => match Arc::clone(&state.imports).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return refuse(Status::resource_exhausted(format!(
                        "this server already runs {} imports (the --max-imports limit); retry when one has finished",
                        state.limits.max_imports
                    )));
                }
            },
        };
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        if let Some(connection) = &connection {
            connection.request_started();
        }
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket {
            state: Arc::clone(state),
            connection,
            _slot: slot,
        };
        let descriptor = method.map(|method| method.input.clone());
        // Streams run as long as their clients keep them; a unary call has
        // a deadline, the client's when it is the shorter.
        let deadline = (kind == Slot::None)
            .then(|| deadline::effective(state.limits.call_timeout, deadline::client_deadline(request.headers())));
        let (parts, body) = request.into_parts();
        let body = CheckedBody::new(body, descriptor, state.limits.max_message_bytes);
        let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
        let mut inner = crate::ready_inner(&mut self.inner);
        Box::pin(async move {
            let call = inner.call(request);
            let response = match deadline {
                Some(deadline) => match tokio::time::timeout(deadline, call).await {
                    Ok(response) => response?,
                    Err(_) => {
                        return Ok(Status::deadline_exceeded(format!(
                            "the call ran past its deadline ({:.3} s) and was cut short",
                            deadline.as_secs_f64()
                        ))
                        .into_http());
                    }
                },
                None => call.await?,
            };
            Ok(response.map(|body| tonic::body::Body::new(TicketedBody::new(body, ticket))))
        })
    }
}

fn refuse<E: Send + 'static>(status: Status) -> BoxFuture<'static, Result<HttpResponse, E>> {
    Box::pin(std::future::ready(Ok(status.into_http())))
}
