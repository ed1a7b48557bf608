//! `cascade`: a season of `--teams` × `--objectives` × `--krs` loaded
//! through the real services (org units, a strategy, ImportSeason, the
//! cycle activated), then the cascade's figures: the graph rebuilt from
//! the feeds by a fresh server process, its memory, a full org roll-up,
//! path and subtree queries against health checks (`read_path`), the Four
//! Square board of one team and of the whole company (its first page of
//! units), and the lag from a check-in to the graph at `--writes-per-s`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::target::BenchChannel as Channel;
use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::Semaphore;
use trellis_proto::{
    cascade::v1::{
        GetBoardRequest, GetProjectionStatusRequest, GetRollupRequest, ListAlignedDescendantsRequest, NodeKind,
        ProjectionStatus, cascade_service_client::CascadeServiceClient, rhythm_service_client::RhythmServiceClient,
    },
    okr::v1::{CheckIn, CreateCheckInRequest, okr_service_client::OkrServiceClient},
};

use crate::{
    Args,
    load::{Phase, run_phase},
    season::{CYCLE_ID, ROOT, Shape, round},
    target::Target,
    workloads::{pick, report},
};

/// Teams whose key results make up the query pool.
const SAMPLE_TEAMS: usize = 500;
const ROLLUP_RUNS: usize = 21;

#[derive(Debug, Serialize)]
pub struct CascadeFigures {
    pub workload: &'static str,
    pub backend: String,
    /// "oidc" when the questions were asked by a verified caller, each
    /// node judged by what that caller may read (`--auth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    pub nodes: i64,
    pub edges: i64,
    pub load_seconds: f64,
    pub rebuild_s: f64,
    /// Restart to serving from the snapshot the previous process took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_restart_s: Option<f64>,
    /// The snapshot restart over the full replay, in the same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_restart_to_replay: Option<f64>,
    pub graph_rss_mib: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    pub rollup_ms: f64,
    pub rollup_compute_ms: f64,
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
    pub query_per_s: f64,
    /// Health checks (calls that do nothing) at the queries' concurrency,
    /// in the same run: the read path's ceiling.
    pub query_ceiling_per_s: f64,
    pub query_ratio_to_health_check: f64,
    /// Questions sent open-loop at half the ceiling's rate: the rate, what
    /// was answered, what could not be sent (10,000 waiting) or failed,
    /// and the p99 from when each was due.
    pub query_half_rate_per_s: f64,
    pub query_at_half_per_s: f64,
    pub query_at_half_errors: u64,
    pub query_p99_at_half_ms: f64,
    /// The same at half the questions' own closed-loop rate: the tail when
    /// the cores the questions need are half busy.
    pub query_half_query_rate_per_s: f64,
    pub query_p99_at_half_query_rate_ms: f64,
    /// CPU per question in µs (server and bench) in that open loop: calls
    /// that come one by one share no socket read or write, and cost more
    /// than those of the closed loop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_at_half_query_rate_cpu_us: Option<f64>,
    /// CPU per call in µs, of the server and of the bench (which shares
    /// its cores), for the questions and the health checks of the closed
    /// loops; and the ratio of their sums, which the rates' ratio follows
    /// when the cores are saturated.
    #[serde(flatten)]
    pub read_cpu: Option<crate::read_path::ReadCpu>,
    /// A roll-up of the company as of a past time: the first (the graph
    /// of then rebuilt) and the median of the next (cached).
    pub as_of_rollup_cold_ms: f64,
    pub as_of_rollup_cached_ms: f64,
    /// One team's board (GetBoard), round trip.
    pub board_team_p50_ms: f64,
    pub board_team_p99_ms: f64,
    /// The company's board: the root with its subtree, the first page.
    pub board_company_p50_ms: f64,
    pub board_company_p99_ms: f64,
    /// The ceiling for the boards: a health check (a call that does
    /// nothing) at the boards' concurrency, in the same run.
    pub board_ceiling_p99_ms: f64,
    /// Each board's p99 over the ceiling's: how many no-op calls it costs.
    pub board_team_p99_to_ceiling: f64,
    pub board_company_p99_to_ceiling: f64,
    pub writes_per_s: f64,
    pub feed_lag_p50_ms: f64,
    pub feed_lag_p99_ms: f64,
}

async fn status(channel: &Channel) -> anyhow::Result<ProjectionStatus> {
    Ok(CascadeServiceClient::new(channel.clone())
        .get_projection_status(GetProjectionStatusRequest {})
        .await?
        .into_inner())
}

/// Waits until every feed has caught up to the head it last heard of and
/// nothing was applied for a moment (the heads were reached).
pub(crate) async fn caught_up(channel: &Channel, timeout: Duration) -> anyhow::Result<ProjectionStatus> {
    let deadline = Instant::now() + timeout;
    let mut previous: Option<Vec<i64>> = None;
    loop {
        let status = status(channel).await?;
        let cursors: Vec<i64> = status.feeds.iter().map(|feed| feed.cursor).collect();
        let all_caught_up = status.ready && status.feeds.iter().all(|feed| feed.caught_up && feed.lag_events == 0);
        if all_caught_up && previous.as_ref() == Some(&cursors) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("the projection did not catch up within {timeout:?}: {status:?}");
        }
        previous = Some(cursors);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
}

pub async fn run(args: &Args, target: &mut Target) -> anyhow::Result<CascadeFigures> {
    let shape = Shape {
        teams: args.teams,
        objectives: args.objectives,
        key_results: args.krs,
    };
    let channel = target.channels(1).await?.remove(0);
    let load_seconds = crate::season::load(channel.clone(), shape).await?;
    eprintln!("loaded the season in {load_seconds:.1} s");
    caught_up(&channel, Duration::from_secs(1_800)).await?;

    let server_peak_rss_mib = target.peak_rss_mib()?;
    let seconds = |status: ProjectionStatus| {
        status
            .rebuild_time
            .map_or(0.0, |time| time.seconds as f64 + f64::from(time.nanos) / 1e9)
    };
    let (rebuild_s, snapshot_restart_s) = if target.restartable() {
        // First every feed replayed from the start, then from the snapshot
        // the replaying server took when it stopped; the phases after run
        // on the graph the snapshot restored (see "Snapshots" in
        // bench/RESULTS.md).
        target.restart(false)?;
        let channel = target.channels(1).await?.remove(0);
        let replay = seconds(caught_up(&channel, Duration::from_secs(1_800)).await?);
        eprintln!("restarted the server replaying every feed: {replay:.2} s");
        target.restart(true)?;
        let channel = target.channels(1).await?.remove(0);
        let restored = caught_up(&channel, Duration::from_secs(1_800)).await?;
        let from_snapshot = restored.snapshot_time.is_some().then(|| seconds(restored));
        eprintln!("restarted the server from its snapshot: {from_snapshot:?} s");
        (replay, from_snapshot)
    } else {
        (seconds(caught_up(&channel, Duration::from_secs(1_800)).await?), None)
    };
    let channels = target.channels(args.connections).await?;
    let graph = status(&channels[0]).await?;
    let graph_rss_mib = target.rss_mib()?;
    eprintln!(
        "graph: {} nodes, {} edges, rebuilt in {rebuild_s:.2} s, server RSS {graph_rss_mib:?} MiB",
        graph.nodes, graph.edges
    );

    let (rollup_ms, rollup_compute_ms) = rollups(&channels[0]).await?;
    eprintln!("full org roll-up: {rollup_ms:.1} ms round trip, {rollup_compute_ms:.1} ms computing");

    // As of now: a time the history holds, after the season was loaded.
    let (as_of_rollup_cold_ms, as_of_rollup_cached_ms) = as_of_rollups(
        &channels[0],
        trellis_foundation::time::to_timestamp(trellis_foundation::time::now_micros()),
    )
    .await?;

    let key_results = sample_key_results(&channels[0], args.teams).await?;
    let read = crate::read_path::run(args, &channels, &key_results, target.server_process_id()).await?;
    let queries = &read.closed;
    let team_board = board_phase(args, &channels, false).await?;
    let company_board = board_phase(args, &channels, true).await?;
    let ceiling = crate::workloads::health_check_phase(&channels, board_load(args)).await?;
    report("board ceiling (health checks)", &ceiling);
    let to_ceiling = |p99: f64| round(p99 / ceiling.p99_ms.max(f64::MIN_POSITIVE), 2);
    let (writes_per_s, feed_lag_p50_ms, feed_lag_p99_ms) = lag_phase(args, &channels, &key_results).await?;
    Ok(CascadeFigures {
        workload: "cascade",
        backend: target.backend.clone(),
        auth: target.auth,
        nodes: graph.nodes,
        edges: graph.edges,
        load_seconds: round(load_seconds, 2),
        rebuild_s: round(rebuild_s, 2),
        snapshot_restart_s: snapshot_restart_s.map(|s| round(s, 2)),
        snapshot_restart_to_replay: snapshot_restart_s.map(|s| round(s / rebuild_s.max(f64::MIN_POSITIVE), 3)),
        graph_rss_mib,
        server_peak_rss_mib,
        rollup_ms: round(rollup_ms, 2),
        rollup_compute_ms: round(rollup_compute_ms, 2),
        query_p50_ms: queries.p50_ms,
        query_p99_ms: queries.p99_ms,
        query_per_s: queries.per_s.round(),
        query_ceiling_per_s: read.ceiling.per_s.round(),
        query_ratio_to_health_check: round(queries.per_s / read.ceiling.per_s.max(f64::MIN_POSITIVE), 3),
        query_half_rate_per_s: read.half_rate_per_s.round(),
        query_at_half_per_s: read.half_rate.per_s.round(),
        query_at_half_errors: read.half_rate.errors,
        query_p99_at_half_ms: read.half_rate.p99_ms,
        query_half_query_rate_per_s: read.half_query_rate_per_s.round(),
        query_p99_at_half_query_rate_ms: read.half_query_rate.p99_ms,
        query_at_half_query_rate_cpu_us: read.half_query_rate_cpu_us,
        read_cpu: read.cpu,
        as_of_rollup_cold_ms: round(as_of_rollup_cold_ms, 1),
        as_of_rollup_cached_ms: round(as_of_rollup_cached_ms, 2),
        board_team_p50_ms: team_board.p50_ms,
        board_team_p99_ms: team_board.p99_ms,
        board_company_p50_ms: company_board.p50_ms,
        board_company_p99_ms: company_board.p99_ms,
        board_ceiling_p99_ms: ceiling.p99_ms,
        board_team_p99_to_ceiling: to_ceiling(team_board.p99_ms),
        board_company_p99_to_ceiling: to_ceiling(company_board.p99_ms),
        writes_per_s: writes_per_s.round(),
        feed_lag_p50_ms: round(feed_lag_p50_ms, 2),
        feed_lag_p99_ms: round(feed_lag_p99_ms, 2),
    })
}

/// The median of full-org roll-ups: (round trip, server compute), in ms.
async fn rollups(channel: &Channel) -> anyhow::Result<(f64, f64)> {
    let mut client = CascadeServiceClient::new(channel.clone());
    let mut round_trips = Vec::with_capacity(ROLLUP_RUNS);
    let mut computes = Vec::with_capacity(ROLLUP_RUNS);
    for _ in 0..ROLLUP_RUNS {
        let sent = Instant::now();
        let rollup = client
            .get_rollup(GetRollupRequest {
                name: format!("orgUnits/{ROOT}"),
                cycle: format!("cycles/{CYCLE_ID}"),
                as_of: None,
            })
            .await?
            .into_inner();
        round_trips.push(sent.elapsed().as_secs_f64() * 1e3);
        let compute = rollup.compute_time.unwrap_or_default();
        computes.push(compute.seconds as f64 * 1e3 + f64::from(compute.nanos) / 1e6);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Ok((median(round_trips), median(computes)))
}

/// Key results of a spread of teams, found through the cascade itself.
pub(crate) async fn sample_key_results(channel: &Channel, teams: usize) -> anyhow::Result<Vec<String>> {
    let mut client = CascadeServiceClient::new(channel.clone());
    let mut key_results = Vec::new();
    let step = (teams / SAMPLE_TEAMS).max(1);
    for team in (0..teams).step_by(step) {
        let below = client
            .list_aligned_descendants(ListAlignedDescendantsRequest {
                name: format!("orgUnits/team-{team}"),
                max_depth: 2,
                page_size: 1_000,
                ..ListAlignedDescendantsRequest::default()
            })
            .await?
            .into_inner();
        key_results.extend(
            below
                .nodes
                .into_iter()
                .filter(|node| node.kind() == NodeKind::KeyResult)
                .map(|node| node.name),
        );
    }
    if key_results.is_empty() {
        bail!("the cascade shows no key results under the teams");
    }
    Ok(key_results)
}

/// A roll-up of the company as of `at`: the first builds the graph of
/// then (cold), the next find it cached; (cold, median cached) in ms.
async fn as_of_rollups(channel: &Channel, at: prost_types::Timestamp) -> anyhow::Result<(f64, f64)> {
    let mut client = CascadeServiceClient::new(channel.clone());
    let mut times = Vec::with_capacity(ROLLUP_RUNS);
    for _ in 0..ROLLUP_RUNS {
        let sent = Instant::now();
        client
            .get_rollup(GetRollupRequest {
                name: format!("orgUnits/{ROOT}"),
                cycle: format!("cycles/{CYCLE_ID}"),
                as_of: Some(at),
            })
            .await
            .context("an as-of roll-up")?;
        times.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    let cold = times.remove(0);
    times.sort_by(f64::total_cmp);
    let cached = times[times.len() / 2];
    eprintln!("as-of roll-up of the company: {cold:.1} ms cold, {cached:.2} ms cached");
    Ok((cold, cached))
}

/// How the board phases (and their ceiling) run.
fn board_load(args: &Args) -> Phase {
    Phase {
        concurrency: args.board_concurrency.max(1),
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        measure: Duration::from_secs_f64(args.seconds),
    }
}

/// Boards at `--board-concurrency`: a different team's each time, or the
/// company's (the root and the first page of its subtree).
async fn board_phase(args: &Args, channels: &[Channel], company: bool) -> anyhow::Result<crate::load::PhaseResult> {
    let phase = board_load(args);
    let channels = channels.to_vec();
    let teams = args.teams.max(1);
    let result = run_phase(phase, move |worker, sequence| {
        let mut client = RhythmServiceClient::new(pick(&channels, worker));
        let team = (worker * 7919 + usize::try_from(sequence).unwrap_or(0) * 104_729) % teams;
        let request = if company {
            GetBoardRequest {
                org_unit: format!("orgUnits/{ROOT}"),
                include_subtree: true,
                ..GetBoardRequest::default()
            }
        } else {
            GetBoardRequest {
                org_unit: format!("orgUnits/team-{team}"),
                ..GetBoardRequest::default()
            }
        };
        async move {
            client.get_board(request).await?;
            Ok(())
        }
    })
    .await?;
    report(if company { "company board" } else { "team board" }, &result);
    Ok(result)
}

/// How many check-ins [`check_ins_at_rate`] sends.
pub(crate) fn check_in_total(args: &Args) -> usize {
    (args.writes_per_s as f64 * args.seconds).round() as usize
}

/// Check-ins sent open-loop at `--writes-per-s` for `--seconds` (at most
/// 1,024 waiting), spread over the pool of key results: how many, the rate
/// they went at, how many failed.
pub(crate) async fn check_ins_at_rate(
    args: &Args,
    channels: &[Channel],
    key_results: &[String],
) -> anyhow::Result<(usize, f64, usize)> {
    let total = check_in_total(args);
    let interval = Duration::from_secs_f64(1.0 / args.writes_per_s.max(1) as f64);
    let in_flight = Arc::new(Semaphore::new(1_024));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = in_flight.clone().acquire_owned().await?;
        let mut client = OkrServiceClient::new(pick(channels, n));
        let parent = key_results[(n * 31) % key_results.len()].clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            client
                .create_check_in(CreateCheckInRequest {
                    parent,
                    check_in: Some(CheckIn {
                        value: (n % 100) as f64,
                        confidence: 6,
                        ..CheckIn::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .map(|_| ())
        }));
    }
    let mut failed = 0;
    for task in tasks {
        if !matches!(task.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let writes_per_s = total as f64 / started.elapsed().as_secs_f64();
    if failed > 0 {
        eprintln!("{failed} check-ins failed");
    }
    Ok((total, writes_per_s, failed))
}

/// Check-ins at `--writes-per-s` for `--seconds`; the lag percentiles are
/// the okr feed's live lags as the projection measured them.
async fn lag_phase(args: &Args, channels: &[Channel], key_results: &[String]) -> anyhow::Result<(f64, f64, f64)> {
    let (total, writes_per_s, _) = check_ins_at_rate(args, channels, key_results).await?;
    let status = caught_up(&channels[0], Duration::from_secs(120)).await?;
    let okr = status
        .feeds
        .iter()
        .find(|feed| feed.source == "okr")
        .context("no okr feed in the projection status")?;
    eprintln!(
        "{total} check-ins at {writes_per_s:.0}/s: feed lag p50 {:.2} ms, p99 {:.2} ms",
        okr.lag_p50_ms, okr.lag_p99_ms
    );
    Ok((writes_per_s, okr.lag_p50_ms, okr.lag_p99_ms))
}
