//! `cascade_sim`: the cascade's graph at a scale past one machine's
//! database. A season of `--teams` × `--objectives` × `--krs` is generated
//! as the feed events the services would write (each resource encoded as
//! its service encodes it) and applied as the projection applies them
//! (decoded, then applied to the graph), in this process: no server, no
//! database. Reports the build, the graph's memory, a full roll-up of
//! the company and path queries.

use std::{collections::HashMap, time::Instant};

use prost::{Message, Name};
use serde::Serialize;
use trellis_cascade::{
    graph::{Graph, Sight},
    history::{AsOf, Replayed},
};
use trellis_proto::{
    cascade::v1::OrgUnit,
    feed::v1::{ChangeEvent, ChangeKind},
    okr::v1::{AlignmentTarget, Cycle, KeyResult, Objective, alignment_target::Target, cycle, key_result, objective},
    strategy::v1::{Choice, ChoiceKind, Strategy, StrategyState},
};

use crate::{
    Args,
    season::{CYCLE_ID, ROOT, round},
    server_process::rss_mib,
};

const ROLLUP_RUNS: usize = 5;
const PATH_QUERIES: usize = 100_000;

#[derive(Debug, Serialize)]
pub struct SimFigures {
    pub workload: &'static str,
    pub nodes: usize,
    pub edges: usize,
    pub events: u64,
    pub build_s: f64,
    /// The process's RSS grown while the graph was built.
    pub graph_rss_mib: f64,
    /// The median full roll-up of the company's unit in the cycle.
    pub rollup_ms: f64,
    /// The graph's snapshot: its size, and encoding and decoding it (what
    /// a restart or a cold as-of question pays besides the database).
    pub snapshot_mib: f64,
    pub snapshot_encode_ms: f64,
    pub snapshot_decode_ms: f64,
    /// Every route of a key result up to the strategy, in process.
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
}

/// Applies generated resources as feed events, one feed each.
struct Feeds {
    as_of: AsOf,
    sequences: HashMap<&'static str, i64>,
    events: u64,
}

impl Feeds {
    fn apply<M: Message + Name>(&mut self, source: &'static str, name: &str, resource: &M) {
        let sequence = self.sequences.entry(source).or_insert(0);
        *sequence += 1;
        self.events += 1;
        let event = ChangeEvent {
            sequence: *sequence,
            kind: ChangeKind::Created as i32,
            resource_name: name.to_owned(),
            resource_type: M::full_name(),
            resource: Some(prost_types::Any {
                type_url: M::type_url(),
                value: resource.encode_to_vec(),
            }),
            ..ChangeEvent::default()
        };
        self.as_of.apply(&Replayed {
            source,
            event,
            commit_micros: 0,
        });
    }
}

pub fn run(args: &Args) -> anyhow::Result<SimFigures> {
    let before_mib = rss_mib(std::process::id())?;
    let mut feeds = Feeds {
        as_of: AsOf {
            graph: Graph::new(),
            cursors: HashMap::new(),
        },
        sequences: HashMap::new(),
        events: 0,
    };
    let root = format!("orgUnits/{ROOT}");
    let cycle = format!("cycles/{CYCLE_ID}");
    let started = Instant::now();
    season(&mut feeds, args, &root, &cycle);
    let build_s = started.elapsed().as_secs_f64();
    let graph = &feeds.as_of.graph;
    let graph_rss_mib = rss_mib(std::process::id())? - before_mib;
    eprintln!(
        "built {} nodes from {} events in {build_s:.1} s; RSS grew {graph_rss_mib} MiB",
        graph.len(),
        feeds.events
    );

    // What a restart or a cold as-of question pays besides reading the
    // bytes: encoding and decoding the graph's snapshot.
    let started = Instant::now();
    let bytes = graph.to_snapshot()?;
    let snapshot_encode_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let decoded = Graph::from_snapshot(&bytes)?;
    let snapshot_decode_ms = started.elapsed().as_secs_f64() * 1e3;
    let snapshot_mib = bytes.len() as f64 / f64::from(1 << 20);
    anyhow::ensure!(decoded.len() == graph.len(), "the snapshot decoded to another graph");
    drop((decoded, bytes));
    eprintln!(
        "snapshot: {snapshot_mib:.0} MiB, encoded in {snapshot_encode_ms:.0} ms, decoded in {snapshot_decode_ms:.0} ms"
    );

    let (Some(root_id), Some(cycle_id)) = (graph.id(&root), graph.id(&cycle)) else {
        anyhow::bail!("the generated graph lacks {root} or {cycle}");
    };
    let mut rollups: Vec<f64> = (0..ROLLUP_RUNS)
        .map(|_| {
            let started = Instant::now();
            let rolled = graph.rollup(root_id, Some(cycle_id), Sight::ALL);
            std::hint::black_box(rolled.value);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    rollups.sort_by(f64::total_cmp);
    let rollup_ms = rollups[ROLLUP_RUNS / 2];
    eprintln!("full roll-up of the company: {rollup_ms:.1} ms");

    let mut paths = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let teams = args.teams.max(1);
    for n in 0..PATH_QUERIES {
        let team = (n * 104_729) % teams;
        let objective = (n * 7) % args.objectives.max(1);
        let name = format!(
            "objectives/team-{team}-o{objective}/keyResults/kr{}",
            n % args.krs.max(1)
        );
        let Some(id) = graph.id(&name) else { continue };
        let started = Instant::now();
        std::hint::black_box(graph.routes_up(id, Sight::ALL));
        paths.saturating_record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1));
    }
    let query_p50_ms = paths.value_at_quantile(0.5) as f64 / 1e6;
    let query_p99_ms = paths.value_at_quantile(0.99) as f64 / 1e6;
    eprintln!("path queries: p50 {query_p50_ms:.4} ms, p99 {query_p99_ms:.4} ms");
    Ok(SimFigures {
        workload: "cascade_sim",
        nodes: graph.len(),
        edges: graph.edge_count(),
        events: feeds.events,
        build_s: round(build_s, 2),
        graph_rss_mib,
        rollup_ms: round(rollup_ms, 2),
        snapshot_mib: round(snapshot_mib, 1),
        snapshot_encode_ms: round(snapshot_encode_ms, 1),
        snapshot_decode_ms: round(snapshot_decode_ms, 1),
        query_p50_ms: round(query_p50_ms, 4),
        query_p99_ms: round(query_p99_ms, 4),
    })
}

/// The org, the company strategy, an active cycle, and each team's
/// objectives (aligned to a company choice and, past the first, to the
/// first's key result) with their key results, as the feeds carry them.
fn season(feeds: &mut Feeds, args: &Args, root: &str, cycle: &str) {
    let unit = |name: String, parent: &str| OrgUnit {
        name,
        parent: parent.to_owned(),
        kind: "team".into(),
        ..OrgUnit::default()
    };
    feeds.apply("org", root, &unit(root.to_owned(), ""));
    for team in 0..args.teams {
        let name = format!("orgUnits/team-{team}");
        feeds.apply("org", &name, &unit(name.clone(), root));
    }
    let choices = ["where", "how"].map(|id| format!("strategies/season/choices/{id}"));
    let strategy = Strategy {
        name: "strategies/season".into(),
        owner: root.to_owned(),
        state: StrategyState::Active as i32,
        choices: choices
            .iter()
            .zip([ChoiceKind::WhereToPlay, ChoiceKind::HowToWin])
            .map(|(name, kind)| Choice {
                name: name.clone(),
                kind: kind as i32,
                ..Choice::default()
            })
            .collect(),
        ..Strategy::default()
    };
    feeds.apply("strategy", &strategy.name.clone(), &strategy);
    let season = Cycle {
        name: cycle.to_owned(),
        org_unit: root.to_owned(),
        state: cycle::State::Active as i32,
        ..Cycle::default()
    };
    feeds.apply("okr", cycle, &season);
    for team in 0..args.teams {
        for index in 0..args.objectives {
            let name = format!("objectives/team-{team}-o{index}");
            let mut aligns_to = vec![AlignmentTarget {
                target: Some(Target::Choice(choices[index % 2].clone())),
                weight: 1.0,
            }];
            if index > 0 && args.krs > 0 {
                aligns_to.push(AlignmentTarget {
                    target: Some(Target::KeyResult(format!("objectives/team-{team}-o0/keyResults/kr0"))),
                    weight: 1.0,
                });
            }
            let objective = Objective {
                name: name.clone(),
                cycle: cycle.to_owned(),
                owner: format!("orgUnits/team-{team}"),
                state: objective::State::Active as i32,
                kind: objective::Kind::Committed as i32,
                aligns_to,
                ..Objective::default()
            };
            feeds.apply("okr", &name, &objective);
            for kr in 0..args.krs {
                let key_result = KeyResult {
                    name: format!("{name}/keyResults/kr{kr}"),
                    kind: key_result::Kind::Increase as i32,
                    start: 0.0,
                    target: 100.0,
                    current_value: ((team * 31 + index * 7 + kr) % 100) as f64,
                    weight: 1.0,
                    ..KeyResult::default()
                };
                feeds.apply("okr", &key_result.name.clone(), &key_result);
            }
        }
    }
}
