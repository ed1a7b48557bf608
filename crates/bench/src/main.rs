//! `trellis-bench WORKLOAD`: drives a Trellis server through its generated
//! clients and ends with one JSON line of named figures.

mod answers;
mod cascade;
mod cascade_sim;
mod ceiling;
mod check_in;
mod cpu;
mod events;
mod health;
mod load;
mod read_path;
mod season;
mod server_process;
mod target;
mod workloads;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Workload {
    /// Unary GetStrategy of one strategy, against the health-check rate.
    GetStrategy,
    /// Unary CreateStrategy (owner validated over gRPC), against the health-check rate.
    CreateStrategy,
    /// A planning season over one ImportSeason stream, against a raw insert_many of the same rows.
    Season,
    /// Unary CreateCheckIn on the key results of an active cycle, against raw one-row inserts.
    CheckIn,
    /// BatchRecordMeasurements over many metrics, per measurement, against raw batched inserts.
    Measurements,
    /// A red measurement until the metric's remedial objective is visible.
    Escalation,
    /// A season loaded through the services, then the cascade: rebuild, roll-up, queries, feed lag.
    Cascade,
    /// The cascade's graph built in process from generated feed events (no server, no database): build, memory, roll-up, paths.
    CascadeSim,
    /// A season's events relayed to NATS JetStream: the backlog's rate, then the lag from commit to stream under check-ins.
    Events,
}

#[derive(Debug, Parser)]
#[command(
    name = "trellis-bench",
    about = "Benchmarks a Trellis server through its gRPC clients"
)]
pub struct Args {
    pub workload: Workload,
    /// A running server, for example http://127.0.0.1:50051.
    #[arg(long, env = "TRELLIS_SERVER", conflicts_with = "spawn")]
    pub server: Option<String>,
    /// Start a server in this process on a fresh database instead.
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: the database (default: a fresh temp SQLite file).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The backend to report for --server (the bench cannot see it).
    #[arg(long, default_value = "unknown")]
    pub backend: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Boards in flight at once in the `cascade` workload's board phases:
    /// people opening boards, not a firehose.
    #[arg(long, default_value_t = 4)]
    pub board_concurrency: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Seconds of warm-up before each phase.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// HTTP/2 connections the clients spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// season: teams in the org, each drafting its objectives.
    #[arg(long, default_value_t = 10_000)]
    pub teams: usize,
    /// season: objectives per team.
    #[arg(long, default_value_t = 5)]
    pub objectives: usize,
    /// season: key results per objective.
    #[arg(long, default_value_t = 4)]
    pub krs: usize,
    /// measurements: measurements per BatchRecordMeasurements call.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// cascade: check-ins per second while the feed lag is measured.
    #[arg(long, default_value_t = 5_000)]
    pub writes_per_s: usize,
    /// With --server: the server's process id, to report its peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// events: the NATS server (with JetStream) the events go to.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// With --spawn (get_strategy, check_in, cascade): the server runs
    /// --auth-mode oidc with a key the bench makes, and every call
    /// presents a token.
    #[arg(long)]
    pub auth: bool,
    /// cascade: build every answer of the read path in full on the client
    /// (by default each is checked and decoded only as far as the check
    /// needs, so the client's parsing does not take the server's CPU).
    #[arg(long)]
    pub decode_answers: bool,
}

// glibc's malloc serializes the many small allocations of gRPC and
// database rows across threads; mimalloc keeps them thread-local.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(database_url) = std::env::var(server_process::SERVE_ENV) {
        return server_process::serve(database_url).await;
    }
    let args = Args::parse();
    if args.workload == Workload::CascadeSim {
        println!("{}", serde_json::to_string(&cascade_sim::run(&args)?)?);
        return Ok(());
    }
    let mut target = target::Target::start(&args).await?;
    let figures = match args.workload {
        Workload::GetStrategy | Workload::CreateStrategy => {
            serde_json::to_string(&workloads::run(&args, &target).await?)?
        }
        Workload::Season => serde_json::to_string(&season::run(&args, &target).await?)?,
        Workload::CheckIn => serde_json::to_string(&check_in::run(&args, &target).await?)?,
        Workload::Measurements => serde_json::to_string(&health::measurements(&args, &target).await?)?,
        Workload::Escalation => serde_json::to_string(&health::escalation(&target).await?)?,
        Workload::Cascade => serde_json::to_string(&cascade::run(&args, &mut target).await?)?,
        Workload::CascadeSim => unreachable!("cascade_sim runs without a server, above"),
        Workload::Events => serde_json::to_string(&events::run(&args, &mut target).await?)?,
    };
    println!("{figures}");
    target.stop().await
}
