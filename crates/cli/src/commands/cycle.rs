//! `trellis cycle`: OKR cycles (PLANNING → ACTIVE → REVIEW → CLOSED).

use clap::Subcommand;
use trellis_proto::okr::v1::{CreateCycleRequest, Cycle, GetCycleRequest, ListCyclesRequest, TransitionCycleRequest};

use crate::{
    Page,
    client::{Clients, cycle_name, named},
    commands::timestamp,
    failure::Failure,
    output::{Column, Printer},
};

const FIELDS: &[Column] = &[
    ("name", "name"),
    ("display name", "displayName"),
    ("state", "state"),
    ("org unit", "orgUnit"),
    ("starts", "startTime"),
    ("ends", "endTime"),
    ("activated", "activateTime"),
    ("etag", "etag"),
];

#[derive(Debug, Subcommand)]
pub enum CycleCommand {
    /// Open a cycle (PLANNING) for an org subtree.
    Create {
        /// For example `2027-q1`.
        id: String,
        #[arg(long)]
        display_name: String,
        /// The root of the subtree the season is for.
        #[arg(long)]
        org_unit: String,
        /// First day (2027-01-01).
        #[arg(long)]
        start: String,
        /// Day after the last (2027-04-01).
        #[arg(long)]
        end: String,
    },
    Get {
        cycle: String,
    },
    List {
        /// For example `state = ACTIVE`.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        page: Page,
    },
    /// PLANNING → ACTIVE: the plan is locked, check-ins start.
    Activate {
        cycle: String,
    },
    /// ACTIVE → REVIEW: scoring.
    Review {
        cycle: String,
    },
    /// REVIEW → CLOSED.
    Close {
        cycle: String,
    },
}

pub async fn run(command: CycleCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut okr = clients.okr.clone();
    let transition = |cycle: &str| TransitionCycleRequest {
        name: cycle_name(cycle),
        etag: String::new(),
    };
    let (result, doing) = match command {
        CycleCommand::Create {
            id,
            display_name,
            org_unit,
            start,
            end,
        } => {
            let cycle = Cycle {
                display_name,
                org_unit: named("orgUnits", &org_unit),
                start_time: Some(timestamp(&start, "--start")?),
                end_time: Some(timestamp(&end, "--end")?),
                ..Cycle::default()
            };
            let id = id.to_lowercase();
            let created = okr
                .create_cycle(CreateCycleRequest {
                    cycle: Some(cycle),
                    cycle_id: id.clone(),
                    request_id: String::new(),
                })
                .await;
            (created, format!("creating cycles/{id}"))
        }
        CycleCommand::Get { cycle } => {
            let name = cycle_name(&cycle);
            (
                okr.get_cycle(GetCycleRequest { name: name.clone() }).await,
                format!("reading {name}"),
            )
        }
        CycleCommand::List { filter, page } => {
            let response = okr
                .list_cycles(ListCyclesRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter,
                })
                .await
                .map_err(Failure::call("listing cycles"))?
                .into_inner();
            let columns: &[Column] = &[
                ("NAME", "name"),
                ("DISPLAY NAME", "displayName"),
                ("STATE", "state"),
                ("ORG UNIT", "orgUnit"),
                ("STARTS", "startTime"),
            ];
            return printer.list(&response, "cycles", columns);
        }
        CycleCommand::Activate { cycle } => (
            okr.activate_cycle(transition(&cycle)).await,
            format!("activating {}", cycle_name(&cycle)),
        ),
        CycleCommand::Review { cycle } => (
            okr.review_cycle(transition(&cycle)).await,
            format!("reviewing {}", cycle_name(&cycle)),
        ),
        CycleCommand::Close { cycle } => (
            okr.close_cycle(transition(&cycle)).await,
            format!("closing {}", cycle_name(&cycle)),
        ),
    };
    let cycle = result.map_err(Failure::call(doing))?.into_inner();
    printer.one(&cycle, FIELDS)
}
