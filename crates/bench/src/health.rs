//! The health service's workloads:
//! - `measurements`: BatchRecordMeasurements from many clients at once,
//!   each batch spread over several metrics, reported per measurement;
//! - `escalation`: a metric's red measurement until its remedial objective
//!   is visible through the OKR API (the Four Square rule, end to end).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::target::BenchChannel as Channel;
use anyhow::{Context, bail};
use serde::Serialize;
use trellis_proto::{
    health::v1::{
        BatchRecordMeasurementsRequest, CreateHealthMetricRequest, Direction, EscalationPolicy, HealthMetric,
        Measurement, RecordMeasurementRequest, Thresholds, batch_record_measurements_request::Entry,
        health_metric_service_client::HealthMetricServiceClient,
    },
    okr::v1::{ListObjectivesRequest, TransitionCycleRequest, okr_service_client::OkrServiceClient},
};

use sea_orm::ActiveValue::Set;
use trellis_foundation::time::now_micros;
use trellis_health::entity::measurement;

use crate::{
    Args,
    ceiling::{self, Schema},
    load::{Phase, run_phase},
    season::round,
    target::Target,
    workloads::{BENCH_ORG_UNIT, create_quarter, ensure_org_unit, pick, report},
};

/// Metrics the measurement batches are spread over.
const METRICS: usize = 100;
/// Metrics one batch touches.
const METRICS_PER_BATCH: usize = 10;
/// Escalations timed.
const ROUNDS: usize = 10;
const GIVE_UP: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
pub struct MeasurementFigures {
    pub workload: &'static str,
    pub backend: String,
    pub concurrency: usize,
    pub batch: usize,
    pub metrics: usize,
    pub seconds: f64,
    pub batches: u64,
    pub errors: u64,
    /// Measurements recorded per second.
    pub per_s: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    /// Measurements inserted per second in batches of the same size into a
    /// fresh measurement table at the same concurrency: no validation, no
    /// status, no feed, no gRPC.
    pub raw_insert_per_s: Option<f64>,
    pub ratio_to_raw_insert: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct EscalationFigures {
    pub workload: &'static str,
    pub backend: String,
    pub rounds: usize,
    /// The median, red measurement → remedial objective listed ACTIVE.
    pub seconds: f64,
    pub min_seconds: f64,
    pub max_seconds: f64,
}

/// A fresh id prefix, so runs against one server do not collide.
fn run_prefix() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros());
    format!("b{micros}")
}

fn metric(escalate: bool) -> HealthMetric {
    HealthMetric {
        display_name: "Bench CSAT".into(),
        owner: format!("orgUnits/{BENCH_ORG_UNIT}"),
        accountable: "bench@example.com".into(),
        unit: "points".into(),
        direction: Direction::HigherIsBetter as i32,
        thresholds: Some(Thresholds {
            green: 4.2,
            red: 3.8,
            ..Thresholds::default()
        }),
        cadence: Some(prost_types::Duration {
            seconds: 86_400,
            nanos: 0,
        }),
        escalation_policy: Some(EscalationPolicy {
            enabled: escalate,
            red_to_escalate: 1,
            red_to_break: 1_000,
        }),
        ..HealthMetric::default()
    }
}

async fn create_metric(channel: Channel, id: &str, escalate: bool) -> anyhow::Result<String> {
    Ok(HealthMetricServiceClient::new(channel)
        .create_health_metric(CreateHealthMetricRequest {
            health_metric: Some(metric(escalate)),
            health_metric_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .with_context(|| format!("creating healthMetrics/{id}"))?
        .into_inner()
        .name)
}

pub async fn measurements(args: &Args, target: &Target) -> anyhow::Result<MeasurementFigures> {
    let channels = target.channels(args.connections).await?;
    ensure_org_unit(channels[0].clone()).await?;
    let prefix = run_prefix();
    let mut names = Vec::with_capacity(METRICS);
    for index in 0..METRICS {
        names.push(create_metric(channels[0].clone(), &format!("{prefix}-m{index}"), false).await?);
    }
    let batch = args.batch;
    let per_metric = batch.div_ceil(METRICS_PER_BATCH);
    let names = Arc::new(names);
    let calls = Arc::new(AtomicU64::new(0));
    // Measurements one second apart, from the start of the run; each call
    // takes the next block of seconds for its metrics.
    let start = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    let phase = Phase {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        measure: Duration::from_secs_f64(args.seconds),
    };
    let result = run_phase(phase, move |worker, _| {
        let mut client = HealthMetricServiceClient::new(pick(&channels, worker));
        let call = calls.fetch_add(1, Ordering::Relaxed);
        let first_metric = usize::try_from(call).unwrap_or(0) * METRICS_PER_BATCH;
        let block = i64::try_from(call / (METRICS / METRICS_PER_BATCH) as u64).unwrap_or(0)
            * i64::try_from(per_metric).unwrap_or(0);
        let measurements: Vec<Entry> = (0..batch)
            .map(|index| {
                let metric = &names[(first_metric + index % METRICS_PER_BATCH) % METRICS];
                let offset = i64::try_from(index / METRICS_PER_BATCH).unwrap_or(0);
                Entry {
                    health_metric: metric.clone(),
                    measurement: Some(Measurement {
                        value: 4.3 + (offset % 7) as f64 / 10.0,
                        measure_time: Some(prost_types::Timestamp {
                            seconds: start + block + offset,
                            nanos: 0,
                        }),
                        source: "bench".into(),
                        ..Measurement::default()
                    }),
                }
            })
            .collect();
        async move {
            client
                .batch_record_measurements(BatchRecordMeasurementsRequest {
                    measurements,
                    ..BatchRecordMeasurementsRequest::default()
                })
                .await?;
            Ok(())
        }
    })
    .await?;
    report("batch_record_measurements (batches)", &result);
    let per_s = (result.per_s * batch as f64).round();
    eprintln!("measurements: {per_s:.0}/s in batches of {batch}");
    let raw = ceiling::insert_phase::<measurement::Entity, _>(
        args,
        &target.backend,
        Schema::Health,
        phase,
        move |worker, sequence| {
            let micros = now_micros();
            (0..batch)
                .map(|index| measurement::ActiveModel {
                    metric_id: Set(format!("bench-m{}", (worker * METRICS_PER_BATCH + index) % METRICS)),
                    // Unique per row across workers and calls.
                    measure_micros: Set(micros
                        + (sequence as i64 * batch as i64 + index as i64) * 1_000
                        + worker as i64),
                    value: Set(4.3),
                    source: Set("bench".into()),
                    level: Set("GREEN".into()),
                    record_micros: Set(micros),
                })
                .collect()
        },
    )
    .await?;
    let raw_insert_per_s = raw.as_ref().map(|raw| (raw.per_s * batch as f64).round());
    if let Some(raw_per_s) = raw_insert_per_s {
        eprintln!("raw batched inserts: {raw_per_s:.0} measurements/s");
    }
    Ok(MeasurementFigures {
        workload: "measurements",
        backend: target.backend.clone(),
        concurrency: args.concurrency,
        batch,
        metrics: METRICS,
        seconds: result.seconds,
        batches: result.requests,
        errors: result.errors,
        per_s,
        batch_p50_ms: result.p50_ms,
        batch_p99_ms: result.p99_ms,
        raw_insert_per_s,
        ratio_to_raw_insert: raw_insert_per_s.map(|raw| round(per_s / raw, 3)),
    })
}

pub async fn escalation(target: &Target) -> anyhow::Result<EscalationFigures> {
    let channel = target.channels(1).await?.remove(0);
    ensure_org_unit(channel.clone()).await?;
    let owner = format!("orgUnits/{BENCH_ORG_UNIT}");
    let cycle = create_quarter(channel.clone(), "", &owner).await?;
    let mut okr = OkrServiceClient::new(channel.clone());
    okr.activate_cycle(TransitionCycleRequest {
        name: cycle.name.clone(),
        etag: String::new(),
    })
    .await?;
    let prefix = run_prefix();
    let mut health = HealthMetricServiceClient::new(channel.clone());
    let mut timings = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // A metric per round: each escalation is a first one.
        let name = create_metric(channel.clone(), &format!("{prefix}-e{round}"), true).await?;
        let filter = format!("origin = REMEDIAL AND remedial_for = \"{name}\" AND state = ACTIVE");
        let started = Instant::now();
        health
            .record_measurement(RecordMeasurementRequest {
                health_metric: name.clone(),
                measurement: Some(Measurement {
                    value: 3.1,
                    measure_time: Some(prost_types::Timestamp {
                        seconds: 1_800_000_000,
                        nanos: 0,
                    }),
                    source: "bench".into(),
                    ..Measurement::default()
                }),
            })
            .await?;
        loop {
            let visible = okr
                .list_objectives(ListObjectivesRequest {
                    filter: filter.clone(),
                    ..ListObjectivesRequest::default()
                })
                .await?
                .into_inner()
                .objectives;
            if !visible.is_empty() {
                break;
            }
            if started.elapsed() > GIVE_UP {
                bail!("no remedial objective for {name} after {GIVE_UP:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("escalation {round}: red → remedial visible in {:.1} ms", seconds * 1e3);
        timings.push(seconds);
    }
    timings.sort_by(f64::total_cmp);
    Ok(EscalationFigures {
        workload: "escalation",
        backend: target.backend.clone(),
        rounds: ROUNDS,
        seconds: round_ms(timings[ROUNDS / 2]),
        min_seconds: round_ms(timings[0]),
        max_seconds: round_ms(timings[ROUNDS - 1]),
    })
}

/// Seconds to the nearest tenth of a millisecond.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1e4).round() / 1e4
}
