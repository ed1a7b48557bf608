//! Cycles and the rules they give objectives: drafted in PLANNING, locked
//! by activation (changed only by a recorded re-plan), read-only once
//! CLOSED.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::okr::v1::{
    CreateCycleRequest, CreateObjectiveRequest, Cycle, GetObjectiveRequest, ListCyclesRequest, ListReplansRequest,
    ReplanObjectiveRequest, TransitionCycleRequest, UpdateCycleRequest, UpdateObjectiveRequest, cycle, objective,
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{
        CYCLE, MID_MARKET, at, company_objective, create_cycle, create_objective, measured, move_cycle, objective,
        planning_season, to_choice, to_objective,
    },
    support::{expect_code, load_org, violated_fields},
};

backend_tests!(
    a_cycle_moves_from_planning_to_closed_and_no_further,
    cycles_refuse_bad_periods_and_missing_org_units,
    activation_locks_structure_and_replans_are_recorded,
    a_closed_cycle_is_read_only,
);

async fn a_cycle_moves_from_planning_to_closed_and_no_further(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut okr = app.okr.clone();
    let created = create_cycle(&app, "2027-q1", "orgUnits/acme").await?;
    assert_eq!(created.name, CYCLE);
    assert_eq!(created.state(), cycle::State::Planning);
    let renamed = okr
        .update_cycle(UpdateCycleRequest {
            cycle: Some(Cycle {
                name: CYCLE.into(),
                display_name: "Q1 2027".into(),
                etag: created.etag.clone(),
                ..Cycle::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(renamed.display_name, "Q1 2027");
    let stale = TransitionCycleRequest {
        name: CYCLE.into(),
        etag: created.etag.clone(),
    };
    expect_code(okr.activate_cycle(stale).await, Code::Aborted)?;
    let skip = TransitionCycleRequest {
        name: CYCLE.into(),
        etag: String::new(),
    };
    expect_code(okr.review_cycle(skip.clone()).await, Code::FailedPrecondition)?;
    let active = move_cycle(&app, "ACTIVE").await?;
    assert_eq!(active.state(), cycle::State::Active);
    assert!(active.activate_time.is_some());
    let planning_only = okr
        .update_cycle(UpdateCycleRequest {
            cycle: Some(Cycle {
                name: CYCLE.into(),
                display_name: "Too late".into(),
                ..Cycle::default()
            }),
            update_mask: None,
        })
        .await;
    expect_code(planning_only, Code::FailedPrecondition)?;
    assert_eq!(move_cycle(&app, "REVIEW").await?.state(), cycle::State::Review);
    assert_eq!(move_cycle(&app, "CLOSED").await?.state(), cycle::State::Closed);
    expect_code(okr.close_cycle(skip).await, Code::FailedPrecondition)?;

    create_cycle(&app, "2027-q2", "orgUnits/sales").await?;
    let listed = okr
        .list_cycles(ListCyclesRequest {
            filter: "state = PLANNING".into(),
            ..ListCyclesRequest::default()
        })
        .await?
        .into_inner();
    let names: Vec<&str> = listed.cycles.iter().map(|cycle| cycle.name.as_str()).collect();
    assert_eq!(names, vec!["cycles/2027-q2"]);
    let by_unit = okr
        .list_cycles(ListCyclesRequest {
            filter: r#"org_unit = "orgUnits/acme""#.into(),
            ..ListCyclesRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(by_unit.cycles.len(), 1);
    Ok(())
}

async fn cycles_refuse_bad_periods_and_missing_org_units(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let request = CreateCycleRequest {
        cycle: Some(Cycle {
            display_name: String::new(),
            start_time: Some(at(1_800_002_000)),
            end_time: Some(at(1_800_001_000)),
            org_unit: "orgUnits/acme".into(),
            ..Cycle::default()
        }),
        cycle_id: "Q1_2027".into(),
        request_id: String::new(),
    };
    let status = expect_code(app.okr.clone().create_cycle(request).await, Code::InvalidArgument)?;
    assert_eq!(
        violated_fields(&status),
        vec!["cycle.display_name", "cycle.end_time", "cycle_id"]
    );
    let request = CreateCycleRequest {
        cycle: Some(Cycle {
            display_name: "Q1".into(),
            start_time: Some(at(1_800_001_000)),
            end_time: Some(at(1_800_002_000)),
            org_unit: "orgUnits/ghost".into(),
            ..Cycle::default()
        }),
        cycle_id: "2027-q1".into(),
        request_id: String::new(),
    };
    let status = expect_code(app.okr.clone().create_cycle(request).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["cycle.org_unit"]);
    Ok(())
}

async fn activation_locks_structure_and_replans_are_recorded(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let mut okr = app.okr.clone();
    let parent = create_objective(
        &app,
        "grow",
        company_objective(objective::Kind::Committed),
        vec![measured(trellis_proto::okr::v1::key_result::Kind::Increase, 10.0, 20.0)],
    )
    .await?;
    let child = create_objective(
        &app,
        "emea-growth",
        objective(
            "orgUnits/emea",
            objective::Kind::Aspirational,
            vec![to_choice(MID_MARKET)],
        ),
        vec![],
    )
    .await?;
    assert!(!child.locked);
    // While PLANNING the structure changes freely.
    let realigned = okr
        .update_objective(UpdateObjectiveRequest {
            objective: Some(trellis_proto::okr::v1::Objective {
                name: child.name.clone(),
                aligns_to: vec![to_objective(&parent.name)],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["aligns_to".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(realigned.aligns_to, vec![to_objective(&parent.name)]);

    move_cycle(&app, "ACTIVE").await?;
    let locked = okr
        .get_objective(GetObjectiveRequest {
            name: child.name.clone(),
        })
        .await?
        .into_inner();
    assert!(locked.locked);
    assert_eq!(locked.state(), objective::State::Active);
    let structure = UpdateObjectiveRequest {
        objective: Some(trellis_proto::okr::v1::Objective {
            name: child.name.clone(),
            aligns_to: vec![to_choice(MID_MARKET)],
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["aligns_to".into()],
        }),
    };
    expect_code(okr.update_objective(structure).await, Code::FailedPrecondition)?;
    let retitled = okr
        .update_objective(UpdateObjectiveRequest {
            objective: Some(trellis_proto::okr::v1::Objective {
                name: child.name.clone(),
                title: "Win EMEA".into(),
                etag: locked.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(retitled.title, "Win EMEA");
    let late = CreateObjectiveRequest {
        objective: Some(objective("orgUnits/emea", objective::Kind::Committed, vec![])),
        ..CreateObjectiveRequest::default()
    };
    expect_code(okr.create_objective(late).await, Code::FailedPrecondition)?;

    let replan = |reason: &str, etag: &str| ReplanObjectiveRequest {
        objective: Some(trellis_proto::okr::v1::Objective {
            name: child.name.clone(),
            aligns_to: vec![to_choice(MID_MARKET)],
            etag: etag.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["aligns_to".into()],
        }),
        reason: reason.to_owned(),
    };
    let status = expect_code(okr.replan_objective(replan("", "")).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["reason"]);
    expect_code(okr.replan_objective(replan("stale", &locked.etag)).await, Code::Aborted)?;
    let replanned = okr
        .replan_objective(replan("EMEA now serves the company choice directly", &retitled.etag))
        .await?
        .into_inner();
    assert_eq!(replanned.aligns_to, vec![to_choice(MID_MARKET)]);
    let replans = okr
        .list_replans(ListReplansRequest {
            parent: child.name.clone(),
            ..ListReplansRequest::default()
        })
        .await?
        .into_inner()
        .replans;
    assert_eq!(replans.len(), 1);
    assert_eq!(replans[0].reason, "EMEA now serves the company choice directly");
    assert_eq!(replans[0].changed_fields, vec!["aligns_to"]);
    assert_eq!(
        replans[0].before.as_ref().map(|before| before.aligns_to.clone()),
        Some(vec![to_objective(&parent.name)])
    );
    Ok(())
}

async fn a_closed_cycle_is_read_only(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let created = create_objective(&app, "grow", company_objective(objective::Kind::Committed), vec![]).await?;
    for state in ["ACTIVE", "REVIEW", "CLOSED"] {
        move_cycle(&app, state).await?;
    }
    let retitle = UpdateObjectiveRequest {
        objective: Some(trellis_proto::okr::v1::Objective {
            name: created.name.clone(),
            title: "Changed after the fact".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    };
    expect_code(
        app.okr.clone().update_objective(retitle).await,
        Code::FailedPrecondition,
    )?;
    Ok(())
}
