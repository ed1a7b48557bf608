//! Logs and traces: an `EnvFilter` from `RUST_LOG` (default `info`), and
//! an OTLP span exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, layer::SubscriberExt, registry::LookupSpan, util::SubscriberInitExt,
};

/// Flushes and stops the exporter when dropped (or on [`shutdown`]).
///
/// [`shutdown`]: TelemetryGuard::shutdown
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("trellis: flushing traces failed: {err}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The layer that turns spans into OpenTelemetry spans: INFO and above
/// only, whatever `RUST_LOG` lets the log show. The transport's own debug
/// spans (a connection's lifetime, opened inside whichever request first
/// used it) would otherwise keep that request's span open, and so unsent,
/// for as long as the connection lives.
pub fn otel_layer<S>(tracer: opentelemetry_sdk::trace::SdkTracer) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(LevelFilter::INFO)
}

/// Installs the global subscriber; call once, inside the Tokio runtime.
pub fn init_telemetry(service_name: &str) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let endpoint_set = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|value| !value.is_empty());
    if !endpoint_set {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
            .map_err(|err| format!("installing the log subscriber: {err}"))?;
        return Ok(TelemetryGuard { provider: None });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|err| format!("building the OTLP exporter: {err}"))?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
        .build();
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel_layer(provider.tracer("trellis")))
        .try_init()
        .map_err(|err| format!("installing the log subscriber: {err}"))?;
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}
