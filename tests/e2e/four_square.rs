//! The Four Square loop's loose ends: a remedial objective reads as what
//! it is (its metric and cycle), serves its metric and the strategy that
//! metric backs instead of counting as an orphan, and shows the recovery
//! once the metric is green; paused objectives are told apart among the
//! risks; only sound alignments cover a choice; objectives without key
//! results show in the planning status.

use tonic::Code;
use trellis_proto::{
    cascade::v1::{
        GetAlignmentPathRequest, GetPlanningStatusRequest, ListOrphansRequest, ListRisksRequest,
        ListUncoveredChoicesRequest,
    },
    okr::v1::{key_result, objective},
    strategy::v1::{
        Assumption, CreateAssumptionRequest, CreateStrategyRequest, Strategy, TransitionStrategyRequest,
        UpdateAssumptionRequest,
    },
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    health::{
        CSAT, create_metric, csat, guarded_season, key_results_of, objective_of, record, remedial_objectives, state_of,
    },
    okr_support::{
        CYCLE, MID_MARKET, company_objective, create_objective, measured, objective, planning_season, to_choice,
    },
    support::{complete_strategy, create_strategy, eventually, expect_code, load_org, violated_fields},
};

backend_tests!(
    an_assumption_names_only_a_metric_that_exists,
    a_remedial_objective_is_named_linked_and_shows_the_recovery,
    coverage_needs_a_sound_alignment_and_planning_flags_objectives_without_key_results,
);

/// A typo in an assumption's metric would mean the Four Square rule never
/// marks it: the name is checked when written, as other references are.
async fn an_assumption_names_only_a_metric_that_exists(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let typo = Strategy {
        assumptions: vec![Assumption {
            name: "csat-green".into(),
            statement: "Customers stay satisfied".into(),
            health_metric: "healthMetrics/cstat".into(),
            ..Assumption::default()
        }],
        ..complete_strategy("orgUnits/acme")
    };
    let refused = app
        .strategy
        .clone()
        .create_strategy(CreateStrategyRequest {
            strategy: Some(typo),
            strategy_id: "company".into(),
            request_id: String::new(),
        })
        .await;
    let status = expect_code(refused, Code::InvalidArgument)?;
    assert_eq!(
        violated_fields(&status),
        vec!["strategy.assumptions[0].health_metric".to_owned()]
    );
    create_strategy(&app, "company", complete_strategy("orgUnits/acme")).await?;
    let added = app
        .strategy
        .clone()
        .create_assumption(CreateAssumptionRequest {
            parent: "strategies/company".into(),
            assumption: Some(Assumption {
                statement: "Daily actives keep growing".into(),
                health_metric: "healthMetrics/dua".into(),
                ..Assumption::default()
            }),
            assumption_id: "dau-grows".into(),
            request_id: String::new(),
        })
        .await;
    let status = expect_code(added, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["assumption.health_metric".to_owned()]);
    let changed = app
        .strategy
        .clone()
        .update_assumption(UpdateAssumptionRequest {
            assumption: Some(Assumption {
                name: "strategies/company/assumptions/csat-green".into(),
                health_metric: "healthMetrics/nps".into(),
                ..Assumption::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["health_metric".into()],
            }),
        })
        .await;
    let status = expect_code(changed, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["assumption.health_metric".to_owned()]);
    Ok(())
}

async fn a_remedial_objective_is_named_linked_and_shows_the_recovery(app: TestApp) -> anyhow::Result<()> {
    let [stretch, committed, _] = guarded_season(&app).await?;
    create_metric(&app, "csat", csat()).await?;
    record(&app, CSAT, 1, 4.5).await?;
    record(&app, CSAT, 2, 3.5).await?;
    record(&app, CSAT, 3, 3.4).await?;
    eventually("a remedial objective exists", || async {
        Ok(!remedial_objectives(&app).await?.is_empty())
    })
    .await?;
    let remedial = remedial_objectives(&app).await?;
    assert_eq!(remedial[0].name, "objectives/remedial-csat-2027-q1");
    eventually("the guarded stretch objective is paused", || async {
        Ok(state_of(&app, &stretch).await? == objective::State::Paused)
    })
    .await?;

    // The cascade: not an orphan; up its path, the metric and the strategy
    // whose assumption the metric backs.
    eventually("the cascade holds the remedial objective", || async {
        let path = app
            .cascade
            .clone()
            .get_alignment_path(GetAlignmentPathRequest {
                as_of: None,
                name: remedial[0].name.clone(),
            })
            .await;
        let Ok(path) = path else { return Ok(false) };
        let names: Vec<String> = path
            .into_inner()
            .routes
            .iter()
            .flat_map(|route| route.nodes.iter().map(|node| node.name.clone()))
            .collect();
        Ok(names.contains(&CSAT.to_owned()) && names.contains(&"strategies/company".to_owned()))
    })
    .await?;
    let orphans = app
        .cascade
        .clone()
        .list_orphans(ListOrphansRequest {
            cycle: CYCLE.into(),
            ..ListOrphansRequest::default()
        })
        .await?
        .into_inner()
        .objectives;
    assert!(
        orphans.iter().all(|orphan| orphan.name != remedial[0].name),
        "{orphans:?}"
    );

    // Risks: the paused objective is ranked in a group of its own, ahead
    // of the one still pursued, and says it is paused and why.
    eventually("the risks list the paused objective as paused", || async {
        let risks = app
            .cascade
            .clone()
            .list_risks(ListRisksRequest {
                cycle: CYCLE.into(),
                ..ListRisksRequest::default()
            })
            .await?
            .into_inner()
            .risks;
        let position = |name: &str| {
            risks
                .iter()
                .position(|risk| risk.objective.as_ref().is_some_and(|node| node.name == name))
        };
        let (Some(paused), Some(pursued)) = (position(&stretch), position(&committed)) else {
            return Ok(false);
        };
        Ok(risks[paused].paused
            && risks[paused].state_reason.contains("CSAT")
            && !risks[pursued].paused
            && paused < pursued)
    })
    .await?;

    // Green again: the completed remedial objective shows the recovery.
    record(&app, CSAT, 6, 4.4).await?;
    eventually("the remedial objective is completed", || async {
        Ok(state_of(&app, &remedial[0].name).await? == objective::State::Completed)
    })
    .await?;
    let key_results = key_results_of(&app, &remedial[0].name).await?;
    assert_eq!(key_results.first().map(|kr| kr.current_value), Some(4.4));
    assert_eq!(
        objective_of(&app, &remedial[0].name).await?.state(),
        objective::State::Completed
    );

    // Red again in the same cycle: the next one counts up.
    record(&app, CSAT, 7, 3.0).await?;
    record(&app, CSAT, 8, 3.0).await?;
    eventually("a second remedial objective runs", || async {
        Ok(remedial_objectives(&app).await?.len() == 2)
    })
    .await?;
    let names: Vec<String> = remedial_objectives(&app)
        .await?
        .into_iter()
        .map(|objective| objective.name)
        .collect();
    assert!(
        names.contains(&"objectives/remedial-csat-2027-q1-2".to_owned()),
        "{names:?}"
    );
    Ok(())
}

async fn coverage_needs_a_sound_alignment_and_planning_flags_objectives_without_key_results(
    app: TestApp,
) -> anyhow::Result<()> {
    planning_season(&app).await?;
    // The sales division's strategy, nested under the company's choice.
    let sales = Strategy {
        parent_choice: MID_MARKET.into(),
        ..complete_strategy("orgUnits/sales")
    };
    create_strategy(&app, "sales", sales).await?;
    for strategy in ["strategies/company", "strategies/sales"] {
        app.strategy
            .clone()
            .activate_strategy(TransitionStrategyRequest {
                name: strategy.into(),
                ..TransitionStrategyRequest::default()
            })
            .await?;
    }
    // Product aligns to a choice of the sales strategy: outside its own
    // org line, so misaligned; the choice is served by nothing sound.
    let sales_choice = "strategies/sales/choices/fast-onboarding";
    let misaligned = objective(
        "orgUnits/product",
        objective::Kind::Committed,
        vec![to_choice(sales_choice)],
    );
    let key_results = vec![measured(key_result::Kind::Increase, 1.0, 2.0)];
    create_objective(&app, "product-helps-sales", misaligned, key_results).await?;
    // And one objective without key results.
    create_objective(&app, "bare", company_objective(objective::Kind::Committed), Vec::new()).await?;
    let planning = || async {
        let request = GetPlanningStatusRequest {
            cycle: CYCLE.into(),
            ..GetPlanningStatusRequest::default()
        };
        anyhow::Ok(app.cascade.clone().get_planning_status(request).await?.into_inner())
    };
    eventually("the cascade sees both objectives", || async {
        Ok(planning().await.is_ok_and(|status| status.objectives == 2))
    })
    .await?;
    let status = planning().await?;
    assert_eq!(status.without_key_results, 1);
    let acme = status
        .unit_statuses
        .iter()
        .find(|unit| unit.org_unit.as_ref().is_some_and(|node| node.name == "orgUnits/acme"));
    assert_eq!(acme.map(|unit| unit.without_key_results), Some(1));
    let uncovered: Vec<String> = app
        .cascade
        .clone()
        .list_uncovered_choices(ListUncoveredChoicesRequest {
            cycle: CYCLE.into(),
            strategy: "strategies/sales".into(),
            ..ListUncoveredChoicesRequest::default()
        })
        .await?
        .into_inner()
        .choices
        .into_iter()
        .map(|choice| choice.name)
        .collect();
    assert!(uncovered.contains(&sales_choice.to_owned()), "{uncovered:?}");
    Ok(())
}
