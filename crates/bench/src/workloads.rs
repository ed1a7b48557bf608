//! The workloads and the figures each reports.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tonic::Code;

use crate::target::BenchChannel as Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use trellis_proto::{
    cascade::v1::{CreateOrgUnitRequest, OrgUnit, org_service_client::OrgServiceClient},
    okr::v1::{CreateCycleRequest, Cycle, okr_service_client::OkrServiceClient},
    strategy::v1::{
        Choice, ChoiceKind, CreateStrategyRequest, GetStrategyRequest, Strategy,
        strategy_service_client::StrategyServiceClient,
    },
};

use crate::{
    Args, Workload,
    load::{Phase, PhaseResult, run_phase},
    target::Target,
};

pub const BENCH_ORG_UNIT: &str = "bench-org";

#[derive(Debug, Serialize)]
pub struct UnaryFigures {
    pub workload: &'static str,
    pub backend: String,
    /// "oidc" when every call was authenticated and checked (`--auth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub health_check_per_s: f64,
    pub health_check_p50_ms: f64,
    pub health_check_p99_ms: f64,
    pub ratio_to_health_check: f64,
}

pub async fn run(args: &Args, target: &Target) -> anyhow::Result<UnaryFigures> {
    let channels = target.channels(args.connections).await?;
    let phase = Phase {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        measure: Duration::from_secs_f64(args.seconds),
    };
    let health = health_check_phase(&channels, phase).await?;
    report("grpc.health.v1/Check", &health);
    let (name, result) = match args.workload {
        Workload::GetStrategy => ("get_strategy", get_strategy_phase(&channels, phase).await?),
        Workload::CreateStrategy => ("create_strategy", create_strategy_phase(&channels, phase).await?),
        other => anyhow::bail!("{other:?} is not a unary strategy workload"),
    };
    report(name, &result);
    Ok(UnaryFigures {
        workload: name,
        backend: target.backend.clone(),
        auth: target.auth,
        concurrency: args.concurrency,
        seconds: result.seconds,
        requests: result.requests,
        errors: result.errors,
        per_s: result.per_s.round(),
        p50_ms: result.p50_ms,
        p99_ms: result.p99_ms,
        health_check_per_s: health.per_s.round(),
        health_check_p50_ms: health.p50_ms,
        health_check_p99_ms: health.p99_ms,
        ratio_to_health_check: ((result.per_s / health.per_s) * 1000.0).round() / 1000.0,
    })
}

pub fn report(name: &str, result: &PhaseResult) {
    eprintln!(
        "{name}: {:.0}/s over {:.1}s ({} requests, {} errors), p50 {:.3} ms, p99 {:.3} ms",
        result.per_s, result.seconds, result.requests, result.errors, result.p50_ms, result.p99_ms
    );
}

pub fn pick(channels: &[Channel], worker: usize) -> Channel {
    channels[worker % channels.len()].clone()
}

pub async fn health_check_phase(channels: &[Channel], phase: Phase) -> anyhow::Result<PhaseResult> {
    let channels = channels.to_vec();
    run_phase(phase, move |worker, _| {
        let mut client = HealthClient::new(pick(&channels, worker));
        async move {
            client.check(HealthCheckRequest { service: String::new() }).await?;
            Ok(())
        }
    })
    .await
}

/// The org unit every bench strategy is owned by.
pub async fn ensure_org_unit(channel: Channel) -> anyhow::Result<()> {
    let request = CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            display_name: "Benchmarks".into(),
            kind: "company".into(),
            ..OrgUnit::default()
        }),
        org_unit_id: BENCH_ORG_UNIT.into(),
        request_id: String::new(),
    };
    match OrgServiceClient::new(channel).create_org_unit(request).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(status.into()),
    }
}

/// A PLANNING cycle for Q1 2027 open for `org_unit`; an empty `cycle_id`
/// lets the server choose one.
pub async fn create_quarter(channel: Channel, cycle_id: &str, org_unit: &str) -> anyhow::Result<Cycle> {
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let request = CreateCycleRequest {
        cycle: Some(Cycle {
            display_name: "Q1 2027".into(),
            start_time: Some(at(1_798_761_600)),
            end_time: Some(at(1_806_537_600)),
            org_unit: org_unit.to_owned(),
            ..Cycle::default()
        }),
        cycle_id: cycle_id.to_owned(),
        request_id: String::new(),
    };
    Ok(OkrServiceClient::new(channel)
        .create_cycle(request)
        .await
        .context("creating the cycle")?
        .into_inner())
}

/// A create of a fresh strategy, its id chosen by the server.
fn create_request() -> CreateStrategyRequest {
    CreateStrategyRequest {
        strategy: Some(bench_strategy()),
        strategy_id: String::new(),
        request_id: String::new(),
    }
}

fn bench_strategy() -> Strategy {
    let choice = |id: &str, kind: ChoiceKind, title: &str| Choice {
        name: id.into(),
        kind: kind as i32,
        title: title.into(),
        ..Choice::default()
    };
    Strategy {
        display_name: "Benchmark strategy".into(),
        challenge: "Serve planning season at org scale".into(),
        winning_aspiration: "Every team aligned within a day".into(),
        owner: format!("orgUnits/{BENCH_ORG_UNIT}"),
        choices: vec![
            choice("where", ChoiceKind::WhereToPlay, "Large organisations"),
            choice("how", ChoiceKind::HowToWin, "Fast at scale"),
            choice("not", ChoiceKind::NotDoing, "No spreadsheets"),
        ],
        ..Strategy::default()
    }
}

async fn get_strategy_phase(channels: &[Channel], phase: Phase) -> anyhow::Result<PhaseResult> {
    ensure_org_unit(channels[0].clone()).await?;
    let request = create_request();
    let created = StrategyServiceClient::new(channels[0].clone())
        .create_strategy(request)
        .await?
        .into_inner();
    let channels = channels.to_vec();
    run_phase(phase, move |worker, _| {
        let mut client = StrategyServiceClient::new(pick(&channels, worker));
        let name = created.name.clone();
        async move {
            client.get_strategy(GetStrategyRequest { name, revision: 0 }).await?;
            Ok(())
        }
    })
    .await
}

async fn create_strategy_phase(channels: &[Channel], phase: Phase) -> anyhow::Result<PhaseResult> {
    ensure_org_unit(channels[0].clone()).await?;
    let channels = channels.to_vec();
    run_phase(phase, move |worker, _| {
        let mut client = StrategyServiceClient::new(pick(&channels, worker));
        async move {
            let request = create_request();
            client.create_strategy(request).await?;
            Ok(())
        }
    })
    .await
}
