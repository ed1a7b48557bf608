//! Health metrics and the Four Square rule, with the strategy, OKR and
//! org services running: the seeds' whiskey-club scenario end to end, and
//! the helpers other health tests share (`health_edges.rs`,
//! `four_square.rs`).

use anyhow::Context;
use prost_types::Timestamp;
use tonic::Code;
use trellis_proto::{
    health::v1::{
        self as pb, CreateHealthMetricRequest, Direction, EscalationPolicy, GetHealthMetricRequest, HealthMetric,
        ListHealthMetricsRequest, ListStatusChangesRequest, Measurement, RecordMeasurementRequest, Thresholds,
        UpdateHealthMetricRequest, escalation::Stage,
    },
    okr::v1::{GetObjectiveRequest, KeyResult, ListKeyResultsRequest, ListObjectivesRequest, Objective, objective},
    strategy::v1::{
        AssumptionStatus, GetAssumptionRequest, GetStrategyRequest, StrategyState, TransitionStrategyRequest,
    },
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{company_objective, create_objective, measured, move_cycle, planning_season},
    support::eventually,
};

pub(crate) const CSAT: &str = "healthMetrics/csat";
pub(crate) const ASSUMPTION: &str = "strategies/company/assumptions/csat-green";
/// Measurements a day apart, from 2027-01-04.
pub(crate) const DAY_ONE: i64 = 1_798_934_400;
pub(crate) const DAY: i64 = 86_400;

pub(crate) fn day(n: i64) -> Timestamp {
    Timestamp {
        seconds: DAY_ONE + n * DAY,
        nanos: 0,
    }
}

/// CSAT on a 0-5 scale: green from 4.2, red below 3.8; escalated after two
/// reds, broken after two more.
pub(crate) fn csat() -> HealthMetric {
    HealthMetric {
        display_name: "CSAT".to_owned(),
        description: "Customer satisfaction, from the weekly survey".to_owned(),
        owner: "orgUnits/product".to_owned(),
        accountable: "lena@acme.example".to_owned(),
        unit: "points".to_owned(),
        direction: Direction::HigherIsBetter as i32,
        thresholds: Some(Thresholds {
            green: 4.2,
            red: 3.8,
            ..Thresholds::default()
        }),
        cadence: Some(prost_types::Duration {
            seconds: 3_650 * DAY,
            nanos: 0,
        }),
        escalation_policy: Some(EscalationPolicy {
            enabled: true,
            red_to_escalate: 2,
            red_to_break: 2,
        }),
        ..HealthMetric::default()
    }
}

/// Creates metric `id` with `metric`'s configuration. When a strategy's
/// assumption made the test create it first ([`crate::support::ensure_metric`]),
/// it gets this configuration instead: it has no measurements yet, so it
/// is then as if created with it.
pub(crate) async fn create_metric(app: &TestApp, id: &str, metric: HealthMetric) -> anyhow::Result<HealthMetric> {
    let created = app
        .metrics
        .clone()
        .create_health_metric(CreateHealthMetricRequest {
            health_metric: Some(metric.clone()),
            health_metric_id: id.to_owned(),
            request_id: String::new(),
        })
        .await;
    match created {
        Ok(created) => Ok(created.into_inner()),
        Err(status) if status.code() == Code::AlreadyExists => {
            let paths = [
                "display_name",
                "description",
                "accountable",
                "unit",
                "direction",
                "thresholds",
                "cadence",
                "escalation_policy",
            ];
            let updated = app
                .metrics
                .clone()
                .update_health_metric(UpdateHealthMetricRequest {
                    health_metric: Some(HealthMetric {
                        name: format!("healthMetrics/{id}"),
                        ..metric
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
                    }),
                })
                .await
                .with_context(|| format!("configuring {id}"))?;
            Ok(updated.into_inner())
        }
        Err(status) => Err(status).with_context(|| format!("creating {id}")),
    }
}

pub(crate) async fn record(
    app: &TestApp,
    metric: &str,
    n: i64,
    value: f64,
) -> anyhow::Result<pb::RecordMeasurementsResponse> {
    Ok(app
        .metrics
        .clone()
        .record_measurement(RecordMeasurementRequest {
            health_metric: metric.to_owned(),
            measurement: Some(Measurement {
                value,
                measure_time: Some(day(n)),
                source: "survey".to_owned(),
                ..Measurement::default()
            }),
        })
        .await
        .with_context(|| format!("recording {value} on day {n}"))?
        .into_inner())
}

pub(crate) async fn metric(app: &TestApp, name: &str) -> anyhow::Result<HealthMetric> {
    Ok(app
        .metrics
        .clone()
        .get_health_metric(GetHealthMetricRequest { name: name.to_owned() })
        .await?
        .into_inner())
}

pub(crate) async fn key_results_of(app: &TestApp, objective: &str) -> anyhow::Result<Vec<KeyResult>> {
    let request = ListKeyResultsRequest {
        parent: objective.to_owned(),
        ..ListKeyResultsRequest::default()
    };
    Ok(app
        .okr
        .clone()
        .list_key_results(request)
        .await?
        .into_inner()
        .key_results)
}

pub(crate) async fn objective_of(app: &TestApp, name: &str) -> anyhow::Result<Objective> {
    Ok(app
        .okr
        .clone()
        .get_objective(GetObjectiveRequest { name: name.to_owned() })
        .await?
        .into_inner())
}

pub(crate) async fn remedial_objectives(app: &TestApp) -> anyhow::Result<Vec<Objective>> {
    Ok(app
        .okr
        .clone()
        .list_objectives(ListObjectivesRequest {
            filter: format!("origin = REMEDIAL AND remedial_for = \"{CSAT}\""),
            ..ListObjectivesRequest::default()
        })
        .await?
        .into_inner()
        .objectives)
}

pub(crate) async fn assumption_status(app: &TestApp) -> anyhow::Result<AssumptionStatus> {
    Ok(app
        .strategy
        .clone()
        .get_assumption(GetAssumptionRequest {
            name: ASSUMPTION.to_owned(),
        })
        .await?
        .into_inner()
        .status())
}

/// The company strategy (ACTIVE, its assumption backed by CSAT), cycle
/// 2027-q1 ACTIVE with: an aspirational objective guarded by CSAT, a
/// committed one guarded by CSAT, and an aspirational one without
/// guardrails. Returns their names in that order.
pub(crate) async fn guarded_season(app: &TestApp) -> anyhow::Result<[String; 3]> {
    planning_season(app).await?;
    app.strategy
        .clone()
        .activate_strategy(TransitionStrategyRequest {
            name: "strategies/company".to_owned(),
            ..TransitionStrategyRequest::default()
        })
        .await?;
    let guarded = |kind| Objective {
        guardrails: vec![CSAT.to_owned()],
        ..company_objective(kind)
    };
    let kr = || vec![measured(trellis_proto::okr::v1::key_result::Kind::Increase, 10.0, 50.0)];
    let stretch = create_objective(app, "stretch", guarded(objective::Kind::Aspirational), kr()).await?;
    let committed = create_objective(app, "committed", guarded(objective::Kind::Committed), kr()).await?;
    let free = create_objective(app, "free", company_objective(objective::Kind::Aspirational), kr()).await?;
    move_cycle(app, "ACTIVE").await?;
    Ok([stretch.name, committed.name, free.name])
}

pub(crate) async fn state_of(app: &TestApp, name: &str) -> anyhow::Result<objective::State> {
    Ok(objective_of(app, name).await?.state())
}

pub(crate) async fn whiskey_club_escalation_end_to_end(app: TestApp) -> anyhow::Result<()> {
    let [stretch, committed, free] = guarded_season(&app).await?;
    create_metric(&app, "csat", csat()).await?;

    record(&app, CSAT, 1, 4.5).await?;
    eventually("the assumption holds", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::Holding)
    })
    .await?;

    // One red: at risk, nothing escalated yet.
    let after_one = record(&app, CSAT, 2, 3.5).await?;
    assert_eq!(after_one.health_metrics[0].status(), pb::Status::Red);
    eventually("the assumption is at risk", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::AtRisk)
    })
    .await?;
    assert!(remedial_objectives(&app).await?.is_empty());
    assert_eq!(state_of(&app, &stretch).await?, objective::State::Active);

    // Two reds: the Four Square rule.
    record(&app, CSAT, 3, 3.4).await?;
    eventually("a remedial objective exists", || async {
        Ok(!remedial_objectives(&app).await?.is_empty())
    })
    .await?;
    let remedial = remedial_objectives(&app).await?;
    assert_eq!(remedial.len(), 1);
    assert_eq!(remedial[0].owner, "orgUnits/product");
    assert_eq!(remedial[0].state(), objective::State::Active);
    eventually("the guarded stretch objective is paused", || async {
        Ok(state_of(&app, &stretch).await? == objective::State::Paused)
    })
    .await?;
    let paused = objective_of(&app, &stretch).await?;
    assert!(paused.state_reason.contains("CSAT"), "{}", paused.state_reason);
    assert_eq!(state_of(&app, &committed).await?, objective::State::Active);
    assert_eq!(state_of(&app, &free).await?, objective::State::Active);
    // KPI as key result: the remedial key result follows the metric.
    eventually("the remedial key result shows the metric's value", || async {
        let key_results = key_results_of(&app, &remedial[0].name).await?;
        Ok(key_results
            .first()
            .is_some_and(|kr| kr.health_metric == CSAT && kr.current_value == 3.4))
    })
    .await?;
    let escalated = metric(&app, CSAT).await?;
    let escalation = escalated.escalation.unwrap_or_default();
    assert_eq!(escalation.stage(), Stage::Escalated);
    assert_eq!(escalation.remedial_objective, remedial[0].name);
    assert_eq!(escalation.paused_objectives, vec![stretch.clone()]);
    let listed = app
        .metrics
        .clone()
        .list_health_metrics(ListHealthMetricsRequest {
            filter: "escalation.stage = ESCALATED AND NOT (status = GREEN OR status = UNKNOWN)".to_owned(),
            ..ListHealthMetricsRequest::default()
        })
        .await?
        .into_inner()
        .health_metrics;
    assert_eq!(
        listed.iter().map(|metric| metric.name.as_str()).collect::<Vec<_>>(),
        vec![CSAT],
        "the filter traverses to the escalation's stage"
    );

    // Red persists while the remedial objective runs: broken.
    record(&app, CSAT, 4, 3.3).await?;
    assert_eq!(assumption_status(&app).await?, AssumptionStatus::AtRisk);
    record(&app, CSAT, 5, 3.2).await?;
    eventually("the assumption is broken", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::Broken)
    })
    .await?;
    let strategy = app
        .strategy
        .clone()
        .get_strategy(GetStrategyRequest {
            name: "strategies/company".to_owned(),
            revision: 0,
        })
        .await?
        .into_inner();
    assert_eq!(strategy.state(), StrategyState::UnderReview);

    // Green again: everything reversed.
    record(&app, CSAT, 6, 4.4).await?;
    eventually("the paused objective is resumed", || async {
        Ok(state_of(&app, &stretch).await? == objective::State::Active)
    })
    .await?;
    eventually("the remedial objective is completed", || async {
        Ok(state_of(&app, &remedial[0].name).await? == objective::State::Completed)
    })
    .await?;
    eventually("the assumption holds again", || async {
        Ok(assumption_status(&app).await? == AssumptionStatus::Holding)
    })
    .await?;
    eventually("no step is pending", || async {
        Ok(metric(&app, CSAT).await?.escalation.unwrap_or_default().pending_steps == 0)
    })
    .await?;
    let cleared = metric(&app, CSAT).await?;
    let escalation = cleared.escalation.unwrap_or_default();
    assert_eq!(escalation.stage(), Stage::Clear);
    assert!(escalation.paused_objectives.is_empty());
    assert_eq!(remedial_objectives(&app).await?.len(), 1);

    // The history: when did CSAT turn red, and for how long.
    let history = app
        .metrics
        .clone()
        .list_status_changes(ListStatusChangesRequest {
            health_metric: CSAT.to_owned(),
            ..ListStatusChangesRequest::default()
        })
        .await?
        .into_inner()
        .status_changes;
    let statuses: Vec<pb::Status> = history.iter().map(|change| change.status()).collect();
    assert_eq!(
        statuses,
        vec![
            pb::Status::Green,
            pb::Status::Red,
            pb::Status::Green,
            pb::Status::Unknown
        ]
    );
    assert_eq!(history[1].change_time, Some(day(2)));
    assert_eq!(history[1].duration.map(|duration| duration.seconds), Some(4 * DAY));
    assert!(history[0].duration.is_none());

    // Red again in the same cycle: a new escalation, a new remedial objective.
    record(&app, CSAT, 7, 3.0).await?;
    record(&app, CSAT, 8, 3.0).await?;
    eventually("a second remedial objective runs", || async {
        Ok(remedial_objectives(&app).await?.len() == 2)
    })
    .await?;
    let states: Vec<objective::State> = remedial_objectives(&app).await?.iter().map(Objective::state).collect();
    assert!(states.contains(&objective::State::Completed));
    assert!(states.contains(&objective::State::Active));
    Ok(())
}

backend_tests!(whiskey_club_escalation_end_to_end,);
