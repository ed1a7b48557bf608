//! Objectives: what they may align to, every bad field at once, deletion,
//! the idempotent pause and resume, and the remedial objective of a red
//! health metric.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::{
    okr::v1::{
        CreateObjectiveRequest, CreateRemedialObjectiveRequest, DeleteObjectiveRequest, KeyResult,
        ListObjectivesRequest, Objective, PauseObjectiveRequest, ResumeObjectiveRequest, UpdateObjectiveRequest,
        alignment_target::Target, key_result, objective,
    },
    strategy::v1::TransitionStrategyRequest,
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{
        CYCLE, MID_MARKET, NOT_DOING, company_objective, create_cycle, create_objective, measured, move_cycle,
        objective, planning_season, to_choice, to_objective,
    },
    support::{complete_strategy, create_strategy, expect_code, violated_fields, violations},
};

backend_tests!(
    targets_must_exist_serve_and_stay_in_the_cycle,
    every_bad_field_is_reported_at_once,
    alignment_loops_and_aligned_parents_are_refused,
    pause_and_resume_are_idempotent,
    a_remedial_objective_is_created_once_per_metric_and_cycle,
    objectives_list_by_cycle_owner_and_state,
);

async fn refused(
    app: &TestApp,
    objective: Objective,
    key_results: Vec<KeyResult>,
) -> anyhow::Result<Vec<(String, String)>> {
    let request = CreateObjectiveRequest {
        objective: Some(objective),
        key_results,
        ..CreateObjectiveRequest::default()
    };
    let status = expect_code(app.okr.clone().create_objective(request).await, Code::InvalidArgument)?;
    Ok(violations(&status))
}

async fn targets_must_exist_serve_and_stay_in_the_cycle(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    create_strategy(&app, "old", complete_strategy("orgUnits/acme")).await?;
    let mut strategy = app.strategy.clone();
    let old = TransitionStrategyRequest {
        name: "strategies/old".into(),
        ..TransitionStrategyRequest::default()
    };
    strategy.activate_strategy(old.clone()).await?;
    strategy.review_strategy(old.clone()).await?;
    strategy.retire_strategy(old).await?;
    create_cycle(&app, "2027-q2", "orgUnits/acme").await?;
    let elsewhere = create_objective(
        &app,
        "next-quarter",
        Objective {
            cycle: "cycles/2027-q2".into(),
            ..objective("orgUnits/acme", objective::Kind::Committed, vec![])
        },
        vec![],
    )
    .await?;
    let problems = refused(
        &app,
        objective(
            "orgUnits/emea",
            objective::Kind::Committed,
            vec![
                to_choice(NOT_DOING),
                to_choice("strategies/company/choices/ghost"),
                to_choice("strategies/old/choices/mid-market"),
                to_objective(&elsewhere.name),
                to_objective("objectives/ghost"),
            ],
        ),
        vec![],
    )
    .await?;
    let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "objective.aligns_to[0].choice",
            "objective.aligns_to[1].choice",
            "objective.aligns_to[2].choice",
            "objective.aligns_to[3].objective",
            "objective.aligns_to[4].objective",
        ]
    );
    assert!(problems[0].1.contains("NOT_DOING"), "{}", problems[0].1);
    assert!(problems[2].1.contains("RETIRED"), "{}", problems[2].1);
    assert!(problems[3].1.contains("2027-q2"), "{}", problems[3].1);

    // An owner outside the cycle's subtree, or missing.
    create_cycle(&app, "sales-q1", "orgUnits/sales").await?;
    for (owner, expected) in [("orgUnits/product", "outside"), ("orgUnits/ghost", "does not exist")] {
        let problems = refused(
            &app,
            Objective {
                cycle: "cycles/sales-q1".into(),
                ..objective(owner, objective::Kind::Committed, vec![])
            },
            vec![],
        )
        .await?;
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "objective.owner");
        assert!(problems[0].1.contains(expected), "{}", problems[0].1);
    }

    // Good targets: a choice, an objective and a key result of the cycle.
    let parent = create_objective(
        &app,
        "grow",
        company_objective(objective::Kind::Committed),
        vec![measured(key_result::Kind::Increase, 10.0, 20.0)],
    )
    .await?;
    let child = create_objective(
        &app,
        "emea",
        objective(
            "orgUnits/emea",
            objective::Kind::Aspirational,
            vec![
                to_objective(&parent.name),
                trellis_proto::okr::v1::AlignmentTarget {
                    target: Some(Target::KeyResult(format!("{}/keyResults/kr1", parent.name))),
                    weight: 2.0,
                },
            ],
        ),
        vec![],
    )
    .await?;
    assert_eq!(child.aligns_to.len(), 2);
    assert_eq!(child.cycle, CYCLE);
    Ok(())
}

async fn every_bad_field_is_reported_at_once(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let bad = Objective {
        title: String::new(),
        accountable: String::new(),
        kind: 0,
        guardrails: vec!["metrics/csat".into()],
        ..objective("orgUnits/emea", objective::Kind::Committed, vec![to_choice(MID_MARKET)])
    };
    let problems = refused(
        &app,
        bad,
        vec![
            measured(key_result::Kind::Decrease, 10.0, 12.0),
            KeyResult {
                weight: -1.0,
                ..measured(key_result::Kind::Increase, 5.0, 1.0)
            },
            KeyResult {
                due_time: None,
                ..crate::okr_support::milestone()
            },
        ],
    )
    .await?;
    let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "objective.title",
            "objective.accountable",
            "objective.kind",
            "objective.guardrails[0]",
            "key_results[0].target",
            "key_results[1].target",
            "key_results[1].weight",
            "key_results[2].due_time",
        ]
    );
    assert!(
        problems[4].1.contains("a DECREASE needs a target below its start"),
        "{}",
        problems[4].1
    );
    Ok(())
}

async fn alignment_loops_and_aligned_parents_are_refused(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let mut okr = app.okr.clone();
    let parent = create_objective(&app, "parent", company_objective(objective::Kind::Committed), vec![]).await?;
    let child = create_objective(
        &app,
        "child",
        objective(
            "orgUnits/sales",
            objective::Kind::Committed,
            vec![to_objective(&parent.name)],
        ),
        vec![],
    )
    .await?;
    let close_loop = UpdateObjectiveRequest {
        objective: Some(Objective {
            name: parent.name.clone(),
            aligns_to: vec![to_objective(&child.name)],
            ..Objective::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["aligns_to".into()],
        }),
    };
    let status = expect_code(okr.update_objective(close_loop).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["objective.aligns_to"]);
    let delete_parent = DeleteObjectiveRequest {
        name: parent.name.clone(),
        etag: String::new(),
    };
    let status = expect_code(
        okr.delete_objective(delete_parent.clone()).await,
        Code::FailedPrecondition,
    )?;
    assert!(status.message().contains("objectives/child"), "{}", status.message());
    okr.delete_objective(DeleteObjectiveRequest {
        name: child.name.clone(),
        etag: child.etag.clone(),
    })
    .await?;
    okr.delete_objective(delete_parent).await?;
    let left = okr
        .list_objectives(ListObjectivesRequest::default())
        .await?
        .into_inner();
    assert!(left.objectives.is_empty());
    Ok(())
}

async fn pause_and_resume_are_idempotent(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let mut okr = app.okr.clone();
    let created = create_objective(
        &app,
        "stretch",
        objective(
            "orgUnits/acme",
            objective::Kind::Aspirational,
            vec![to_choice(MID_MARKET)],
        ),
        vec![],
    )
    .await?;
    let pause = |reason: &str| PauseObjectiveRequest {
        name: created.name.clone(),
        reason: reason.to_owned(),
    };
    // Not while PLANNING.
    expect_code(
        okr.pause_objective(pause("CSAT is red")).await,
        Code::FailedPrecondition,
    )?;
    move_cycle(&app, "ACTIVE").await?;
    let status = expect_code(okr.pause_objective(pause("")).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["reason"]);
    let paused = okr.pause_objective(pause("CSAT is red")).await?.into_inner();
    assert_eq!(paused.state(), objective::State::Paused);
    assert_eq!(paused.state_reason, "CSAT is red");
    let again = okr.pause_objective(pause("CSAT is red")).await?.into_inner();
    assert_eq!(again.etag, paused.etag, "a second pause changes nothing");
    let resume = ResumeObjectiveRequest {
        name: created.name.clone(),
        reason: "CSAT is green".into(),
    };
    let resumed = okr.resume_objective(resume.clone()).await?.into_inner();
    assert_eq!(resumed.state(), objective::State::Active);
    let again = okr.resume_objective(resume).await?.into_inner();
    assert_eq!(again.etag, resumed.etag, "a second resume changes nothing");
    okr.complete_objective(trellis_proto::okr::v1::CompleteObjectiveRequest {
        name: created.name.clone(),
        reason: "done".into(),
    })
    .await?;
    expect_code(
        okr.pause_objective(pause("CSAT is red")).await,
        Code::FailedPrecondition,
    )?;
    Ok(())
}

async fn a_remedial_objective_is_created_once_per_metric_and_cycle(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    move_cycle(&app, "ACTIVE").await?;
    let mut okr = app.okr.clone();
    let request = CreateRemedialObjectiveRequest {
        cycle: CYCLE.into(),
        health_metric: "healthMetrics/csat".into(),
        owner: "orgUnits/sales".into(),
        accountable: "ana@acme.example".into(),
        title: "Bring CSAT back to green".into(),
        key_result: Some(measured(key_result::Kind::Increase, 3.1, 4.2)),
        ..CreateRemedialObjectiveRequest::default()
    };
    let first = okr.create_remedial_objective(request.clone()).await?.into_inner();
    let second = okr.create_remedial_objective(request.clone()).await?.into_inner();
    assert_eq!(first.name, second.name);
    assert_eq!(first.etag, second.etag);
    assert_eq!(first.origin(), objective::Origin::Remedial);
    assert_eq!(first.remedial_for, "healthMetrics/csat");
    assert_eq!(first.state(), objective::State::Active);
    let remedial = okr
        .list_objectives(ListObjectivesRequest {
            filter: "origin = REMEDIAL".into(),
            ..ListObjectivesRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(remedial.objectives.len(), 1);
    let status = expect_code(
        okr.create_remedial_objective(CreateRemedialObjectiveRequest {
            health_metric: "csat".into(),
            key_result: None,
            ..request
        })
        .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violated_fields(&status), vec!["health_metric", "key_result"]);
    Ok(())
}

async fn objectives_list_by_cycle_owner_and_state(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    for (id, owner) in [
        ("a1", "orgUnits/acme"),
        ("s1", "orgUnits/sales"),
        ("s2", "orgUnits/sales"),
    ] {
        create_objective(
            &app,
            id,
            objective(owner, objective::Kind::Committed, vec![to_choice(MID_MARKET)]),
            vec![],
        )
        .await?;
    }
    let mut okr = app.okr.clone();
    let page = okr
        .list_objectives(ListObjectivesRequest {
            filter: format!(r#"cycle = "{CYCLE}" AND owner = "orgUnits/sales" AND state = DRAFT"#),
            page_size: 1,
            ..ListObjectivesRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(page.objectives.len(), 1);
    assert_eq!(page.objectives[0].name, "objectives/s1");
    let next = okr
        .list_objectives(ListObjectivesRequest {
            filter: format!(r#"cycle = "{CYCLE}" AND owner = "orgUnits/sales" AND state = DRAFT"#),
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await?
        .into_inner();
    assert_eq!(next.objectives[0].name, "objectives/s2");
    assert!(next.next_page_token.is_empty());
    Ok(())
}
