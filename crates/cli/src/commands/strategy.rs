//! `trellis strategy`: strategies, their choices and assumptions, and
//! their lifecycle (DRAFT → ACTIVE ⇄ UNDER_REVIEW → RETIRED).

use clap::Subcommand;
use trellis_proto::strategy::v1::{
    Assumption, Choice, ChoiceKind, CreateStrategyRequest, DeleteStrategyRequest, GetStrategyRequest, Horizon,
    ListAssumptionsRequest, ListChoicesRequest, ListStrategiesRequest, Strategy, TransitionStrategyRequest,
};

use crate::{
    Page,
    client::{Clients, named},
    commands::{message_from_file, timestamp},
    failure::Failure,
    output::{Column, Printer},
};

const FIELDS: &[Column] = &[
    ("name", "name"),
    ("display name", "displayName"),
    ("state", "state"),
    ("owner", "owner"),
    ("parent choice", "parentChoice"),
    ("challenge", "challenge"),
    ("aspiration", "winningAspiration"),
    ("starts", "horizon.startTime"),
    ("ends", "horizon.endTime"),
    ("choices", "choices.name"),
    ("assumptions", "assumptions.name"),
    ("revision", "revision"),
    ("etag", "etag"),
];
const COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("DISPLAY NAME", "displayName"),
    ("STATE", "state"),
    ("OWNER", "owner"),
    ("PARENT CHOICE", "parentChoice"),
];

#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Create a strategy (DRAFT) from flags, or from a JSON file of a
    /// trellis.strategy.v1.Strategy.
    Create {
        id: String,
        /// A JSON file (`-` for stdin); flags given too override its fields.
        #[arg(long)]
        file: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// The owning org unit.
        #[arg(long)]
        owner: Option<String>,
        /// The hard problem the strategy answers.
        #[arg(long)]
        challenge: Option<String>,
        #[arg(long)]
        aspiration: Option<String>,
        /// First day of the horizon (2027-01-01).
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        /// A choice of the parent strategy this one is nested under.
        #[arg(long)]
        parent_choice: Option<String>,
        /// KIND:ID:TITLE, KIND one of where-to-play, how-to-win,
        /// capability, management-system, not-doing; repeatable.
        #[arg(long = "choice")]
        choices: Vec<String>,
        /// ID:STATEMENT or ID:healthMetrics/METRIC:STATEMENT; repeatable.
        #[arg(long = "assumption")]
        assumptions: Vec<String>,
    },
    /// Show a strategy (its latest revision, or --revision N).
    Get {
        name: String,
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// List strategies.
    List {
        /// For example `state = ACTIVE`.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        page: Page,
    },
    /// DRAFT or UNDER_REVIEW → ACTIVE.
    Activate(Transition),
    /// ACTIVE → UNDER_REVIEW: evidence says adapt it.
    Review(Transition),
    /// UNDER_REVIEW → RETIRED.
    Retire(Transition),
    /// Delete a DRAFT strategy.
    Delete {
        name: String,
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// List a strategy's choices.
    Choices {
        name: String,
        #[command(flatten)]
        page: Page,
    },
    /// List a strategy's assumptions (`-` for every strategy's).
    Assumptions {
        name: String,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, clap::Args)]
pub struct Transition {
    name: String,
    #[arg(long, default_value = "")]
    reason: String,
    #[arg(long, default_value = "")]
    etag: String,
}

pub async fn run(command: StrategyCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut strategies = clients.strategy.clone();
    let (strategy, doing) = match command {
        StrategyCommand::Create {
            id,
            file,
            display_name,
            owner,
            challenge,
            aspiration,
            start,
            end,
            parent_choice,
            choices,
            assumptions,
        } => {
            let mut strategy: Strategy = match &file {
                Some(path) => message_from_file(path)?,
                None => Strategy::default(),
            };
            set(&mut strategy.display_name, display_name);
            set(&mut strategy.owner, owner.map(|owner| named("orgUnits", &owner)));
            set(&mut strategy.challenge, challenge);
            set(&mut strategy.winning_aspiration, aspiration);
            set(&mut strategy.parent_choice, parent_choice);
            if start.is_some() || end.is_some() {
                let horizon = strategy.horizon.get_or_insert_with(Horizon::default);
                if let Some(start) = start {
                    horizon.start_time = Some(timestamp(&start, "--start")?);
                }
                if let Some(end) = end {
                    horizon.end_time = Some(timestamp(&end, "--end")?);
                }
            }
            for text in &choices {
                strategy.choices.push(choice(text)?);
            }
            for text in &assumptions {
                strategy.assumptions.push(assumption(text)?);
            }
            let created = strategies
                .create_strategy(CreateStrategyRequest {
                    strategy: Some(strategy),
                    strategy_id: id.clone(),
                    request_id: String::new(),
                })
                .await;
            (created, format!("creating strategies/{id}"))
        }
        StrategyCommand::Get { name, revision } => {
            let name = named("strategies", &name);
            let got = strategies
                .get_strategy(GetStrategyRequest {
                    name: name.clone(),
                    revision,
                })
                .await;
            (got, format!("reading {name}"))
        }
        StrategyCommand::List { filter, page } => {
            let response = strategies
                .list_strategies(ListStrategiesRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter,
                })
                .await
                .map_err(Failure::call("listing strategies"))?
                .into_inner();
            return printer.list(&response, "strategies", COLUMNS);
        }
        StrategyCommand::Activate(transition) => {
            let request = transition.request();
            let doing = format!("activating {}", request.name);
            (strategies.activate_strategy(request).await, doing)
        }
        StrategyCommand::Review(transition) => {
            let request = transition.request();
            let doing = format!("putting {} under review", request.name);
            (strategies.review_strategy(request).await, doing)
        }
        StrategyCommand::Retire(transition) => {
            let request = transition.request();
            let doing = format!("retiring {}", request.name);
            (strategies.retire_strategy(request).await, doing)
        }
        StrategyCommand::Delete { name, etag } => {
            let name = named("strategies", &name);
            strategies
                .delete_strategy(DeleteStrategyRequest {
                    name: name.clone(),
                    etag,
                })
                .await
                .map_err(Failure::call(format!("deleting {name}")))?;
            printer.say(format!("deleted {name}"));
            return Ok(());
        }
        StrategyCommand::Choices { name, page } => {
            let parent = named("strategies", &name);
            let response = strategies
                .list_choices(ListChoicesRequest {
                    parent: parent.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter: String::new(),
                })
                .await
                .map_err(Failure::call(format!("listing the choices of {parent}")))?
                .into_inner();
            let columns: &[Column] = &[("NAME", "name"), ("KIND", "kind"), ("TITLE", "title")];
            return printer.list(&response, "choices", columns);
        }
        StrategyCommand::Assumptions { name, page } => {
            let parent = named("strategies", &name);
            let response = strategies
                .list_assumptions(ListAssumptionsRequest {
                    parent: parent.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter: String::new(),
                })
                .await
                .map_err(Failure::call(format!("listing the assumptions of {parent}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("NAME", "name"),
                ("STATUS", "status"),
                ("METRIC", "healthMetric"),
                ("STATEMENT", "statement"),
            ];
            return printer.list(&response, "assumptions", columns);
        }
    };
    let strategy = strategy.map_err(Failure::call(doing))?.into_inner();
    printer.one(&strategy, FIELDS)
}

impl Transition {
    fn request(self) -> TransitionStrategyRequest {
        TransitionStrategyRequest {
            name: named("strategies", &self.name),
            etag: self.etag,
            reason: self.reason,
        }
    }
}

fn set(field: &mut String, value: Option<String>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn choice(text: &str) -> Result<Choice, Failure> {
    let bad = || Failure::Usage(format!("--choice {text:?} is not KIND:ID:TITLE"));
    let mut parts = text.splitn(3, ':');
    let (Some(kind), Some(id), Some(title)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let kind = choice_kind(kind).map_err(|err| Failure::Usage(format!("--choice {text:?}: {err}")))?;
    Ok(Choice {
        name: id.trim().to_owned(),
        kind: kind as i32,
        title: title.trim().to_owned(),
        ..Choice::default()
    })
}

/// `where-to-play`, `how-to-win`, `capability`, `management-system` or
/// `not-doing` (underscores and capitals allowed).
pub fn choice_kind(kind: &str) -> Result<ChoiceKind, String> {
    Ok(match kind.trim().to_lowercase().replace('_', "-").as_str() {
        "where-to-play" => ChoiceKind::WhereToPlay,
        "how-to-win" => ChoiceKind::HowToWin,
        "capability" => ChoiceKind::Capability,
        "management-system" => ChoiceKind::ManagementSystem,
        "not-doing" => ChoiceKind::NotDoing,
        other => {
            return Err(format!(
                "{other:?} is not one of where-to-play, how-to-win, capability, management-system, not-doing"
            ));
        }
    })
}

fn assumption(text: &str) -> Result<Assumption, Failure> {
    let Some((id, rest)) = text.split_once(':') else {
        return Err(Failure::Usage(format!("--assumption {text:?} is not ID:STATEMENT")));
    };
    let (health_metric, statement) = match rest.strip_prefix("healthMetrics/") {
        Some(after) => match after.split_once(':') {
            Some((metric, statement)) => (format!("healthMetrics/{metric}"), statement),
            None => {
                return Err(Failure::Usage(format!(
                    "--assumption {text:?} has a metric but no statement"
                )));
            }
        },
        None => (String::new(), rest),
    };
    Ok(Assumption {
        name: id.trim().to_owned(),
        statement: statement.trim().to_owned(),
        health_metric,
        ..Assumption::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_assumptions_parse_from_flags() {
        let parsed = choice("not-doing:consulting:No bespoke consulting").ok();
        assert_eq!(parsed.as_ref().map(Choice::kind), Some(ChoiceKind::NotDoing));
        assert_eq!(
            parsed.map(|choice| choice.title),
            Some("No bespoke consulting".to_owned())
        );
        assert!(choice("sideways:x:y").is_err());
        assert!(choice("how-to-win:x").is_err());
        let backed = assumption("csat:healthMetrics/csat:Members stay happy").ok();
        assert_eq!(
            backed.map(|a| (a.health_metric, a.statement)),
            Some(("healthMetrics/csat".to_owned(), "Members stay happy".to_owned()))
        );
        let plain = assumption("tam:The market is big enough").ok();
        assert_eq!(plain.map(|a| a.health_metric), Some(String::new()));
    }
}
