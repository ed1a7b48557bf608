//! `check_in`: unary CreateCheckIn from many clients at once, spread over
//! the key results of an ACTIVE cycle.

use std::time::Duration;

use crate::target::BenchChannel as Channel;
use serde::Serialize;
use trellis_proto::okr::v1::{
    CheckIn, CreateCheckInRequest, ImportSeasonRequest, KeyResult, Objective, TransitionCycleRequest,
    import_season_request::Header, import_season_request::Row, key_result, objective,
    okr_service_client::OkrServiceClient,
};

use sea_orm::ActiveValue::Set;
use trellis_foundation::time::now_micros;
use trellis_okr::entity::check_in;

use crate::{
    Args,
    ceiling::{self, Schema},
    load::{Phase, PhaseResult, run_phase},
    season::round,
    target::Target,
    workloads::{BENCH_ORG_UNIT, create_quarter, ensure_org_unit, pick, report},
};

const OBJECTIVES: usize = 64;
const KEY_RESULTS: usize = 4;

#[derive(Debug, Serialize)]
pub struct CheckInFigures {
    pub workload: &'static str,
    pub backend: String,
    pub concurrency: usize,
    pub key_results: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// One-row inserts into a fresh check-in table at the same
    /// concurrency: no validation, no feed, no gRPC.
    pub raw_insert_per_s: Option<f64>,
    pub ratio_to_raw_insert: Option<f64>,
    /// "oidc" when every call was authenticated and checked (`--auth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    /// With `--auth`: the same phase against a server spawned without
    /// authentication, in the same run, and this run's rate over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_auth_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_no_auth: Option<f64>,
}

pub async fn run(args: &Args, target: &Target) -> anyhow::Result<CheckInFigures> {
    let phase = Phase {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        measure: Duration::from_secs_f64(args.seconds),
    };
    let (count, result) = check_in_phase(args, target, phase).await?;
    report("check_in", &result);
    let no_auth = if target.auth.is_some() {
        let plain = Target::spawn(args, false).await?;
        let (_, plain_result) = check_in_phase(args, &plain, phase).await?;
        report("check_in without authentication", &plain_result);
        plain.stop().await?;
        Some(plain_result)
    } else {
        None
    };
    let raw = raw_phase(args, target, phase).await?;
    if let Some(raw) = &raw {
        report("raw one-row inserts", raw);
    }
    Ok(CheckInFigures {
        workload: "check_in",
        backend: target.backend.clone(),
        concurrency: args.concurrency,
        key_results: count,
        seconds: result.seconds,
        requests: result.requests,
        errors: result.errors,
        per_s: result.per_s.round(),
        p50_ms: result.p50_ms,
        p99_ms: result.p99_ms,
        raw_insert_per_s: raw.as_ref().map(|raw| raw.per_s.round()),
        ratio_to_raw_insert: raw.as_ref().map(|raw| round(result.per_s / raw.per_s, 3)),
        auth: target.auth,
        no_auth_per_s: no_auth.as_ref().map(|plain| plain.per_s.round()),
        ratio_to_no_auth: no_auth.as_ref().map(|plain| round(result.per_s / plain.per_s, 3)),
    })
}

/// Check-ins on a fresh cycle's key results for one phase; how many key
/// results they went to, and the phase's figures.
async fn check_in_phase(args: &Args, target: &Target, phase: Phase) -> anyhow::Result<(usize, PhaseResult)> {
    let channels = target.channels(args.connections).await?;
    let key_results = prepare(channels[0].clone()).await?;
    let count = key_results.len();
    let shared = std::sync::Arc::new(key_results);
    let result = run_phase(phase, move |worker, sequence| {
        let mut client = OkrServiceClient::new(pick(&channels, worker));
        let index = (worker * 7 + usize::try_from(sequence).unwrap_or(0)) % shared.len();
        let parent = shared[index].clone();
        async move {
            client
                .create_check_in(CreateCheckInRequest {
                    parent,
                    check_in: Some(CheckIn {
                        value: (sequence % 100) as f64,
                        confidence: 7,
                        note: "weekly".into(),
                        ..CheckIn::default()
                    }),
                    request_id: String::new(),
                })
                .await?;
            Ok(())
        }
    })
    .await?;
    Ok((count, result))
}

/// One-row inserts straight into a check-in table, the ceiling.
async fn raw_phase(args: &Args, target: &Target, phase: Phase) -> anyhow::Result<Option<PhaseResult>> {
    ceiling::insert_phase::<check_in::Entity, _>(args, &target.backend, Schema::Okr, phase, |worker, sequence| {
        let id = uuid::Uuid::now_v7().to_string();
        vec![check_in::ActiveModel {
            objective_id: Set(format!("bench-o{}", worker % OBJECTIVES)),
            key_result_id: Set(format!("kr{}", sequence % KEY_RESULTS as u64 + 1)),
            id: Set(id.clone()),
            value: Set((sequence % 100) as f64),
            confidence: Set(7),
            note: Set("weekly".into()),
            author: Set("bench@example.com".into()),
            source: Set(String::new()),
            measure_micros: Set(now_micros()),
            dedupe_key: Set(id),
            create_micros: Set(now_micros()),
        }]
    })
    .await
}

/// A fresh ACTIVE cycle with `OBJECTIVES` objectives of `KEY_RESULTS`
/// key results each; returns the key results' names.
async fn prepare(channel: Channel) -> anyhow::Result<Vec<String>> {
    ensure_org_unit(channel.clone()).await?;
    let owner = format!("orgUnits/{BENCH_ORG_UNIT}");
    let mut okr = OkrServiceClient::new(channel.clone());
    let cycle = create_quarter(channel.clone(), "", &owner).await?;
    let prefix = cycle.name.trim_start_matches("cycles/").to_owned();
    let rows: Vec<Row> = (0..OBJECTIVES)
        .map(|index| Row {
            row_id: format!("{prefix}-o{index}"),
            objective: Some(Objective {
                owner: owner.clone(),
                accountable: "bench@example.com".into(),
                title: format!("Objective {index}"),
                kind: objective::Kind::Committed as i32,
                ..Objective::default()
            }),
            key_results: (0..KEY_RESULTS)
                .map(|kr| KeyResult {
                    title: format!("Key result {kr}"),
                    kind: key_result::Kind::Increase as i32,
                    start: 0.0,
                    target: 100.0,
                    weight: 1.0,
                    ..KeyResult::default()
                })
                .collect(),
            aligns_to_rows: Vec::new(),
        })
        .collect();
    let messages = vec![
        ImportSeasonRequest {
            header: Some(Header {
                cycle: cycle.name.clone(),
                request_id: String::new(),
                ..Header::default()
            }),
            rows: Vec::new(),
        },
        ImportSeasonRequest { header: None, rows },
    ];
    okr.import_season(futures::stream::iter(messages)).await?;
    okr.activate_cycle(TransitionCycleRequest {
        name: cycle.name.clone(),
        etag: String::new(),
    })
    .await?;
    Ok((0..OBJECTIVES)
        .flat_map(|index| {
            let prefix = prefix.clone();
            (1..=KEY_RESULTS).map(move |kr| format!("objectives/{prefix}-o{index}/keyResults/kr{kr}"))
        })
        .collect())
}
