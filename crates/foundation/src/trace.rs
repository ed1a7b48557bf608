//! W3C trace context between the services: injected into the metadata of
//! every call to a peer and extracted from every request served, so a
//! request that crosses services is one trace. Work done later (an
//! escalation step from the outbox) keeps the `traceparent` of the request
//! that caused it and runs as part of that trace.
//!
//! The propagator is used directly rather than through the global one, so
//! propagation works whether or not an exporter is configured.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::{
    codegen::http::HeaderMap,
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::credentials::ServiceToken;

const TRACEPARENT: &str = "traceparent";
/// Marks a call one Trellis service makes to another, so a draining
/// server still takes the calls that its requests in flight depend on.
pub const PEER_CALL_HEADER: &str = "x-trellis-peer-call";

/// A channel to a peer service that carries the caller's trace context.
pub type PeerChannel = InterceptedService<Channel, PropagateTrace>;

/// Wraps `channel` so every call on it carries the current span's context.
pub fn peer_channel(channel: Channel) -> PeerChannel {
    InterceptedService::new(channel, PropagateTrace::default())
}

/// Like [`peer_channel`], for calls `service` makes, presenting `own`
/// token; to this same process when `itself`, where the service's own
/// work presents the process's internal credential when it has no token.
pub fn service_channel(channel: Channel, service: &'static str, itself: bool, own: ServiceToken) -> PeerChannel {
    InterceptedService::new(
        channel,
        PropagateTrace {
            service: Some(service),
            itself,
            own,
        },
    )
}

/// Injects the current span's context into each outgoing request, marks
/// it as a call between services, and adds the credentials it presents
/// ([`crate::credentials`]).
#[derive(Debug, Clone, Default)]
pub struct PropagateTrace {
    /// The calling service ("trellis-health"), for its own work.
    service: Option<&'static str>,
    /// Whether the calls go to this same process.
    itself: bool,
    /// The calling server's own token.
    own: ServiceToken,
}

impl Interceptor for PropagateTrace {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(PEER_CALL_HEADER, MetadataValue::from_static("1"));
        use crate::credentials::{
            INTERNAL_HEADER, SERVICE_AUTHORIZATION_HEADER, SERVICE_HEADER, caller_token, internal_secret,
        };
        let bearer = |token: &str| MetadataValue::try_from(format!("Bearer {token}")).ok();
        let user = caller_token();
        let own = self.own.get();
        let metadata = request.metadata_mut();
        if let Some(value) = user.as_deref().or(own.as_deref()).and_then(bearer) {
            metadata.insert("authorization", value);
        }
        match (self.service, self.itself) {
            // In process, the service is always named and proven by the
            // internal credential: alone for its own work, beside the
            // user's token within a request.
            (Some(service), true) if user.is_some() || own.is_none() => {
                if let Ok(secret) = MetadataValue::try_from(internal_secret()) {
                    metadata.insert(SERVICE_HEADER, MetadataValue::from_static(service));
                    metadata.insert(INTERNAL_HEADER, secret);
                }
            }
            (Some(_), _) if user.is_some() => {
                if let Some(value) = own.as_deref().and_then(bearer) {
                    metadata.insert(SERVICE_AUTHORIZATION_HEADER, value);
                }
            }
            _ => {}
        }
        TraceContextPropagator::new().inject_context(
            &Span::current().context(),
            &mut MetadataInjector(request.metadata_mut()),
        );
        Ok(request)
    }
}

/// Makes `span` (not yet entered) a child of the context the caller sent
/// in `headers`; without one it stays a root.
pub fn continue_from_headers(span: &Span, headers: &HeaderMap) {
    if headers.contains_key(TRACEPARENT) {
        let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        // Fails only when no OpenTelemetry layer is installed: nothing to link.
        let _ = span.set_parent(context);
    }
}

/// The current span's `traceparent`, or "" when it is not sampled or no
/// OpenTelemetry layer is installed; stored with deferred work.
pub fn current_traceparent() -> String {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    carrier.remove(TRACEPARENT).unwrap_or_default()
}

/// Makes `span` (not yet entered) a child of a stored `traceparent`.
pub fn continue_from(span: &Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_injected_or_stored() {
        let span = tracing::info_span!("test");
        let _entered = span.enter();
        assert_eq!(current_traceparent(), "");
        let request = PropagateTrace::default().call(tonic::Request::new(()));
        assert!(request.is_ok_and(|request| request.metadata().get(TRACEPARENT).is_none()));
    }

    #[test]
    fn calls_and_stored_work_continue_the_callers_trace() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            let trace_id = request.context().span().span_context().trace_id();

            let stored = request.in_scope(current_traceparent);
            assert!(stored.contains(&trace_id.to_string()), "{stored}");
            let later = tracing::info_span!("later");
            continue_from(&later, &stored);
            assert_eq!(later.context().span().span_context().trace_id(), trace_id);

            let call = request.in_scope(|| PropagateTrace::default().call(tonic::Request::new(())));
            let Ok(call) = call else {
                panic!("the interceptor refused a call");
            };
            let mut headers = HeaderMap::new();
            for (key, value) in call.metadata().clone().into_headers() {
                if let Some(key) = key {
                    headers.insert(key, value);
                }
            }
            let served = tracing::info_span!("served");
            continue_from_headers(&served, &headers);
            assert_eq!(served.context().span().span_context().trace_id(), trace_id);
        });
    }
}
