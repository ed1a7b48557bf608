//! `trellis demo load`: fills a running server with Cask & Co. (see
//! [`company`]) through the public API, as a real client would: the org,
//! the strategies, the health metrics, a quarter of OKRs imported and
//! activated, check-ins, measurements in which CSAT goes red twice so the
//! Four Square rule escalates (and a conversation opens for its
//! accountable person), initiatives and two weeks of priorities.

mod company;
mod quarter;
mod week;

use std::time::{Duration, SystemTime};

use clap::Subcommand;
use prost_types::Timestamp;
use tonic::Code;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, GetOrgUnitRequest, OrgUnit},
    health::v1::{
        BatchRecordMeasurementsRequest, CreateHealthMetricRequest, Direction, EscalationPolicy, HealthMetric,
        Measurement, Thresholds, batch_record_measurements_request::Entry,
    },
    okr::v1::{
        CreateCheckInRequest, CreateCycleRequest, Cycle, ImportAlignment, ImportSeasonRequest, KeyResult,
        ListObjectivesRequest, Objective, TransitionCycleRequest,
        alignment_target::Target,
        import_season_request::{Header, Row},
        key_result, objective,
    },
    strategy::v1::{Assumption, Choice, CreateStrategyRequest, Horizon, Strategy, TransitionStrategyRequest},
};

use crate::{
    client::Clients,
    commands::strategy::choice_kind,
    failure::Failure,
    import::{progress, season::key_result_kind},
    output::Printer,
};
use company::{STRATEGIES, UNITS};
use quarter::{CYCLE_ID, ObjectiveData};

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Load Cask & Co., a whiskey club with a strategy, a quarter of OKRs
    /// for 28 teams, check-ins, and health metrics (CSAT goes red).
    Load,
}

const DAY: i64 = 86_400;
/// 2027-01-01 and 2027-04-01.
const QUARTER_START: i64 = 1_798_761_600;
const QUARTER_END: i64 = 1_806_537_600;

pub async fn run(command: DemoCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    match command {
        DemoCommand::Load => load(clients, printer).await,
    }
}

async fn load(clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let root = format!("orgUnits/{}", UNITS[0].0);
    match clients
        .org
        .clone()
        .get_org_unit(GetOrgUnitRequest { name: root.clone() })
        .await
    {
        Ok(_) => {
            printer.say(format!(
                "the demo organisation is already loaded ({root}); start from an empty database to load it again"
            ));
            return Ok(());
        }
        Err(status) if status.code() == Code::NotFound => {}
        Err(status) => return Err(Failure::call(format!("looking for {root}"))(status)),
    }
    let steps = progress(8, "loading Cask & Co.");
    org(clients).await?;
    steps.inc(1);
    metrics(clients).await?;
    steps.inc(1);
    strategies(clients).await?;
    steps.inc(1);
    season(clients).await?;
    steps.inc(1);
    check_ins(clients).await?;
    steps.inc(1);
    measurements(clients).await?;
    steps.inc(1);
    week::load(clients).await?;
    steps.inc(1);
    let remedial = wait_for_remedial(clients).await?;
    steps.finish_and_clear();
    printer.say(format!(
        "loaded Cask & Co.: {} org units, {} strategies, {} objectives in cycles/{CYCLE_ID}, {} health metrics",
        UNITS.len(),
        STRATEGIES.len(),
        quarter::OBJECTIVES.len() + usize::from(remedial.is_some()),
        company::METRICS.len()
    ));
    match remedial {
        Some(objective) => printer.say(format!(
            "CSAT went red twice: the Four Square rule created {} and paused the aspirational objectives it guards",
            objective.name
        )),
        None => printer.say("CSAT went red twice; the escalation is still running (see `trellis health get csat`)"),
    }
    printer.say(format!(
        "try:\n  trellis cascade path objectives/first-box\n  trellis cascade risk --cycle {}\n  trellis cascade rollup orgUnits/caskco --cycle {}\n  trellis board onboarding\n  trellis conversation list --filter 'state = OPEN'",
        CYCLE_ID.to_uppercase(),
        CYCLE_ID.to_uppercase()
    ));
    Ok(())
}

fn request_id(what: &str) -> String {
    format!("trellis-demo-{what}")
}

async fn org(clients: &Clients) -> Result<(), Failure> {
    let requests = UNITS
        .iter()
        .map(|(id, parent, kind, display_name)| CreateOrgUnitRequest {
            org_unit: Some(OrgUnit {
                parent: if parent.is_empty() {
                    String::new()
                } else {
                    format!("orgUnits/{parent}")
                },
                display_name: (*display_name).to_owned(),
                kind: (*kind).to_owned(),
                // The people accountable for the unit's metrics.
                lead: format!("{id}-lead@caskco.example"),
                ..OrgUnit::default()
            }),
            org_unit_id: (*id).to_owned(),
            request_id: String::new(),
        })
        .collect();
    clients
        .org
        .clone()
        .batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests,
            request_id: request_id("org"),
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await
        .map_err(Failure::call("creating the demo org"))?;
    Ok(())
}

async fn metrics(clients: &Clients) -> Result<(), Failure> {
    for (id, owner, display_name, unit, green, red, cadence_days) in company::METRICS {
        let metric = HealthMetric {
            display_name: (*display_name).to_owned(),
            owner: format!("orgUnits/{owner}"),
            accountable: format!("{owner}-lead@caskco.example"),
            unit: (*unit).to_owned(),
            direction: Direction::HigherIsBetter as i32,
            thresholds: Some(Thresholds {
                green: *green,
                red: *red,
                ..Thresholds::default()
            }),
            cadence: Some(prost_types::Duration {
                seconds: cadence_days * DAY,
                nanos: 0,
            }),
            escalation_policy: Some(EscalationPolicy {
                enabled: true,
                red_to_escalate: 2,
                red_to_break: 2,
            }),
            ..HealthMetric::default()
        };
        clients
            .health
            .clone()
            .create_health_metric(CreateHealthMetricRequest {
                health_metric: Some(metric),
                health_metric_id: (*id).to_owned(),
                request_id: request_id(id),
            })
            .await
            .map_err(Failure::call(format!("creating healthMetrics/{id}")))?;
    }
    Ok(())
}

async fn strategies(clients: &Clients) -> Result<(), Failure> {
    let mut service = clients.strategy.clone();
    for data in STRATEGIES {
        let strategy = Strategy {
            display_name: data.display_name.to_owned(),
            challenge: data.challenge.to_owned(),
            winning_aspiration: data.aspiration.to_owned(),
            owner: format!("orgUnits/{}", data.owner),
            parent_choice: data.parent_choice.to_owned(),
            horizon: Some(Horizon {
                start_time: Some(seconds(QUARTER_START)),
                end_time: Some(seconds(QUARTER_START + 3 * 365 * DAY)),
            }),
            choices: data
                .choices
                .iter()
                .map(|(kind, id, title)| Choice {
                    name: (*id).to_owned(),
                    kind: choice_kind(kind).unwrap_or_default() as i32,
                    title: (*title).to_owned(),
                    ..Choice::default()
                })
                .collect(),
            assumptions: data
                .assumptions
                .iter()
                .map(|(id, metric, statement)| Assumption {
                    name: (*id).to_owned(),
                    health_metric: (*metric).to_owned(),
                    statement: (*statement).to_owned(),
                    ..Assumption::default()
                })
                .collect(),
            ..Strategy::default()
        };
        service
            .create_strategy(CreateStrategyRequest {
                strategy: Some(strategy),
                strategy_id: data.id.to_owned(),
                request_id: request_id(data.id),
            })
            .await
            .map_err(Failure::call(format!("creating strategies/{}", data.id)))?;
        service
            .activate_strategy(TransitionStrategyRequest {
                name: format!("strategies/{}", data.id),
                ..TransitionStrategyRequest::default()
            })
            .await
            .map_err(Failure::call(format!("activating strategies/{}", data.id)))?;
    }
    Ok(())
}

fn seconds(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// The quarter: created PLANNING, imported in one all-or-nothing call,
/// then activated, which locks the plan and activates the objectives.
async fn season(clients: &Clients) -> Result<(), Failure> {
    let mut okr = clients.okr.clone();
    okr.create_cycle(CreateCycleRequest {
        cycle: Some(Cycle {
            display_name: "Q1 2027".to_owned(),
            start_time: Some(seconds(QUARTER_START)),
            end_time: Some(seconds(QUARTER_END)),
            org_unit: format!("orgUnits/{}", UNITS[0].0),
            ..Cycle::default()
        }),
        cycle_id: CYCLE_ID.to_owned(),
        request_id: request_id("cycle"),
    })
    .await
    .map_err(Failure::call(format!("creating cycles/{CYCLE_ID}")))?;
    let mut messages = vec![ImportSeasonRequest {
        header: Some(Header {
            cycle: format!("cycles/{CYCLE_ID}"),
            request_id: request_id("season"),
            ..Header::default()
        }),
        rows: Vec::new(),
    }];
    messages.push(ImportSeasonRequest {
        header: None,
        rows: quarter::OBJECTIVES.iter().map(season_row).collect(),
    });
    okr.import_season(tokio_stream::iter(messages))
        .await
        .map_err(Failure::call("importing the demo quarter"))?;
    okr.activate_cycle(TransitionCycleRequest {
        name: format!("cycles/{CYCLE_ID}"),
        etag: String::new(),
    })
    .await
    .map_err(Failure::call(format!("activating cycles/{CYCLE_ID}")))?;
    Ok(())
}

fn season_row(data: &ObjectiveData) -> Row {
    let mut aligns_to = Vec::new();
    let mut aligns_to_rows = Vec::new();
    for target in data.aligns_to {
        if target.starts_with("strategies/") {
            aligns_to.push(trellis_proto::okr::v1::AlignmentTarget {
                target: Some(Target::Choice((*target).to_owned())),
                weight: 1.0,
            });
        } else {
            aligns_to_rows.push(ImportAlignment {
                row_id: (*target).to_owned(),
                key_result_id: String::new(),
                weight: 1.0,
            });
        }
    }
    let key_results = data
        .key_results
        .iter()
        .enumerate()
        .map(|(index, (kind, title, start, target, unit))| {
            let kind = key_result_kind(kind).unwrap_or(key_result::Kind::Increase);
            let (lower, upper) = if kind == key_result::Kind::Threshold {
                (*start, *target)
            } else {
                (0.0, 0.0)
            };
            KeyResult {
                name: format!("kr{}", index + 1),
                title: (*title).to_owned(),
                kind: kind as i32,
                start: *start,
                target: *target,
                lower,
                upper,
                unit: (*unit).to_owned(),
                weight: 1.0,
                owner: format!("{}-lead@caskco.example", data.owner),
                due_time: (kind == key_result::Kind::Milestone).then(|| seconds(QUARTER_END - DAY)),
                cadence: Some(prost_types::Duration {
                    seconds: 14 * DAY,
                    nanos: 0,
                }),
                ..KeyResult::default()
            }
        })
        .collect();
    Row {
        row_id: data.id.to_owned(),
        objective: Some(Objective {
            owner: format!("orgUnits/{}", data.owner),
            accountable: format!("{}-lead@caskco.example", data.owner),
            title: data.title.to_owned(),
            kind: if data.aspirational {
                objective::Kind::Aspirational
            } else {
                objective::Kind::Committed
            } as i32,
            guardrails: data.guardrails.iter().map(|metric| (*metric).to_owned()).collect(),
            aligns_to,
            ..Objective::default()
        }),
        key_results,
        aligns_to_rows,
    }
}

/// Two check-ins on every key result, the teams at different paces; a few
/// teams are not confident, which `trellis cascade risk` shows.
async fn check_ins(clients: &Clients) -> Result<(), Failure> {
    let mut okr = clients.okr.clone();
    for (index, data) in quarter::OBJECTIVES.iter().enumerate() {
        let pace = [0.35, 0.55, 0.2, 0.7, 0.45, 0.1, 0.6][index % 7];
        let confidence = [7, 8, 3, 9, 6, 2, 7][index % 7];
        for (kr_index, (kind, _, start, target, _)) in data.key_results.iter().enumerate() {
            let parent = format!("objectives/{}/keyResults/kr{}", data.id, kr_index + 1);
            for (round, share) in [(1, pace / 2.0), (2, pace)] {
                let value = match *kind {
                    "milestone" => 0.0,
                    "baseline" => 34.0,
                    "threshold" => target - 0.05,
                    _ => start + (target - start) * share,
                };
                okr.create_check_in(CreateCheckInRequest {
                    parent: parent.clone(),
                    check_in: Some(trellis_proto::okr::v1::CheckIn {
                        value,
                        confidence,
                        note: format!("week {} update", round * 3),
                        ..trellis_proto::okr::v1::CheckIn::default()
                    }),
                    request_id: request_id(&format!("{}-kr{}-{round}", data.id, kr_index + 1)),
                })
                .await
                .map_err(Failure::call(format!("checking in on {parent}")))?;
            }
        }
    }
    Ok(())
}

/// Recent readings of every metric, ending now: DAU and engagement stay
/// green, CSAT slides into two red readings.
async fn measurements(clients: &Clients) -> Result<(), Failure> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let series: [(&str, &[f64], i64); 3] = [
        ("dau", company::DAU_DAYS, DAY),
        ("team-engagement", company::ENGAGEMENT_MONTHS, 30 * DAY),
        ("csat", company::CSAT_PULSES, 3 * DAY),
    ];
    for (metric, values, step) in series {
        let last = values.len() as i64 - 1;
        let measurements: Vec<Entry> = values
            .iter()
            .enumerate()
            .map(|(index, value)| Entry {
                health_metric: format!("healthMetrics/{metric}"),
                measurement: Some(Measurement {
                    value: *value,
                    measure_time: Some(seconds(now - 3_600 - (last - index as i64) * step)),
                    source: "demo".to_owned(),
                    ..Measurement::default()
                }),
            })
            .collect();
        // CSAT a reading at a time, as its pulses come in: its slide from
        // green to red is then seen as it happens, and opens a
        // conversation for the person accountable for it.
        let per_call = if metric == "csat" { 1 } else { measurements.len().max(1) };
        for chunk in measurements.chunks(per_call) {
            clients
                .health
                .clone()
                .batch_record_measurements(BatchRecordMeasurementsRequest {
                    measurements: chunk.to_vec(),
                    ..BatchRecordMeasurementsRequest::default()
                })
                .await
                .map_err(Failure::call(format!("recording healthMetrics/{metric}")))?;
        }
    }
    Ok(())
}

/// The remedial objective the escalation creates in the background, once
/// it is there (up to ten seconds).
async fn wait_for_remedial(clients: &Clients) -> Result<Option<Objective>, Failure> {
    for _ in 0..100 {
        let found = clients
            .okr
            .clone()
            .list_objectives(ListObjectivesRequest {
                filter: "origin = REMEDIAL AND remedial_for = \"healthMetrics/csat\"".to_owned(),
                ..ListObjectivesRequest::default()
            })
            .await
            .map_err(Failure::call("looking for the remedial objective"))?
            .into_inner()
            .objectives;
        if let Some(objective) = found.into_iter().next() {
            return Ok(Some(objective));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}
