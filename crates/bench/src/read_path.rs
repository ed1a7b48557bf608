//! The cascade's read path against its ceiling: path and subtree
//! questions at `--concurrency` and health checks (calls that do nothing)
//! in turns, in the same run; the CPU each call costs the server and the
//! bench; then questions sent open-loop at half the health checks' rate
//! and at half their own.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use serde::Serialize;
use trellis_proto::cascade::v1::{
    GetAlignmentPathRequest, ListAlignedDescendantsRequest, cascade_service_client::CascadeServiceClient,
};

use crate::{
    Args,
    cpu::CpuSpent,
    load::{Phase, PhaseResult, run_phase},
    season::round,
    target::BenchChannel as Channel,
    workloads::{pick, report},
};

/// One cascade question: a key result's path to the root or a team's
/// subtree, alternating, spread over the pool. Each answer is checked
/// (see `answers`), built in full only with `decode`.
fn question(
    channels: &[Channel],
    key_results: &[String],
    teams: usize,
    decode: bool,
    (worker, sequence): (usize, u64),
) -> impl std::future::Future<Output = anyhow::Result<()>> + Send + use<> {
    let channel = pick(channels, worker);
    let index = (worker * 7919 + usize::try_from(sequence).unwrap_or(0) * 104_729) % key_results.len();
    let key_result = key_results[index].clone();
    let team = index % teams.max(1);
    async move {
        if sequence.is_multiple_of(2) {
            let request = GetAlignmentPathRequest {
                name: key_result,
                as_of: None,
            };
            if decode {
                CascadeServiceClient::new(channel).get_alignment_path(request).await?;
                return Ok(());
            }
            crate::answers::path(channel, request).await
        } else {
            let request = ListAlignedDescendantsRequest {
                name: format!("orgUnits/team-{team}"),
                page_size: 100,
                ..ListAlignedDescendantsRequest::default()
            };
            if decode {
                CascadeServiceClient::new(channel)
                    .list_aligned_descendants(request)
                    .await?;
                return Ok(());
            }
            crate::answers::descendants(channel, request).await
        }
    }
}

/// The read path against its ceiling: questions at `--concurrency`
/// (closed loop), health checks the same way in the same run, then
/// questions sent open-loop at half the health checks' rate and at half
/// their own; the CPU per call when the server's process can be seen.
pub struct ReadPath {
    pub closed: PhaseResult,
    pub ceiling: PhaseResult,
    pub half_rate: PhaseResult,
    pub half_rate_per_s: f64,
    pub half_query_rate: PhaseResult,
    pub half_query_rate_per_s: f64,
    pub half_query_rate_cpu_us: Option<f64>,
    pub cpu: Option<ReadCpu>,
}

/// CPU per call in µs in the closed loops (figures of their own in the
/// workload's JSON line).
#[derive(Debug, Serialize)]
pub struct ReadCpu {
    pub query_server_cpu_us: f64,
    pub query_bench_cpu_us: f64,
    pub health_check_server_cpu_us: f64,
    pub health_check_bench_cpu_us: f64,
    pub query_cpu_ratio_to_health_check: f64,
}

/// The closed loops' CPU per call, once both have counted calls.
fn read_cpu(questions: CpuSpent, checks: CpuSpent) -> Option<ReadCpu> {
    let (query_server, query_bench) = questions.per_call_us()?;
    let (check_server, check_bench) = checks.per_call_us()?;
    Some(ReadCpu {
        query_server_cpu_us: round(query_server, 1),
        query_bench_cpu_us: round(query_bench, 1),
        health_check_server_cpu_us: round(check_server, 1),
        health_check_bench_cpu_us: round(check_bench, 1),
        query_cpu_ratio_to_health_check: round(
            (check_server + check_bench) / (query_server + query_bench).max(f64::MIN_POSITIVE),
            3,
        ),
    })
}

/// The closed-loop questions and health checks take turns in this many
/// slices of `--seconds` each: this machine's speed drifts by a third
/// within a minute, and taking turns puts the drift on both alike.
const READ_SLICES: u32 = 5;

/// Runs the read path; `server` is the server's process id, when the
/// bench can see it, for the CPU per call.
pub async fn run(
    args: &Args,
    channels: &[Channel],
    key_results: &[String],
    server: Option<u32>,
) -> anyhow::Result<ReadPath> {
    let phase = Phase {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        measure: Duration::from_secs_f64(args.seconds),
    };
    let pool = Arc::new(channels.to_vec());
    let key_results = Arc::new(key_results.to_vec());
    let (teams, decode) = (args.teams, args.decode_answers);
    let mut turns: Option<(PhaseResult, PhaseResult)> = None;
    let (mut questions_cpu, mut checks_cpu) = (CpuSpent::default(), CpuSpent::default());
    for turn in 0..READ_SLICES {
        let slice = Phase {
            warmup: if turn == 0 { phase.warmup } else { Duration::ZERO },
            measure: phase.measure / READ_SLICES,
            ..phase
        };
        let (closed_pool, closed_keys) = (Arc::clone(&pool), Arc::clone(&key_results));
        let questions = questions_cpu
            .measure(
                server,
                run_phase(slice, move |worker, sequence| {
                    question(&closed_pool, &closed_keys, teams, decode, (worker, sequence))
                }),
            )
            .await?;
        let checks = checks_cpu
            .measure(server, crate::workloads::health_check_phase(channels, slice))
            .await?;
        turns = Some(match turns {
            None => (questions, checks),
            Some((closed, ceiling)) => (closed.join(&questions)?, ceiling.join(&checks)?),
        });
    }
    let (closed, ceiling) = turns.context("the read path ran no slice")?;
    report("cascade queries", &closed);
    report("query ceiling (health checks, in turns with the queries)", &ceiling);
    let half_rate_per_s = ceiling.per_s / 2.0;
    let open = Phase {
        // Calls waiting at once before more are counted as failed.
        concurrency: 10_000,
        ..phase
    };
    let open_loop = |rate_per_s: f64| {
        let (pool, key_results) = (Arc::clone(&pool), Arc::clone(&key_results));
        crate::load::run_open_loop(rate_per_s, open, move |n| {
            question(&pool, &key_results, teams, decode, (usize::try_from(n).unwrap_or(0), n))
        })
    };
    let half_rate = open_loop(half_rate_per_s).await?;
    report("cascade queries at half the ceiling's rate (open loop)", &half_rate);
    let half_query_rate_per_s = closed.per_s / 2.0;
    let mut open_cpu = CpuSpent::default();
    let half_query_rate = open_cpu.measure(server, open_loop(half_query_rate_per_s)).await?;
    let half_query_rate_cpu_us = open_cpu.per_call_us().map(|(server, bench)| round(server + bench, 1));
    report("cascade queries at half their own rate (open loop)", &half_query_rate);
    let cpu = read_cpu(questions_cpu, checks_cpu);
    if let Some(cpu) = &cpu {
        eprintln!("CPU per call in µs (server + bench): {cpu:?}");
    }
    Ok(ReadPath {
        closed,
        ceiling,
        half_rate,
        half_rate_per_s,
        half_query_rate,
        half_query_rate_per_s,
        half_query_rate_cpu_us,
        cpu,
    })
}
