//! Per-RPC metrics as a tower layer, outside every other: each call counted
//! by its method and status code (refusals by the guard and the
//! authenticator included), and its duration until the last frame of the
//! answer, streams included.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};
use tonic::{Code, Status, codegen::http};
use tower_layer::Layer;
use tower_service::Service;

/// Latency buckets, in seconds: from a cached read to a whole import.
const DURATION_BUCKETS: [f64; 16] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A method's labels, made once: a call only clones them (reference
/// counts, no allocation).
type Labels = Arc<[KeyValue; 2]>;

/// The instruments, and the methods they name (any other path is counted
/// as `unknown`, so a client cannot make up label values).
#[derive(Clone)]
pub struct RpcMetrics {
    calls: Counter<u64>,
    duration: Histogram<f64>,
    methods: Arc<HashMap<String, Labels>>,
    unknown: Labels,
}

fn labels(service: &str, method: &str) -> Labels {
    let text = |text: &str| opentelemetry::Value::String(Arc::<str>::from(text).into());
    Arc::new([
        KeyValue::new("rpc.service", text(service)),
        KeyValue::new("rpc.method", text(method)),
    ])
}

impl RpcMetrics {
    pub fn new(meter: &Meter, methods: HashSet<String>) -> RpcMetrics {
        RpcMetrics {
            calls: meter
                .u64_counter("trellis.rpc.calls")
                .with_description("gRPC calls answered, by service, method and status code")
                .build(),
            duration: meter
                .f64_histogram("trellis.rpc.duration")
                .with_unit("s")
                .with_description("gRPC call duration until the last frame of the answer")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            methods: Arc::new(
                methods
                    .into_iter()
                    .filter_map(|path| {
                        let (service, method) = path.trim_start_matches('/').split_once('/')?;
                        let labels = labels(service, method);
                        Some((path, labels))
                    })
                    .collect(),
            ),
            unknown: labels("unknown", "unknown"),
        }
    }

    /// The labels of a request path `/pkg.Service/Method`.
    fn labels(&self, path: &str) -> Labels {
        self.methods
            .get(path)
            .map_or_else(|| Arc::clone(&self.unknown), Arc::clone)
    }
}

impl<S> Layer<S> for RpcMetrics {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> RpcMetricsService<S> {
        RpcMetricsService {
            inner,
            metrics: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: RpcMetrics,
}

type HttpRequest = http::Request<tonic::body::Body>;
type HttpResponse = http::Response<tonic::body::Body>;

impl<S> Service<HttpRequest> for RpcMetricsService<S>
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
        let call = Call {
            labels: self.metrics.labels(request.uri().path()),
            metrics: self.metrics.clone(),
            started: Instant::now(),
            recorded: false,
        };
        let mut inner = crate::ready_inner(&mut self.inner);
        Box::pin(async move {
            let response = inner.call(request).await?;
            // A call that fails before answering (trailers-only) has its
            // status in the headers; otherwise it comes in the trailers.
            match status_of(response.headers()) {
                Some(code) => {
                    call.record(code);
                    Ok(response)
                }
                None => Ok(response.map(|body| tonic::body::Body::new(RecordedBody { inner: body, call }))),
            }
        })
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// One call being measured; recorded once, when its status is known, or as
/// CANCELLED if the answer is dropped first (the client went away).
struct Call {
    metrics: RpcMetrics,
    labels: Labels,
    started: Instant,
    recorded: bool,
}

impl Call {
    fn record(mut self, code: Code) {
        self.record_once(code);
    }

    fn record_once(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let [service, method] = &*self.labels;
        self.metrics
            .duration
            .record(self.started.elapsed().as_secs_f64(), &self.labels[..]);
        self.metrics.calls.add(
            1,
            &[service.clone(), method.clone(), KeyValue::new("code", code_name(code))],
        );
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record_once(Code::Cancelled);
    }
}

/// The status code's name as the gRPC specification spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An answer's body that records its call when the trailers pass.
struct RecordedBody {
    inner: tonic::body::Body,
    call: Call,
}

impl Body for RecordedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of) {
                    this.call.record_once(code);
                }
            }
            Poll::Ready(Some(Err(status))) => this.call.record_once(status.code()),
            Poll::Ready(None) => this.call.record_once(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_become_labels() {
        let meter = opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry_sdk::metrics::SdkMeterProvider::default(),
            "test",
        );
        let metrics = RpcMetrics::new(
            &meter,
            HashSet::from(["/trellis.okr.v1.OkrService/GetObjective".to_owned()]),
        );
        let known = metrics.labels("/trellis.okr.v1.OkrService/GetObjective");
        assert_eq!(known[0].value.as_str(), "trellis.okr.v1.OkrService");
        assert_eq!(known[1].value.as_str(), "GetObjective");
        let made_up = metrics.labels("/made.up/Path");
        assert_eq!(made_up[0].value.as_str(), "unknown");
        assert_eq!(made_up[1].value.as_str(), "unknown");
    }
}
