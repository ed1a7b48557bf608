//! Metrics for operators: OpenTelemetry instruments, one meter provider per
//! server, read by a Prometheus scrape endpoint (`--metrics-listen`) and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, exported over OTLP as well.
//! The names, as Prometheus shows them, are listed in docs/metrics.md and
//! used by the Grafana dashboards in `deploy/grafana/`.
//!
//! - `rpc.rs`: calls, their status codes and durations (a tower layer);
//! - `sampler.rs`: gauges read every few seconds (feed heads, lags,
//!   pending escalation steps, the cascade graph's size);
//! - `scrape.rs`: the HTTP endpoint.

pub mod rpc;
pub mod sampler;
pub mod scrape;

use std::time::Duration;

use anyhow::Context;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider};
use opentelemetry_sdk::{
    Resource,
    metrics::{PeriodicReader, SdkMeterProvider},
};
use prometheus::{Encoder, TextEncoder};

/// How often OTLP export runs, unless `OTEL_METRIC_EXPORT_INTERVAL` says.
const OTLP_EVERY: Duration = Duration::from_secs(30);

/// Group-commit batch sizes, in check-ins.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

pub struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    meter: Meter,
}

impl Metrics {
    /// A meter provider of this server's own, so servers sharing a process
    /// (tests, one binary running every service) count apart. OTLP export
    /// goes to `otlp` (an endpoint, every interval) when given, else where
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` says, if it is set.
    pub fn new(otlp: Option<(String, Duration)>) -> anyhow::Result<Metrics> {
        let registry = prometheus::Registry::new();
        let scrape = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .context("building the Prometheus exporter")?;
        let mut builder = SdkMeterProvider::builder()
            .with_reader(scrape)
            .with_resource(Resource::builder().with_service_name("trellis").build());
        let from_environment = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|value| !value.is_empty());
        let every = std::env::var("OTEL_METRIC_EXPORT_INTERVAL")
            .ok()
            .and_then(|millis| millis.parse().ok())
            .map_or(OTLP_EVERY, Duration::from_millis);
        let export = match otlp {
            Some((endpoint, every)) => Some((Some(endpoint), every)),
            None if from_environment => Some((None, every)),
            None => None,
        };
        if let Some((endpoint, every)) = export {
            let mut exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic();
            if let Some(endpoint) = endpoint {
                exporter = opentelemetry_otlp::WithExportConfig::with_endpoint(exporter, endpoint);
            }
            let exporter = exporter.build().context("building the OTLP metric exporter")?;
            builder = builder.with_reader(PeriodicReader::builder(exporter).with_interval(every).build());
        }
        let provider = builder.build();
        let meter = provider.meter("trellis");
        Ok(Metrics {
            provider,
            registry,
            meter,
        })
    }

    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The histogram of check-ins committed per transaction.
    pub fn batch_sizes(&self) -> Histogram<u64> {
        self.meter
            .u64_histogram("trellis.okr.check_in_batch")
            .with_description("Check-ins committed together in one transaction (group commit)")
            .with_boundaries(BATCH_BUCKETS.to_vec())
            .build()
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> anyhow::Result<Vec<u8>> {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .context("encoding the metrics")?;
        Ok(text)
    }

    /// Sends what OTLP has not sent yet, and stops.
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::debug!(error = %err, "stopping the metrics");
        }
    }
}
