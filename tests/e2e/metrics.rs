//! The Prometheus scrape endpoint (`--metrics-listen`), scraped over HTTP
//! and parsed: the RPC counters move by exactly the calls made, each under
//! its status code, and the gauges and histograms of the feeds, the relay,
//! the escalation, the group commit and the cascade are there.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::{
    collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
        metrics_service_server::{MetricsService, MetricsServiceServer},
    },
    common::v1::any_value::Value,
    metrics::v1::{metric::Data, number_data_point::Value as NumberValue},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;
use trellis_proto::{
    cascade::v1::GetOrgUnitRequest,
    okr::v1::{key_result, objective::Kind},
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, nats::nats_url, spawn_app_with};

use crate::{
    okr_support::{check_in_at, company_objective, create_objective, measured, move_cycle, planning_season},
    support::{eventually, expect_code, unit},
};

backend_only_tests!(
    the_scrape_counts_every_call_and_shows_the_gauges,
    the_same_metrics_reach_an_otlp_collector,
);

/// One scrape: each sample by its name and its labels (sorted, as
/// `key="value"` joined with commas).
type Samples = HashMap<(String, String), f64>;

async fn scrape(address: SocketAddr) -> anyhow::Result<(String, Samples)> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: trellis\r\n\r\n")
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") || !head.contains("text/plain; version=0.0.4") {
        bail!("not a Prometheus scrape: {head}");
    }
    let mut samples = Samples::new();
    for line in body.lines().filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').context("a sample line")?;
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let mut pairs: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                pairs.sort_unstable();
                (name, pairs.join(","))
            }
            None => (series, String::new()),
        };
        let value: f64 = value.parse().with_context(|| format!("the value of {line}"))?;
        samples.insert((name.to_owned(), labels), value);
    }
    Ok((body.to_owned(), samples))
}

/// One GetOrgUnit answered NOT_FOUND.
async fn ask_for_a_missing_unit(app: &TestApp) -> anyhow::Result<()> {
    let asked = app
        .org
        .clone()
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/nowhere".into(),
        })
        .await;
    expect_code(asked, Code::NotFound)?;
    Ok(())
}

fn calls(samples: &Samples, method: &str, code: &str) -> f64 {
    let labels = format!("code=\"{code}\",rpc_method=\"{method}\",rpc_service=\"trellis.cascade.v1.OrgService\"");
    samples
        .get(&("trellis_rpc_calls_total".to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

fn durations(samples: &Samples, method: &str) -> f64 {
    let labels = format!("rpc_method=\"{method}\",rpc_service=\"trellis.cascade.v1.OrgService\"");
    samples
        .get(&("trellis_rpc_duration_seconds_count".to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

fn head(samples: &Samples, service: &str) -> Option<f64> {
    samples
        .get(&("trellis_feed_head".to_owned(), format!("service=\"{service}\"")))
        .copied()
}

async fn the_scrape_counts_every_call_and_shows_the_gauges(backend: TestBackend) -> anyhow::Result<()> {
    let nats = nats_url().await?;
    let stream = format!("M{}", uuid::Uuid::new_v4().simple());
    let app: TestApp = spawn_app_with(&backend, |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().expect("an address"));
        settings.events_nats_url = Some(nats.clone());
        settings.events_stream = stream.clone();
        settings.events_subject_prefix = stream.to_lowercase();
    })
    .await?;
    let address = app.metrics_address.context("the metrics address")?;
    planning_season(&app).await?;
    let (_, before) = scrape(address).await?;

    let mut org = app.org.clone();
    for id in ["m1", "m2", "m3"] {
        org.create_org_unit(unit(id, "orgUnits/acme", "team")).await?;
    }
    let mut bad = unit("bad", "orgUnits/acme", "team");
    if let Some(unit) = bad.org_unit.as_mut() {
        unit.display_name = String::new();
    }
    expect_code(org.create_org_unit(bad).await, Code::InvalidArgument)?;
    for name in ["orgUnits/m1", "orgUnits/m2"] {
        org.get_org_unit(GetOrgUnitRequest { name: name.into() }).await?;
    }
    ask_for_a_missing_unit(&app).await?;

    let (_, after) = scrape(address).await?;
    let moved = |method: &str, code: &str| calls(&after, method, code) - calls(&before, method, code);
    assert_eq!(moved("CreateOrgUnit", "OK"), 3.0);
    assert_eq!(moved("CreateOrgUnit", "INVALID_ARGUMENT"), 1.0);
    assert_eq!(moved("GetOrgUnit", "OK"), 2.0);
    assert_eq!(moved("GetOrgUnit", "NOT_FOUND"), 1.0);
    assert_eq!(durations(&after, "GetOrgUnit") - durations(&before, "GetOrgUnit"), 3.0);
    assert_eq!(
        durations(&after, "CreateOrgUnit") - durations(&before, "CreateOrgUnit"),
        4.0
    );

    // A check-in goes through the group commit.
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&app, "grow", company_objective(Kind::Committed), vec![kr]).await?;
    move_cycle(&app, "ACTIVE").await?;
    check_in_at(&app, "objectives/grow/keyResults/kr1", 4.0, 7).await?;

    // The gauges are read every few seconds; the cascade applies the okr
    // feed after its head moves, so a sample may show the head first.
    eventually("the gauges show the writes", || async move {
        let (_, samples) = scrape(address).await?;
        let last_apply = (
            "trellis_cascade_last_apply_timestamp_seconds".to_owned(),
            "feed=\"okr\"".to_owned(),
        );
        Ok(head(&samples, "cascade").is_some_and(|head| head >= 7.0)
            && head(&samples, "okr").is_some_and(|head| head >= 3.0)
            && samples.contains_key(&last_apply)
            && samples.contains_key(&("trellis_cascade_graph_nodes".to_owned(), String::new())))
    })
    .await?;
    let (text, _) = scrape(address).await?;
    for name in [
        "trellis_relay_lag{service=\"okr\"}",
        "trellis_cascade_feed_lag{feed=\"okr\"}",
        "trellis_cascade_feed_connected{feed=\"okr\"}",
        "trellis_cascade_last_apply_timestamp_seconds{feed=\"okr\"}",
        "trellis_cascade_graph_edges ",
        "trellis_health_pending_escalation_steps ",
        "trellis_okr_check_in_batch_bucket{le=\"1\"}",
        "trellis_okr_check_in_batch_count ",
    ] {
        assert!(text.contains(name), "{name} missing from the scrape:\n{text}");
    }

    // Every series the Grafana dashboards plot is one the server exports.
    for name in dashboard_series()? {
        assert!(
            text.lines().any(|line| line.starts_with(&name)),
            "the dashboards plot {name}, which the scrape lacks"
        );
    }

    // Anything but GET /metrics is refused.
    let mut other = TcpStream::connect(address).await?;
    other.write_all(b"GET /secrets HTTP/1.1\r\n\r\n").await?;
    let mut answer = String::new();
    other.read_to_string(&mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    app.shutdown().await
}

/// The `trellis_*` series named in the expressions of the dashboards in
/// `deploy/grafana/dashboards/`.
fn dashboard_series() -> anyhow::Result<Vec<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    let mut series = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let panels = dashboard["panels"].as_array().context("a dashboard's panels")?;
        for target in panels
            .iter()
            .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        {
            let expr = target["expr"].as_str().context("a target's expression")?;
            let mut rest = expr;
            while let Some(start) = rest.find("trellis_") {
                let name: String = rest[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[start + name.len()..];
                series.push(name);
            }
        }
    }
    series.sort();
    series.dedup();
    anyhow::ensure!(series.len() >= 8, "the dashboards plot {series:?}");
    Ok(series)
}

/// Every export an OTLP collector received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .map_err(|_| tonic::Status::internal("poisoned"))?
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    /// The newest value of counter `name` for the points whose attributes
    /// hold all of `labels`.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let exports = self.0.lock().map(|exports| exports.clone()).unwrap_or_default();
        let mut newest = 0.0;
        for export in &exports {
            let metrics = export
                .resource_metrics
                .iter()
                .flat_map(|resource| &resource.scope_metrics)
                .flat_map(|scope| &scope.metrics)
                .filter(|metric| metric.name == name);
            for metric in metrics {
                let Some(Data::Sum(sum)) = &metric.data else {
                    continue;
                };
                for point in &sum.data_points {
                    let holds = labels.iter().all(|(key, value)| {
                        point.attributes.iter().any(|attribute| {
                            attribute.key == *key
                                && matches!(
                                    attribute.value.as_ref().and_then(|value| value.value.as_ref()),
                                    Some(Value::StringValue(text)) if text == value
                                )
                        })
                    });
                    if holds && let Some(NumberValue::AsInt(count)) = point.value {
                        newest = count as f64;
                    }
                }
            }
        }
        newest
    }
}

/// With OTLP configured, the same instruments are pushed to a collector.
async fn the_same_metrics_reach_an_otlp_collector(backend: TestBackend) -> anyhow::Result<()> {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let app = spawn_app_with(&backend, |settings| {
        settings.otlp_metrics = Some((endpoint.clone(), Duration::from_millis(200)));
    })
    .await?;
    for _ in 0..3 {
        ask_for_a_missing_unit(&app).await?;
    }
    let labels = [
        ("rpc.service", "trellis.cascade.v1.OrgService"),
        ("rpc.method", "GetOrgUnit"),
        ("code", "NOT_FOUND"),
    ];
    eventually("the collector has the calls", || {
        let collector = collector.clone();
        async move { Ok(collector.counter("trellis.rpc.calls", &labels) == 3.0) }
    })
    .await?;
    app.shutdown().await?;
    serving.abort();
    Ok(())
}
