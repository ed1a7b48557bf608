//! `trellis okr`: objectives, key results, check-ins and season imports.

use clap::Subcommand;
use trellis_proto::common::v1::Visibility;
use trellis_proto::okr::v1::{
    CancelObjectiveRequest, CheckIn, CompleteObjectiveRequest, CreateCheckInRequest, CreateObjectiveRequest,
    GetObjectiveRequest, KeyResult, ListCheckInsRequest, ListKeyResultsRequest, ListObjectivesRequest, Objective,
    PauseObjectiveRequest, ResumeObjectiveRequest, objective,
};

use crate::{
    Page,
    client::{Clients, cycle_name, named},
    commands::message_from_file,
    failure::Failure,
    import::season::{alignment_target, key_result_kind},
    output::{Column, Printer},
};

const FIELDS: &[Column] = &[
    ("name", "name"),
    ("title", "title"),
    ("cycle", "cycle"),
    ("owner", "owner"),
    ("accountable", "accountable"),
    ("kind", "kind"),
    ("state", "state"),
    ("state reason", "stateReason"),
    ("origin", "origin"),
    ("aligns to", "alignsTo"),
    ("guardrails", "guardrails"),
    ("progress", "progress"),
    ("etag", "etag"),
];
const COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("OWNER", "owner"),
    ("KIND", "kind"),
    ("STATE", "state"),
    ("PROGRESS", "progress"),
    ("TITLE", "title"),
];

#[derive(Debug, Subcommand)]
pub enum OkrCommand {
    /// Create an objective with its key results.
    Create {
        id: String,
        /// A JSON file of a trellis.okr.v1.CreateObjectiveRequest; flags
        /// given too override its fields.
        #[arg(long)]
        file: Option<String>,
        #[arg(long)]
        cycle: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// The one accountable person.
        #[arg(long)]
        accountable: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, value_parser = ["committed", "aspirational"])]
        kind: Option<String>,
        /// A choice, objective or key result it contributes to, with an
        /// optional weight: `strategies/s/choices/c@0.5`; repeatable.
        #[arg(long = "align")]
        aligns: Vec<String>,
        /// A health metric that must stay healthy; repeatable.
        #[arg(long = "guardrail")]
        guardrails: Vec<String>,
        /// KIND:ID:TITLE:START:TARGET[:UNIT]; repeatable.
        #[arg(long = "kr")]
        key_results: Vec<String>,
        /// Seen only inside the owner's subtree (and by admins above it);
        /// set once, when created.
        #[arg(long)]
        private: bool,
    },
    Get {
        name: String,
    },
    /// List objectives, by cycle, owner and state.
    List {
        #[arg(long)]
        cycle: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// DRAFT, ACTIVE, PAUSED, COMPLETED or CANCELLED.
        #[arg(long)]
        state: Option<String>,
        /// More conditions, AIP-160 (`kind = ASPIRATIONAL`).
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    Pause(Move),
    Resume(Move),
    Complete(Move),
    Cancel(Move),
    /// List an objective's key results.
    KeyResults {
        objective: String,
        #[command(flatten)]
        page: Page,
    },
    /// Record a key result's current value.
    CheckIn {
        /// objectives/O/keyResults/K
        key_result: String,
        #[arg(long)]
        value: f64,
        /// 0 (no chance) to 10 (certain).
        #[arg(long, default_value_t = 5)]
        confidence: i32,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// A key result's check-ins.
    CheckIns {
        key_result: String,
        #[command(flatten)]
        page: Page,
    },
    /// Import a planning season from CSV or JSON, all or nothing.
    Import {
        /// .csv (one key result a line), .json (an array of
        /// ImportSeasonRequest.Row) or .jsonl (one row a line).
        file: String,
        /// The PLANNING cycle; a CSV may name it in a `cycle` column.
        #[arg(long)]
        cycle: Option<String>,
        /// Retrying with the same id returns the first import's result.
        #[arg(long, default_value = "")]
        request_id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct Move {
    name: String,
    #[arg(long, default_value = "")]
    reason: String,
}

impl Move {
    /// The objective's full name and the reason.
    fn parts(self) -> (String, String) {
        (named("objectives", &self.name), self.reason)
    }
}

pub async fn run(command: OkrCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut okr = clients.okr.clone();
    let (result, doing) = match command {
        OkrCommand::Create {
            id,
            file,
            cycle,
            owner,
            accountable,
            title,
            kind,
            aligns,
            guardrails,
            key_results,
            private,
        } => {
            let mut request: CreateObjectiveRequest = match &file {
                Some(path) => message_from_file(path)?,
                None => CreateObjectiveRequest::default(),
            };
            request.objective_id = id.clone();
            let objective = request.objective.get_or_insert_with(Objective::default);
            if let Some(cycle) = cycle {
                objective.cycle = cycle_name(&cycle);
            }
            if let Some(owner) = owner {
                objective.owner = named("orgUnits", &owner);
            }
            if let Some(accountable) = accountable {
                objective.accountable = accountable;
            }
            if let Some(title) = title {
                objective.title = title;
            }
            match kind.as_deref() {
                Some("committed") => objective.kind = objective::Kind::Committed as i32,
                Some("aspirational") => objective.kind = objective::Kind::Aspirational as i32,
                _ => {}
            }
            for text in &aligns {
                objective
                    .aligns_to
                    .push(alignment_target(text).map_err(|err| Failure::Usage(format!("--align {text:?}: {err}")))?);
            }
            for metric in &guardrails {
                objective.guardrails.push(named("healthMetrics", metric));
            }
            if private {
                objective.visibility = Visibility::Private as i32;
            }
            for text in &key_results {
                request.key_results.push(key_result_flag(text)?);
            }
            let created = okr.create_objective(request).await;
            (created, format!("creating objectives/{id}"))
        }
        OkrCommand::Get { name } => {
            let name = named("objectives", &name);
            let got = okr.get_objective(GetObjectiveRequest { name: name.clone() }).await;
            (got, format!("reading {name}"))
        }
        OkrCommand::List {
            cycle,
            owner,
            state,
            filter,
            page,
        } => {
            let mut conditions = Vec::new();
            if let Some(cycle) = cycle {
                conditions.push(format!("cycle = \"{}\"", cycle_name(&cycle)));
            }
            if let Some(owner) = owner {
                conditions.push(format!("owner = \"{}\"", named("orgUnits", &owner)));
            }
            if let Some(state) = state {
                conditions.push(format!("state = {}", state.to_uppercase()));
            }
            conditions.extend(filter);
            let response = okr
                .list_objectives(ListObjectivesRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter: conditions.join(" AND "),
                })
                .await
                .map_err(Failure::call("listing objectives"))?
                .into_inner();
            return printer.list(&response, "objectives", COLUMNS);
        }
        OkrCommand::Pause(change) => {
            let (name, reason) = change.parts();
            let doing = format!("pausing {name}");
            (okr.pause_objective(PauseObjectiveRequest { name, reason }).await, doing)
        }
        OkrCommand::Resume(change) => {
            let (name, reason) = change.parts();
            let doing = format!("resuming {name}");
            (
                okr.resume_objective(ResumeObjectiveRequest { name, reason }).await,
                doing,
            )
        }
        OkrCommand::Complete(change) => {
            let (name, reason) = change.parts();
            let doing = format!("completing {name}");
            (
                okr.complete_objective(CompleteObjectiveRequest { name, reason }).await,
                doing,
            )
        }
        OkrCommand::Cancel(change) => {
            let (name, reason) = change.parts();
            let doing = format!("cancelling {name}");
            (
                okr.cancel_objective(CancelObjectiveRequest { name, reason }).await,
                doing,
            )
        }
        OkrCommand::KeyResults { objective, page } => {
            let parent = named("objectives", &objective);
            let response = okr
                .list_key_results(ListKeyResultsRequest {
                    parent: parent.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing the key results of {parent}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("NAME", "name"),
                ("KIND", "kind"),
                ("START", "start"),
                ("TARGET", "target"),
                ("CURRENT", "currentValue"),
                ("PROGRESS", "progress"),
                ("CONFIDENCE", "confidence"),
                ("STALE", "stale"),
                ("TITLE", "title"),
            ];
            return printer.list(&response, "keyResults", columns);
        }
        OkrCommand::CheckIn {
            key_result,
            value,
            confidence,
            note,
        } => {
            let check_in = okr
                .create_check_in(CreateCheckInRequest {
                    parent: key_result.clone(),
                    check_in: Some(CheckIn {
                        value,
                        confidence,
                        note,
                        ..CheckIn::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .map_err(Failure::call(format!("checking in on {key_result}")))?
                .into_inner();
            let fields: &[Column] = &[
                ("name", "name"),
                ("value", "value"),
                ("confidence", "confidence"),
                ("note", "note"),
                ("author", "author"),
                ("time", "createTime"),
            ];
            return printer.one(&check_in, fields);
        }
        OkrCommand::CheckIns { key_result, page } => {
            let response = okr
                .list_check_ins(ListCheckInsRequest {
                    parent: key_result.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing the check-ins of {key_result}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("TIME", "createTime"),
                ("VALUE", "value"),
                ("CONFIDENCE", "confidence"),
                ("AUTHOR", "author"),
                ("NOTE", "note"),
            ];
            return printer.list(&response, "checkIns", columns);
        }
        OkrCommand::Import {
            file,
            cycle,
            request_id,
        } => return crate::import::season::import(&file, cycle.as_deref(), request_id, clients, printer).await,
    };
    let objective = result.map_err(Failure::call(doing))?.into_inner();
    printer.one(&objective, FIELDS)
}

/// `KIND:ID:TITLE:START:TARGET[:UNIT]`.
fn key_result_flag(text: &str) -> Result<KeyResult, Failure> {
    let bad = |why: &str| Failure::Usage(format!("--kr {text:?}: {why}"));
    let parts: Vec<&str> = text.split(':').collect();
    let [kind, id, title, start, target, rest @ ..] = parts.as_slice() else {
        return Err(bad("expected KIND:ID:TITLE:START:TARGET[:UNIT]"));
    };
    let number = |text: &str| {
        text.trim()
            .parse::<f64>()
            .map_err(|_| bad(&format!("{text:?} is not a number")))
    };
    Ok(KeyResult {
        name: id.trim().to_owned(),
        kind: key_result_kind(kind).map_err(|err| bad(&err))? as i32,
        title: title.trim().to_owned(),
        start: number(start)?,
        target: number(target)?,
        unit: rest.first().map(|unit| unit.trim().to_owned()).unwrap_or_default(),
        weight: 1.0,
        ..KeyResult::default()
    })
}
