//! `trellis cascade`: the alignment questions, answered from the cascade's
//! graph of every strategy, objective, key result and metric.

use clap::{Args, Subcommand};
use serde_json::Value;
use trellis_proto::cascade::v1::{
    GetAlignmentPathRequest, GetPlanningStatusRequest, GetProjectionStatusRequest, GetRollupRequest,
    ListAccountabilitySpreadRequest, ListAlignedDescendantsRequest, ListAlignmentHistoryRequest,
    ListMisalignmentsRequest, ListOrphansRequest, ListRisksRequest, ListRollupContributorsRequest,
    ListUncoveredChoicesRequest,
};

use crate::{
    Page,
    client::{Clients, named, optional_cycle},
    failure::Failure,
    output::{Column, Format, Printer, cell, print_json, print_table, to_json},
};

const NODE_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("KIND", "kind"),
    ("STATE", "state"),
    ("OWNER", "owner"),
    ("PROGRESS", "progress"),
    ("TITLE", "title"),
];

#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// Answer as the cascade would have at this past time (RFC 3339, or a
    /// date for midnight UTC).
    #[arg(long, global = true)]
    pub as_of: Option<String>,
    #[command(subcommand)]
    pub command: CascadeCommand,
}

#[derive(Debug, Subcommand)]
pub enum CascadeCommand {
    /// Every way up from an objective (a bare id) or key result to the strategies it serves.
    Path { name: String },
    /// What is aligned below a strategy, choice, objective or key result.
    Descendants {
        name: String,
        /// Levels below it; all by default.
        #[arg(long, default_value_t = 0)]
        depth: i32,
        #[arg(long)]
        cycle: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// How progress rolls up to an org unit, strategy, choice or objective.
    Rollup {
        name: String,
        #[arg(long)]
        cycle: Option<String>,
    },
    /// What counted in a roll-up.
    Contributors {
        name: String,
        #[arg(long)]
        cycle: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Objectives aligned to nothing.
    Orphans {
        #[arg(long)]
        cycle: Option<String>,
        /// Only in this unit's subtree.
        #[arg(long)]
        under: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Objectives aligned to something they should not serve.
    Misalignments {
        #[arg(long)]
        cycle: Option<String>,
        #[arg(long)]
        under: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Choices nobody's objectives serve.
    Uncovered {
        #[arg(long)]
        cycle: Option<String>,
        #[arg(long)]
        strategy: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Objectives at risk, worst first: red guardrails, low confidence, stale key results.
    Risk {
        #[arg(long)]
        cycle: Option<String>,
        #[arg(long)]
        under: Option<String>,
        /// Confidence below which a key result counts as a risk.
        #[arg(long, default_value_t = 0)]
        confidence_below: i32,
        #[command(flatten)]
        page: Page,
    },
    /// People accountable for more health metrics than one person can hold
    /// the conversations for, with those metrics.
    Spread {
        #[arg(long)]
        under: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Planning season: who has drafted, aligned and locked their OKRs.
    Planning {
        #[arg(long)]
        cycle: String,
        #[arg(long)]
        under: Option<String>,
        /// Only units with no objectives yet.
        #[arg(long)]
        only_empty: bool,
        #[command(flatten)]
        page: Page,
    },
    /// How an objective (a bare id) or any other node changed: its state,
    /// alignment and risk, each change with what made it.
    History {
        name: String,
        /// From this time (RFC 3339 or a date); the start of the history by default.
        #[arg(long)]
        from: Option<String>,
        /// Up to this time; now by default.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// How far the cascade has followed each service's feed.
    Status,
}

fn unit(under: Option<String>) -> String {
    under.map(|under| named("orgUnits", &under)).unwrap_or_default()
}

pub async fn run(args: CascadeArgs, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut cascade = clients.cascade.clone();
    let as_of = args
        .as_of
        .as_deref()
        .map(|text| super::timestamp(text, "--as-of"))
        .transpose()?;
    match args.command {
        CascadeCommand::History { name, from, to, page } => {
            let name = named("objectives", &name);
            let response = cascade
                .list_alignment_history(ListAlignmentHistoryRequest {
                    name: name.clone(),
                    start_time: from
                        .as_deref()
                        .map(|text| super::timestamp(text, "--from"))
                        .transpose()?,
                    end_time: to.as_deref().map(|text| super::timestamp(text, "--to")).transpose()?,
                    page_size: page.page_size,
                    page_token: page.page_token,
                    ..ListAlignmentHistoryRequest::default()
                })
                .await
                .map_err(Failure::call(format!("reading the history of {name}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("TIME", "changeTime"),
                ("ASPECT", "aspect"),
                ("BEFORE", "before"),
                ("AFTER", "after"),
                ("CHANGED", "changedResource"),
                ("BY", "actor"),
            ];
            printer.list(&response, "entries", columns)
        }
        CascadeCommand::Path { name } => {
            let name = named("objectives", &name);
            let path = cascade
                .get_alignment_path(GetAlignmentPathRequest {
                    name: name.clone(),
                    as_of,
                })
                .await
                .map_err(Failure::call(format!("tracing the alignment of {name}")))?
                .into_inner();
            let value = to_json(&path, printer.format == Format::Table)?;
            if printer.format == Format::Json {
                return print_json(&value);
            }
            print_routes(&value);
            Ok(())
        }
        CascadeCommand::Descendants {
            name,
            depth,
            cycle,
            page,
        } => {
            let response = cascade
                .list_aligned_descendants(ListAlignedDescendantsRequest {
                    as_of,
                    name: name.clone(),
                    max_depth: depth,
                    cycle: optional_cycle(cycle.as_deref()),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing what is aligned below {name}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("DEPTH", "depth"),
                ("NAME", "name"),
                ("KIND", "kind"),
                ("STATE", "state"),
                ("OWNER", "owner"),
                ("PROGRESS", "progress"),
                ("TITLE", "title"),
            ];
            printer.list(&response, "nodes", columns)
        }
        CascadeCommand::Rollup { name, cycle } => {
            let rollup = cascade
                .get_rollup(GetRollupRequest {
                    as_of,
                    name: name.clone(),
                    cycle: optional_cycle(cycle.as_deref()),
                })
                .await
                .map_err(Failure::call(format!("rolling up {name}")))?
                .into_inner();
            let fields: &[Column] = &[
                ("name", "node.name"),
                ("title", "node.title"),
                ("rollup", "rollup"),
                ("contributors", "contributors"),
                ("objectives", "objectives"),
                ("computed in", "computeTime"),
            ];
            printer.one(&rollup, fields)
        }
        CascadeCommand::Contributors { name, cycle, page } => {
            let response = cascade
                .list_rollup_contributors(ListRollupContributorsRequest {
                    as_of,
                    name: name.clone(),
                    cycle: optional_cycle(cycle.as_deref()),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing what counts in the roll-up of {name}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("NAME", "node.name"),
                ("KIND", "node.kind"),
                ("ROLLUP", "rollup"),
                ("OBJECTIVES", "objectives"),
                ("TITLE", "node.title"),
            ];
            printer.list(&response, "contributors", columns)
        }
        CascadeCommand::Orphans { cycle, under, page } => {
            let response = cascade
                .list_orphans(ListOrphansRequest {
                    as_of,
                    cycle: optional_cycle(cycle.as_deref()),
                    org_unit: unit(under),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing orphan objectives"))?
                .into_inner();
            printer.list(&response, "objectives", NODE_COLUMNS)
        }
        CascadeCommand::Misalignments { cycle, under, page } => {
            let response = cascade
                .list_misalignments(ListMisalignmentsRequest {
                    as_of,
                    cycle: optional_cycle(cycle.as_deref()),
                    org_unit: unit(under),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing misalignments"))?
                .into_inner();
            let columns: &[Column] = &[
                ("OBJECTIVE", "objective.name"),
                ("TARGET", "target.name"),
                ("REASON", "reason"),
                ("DESCRIPTION", "description"),
            ];
            printer.list(&response, "misalignments", columns)
        }
        CascadeCommand::Uncovered { cycle, strategy, page } => {
            let response = cascade
                .list_uncovered_choices(ListUncoveredChoicesRequest {
                    as_of,
                    cycle: optional_cycle(cycle.as_deref()),
                    strategy: strategy.map(|s| named("strategies", &s)).unwrap_or_default(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing uncovered choices"))?
                .into_inner();
            printer.list(&response, "choices", NODE_COLUMNS)
        }
        CascadeCommand::Risk {
            cycle,
            under,
            confidence_below,
            page,
        } => {
            let response = cascade
                .list_risks(ListRisksRequest {
                    as_of,
                    cycle: optional_cycle(cycle.as_deref()),
                    org_unit: unit(under),
                    confidence_below,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing risks"))?
                .into_inner();
            let columns: &[Column] = &[
                ("SCORE", "score"),
                ("OBJECTIVE", "objective.name"),
                ("STATE", "objective.state"),
                ("OWNER", "objective.owner"),
                ("REASONS", "reasons.kind"),
                ("BECAUSE", "reasons.description"),
                ("PAUSED BECAUSE", "stateReason"),
            ];
            printer.list(&response, "risks", columns)
        }
        CascadeCommand::Spread { under, page } => {
            let response = cascade
                .list_accountability_spread(ListAccountabilitySpreadRequest {
                    as_of,
                    org_unit: unit(under),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing accountability spread"))?
                .into_inner();
            let columns: &[Column] = &[
                ("PERSON", "person"),
                ("METRICS", "metricCount"),
                ("NAMES", "metrics.name"),
            ];
            printer.list(&response, "people", columns)
        }
        CascadeCommand::Planning {
            cycle,
            under,
            only_empty,
            page,
        } => {
            let status = cascade
                .get_planning_status(GetPlanningStatusRequest {
                    as_of,
                    cycle: optional_cycle(Some(&cycle)),
                    org_unit: unit(under),
                    only_empty,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("reading the planning status of {cycle}")))?
                .into_inner();
            if printer.format == Format::Table {
                println!(
                    "{} units, {} with objectives; {} objectives: {} drafted, {} aligned, {} locked, {} without key results",
                    status.units,
                    status.units_with_objectives,
                    status.objectives,
                    status.drafted,
                    status.aligned,
                    status.locked,
                    status.without_key_results
                );
            }
            let columns: &[Column] = &[
                ("UNIT", "orgUnit.name"),
                ("OBJECTIVES", "objectives"),
                ("DRAFTED", "drafted"),
                ("ALIGNED", "aligned"),
                ("LOCKED", "locked"),
                ("NO KRS", "withoutKeyResults"),
            ];
            printer.list(&status, "unitStatuses", columns)
        }
        CascadeCommand::Status => {
            let status = cascade
                .get_projection_status(GetProjectionStatusRequest {})
                .await
                .map_err(Failure::call("reading the cascade's status"))?
                .into_inner();
            if printer.format == Format::Table {
                println!(
                    "ready: {}, {} nodes, {} edges",
                    status.ready, status.nodes, status.edges
                );
            }
            let columns: &[Column] = &[
                ("FEED", "source"),
                ("CONNECTED", "connected"),
                ("CAUGHT UP", "caughtUp"),
                ("CURSOR", "cursor"),
                ("HEAD", "headSequence"),
                ("LAG P99 MS", "lagP99Ms"),
                ("LAST ERROR", "lastError"),
            ];
            printer.list(&status, "feeds", columns)
        }
    }
}

/// An alignment path as one table per route, from the start upwards.
fn print_routes(path: &Value) {
    let start = path.get("start");
    println!(
        "{} ({})",
        cell(start.and_then(|start| start.get("name"))),
        cell(start.and_then(|start| start.get("title")))
    );
    let routes = path
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if routes.is_empty() {
        println!("aligned to nothing");
    }
    let columns: &[Column] = &[("NAME", ""), ("KIND", ""), ("STATE", ""), ("TITLE", "")];
    for (index, route) in routes.iter().enumerate() {
        println!("\nroute {}:", index + 1);
        let nodes = route
            .get("nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .enumerate()
            .map(|(depth, node)| {
                let arrow = if depth == 0 {
                    String::new()
                } else {
                    format!("{}↑ ", "  ".repeat(depth - 1))
                };
                vec![
                    format!("{arrow}{}", cell(node.get("name"))),
                    cell(node.get("kind")),
                    cell(node.get("state")),
                    cell(node.get("title")),
                ]
            })
            .collect();
        print_table(columns, &rows);
    }
    let chain: Vec<String> = path
        .get("orgPath")
        .and_then(Value::as_array)
        .map(|units| units.iter().map(|unit| cell(unit.get("name"))).collect())
        .unwrap_or_default();
    if !chain.is_empty() {
        println!("\nowner chain: {}", chain.join(" → "));
    }
}
