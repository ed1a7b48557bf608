//! W3C trace context across services run apart: an escalation caused by a
//! traced request is one trace, from the health service's RecordMeasurement
//! through its escalation steps to the okr, strategy and org services.
//!
//! The servers run on a runtime whose threads all report spans to an
//! OpenTelemetry layer collecting them in memory, so the test reads the
//! spans as a collector would receive them.

use std::{
    cell::RefCell,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use tracing::{Dispatch, Instrument, dispatcher::DefaultGuard};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt as _;
use trellis_foundation::trace::peer_channel;
use trellis_proto::{
    health::v1::{Measurement, RecordMeasurementRequest, health_metric_service_client::HealthMetricServiceClient},
    strategy::v1::AssumptionStatus,
};
use trellis_tests::{TestBackend, spawn_cluster};

use crate::{
    health::{CSAT, assumption_status, create_metric, csat, day, guarded_season, metric, record},
    support::eventually,
};

/// Every finished span, as exported.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if let Ok(mut spans) = self.0.lock() {
            spans.extend(batch);
        }
        Ok(())
    }
}

impl Collected {
    fn in_trace(&self, trace_id: TraceId) -> Vec<SpanData> {
        self.0
            .lock()
            .map(|spans| {
                spans
                    .iter()
                    .filter(|span| span.span_context.trace_id() == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

thread_local! {
    static THREAD_DISPATCH: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A runtime whose every thread reports to `dispatch`; the global
/// subscriber, shared with the other tests of this binary, is left alone.
fn traced_runtime(dispatch: Dispatch) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&dispatch);
            THREAD_DISPATCH.with(|slot| *slot.borrow_mut() = Some(guard));
        })
        .on_thread_stop(|| {
            THREAD_DISPATCH.with(|slot| slot.borrow_mut().take());
        })
        .build()
}

fn run_traced(backend: TestBackend) -> anyhow::Result<()> {
    let collected = Collected::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(collected.clone())
        .build();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry().with(trellis_server::telemetry::otel_layer(provider.tracer("e2e"))),
    );
    // Other tests of this binary register tracing callsites on their own
    // threads while this dispatch is created; a callsite registered in
    // that moment can keep the interest it had without this dispatch (and
    // its spans would never reach it). Rebuilding the interest cache once
    // the dispatch exists repairs any such callsite.
    tracing::callsite::rebuild_interest_cache();
    let runtime = traced_runtime(dispatch.clone())?;
    let name = backend.name();
    tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(one_escalation_is_one_trace(backend, collected))
    })
    .with_context(|| format!("on four servers, {name}"))
}

/// What a span says of itself, for assertions and messages.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    span_id: SpanId,
    parent: SpanId,
}

fn seen(spans: &[SpanData]) -> Vec<Seen> {
    spans
        .iter()
        .map(|span| Seen {
            name: span.name.to_string(),
            span_id: span.span_context.span_id(),
            parent: span.parent_span_id,
        })
        .collect()
}

fn named<'a>(spans: &'a [Seen], name: &str) -> Vec<&'a Seen> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// Whether some span called `child` has a parent called `parent`.
fn called_from(spans: &[Seen], child: &str, parent: &str) -> bool {
    named(spans, child)
        .iter()
        .any(|child| named(spans, parent).iter().any(|parent| parent.span_id == child.parent))
}

async fn one_escalation_is_one_trace(backend: TestBackend, collected: Collected) -> anyhow::Result<()> {
    let cluster = spawn_cluster(&backend).await?;
    let app = cluster.client_view();
    guarded_season(&app).await?;
    create_metric(&app, "csat", csat()).await?;
    record(&app, CSAT, 1, 4.5).await?;
    eventually("the assumption holds", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::Holding)
    })
    .await?;

    tracing::callsite::rebuild_interest_cache();
    // The caller's own span: every red reading is sent inside it.
    let escalation = tracing::info_span!("escalate csat");
    let trace_id = escalation.context().span().span_context().trace_id();
    let mut metrics = HealthMetricServiceClient::new(peer_channel(cluster.health.channel().await?));
    async {
        for (n, value) in [(2, 3.5), (3, 3.4), (4, 3.3), (5, 3.2)] {
            metrics
                .record_measurement(RecordMeasurementRequest {
                    health_metric: CSAT.to_owned(),
                    measurement: Some(Measurement {
                        value,
                        measure_time: Some(day(n)),
                        source: "survey".to_owned(),
                        ..Measurement::default()
                    }),
                })
                .await?;
        }
        anyhow::Ok(())
    }
    .instrument(escalation.clone())
    .await?;
    drop(escalation);
    eventually("the escalation has run", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::Broken
            && metric(&app, CSAT).await?.escalation.unwrap_or_default().pending_steps == 0)
    })
    .await?;

    let expected = [
        (
            "trellis.health.v1.HealthMetricService/RecordMeasurement",
            "escalate csat",
        ),
        (
            "escalation PAUSE_GUARDED",
            "trellis.health.v1.HealthMetricService/RecordMeasurement",
        ),
        ("trellis.okr.v1.OkrService/PauseObjective", "escalation PAUSE_GUARDED"),
        (
            "trellis.okr.v1.OkrService/CreateRemedialObjective",
            "escalation CREATE_REMEDIAL",
        ),
        (
            "trellis.cascade.v1.OrgService/BatchGetOrgUnits",
            "trellis.okr.v1.OkrService/CreateRemedialObjective",
        ),
        (
            "trellis.strategy.v1.StrategyService/SetAssumptionStatus",
            "escalation BREAK_ASSUMPTIONS",
        ),
    ];
    let mut spans = Vec::new();
    eventually("every hop of the escalation is in the trace", || {
        spans = seen(&collected.in_trace(trace_id));
        let complete = expected
            .iter()
            .all(|(child, parent)| called_from(&spans, child, parent));
        async move { Ok(complete) }
    })
    .await
    .with_context(|| {
        let names: Vec<String> = spans.iter().map(|span| span.name.clone()).collect();
        format!("spans in trace {trace_id}: {names:?}")
    })?;

    // Work nobody traced stays out of it: the season's set-up calls are
    // traces of their own.
    assert!(
        named(&spans, "trellis.strategy.v1.StrategyService/CreateStrategy").is_empty(),
        "{spans:?}"
    );
    assert_eq!(
        named(&spans, "trellis.health.v1.HealthMetricService/RecordMeasurement").len(),
        4
    );
    Ok(())
}

mod one_escalation_is_one_trace {
    use trellis_tests::TestBackend;

    #[test]
    fn sqlite() -> anyhow::Result<()> {
        super::run_traced(TestBackend::Sqlite)
    }

    #[test]
    fn postgres() -> anyhow::Result<()> {
        match TestBackend::postgres() {
            Some(backend) => super::run_traced(backend),
            None => {
                trellis_tests::say_postgres_not_configured();
                Ok(())
            }
        }
    }
}
