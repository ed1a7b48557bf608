//! `season`: a whole planning season (teams × objectives, each with its
//! key results) imported over one gRPC stream, against the ceiling of the
//! same rows written by one bulk `insert_many` transaction with no checks
//! and no change feed, into a fresh database of the same backend.

use std::time::Instant;

use crate::target::BenchChannel as Channel;
use anyhow::Context;
use serde::Serialize;
use trellis_foundation::Db;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, OrgUnit, org_service_client::OrgServiceClient},
    common::v1::Visibility,
    okr::v1::{
        AlignmentTarget, ImportAlignment, ImportSeasonRequest, KeyResult, Objective, TransitionCycleRequest,
        alignment_target::Target, import_season_request::Header, import_season_request::Row, key_result, objective,
        okr_service_client::OkrServiceClient,
    },
    strategy::v1::{
        Choice, ChoiceKind, CreateStrategyRequest, Strategy, strategy_service_client::StrategyServiceClient,
    },
};

use crate::{
    Args,
    ceiling::{Schema, raw_database},
    target::Target as Server,
    workloads::create_quarter,
};

pub const ROOT: &str = "season-org";
pub const CYCLE_ID: &str = "2027-q1";
const ROWS_PER_MESSAGE: usize = 1_000;
/// Org units per BatchCreateOrgUnits call.
const ORG_BATCH: usize = 10_000;
const CHOICES: [&str; 2] = ["where", "how"];

#[derive(Debug, Serialize)]
pub struct SeasonFigures {
    pub workload: &'static str,
    pub backend: String,
    pub rows: u64,
    pub objectives: u64,
    pub key_results: u64,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub raw_insert_seconds: Option<f64>,
    pub raw_insert_rows_per_s: Option<f64>,
    pub ratio_to_raw_insert: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
}

/// The shape of the season.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub teams: usize,
    pub objectives: usize,
    pub key_results: usize,
}

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<SeasonFigures> {
    let shape = Shape {
        teams: args.teams,
        objectives: args.objectives,
        key_results: args.krs,
    };
    let channel = server.channels(1).await?.remove(0);
    prepare(channel.clone(), shape).await?;
    eprintln!(
        "importing {} teams x {} objectives x (1 + {} key results) over one stream",
        shape.teams, shape.objectives, shape.key_results
    );
    let mut okr = OkrServiceClient::new(channel)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(64 << 20);
    let messages = futures::stream::iter(messages(shape));
    let started = Instant::now();
    let response = okr
        .import_season(messages)
        .await
        .context("importing the season")?
        .into_inner();
    let seconds = started.elapsed().as_secs_f64();
    let rows = u64::try_from(response.objectives_created + response.key_results_created)?;
    let rows_per_s = rows as f64 / seconds;
    eprintln!("season: {rows} rows in {seconds:.2} s ({rows_per_s:.0} rows/s)");
    let server_peak_rss_mib = server.peak_rss_mib()?;
    let raw = match raw_database(args, &server.backend, Schema::Okr).await? {
        Some((db, cleanup)) => {
            let result = raw_insert(&db, shape).await;
            db.close().await?;
            cleanup.run().await?;
            Some(result?)
        }
        None => None,
    };
    let raw_insert_seconds = raw.map(|(_, seconds)| seconds);
    let raw_insert_rows_per_s = raw.map(|(count, seconds)| count as f64 / seconds);
    if let Some(per_s) = raw_insert_rows_per_s {
        eprintln!("raw insert_many of the same rows: {per_s:.0} rows/s");
    }
    Ok(SeasonFigures {
        workload: "season",
        backend: server.backend.clone(),
        rows,
        objectives: u64::try_from(response.objectives_created)?,
        key_results: u64::try_from(response.key_results_created)?,
        seconds: round(seconds, 3),
        rows_per_s: rows_per_s.round(),
        raw_insert_seconds: raw_insert_seconds.map(|seconds| round(seconds, 3)),
        raw_insert_rows_per_s: raw_insert_rows_per_s.map(f64::round),
        ratio_to_raw_insert: raw_insert_rows_per_s.map(|raw| round(rows_per_s / raw, 3)),
        server_peak_rss_mib,
    })
}

pub fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// The org (a root and its teams), a strategy to align to and the cycle.
pub async fn prepare(channel: Channel, shape: Shape) -> anyhow::Result<()> {
    let unit = |id: String, parent: &str, kind: &str| CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            parent: parent.to_owned(),
            display_name: id.clone(),
            kind: kind.to_owned(),
            ..OrgUnit::default()
        }),
        org_unit_id: id,
        request_id: String::new(),
    };
    let root = format!("orgUnits/{ROOT}");
    let mut org = OrgServiceClient::new(channel.clone())
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    let teams: Vec<CreateOrgUnitRequest> = (0..shape.teams)
        .map(|team| unit(team_id(team), &root, "team"))
        .collect();
    // The root first, then the teams in batches under the per-call limit.
    let batches = std::iter::once(vec![unit(ROOT.to_owned(), "", "company")])
        .chain(teams.chunks(ORG_BATCH).map(<[CreateOrgUnitRequest]>::to_vec));
    for requests in batches {
        org.batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests,
            request_id: String::new(),
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await
        .context("creating the org")?;
    }
    let choice = |id: &str, kind: ChoiceKind| Choice {
        name: id.to_owned(),
        kind: kind as i32,
        title: format!("Choice {id}"),
        ..Choice::default()
    };
    StrategyServiceClient::new(channel.clone())
        .create_strategy(CreateStrategyRequest {
            strategy: Some(Strategy {
                display_name: "Season strategy".into(),
                owner: root.clone(),
                choices: vec![
                    choice(CHOICES[0], ChoiceKind::WhereToPlay),
                    choice(CHOICES[1], ChoiceKind::HowToWin),
                ],
                ..Strategy::default()
            }),
            strategy_id: "season".into(),
            request_id: String::new(),
        })
        .await
        .context("creating the strategy")?;
    create_quarter(channel, CYCLE_ID, &root)
        .await
        .context("creating the cycle")?;
    Ok(())
}

/// Loads a season of `shape` through the services: the org and the
/// strategy, then every team's objectives over ImportSeason (in slices one
/// import may hold), then the cycle activated. The seconds it took.
pub async fn load(channel: Channel, shape: Shape) -> anyhow::Result<f64> {
    let started = Instant::now();
    prepare(channel.clone(), shape).await?;
    let mut okr = OkrServiceClient::new(channel.clone())
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(64 << 20);
    // One import holds at most 200,000 objectives: a slice of teams each.
    let teams_per_import = (100_000 / shape.objectives.max(1)).max(1);
    for first in (0..shape.teams).step_by(teams_per_import) {
        let teams = first..(first + teams_per_import).min(shape.teams);
        okr.import_season(futures::stream::iter(team_messages(shape, teams)))
            .await
            .context("importing the season")?;
    }
    okr.activate_cycle(TransitionCycleRequest {
        name: format!("cycles/{CYCLE_ID}"),
        ..TransitionCycleRequest::default()
    })
    .await
    .context("activating the cycle")?;
    Ok(started.elapsed().as_secs_f64())
}

fn team_id(team: usize) -> String {
    format!("team-{team}")
}

/// Objective `index` of `team`: aligned to a company choice, and past the
/// team's first objective also to that objective's first key result.
fn row(shape: Shape, team: usize, index: usize) -> Row {
    let kinds = [
        key_result::Kind::Increase,
        key_result::Kind::Decrease,
        key_result::Kind::Threshold,
        key_result::Kind::Milestone,
        key_result::Kind::Transition,
        key_result::Kind::Baseline,
    ];
    let key_results = (0..shape.key_results)
        .map(|kr| {
            let kind = kinds[kr % kinds.len()];
            let (start, target) = match kind {
                key_result::Kind::Decrease => (20.0, 10.0),
                _ => (10.0, 20.0),
            };
            KeyResult {
                title: format!("Key result {kr}"),
                kind: kind as i32,
                start,
                target,
                lower: 70.0,
                upper: 80.0,
                unit: "%".into(),
                weight: 1.0,
                owner: format!("lead-{team}@example.com"),
                due_time: Some(prost_types::Timestamp {
                    seconds: 1_806_000_000,
                    nanos: 0,
                }),
                cadence: Some(prost_types::Duration {
                    seconds: 7 * 86_400,
                    nanos: 0,
                }),
                ..KeyResult::default()
            }
        })
        .collect();
    let team_name = team_id(team);
    Row {
        row_id: format!("{team_name}-o{index}"),
        objective: Some(Objective {
            owner: format!("orgUnits/{team_name}"),
            accountable: format!("lead-{team}@example.com"),
            title: format!("Objective {index} of {team_name}"),
            kind: if index.is_multiple_of(2) {
                objective::Kind::Committed
            } else {
                objective::Kind::Aspirational
            } as i32,
            aligns_to: vec![AlignmentTarget {
                target: Some(Target::Choice(format!(
                    "strategies/season/choices/{}",
                    CHOICES[index % 2]
                ))),
                weight: 1.0,
            }],
            // One team in ten keeps its last objective private, as teams
            // do with what is not for the whole company yet.
            visibility: if team.is_multiple_of(10) && index + 1 == shape.objectives {
                Visibility::Private
            } else {
                Visibility::Public
            } as i32,
            ..Objective::default()
        }),
        key_results,
        aligns_to_rows: if index > 0 && shape.key_results > 0 {
            vec![ImportAlignment {
                row_id: format!("{team_name}-o0"),
                key_result_id: "kr1".into(),
                weight: 1.0,
            }]
        } else {
            Vec::new()
        },
    }
}

fn rows(shape: Shape) -> impl Iterator<Item = Row> {
    (0..shape.teams).flat_map(move |team| (0..shape.objectives).map(move |index| row(shape, team, index)))
}

pub fn messages(shape: Shape) -> impl Iterator<Item = ImportSeasonRequest> {
    team_messages(shape, 0..shape.teams)
}

/// The import of the objectives of `teams` only, for seasons larger than
/// one import may hold.
pub fn team_messages(shape: Shape, teams: std::ops::Range<usize>) -> impl Iterator<Item = ImportSeasonRequest> {
    let header = ImportSeasonRequest {
        header: Some(Header {
            cycle: format!("cycles/{CYCLE_ID}"),
            request_id: format!("season-bench-{}", teams.start),
            ..Header::default()
        }),
        rows: Vec::new(),
    };
    let mut rows = teams
        .flat_map(move |team| (0..shape.objectives).map(move |index| row(shape, team, index)))
        .peekable();
    let batches = std::iter::from_fn(move || {
        rows.peek()?;
        Some(ImportSeasonRequest {
            header: None,
            rows: rows.by_ref().take(ROWS_PER_MESSAGE).collect(),
        })
    });
    std::iter::once(header).chain(batches)
}

/// The same rows through `insert_many` in one transaction: (rows, seconds).
async fn raw_insert(db: &Db, shape: Shape) -> anyhow::Result<(usize, f64)> {
    let rows: Vec<Row> = rows(shape).collect();
    let started = Instant::now();
    let count = trellis_okr::bulk::raw_insert(db, CYCLE_ID, rows).await?;
    Ok((count, started.elapsed().as_secs_f64()))
}
