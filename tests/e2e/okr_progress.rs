//! Check-ins and what they make of progress, for every kind of key
//! result; staleness; values fed from a health metric; scoring in REVIEW.

use std::time::Duration;

use tonic::Code;
use trellis_proto::okr::v1::{
    CheckIn, CreateCheckInRequest, GetKeyResultRequest, GetObjectiveRequest, KeyResult, ListCheckInsRequest,
    PauseObjectiveRequest, RecordMetricValueRequest, ResumeObjectiveRequest, ScoreKeyResultRequest, key_result,
    objective,
};
use trellis_tests::{TestApp, as_actor, backend_tests};

use crate::{
    okr_support::{
        MID_MARKET, at, band, company_objective, create_objective, measured, milestone, move_cycle, objective,
        planning_season, to_choice, with_cadence,
    },
    support::{expect_code, violated_fields},
};

backend_tests!(
    progress_follows_each_kind_and_rolls_up_by_weight,
    check_ins_run_only_while_active_and_are_checked,
    a_key_result_without_a_recent_check_in_is_stale,
    metric_values_feed_linked_key_results_once_per_measurement,
    concurrent_check_ins_are_all_kept,
    check_ins_see_a_pause_made_by_another_replica_at_once,
    scores_roll_up_and_decide_achievement_by_kind,
);

async fn check_in(app: &TestApp, key_result: &str, value: f64, confidence: i32) -> Result<CheckIn, tonic::Status> {
    app.okr
        .clone()
        .create_check_in(CreateCheckInRequest {
            parent: key_result.to_owned(),
            check_in: Some(CheckIn {
                value,
                confidence,
                note: format!("at {value}"),
                ..CheckIn::default()
            }),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn key_result_named(app: &TestApp, name: &str) -> anyhow::Result<KeyResult> {
    Ok(app
        .okr
        .clone()
        .get_key_result(GetKeyResultRequest { name: name.to_owned() })
        .await?
        .into_inner())
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

/// One objective with a key result of every kind, in an ACTIVE cycle.
async fn every_kind(app: &TestApp) -> anyhow::Result<String> {
    planning_season(app).await?;
    let key_results = vec![
        KeyResult {
            name: "baseline".into(),
            ..measured(key_result::Kind::Baseline, 0.0, 0.0)
        },
        KeyResult {
            name: "transition".into(),
            ..measured(key_result::Kind::Transition, 65.0, 75.0)
        },
        KeyResult {
            name: "increase".into(),
            weight: 2.0,
            ..measured(key_result::Kind::Increase, 100.0, 110.0)
        },
        KeyResult {
            name: "decrease".into(),
            ..measured(key_result::Kind::Decrease, 20.0, 15.0)
        },
        KeyResult {
            name: "threshold".into(),
            ..band(70.0, 80.0)
        },
        KeyResult {
            name: "milestone".into(),
            ..milestone()
        },
    ];
    let created = create_objective(
        app,
        "every-kind",
        company_objective(objective::Kind::Committed),
        key_results,
    )
    .await?;
    move_cycle(app, "ACTIVE").await?;
    Ok(created.name)
}

async fn progress_follows_each_kind_and_rolls_up_by_weight(app: TestApp) -> anyhow::Result<()> {
    let objective = every_kind(&app).await?;
    let kr = |id: &str| format!("{objective}/keyResults/{id}");
    for (id, values, expected) in [
        ("baseline", vec![42.0], 1.0),
        // Clamped: past the target is 1, below the start is 0.
        ("transition", vec![70.0], 0.5),
        ("increase", vec![103.0, 120.0], 1.0),
        ("decrease", vec![18.0], 0.4),
        // The band's edges are inside: 70 and 80 in, 85 out, 75 in.
        ("threshold", vec![70.0, 80.0, 85.0, 75.0], 0.75),
        ("milestone", vec![0.0], 0.0),
    ] {
        for value in &values {
            check_in(&app, &kr(id), *value, 7).await?;
        }
        let shown = key_result_named(&app, &kr(id)).await?;
        assert!(
            close(shown.progress, expected),
            "{id}: {} != {expected}",
            shown.progress
        );
        assert_eq!(shown.current_value, *values.last().unwrap_or(&0.0), "{id}");
        assert_eq!(shown.confidence, Some(7), "{id}");
    }
    let decreased_below_start = key_result_named(&app, &kr("transition")).await?;
    assert!(decreased_below_start.last_check_in_time.is_some());
    check_in(&app, &kr("transition"), 60.0, 3).await?;
    assert!(close(key_result_named(&app, &kr("transition")).await?.progress, 0.0));
    check_in(&app, &kr("milestone"), 1.0, 10).await?;
    let shown = app
        .okr
        .clone()
        .get_objective(GetObjectiveRequest {
            name: objective.clone(),
        })
        .await?
        .into_inner();
    // Weights: increase counts twice. (1 + 0 + 2*1 + 0.4 + 0.75 + 1) / 7.
    let expected = (1.0 + 0.0 + 2.0 + 0.4 + 0.75 + 1.0) / 7.0;
    assert!(close(shown.progress, expected), "{} != {expected}", shown.progress);
    let history = app
        .okr
        .clone()
        .list_check_ins(ListCheckInsRequest {
            parent: kr("threshold"),
            ..ListCheckInsRequest::default()
        })
        .await?
        .into_inner()
        .check_ins;
    let values: Vec<f64> = history.iter().map(|check_in| check_in.value).collect();
    assert_eq!(values, vec![75.0, 85.0, 80.0, 70.0], "newest first");
    Ok(())
}

/// A planning season with one committed objective "grow" of one key result
/// from 0 up to 10; the key result's name.
async fn season_with_one_key_result(app: &TestApp) -> anyhow::Result<String> {
    planning_season(app).await?;
    let created = create_objective(
        app,
        "grow",
        company_objective(objective::Kind::Committed),
        vec![measured(key_result::Kind::Increase, 0.0, 10.0)],
    )
    .await?;
    Ok(format!("{}/keyResults/kr1", created.name))
}

async fn check_ins_run_only_while_active_and_are_checked(app: TestApp) -> anyhow::Result<()> {
    let kr = season_with_one_key_result(&app).await?;
    expect_code(check_in(&app, &kr, 1.0, 5).await, Code::FailedPrecondition)?;
    move_cycle(&app, "ACTIVE").await?;
    let status = expect_code(check_in(&app, &kr, f64::NAN, 11).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["check_in.confidence", "check_in.value"]);
    expect_code(
        check_in(&app, "objectives/grow/keyResults/ghost", 1.0, 5).await,
        Code::NotFound,
    )?;
    let mine = app
        .okr
        .clone()
        .create_check_in(as_actor(
            CreateCheckInRequest {
                parent: kr.clone(),
                check_in: Some(CheckIn {
                    value: 4.0,
                    confidence: 6,
                    ..CheckIn::default()
                }),
                request_id: "weekly-1".into(),
            },
            "ana@acme.example",
        ))
        .await?
        .into_inner();
    assert_eq!(mine.author, "ana@acme.example");
    let retried = app
        .okr
        .clone()
        .create_check_in(CreateCheckInRequest {
            parent: kr.clone(),
            check_in: Some(CheckIn {
                value: 4.0,
                confidence: 6,
                ..CheckIn::default()
            }),
            request_id: "weekly-1".into(),
        })
        .await?
        .into_inner();
    assert_eq!(retried.name, mine.name, "a retried check-in is recorded once");
    assert_eq!(key_result_named(&app, &kr).await?.progress, 0.4);
    move_cycle(&app, "REVIEW").await?;
    expect_code(check_in(&app, &kr, 5.0, 5).await, Code::FailedPrecondition)?;
    Ok(())
}

async fn a_key_result_without_a_recent_check_in_is_stale(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let created = create_objective(
        &app,
        "grow",
        company_objective(objective::Kind::Committed),
        vec![
            with_cadence(measured(key_result::Kind::Increase, 0.0, 10.0), 1),
            with_cadence(measured(key_result::Kind::Increase, 0.0, 10.0), 3_600),
        ],
    )
    .await?;
    let fast = format!("{}/keyResults/kr1", created.name);
    let slow = format!("{}/keyResults/kr2", created.name);
    assert!(
        !key_result_named(&app, &fast).await?.stale,
        "nothing is stale before the cycle runs"
    );
    move_cycle(&app, "ACTIVE").await?;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert!(key_result_named(&app, &fast).await?.stale);
    assert!(!key_result_named(&app, &slow).await?.stale);
    check_in(&app, &fast, 2.0, 5).await?;
    assert!(!key_result_named(&app, &fast).await?.stale);
    Ok(())
}

async fn metric_values_feed_linked_key_results_once_per_measurement(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let created = create_objective(
        &app,
        "csat",
        company_objective(objective::Kind::Committed),
        vec![KeyResult {
            health_metric: "healthMetrics/csat".into(),
            ..measured(key_result::Kind::Increase, 3.0, 4.0)
        }],
    )
    .await?;
    let kr = format!("{}/keyResults/kr1", created.name);
    move_cycle(&app, "ACTIVE").await?;
    expect_code(check_in(&app, &kr, 3.5, 5).await, Code::FailedPrecondition)?;
    let record = RecordMetricValueRequest {
        key_result: kr.clone(),
        health_metric: "healthMetrics/csat".into(),
        value: 3.5,
        measure_time: Some(at(1_800_000_000)),
        source: "survey".into(),
    };
    let mut okr = app.okr.clone();
    let first = okr.record_metric_value(record.clone()).await?.into_inner();
    let second = okr.record_metric_value(record.clone()).await?.into_inner();
    assert_eq!(first.name, second.name);
    assert_eq!(first.source, "survey");
    let shown = key_result_named(&app, &kr).await?;
    assert!(close(shown.progress, 0.5));
    let history = okr
        .list_check_ins(ListCheckInsRequest {
            parent: kr.clone(),
            ..ListCheckInsRequest::default()
        })
        .await?
        .into_inner()
        .check_ins;
    assert_eq!(history.len(), 1);
    let wrong_metric = RecordMetricValueRequest {
        health_metric: "healthMetrics/dau".into(),
        ..record
    };
    expect_code(okr.record_metric_value(wrong_metric).await, Code::FailedPrecondition)?;
    Ok(())
}

async fn concurrent_check_ins_are_all_kept(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let created = create_objective(
        &app,
        "busy",
        company_objective(objective::Kind::Committed),
        vec![band(0.0, 49.0), band(0.0, 49.0), band(0.0, 49.0), band(0.0, 49.0)],
    )
    .await?;
    move_cycle(&app, "ACTIVE").await?;
    let mut tasks = Vec::new();
    for index in 0..200u32 {
        let app_okr = app.okr.clone();
        let parent = format!("{}/keyResults/kr{}", created.name, index % 4 + 1);
        tasks.push(tokio::spawn(async move {
            app_okr
                .clone()
                .create_check_in(CreateCheckInRequest {
                    parent,
                    check_in: Some(CheckIn {
                        value: f64::from(index / 4 % 2 * 50),
                        confidence: 5,
                        ..CheckIn::default()
                    }),
                    request_id: String::new(),
                })
                .await
        }));
    }
    for task in tasks {
        task.await??;
    }
    for kr in 1..=4 {
        let name = format!("{}/keyResults/kr{kr}", created.name);
        let shown = key_result_named(&app, &name).await?;
        // Half of each key result's 50 values (0) are inside the band.
        assert!(close(shown.progress, 0.5), "{name}: {}", shown.progress);
        let history = app
            .okr
            .clone()
            .list_check_ins(ListCheckInsRequest {
                parent: name,
                page_size: 1_000,
                ..ListCheckInsRequest::default()
            })
            .await?
            .into_inner()
            .check_ins;
        assert_eq!(history.len(), 50);
    }
    Ok(())
}

/// The check-in writer remembers what it checked check-ins against; a
/// change committed by another server on the same database must count at
/// once, not after some propagation delay.
async fn check_ins_see_a_pause_made_by_another_replica_at_once(app: TestApp) -> anyhow::Result<()> {
    let kr = season_with_one_key_result(&app).await?;
    let objective = "objectives/grow".to_owned();
    move_cycle(&app, "ACTIVE").await?;
    check_in(&app, &kr, 1.0, 5).await?;
    let replica = app.spawn_replica().await?;
    let mut other = replica.okr.clone();
    other
        .pause_objective(PauseObjectiveRequest {
            name: objective.clone(),
            reason: "CSAT is red".into(),
        })
        .await?;
    expect_code(check_in(&app, &kr, 2.0, 5).await, Code::FailedPrecondition)?;
    other
        .resume_objective(ResumeObjectiveRequest {
            name: objective,
            reason: "CSAT is green".into(),
        })
        .await?;
    check_in(&app, &kr, 3.0, 7).await?;
    let shown = key_result_named(&app, &kr).await?;
    assert_eq!(shown.progress, 0.3);
    assert_eq!(shown.confidence, Some(7));
    Ok(())
}

async fn scores_roll_up_and_decide_achievement_by_kind(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let two_krs = || {
        vec![
            measured(key_result::Kind::Increase, 0.0, 10.0),
            KeyResult {
                weight: 3.0,
                ..measured(key_result::Kind::Increase, 0.0, 10.0)
            },
        ]
    };
    let stretch = create_objective(
        &app,
        "stretch",
        objective(
            "orgUnits/acme",
            objective::Kind::Aspirational,
            vec![to_choice(MID_MARKET)],
        ),
        two_krs(),
    )
    .await?;
    let committed = create_objective(
        &app,
        "committed",
        company_objective(objective::Kind::Committed),
        two_krs(),
    )
    .await?;
    let mut okr = app.okr.clone();
    let score = |objective: &str, kr: u32, score: f64| ScoreKeyResultRequest {
        name: format!("{objective}/keyResults/kr{kr}"),
        score,
        note: "scored in the review".into(),
    };
    move_cycle(&app, "ACTIVE").await?;
    expect_code(
        okr.score_key_result(score(&stretch.name, 1, 0.5)).await,
        Code::FailedPrecondition,
    )?;
    move_cycle(&app, "REVIEW").await?;
    let status = expect_code(
        okr.score_key_result(score(&stretch.name, 1, 1.5)).await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violated_fields(&status), vec!["score"]);
    // (0.4 + 3 * 0.8) / 4 = 0.7: achieved for an aspirational objective.
    let scored = okr.score_key_result(score(&stretch.name, 1, 0.4)).await?.into_inner();
    assert_eq!(scored.score, Some(0.4));
    assert_eq!(scored.score_note, "scored in the review");
    okr.score_key_result(score(&stretch.name, 2, 0.8)).await?;
    // (1.0 + 3 * 0.9) / 4 = 0.925: not achieved for a committed one.
    okr.score_key_result(score(&committed.name, 1, 1.0)).await?;
    okr.score_key_result(score(&committed.name, 2, 0.9)).await?;
    let get = |name: &str| GetObjectiveRequest { name: name.to_owned() };
    let stretch = okr.get_objective(get(&stretch.name)).await?.into_inner();
    assert!(close(stretch.score, 0.7), "{}", stretch.score);
    assert!(stretch.achieved);
    let committed = okr.get_objective(get(&committed.name)).await?.into_inner();
    assert!(close(committed.score, 0.925), "{}", committed.score);
    assert!(!committed.achieved);
    Ok(())
}
