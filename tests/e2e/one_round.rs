//! A client never fixes its mistakes in rounds: a create with a malformed
//! field and a missing reference reports both in one INVALID_ARGUMENT.

use tonic::Code;
use trellis_proto::{
    health::v1::{CreateHealthMetricRequest, HealthMetric},
    okr::v1::{CreateObjectiveRequest, Objective, key_result, objective},
    strategy::v1::{CreateStrategyRequest, Strategy},
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    health::csat,
    okr_support::{CYCLE, measured, objective, planning_season, to_choice},
    support::{complete_strategy, expect_code, load_org, violated_fields},
};

backend_tests!(
    an_objective_reports_its_key_results_owner_and_targets_together,
    a_strategy_reports_its_fields_owner_and_parent_together,
    a_health_metric_reports_its_fields_and_owner_together,
);

fn has(fields: &[String], wanted: &str) -> bool {
    fields.iter().any(|field| field.starts_with(wanted))
}

async fn an_objective_reports_its_key_results_owner_and_targets_together(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let mut bad_key_result = measured(key_result::Kind::Increase, 10.0, 20.0);
    bad_key_result.target = f64::NAN;
    let request = CreateObjectiveRequest {
        objective: Some(Objective {
            cycle: CYCLE.into(),
            ..objective(
                "orgUnits/ghost",
                objective::Kind::Aspirational,
                vec![to_choice("strategies/company/choices/gone")],
            )
        }),
        key_results: vec![bad_key_result],
        ..CreateObjectiveRequest::default()
    };
    let status = expect_code(app.okr.clone().create_objective(request).await, Code::InvalidArgument)?;
    let fields = violated_fields(&status);
    assert!(has(&fields, "key_results[0].target"), "{fields:?}");
    assert!(has(&fields, "objective.owner"), "{fields:?}");
    assert!(has(&fields, "objective.aligns_to[0]"), "{fields:?}");
    Ok(())
}

async fn a_strategy_reports_its_fields_owner_and_parent_together(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let request = CreateStrategyRequest {
        strategy: Some(Strategy {
            display_name: String::new(),
            parent_choice: "strategies/nowhere/choices/gone".into(),
            ..complete_strategy("orgUnits/ghost")
        }),
        strategy_id: "s1".into(),
        request_id: String::new(),
    };
    let status = expect_code(
        app.strategy.clone().create_strategy(request).await,
        Code::InvalidArgument,
    )?;
    let fields = violated_fields(&status);
    assert!(has(&fields, "strategy.display_name"), "{fields:?}");
    assert!(has(&fields, "strategy.owner"), "{fields:?}");
    assert!(has(&fields, "strategy.parent_choice"), "{fields:?}");
    Ok(())
}

async fn a_health_metric_reports_its_fields_and_owner_together(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let request = CreateHealthMetricRequest {
        health_metric: Some(HealthMetric {
            display_name: String::new(),
            owner: "orgUnits/ghost".into(),
            ..csat()
        }),
        health_metric_id: "csat".into(),
        request_id: String::new(),
    };
    let status = expect_code(
        app.metrics.clone().create_health_metric(request).await,
        Code::InvalidArgument,
    )?;
    let fields = violated_fields(&status);
    assert!(has(&fields, "health_metric.display_name"), "{fields:?}");
    assert!(has(&fields, "health_metric.owner"), "{fields:?}");
    Ok(())
}
