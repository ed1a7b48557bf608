//! The weekly rhythm: `trellis board`, `trellis inbox`, `trellis
//! initiative …`, `trellis week …` and `trellis conversation …`.

use clap::Subcommand;
use prost_types::FieldMask;
use serde_json::Value;
use trellis_proto::cascade::v1::{
    CloseConversationRequest, CreateInitiativeRequest, GetBoardRequest, GetInboxRequest, GetInitiativeRequest,
    GetWeeklyPlanRequest, Initiative, ListConversationsRequest, ListInitiativesRequest, Priority,
    UpdateInitiativeRequest, UpdateWeeklyPlanRequest, WeeklyPlan,
    initiative::Status,
    priority::{Level, Outcome},
};

use crate::{
    Page,
    client::{Clients, named},
    failure::Failure,
    output::{Column, Format, Printer, print_json, print_table, rows, to_json},
};

const INITIATIVE_FIELDS: &[Column] = &[
    ("name", "name"),
    ("owner", "owner"),
    ("title", "title"),
    ("status", "status"),
    ("why not now", "statusReason"),
    ("key results", "keyResults"),
    ("target week", "targetWeek"),
    ("accountable", "accountable"),
    ("etag", "etag"),
];
const INITIATIVE_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("OWNER", "owner"),
    ("STATUS", "status"),
    ("WEEK", "targetWeek"),
    ("TITLE", "title"),
];
const CONVERSATION_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("REASON", "reason"),
    ("STATE", "state"),
    ("PERSON", "person"),
    ("SUBJECT", "subject"),
    ("FROM", "fromColour"),
    ("TO", "toColour"),
    ("DETAIL", "detail"),
];
const PRIORITY_COLUMNS: &[Column] = &[
    ("LEVEL", "level"),
    ("TITLE", "title"),
    ("MOVES", "keyResult"),
    ("INITIATIVE", "initiative"),
    ("OWNER", "owner"),
    ("OUTCOME", "outcome"),
    ("NOTE", "outcomeNote"),
];

#[derive(Debug, Subcommand)]
pub enum InitiativeCommand {
    /// Propose work for a unit. Work that serves no key result of an
    /// ACTIVE, aligned objective of the unit or a unit above it lands in
    /// NOT_NOW, with the reason.
    Create {
        /// Its id, for example `pipeline-review`.
        id: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        title: String,
        /// A key result it moves (`objectives/o/keyResults/k`); repeat.
        #[arg(long = "key-result")]
        key_results: Vec<String>,
        /// The ISO week it should be done by, `2027-W05`.
        #[arg(long, default_value = "")]
        target_week: String,
        #[arg(long, default_value = "")]
        accountable: String,
        #[arg(long, default_value = "")]
        description: String,
        /// PLANNED (the default), IN_PROGRESS or NOT_NOW.
        #[arg(long)]
        status: Option<String>,
    },
    Get {
        name: String,
    },
    List {
        /// For example `owner = "orgUnits/emea" AND status = NOT_NOW`.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        page: Page,
    },
    /// Change an initiative (only the fields given). Out of NOT_NOW only
    /// with a key result to serve.
    Update {
        name: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        status: Option<String>,
        /// Replaces its key results; repeat.
        #[arg(long = "key-result")]
        key_results: Option<Vec<String>>,
        #[arg(long)]
        target_week: Option<String>,
        #[arg(long)]
        accountable: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WeekCommand {
    /// A unit's plan for a week (this week by default).
    Show {
        unit: String,
        /// `2027-W05`.
        #[arg(long)]
        week: Option<String>,
    },
    /// Set a unit's priorities for a week, replacing what was there:
    /// `--p1 "Close two deals=objectives/grow/keyResults/arr"` (a P1 names
    /// the key result or initiative it moves after `=`), `--p2 "Title"`.
    Plan {
        unit: String,
        #[arg(long)]
        week: Option<String>,
        #[arg(long)]
        p1: Vec<String>,
        #[arg(long)]
        p2: Vec<String>,
        /// Who does them.
        #[arg(long, default_value = "")]
        owner: String,
    },
    /// Mark a priority (by its place in the plan, from 0) won or missed.
    Mark {
        unit: String,
        index: usize,
        #[arg(long)]
        week: Option<String>,
        #[arg(long, conflicts_with = "missed")]
        won: bool,
        #[arg(long)]
        missed: bool,
        /// A short win or miss note.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConversationCommand {
    /// Conversations, newest first.
    List {
        /// For example `person = "ana@caskco.example" AND state = OPEN`.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        page: Page,
    },
    /// Close a conversation with why it moved and what will be done.
    Close {
        name: String,
        #[arg(long)]
        note: String,
    },
}

fn status(text: &str) -> Result<Status, Failure> {
    Status::from_str_name(&text.to_uppercase()).ok_or_else(|| {
        Failure::Usage(format!(
            "--status {text:?}: NOT_NOW, PLANNED, IN_PROGRESS, DONE or DROPPED"
        ))
    })
}

/// The plan of `unit` for `week` ("2027-W05"), by name.
fn plan_name(week: &str, unit: &str) -> String {
    format!("{}/weeklyPlans/{}", named("orgUnits", unit), week.to_lowercase())
}

/// A priority as typed: `Title` or `Title=name` (a key result or an
/// initiative).
fn priority(level: Level, text: &str, owner: &str) -> Priority {
    let (title, moves) = match text.rsplit_once('=') {
        Some((title, moves)) if moves.contains('/') => (title, moves),
        _ => (text, ""),
    };
    let (key_result, initiative) = if moves.starts_with("initiatives/") {
        ("", moves)
    } else {
        (moves, "")
    };
    Priority {
        level: level as i32,
        title: title.trim().to_owned(),
        key_result: key_result.to_owned(),
        initiative: initiative.to_owned(),
        owner: owner.to_owned(),
        ..Priority::default()
    }
}

pub async fn initiative(command: InitiativeCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut rhythm = clients.rhythm.clone();
    match command {
        InitiativeCommand::Create {
            id,
            owner,
            title,
            key_results,
            target_week,
            accountable,
            description,
            status: asked,
        } => {
            let initiative = Initiative {
                owner: named("orgUnits", &owner),
                title,
                key_results,
                target_week,
                accountable,
                description,
                status: asked.as_deref().map(status).transpose()?.unwrap_or(Status::Unspecified) as i32,
                ..Initiative::default()
            };
            let created = rhythm
                .create_initiative(CreateInitiativeRequest {
                    initiative: Some(initiative),
                    initiative_id: id.clone(),
                    request_id: String::new(),
                })
                .await
                .map_err(Failure::call(format!("creating initiative {id}")))?
                .into_inner();
            printer.one(&created, INITIATIVE_FIELDS)
        }
        InitiativeCommand::Get { name } => {
            let name = named("initiatives", &name);
            let found = rhythm
                .get_initiative(GetInitiativeRequest { name: name.clone() })
                .await
                .map_err(Failure::call(format!("reading {name}")))?
                .into_inner();
            printer.one(&found, INITIATIVE_FIELDS)
        }
        InitiativeCommand::List { filter, page } => {
            let response = rhythm
                .list_initiatives(ListInitiativesRequest {
                    filter,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing initiatives"))?
                .into_inner();
            printer.list(&response, "initiatives", INITIATIVE_COLUMNS)
        }
        InitiativeCommand::Update {
            name,
            title,
            status: asked,
            key_results,
            target_week,
            accountable,
        } => {
            let name = named("initiatives", &name);
            let mut paths = Vec::new();
            let mut initiative = Initiative {
                name: name.clone(),
                ..Initiative::default()
            };
            if let Some(title) = title {
                initiative.title = title;
                paths.push("title");
            }
            if let Some(asked) = asked {
                initiative.status = status(&asked)? as i32;
                paths.push("status");
            }
            if let Some(key_results) = key_results {
                initiative.key_results = key_results;
                paths.push("key_results");
            }
            if let Some(week) = target_week {
                initiative.target_week = week;
                paths.push("target_week");
            }
            if let Some(accountable) = accountable {
                initiative.accountable = accountable;
                paths.push("accountable");
            }
            if paths.is_empty() {
                return Err(Failure::Usage("nothing to change: give a field to update".to_owned()));
            }
            let updated = rhythm
                .update_initiative(UpdateInitiativeRequest {
                    initiative: Some(initiative),
                    update_mask: Some(FieldMask {
                        paths: paths.into_iter().map(str::to_owned).collect(),
                    }),
                })
                .await
                .map_err(Failure::call(format!("updating {name}")))?
                .into_inner();
            printer.one(&updated, INITIATIVE_FIELDS)
        }
    }
}

/// The plan of `unit` for `week`, or this week's.
async fn read_plan(clients: &Clients, unit: &str, week: Option<String>) -> Result<WeeklyPlan, Failure> {
    let week = match week {
        Some(week) => week,
        None => this_week(clients, unit).await?,
    };
    let name = plan_name(&week, unit);
    Ok(clients
        .rhythm
        .clone()
        .get_weekly_plan(GetWeeklyPlanRequest { name: name.clone() })
        .await
        .map_err(Failure::call(format!("reading {name}")))?
        .into_inner())
}

/// The current ISO week as the server counts it.
async fn this_week(clients: &Clients, unit: &str) -> Result<String, Failure> {
    Ok(clients
        .rhythm
        .clone()
        .get_board(GetBoardRequest {
            org_unit: named("orgUnits", unit),
            ..GetBoardRequest::default()
        })
        .await
        .map_err(Failure::call("finding this week"))?
        .into_inner()
        .week)
}

fn print_plan(plan: &WeeklyPlan, printer: Printer) -> Result<(), Failure> {
    if printer.format == Format::Json {
        return print_json(&to_json(plan, false)?);
    }
    let lock = if plan.locked { " (locked)" } else { "" };
    println!("{} — week {}{lock}", plan.org_unit, plan.week);
    printer.list(plan, "priorities", PRIORITY_COLUMNS)
}

pub async fn week(command: WeekCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut rhythm = clients.rhythm.clone();
    let (plan, updated) = match command {
        WeekCommand::Show { unit, week } => (read_plan(clients, &unit, week).await?, false),
        WeekCommand::Plan {
            unit,
            week,
            p1,
            p2,
            owner,
        } => {
            let mut plan = read_plan(clients, &unit, week).await?;
            plan.priorities = p1
                .iter()
                .map(|text| priority(Level::P1, text, &owner))
                .chain(p2.iter().map(|text| priority(Level::P2, text, &owner)))
                .collect();
            (plan, true)
        }
        WeekCommand::Mark {
            unit,
            index,
            week,
            won,
            missed,
            note,
        } => {
            let mut plan = read_plan(clients, &unit, week).await?;
            let count = plan.priorities.len();
            let priority = plan
                .priorities
                .get_mut(index)
                .ok_or_else(|| Failure::Usage(format!("the plan has {count} priorities; {index} is none of them")))?;
            priority.outcome = match (won, missed) {
                (true, _) => Outcome::Won,
                (_, true) => Outcome::Missed,
                _ => return Err(Failure::Usage("say --won or --missed".to_owned())),
            } as i32;
            priority.outcome_note = note;
            (plan, true)
        }
    };
    let plan = if updated {
        let name = plan.name.clone();
        rhythm
            .update_weekly_plan(UpdateWeeklyPlanRequest {
                weekly_plan: Some(plan),
            })
            .await
            .map_err(Failure::call(format!("writing {name}")))?
            .into_inner()
    } else {
        plan
    };
    print_plan(&plan, printer)
}

pub async fn conversation(command: ConversationCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut rhythm = clients.rhythm.clone();
    match command {
        ConversationCommand::List { filter, page } => {
            let response = rhythm
                .list_conversations(ListConversationsRequest {
                    filter,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call("listing conversations"))?
                .into_inner();
            printer.list(&response, "conversations", CONVERSATION_COLUMNS)
        }
        ConversationCommand::Close { name, note } => {
            let name = named("conversations", &name);
            let closed = rhythm
                .close_conversation(CloseConversationRequest {
                    name: name.clone(),
                    note,
                })
                .await
                .map_err(Failure::call(format!("closing {name}")))?
                .into_inner();
            let fields: &[Column] = &[
                ("name", "name"),
                ("state", "state"),
                ("subject", "subject"),
                ("note", "note"),
                ("closed by", "closedBy"),
            ];
            printer.one(&closed, fields)
        }
    }
}

pub async fn inbox(person: Option<String>, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let inbox = clients
        .rhythm
        .clone()
        .get_inbox(GetInboxRequest {
            person: person.unwrap_or_default(),
        })
        .await
        .map_err(Failure::call("reading the inbox"))?
        .into_inner();
    if printer.format == Format::Json {
        return print_json(&to_json(&inbox, false)?);
    }
    let value = to_json(&inbox, true)?;
    println!("{}: what is owed", inbox.person);
    section(&value, "conversations", "Conversations", CONVERSATION_COLUMNS);
    section(
        &value,
        "escalated",
        "Missed check-ins escalated to them",
        CONVERSATION_COLUMNS,
    );
    let owed: &[Column] = &[
        ("PLAN", "weeklyPlan"),
        ("LEVEL", "priority.level"),
        ("TITLE", "priority.title"),
    ];
    section(&value, "priorities", "This week's priorities without an outcome", owed);
    Ok(())
}

/// One titled table of `items`, skipped when empty.
fn section(value: &Value, items: &str, title: &str, columns: &[Column]) {
    let rows = rows(value, items, columns);
    println!("\n{title}: {}", rows.len());
    if !rows.is_empty() {
        print_table(columns, &rows);
    }
}

pub async fn board(
    unit: String,
    week: Option<String>,
    subtree: bool,
    page: Page,
    clients: &Clients,
    printer: Printer,
) -> Result<(), Failure> {
    let board = clients
        .rhythm
        .clone()
        .get_board(GetBoardRequest {
            org_unit: named("orgUnits", &unit),
            week: week.unwrap_or_default(),
            include_subtree: subtree,
            page_size: page.page_size,
            page_token: page.page_token,
        })
        .await
        .map_err(Failure::call(format!("reading the board of {unit}")))?
        .into_inner();
    if printer.format == Format::Json {
        return print_json(&to_json(&board, false)?);
    }
    let value = to_json(&board, true)?;
    for unit in value.get("units").and_then(Value::as_array).into_iter().flatten() {
        let name = unit.get("orgUnit").and_then(Value::as_str).unwrap_or_default();
        let lead = unit.get("lead").and_then(Value::as_str).unwrap_or("no lead");
        println!("== {name} (lead: {lead}) — week {}", board.week);
        section(unit, "priorities", "Priorities", PRIORITY_COLUMNS);
        let okrs: &[Column] = &[
            ("KEY RESULT", "keyResult"),
            ("TITLE", "title"),
            ("OWNER", "owner"),
            ("CONFIDENCE", "confidence"),
            ("COLOUR", "colour"),
            ("PROGRESS", "progress"),
        ];
        section(unit, "okrs", "OKRs", okrs);
        section(unit, "pipeline", "Pipeline (next four weeks)", INITIATIVE_COLUMNS);
        section(unit, "notNow", "Not now", &[("NAME", "name"), ("WHY", "statusReason")]);
        let health: &[Column] = &[
            ("METRIC", "healthMetric"),
            ("TITLE", "title"),
            ("COLOUR", "colour"),
            ("ACCOUNTABLE", "accountable"),
            ("OVERLOADED", "accountableOverloaded"),
            ("GUARDRAIL", "guardrail"),
        ];
        section(unit, "health", "Health", health);
        println!();
    }
    if !board.next_page_token.is_empty() {
        eprintln!("more: --page-token {}", board.next_page_token);
    }
    Ok(())
}
