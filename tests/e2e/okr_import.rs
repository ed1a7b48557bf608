//! The planning-season import: every problem reported with its row and
//! field, all or nothing, a repeat answered with the first result, and a
//! stream that breaks off writing nothing.

use std::time::Duration;

use tonic::Code;
use trellis_proto::okr::v1::{
    ImportAlignment, ImportSeasonRequest, ImportSeasonResponse, KeyResult, ListKeyResultsRequest,
    ListObjectivesRequest, Objective, alignment_target::Target, import_season_request::Header,
    import_season_request::Row, key_result, objective,
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{CYCLE, MID_MARKET, NOT_DOING, measured, move_cycle, objective, planning_season, to_choice},
    support::{create_units, expect_code, unit, violated_fields, violations},
};

backend_tests!(
    three_bad_rows_among_ten_thousand_are_reported_and_nothing_is_written,
    a_season_is_written_whole_and_a_repeat_returns_the_first_result,
    rows_that_align_in_a_loop_or_to_unknown_rows_are_reported,
    an_import_that_breaks_off_writes_nothing,
    only_a_planning_cycle_takes_an_import,
);

const TEAMS: usize = 50;
const ROWS_PER_MESSAGE: usize = 500;

/// `TEAMS` teams under acme, so rows have owners.
pub async fn teams(app: &TestApp) -> anyhow::Result<()> {
    planning_season(app).await?;
    let requests = (0..TEAMS)
        .map(|team| unit(&format!("team-{team}"), "orgUnits/product", "team"))
        .collect();
    create_units(app, requests).await
}

/// Row `index`: a team objective with three key results, aligned to the
/// company choice, and (past the first team) to an earlier row's first
/// key result.
pub fn row(index: usize) -> Row {
    let owner = format!("orgUnits/team-{}", index % TEAMS);
    Row {
        row_id: format!("o{index}"),
        objective: Some(Objective {
            title: format!("Objective {index}"),
            ..objective(&owner, objective::Kind::Aspirational, vec![to_choice(MID_MARKET)])
        }),
        key_results: vec![
            measured(key_result::Kind::Increase, 10.0, 20.0),
            measured(key_result::Kind::Transition, 65.0, 75.0),
            measured(key_result::Kind::Decrease, 9.0, 5.0),
        ],
        aligns_to_rows: if index >= TEAMS {
            vec![ImportAlignment {
                row_id: format!("o{}", index / 2),
                key_result_id: "kr1".into(),
                weight: 1.0,
            }]
        } else {
            Vec::new()
        },
    }
}

pub fn messages(request_id: &str, rows: Vec<Row>) -> Vec<ImportSeasonRequest> {
    let mut messages = vec![ImportSeasonRequest {
        header: Some(Header {
            cycle: CYCLE.into(),
            request_id: request_id.into(),
            ..Header::default()
        }),
        rows: Vec::new(),
    }];
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        messages.push(ImportSeasonRequest {
            header: None,
            rows: rows.by_ref().take(ROWS_PER_MESSAGE).collect(),
        });
    }
    messages
}

async fn import(app: &TestApp, request_id: &str, rows: Vec<Row>) -> Result<ImportSeasonResponse, tonic::Status> {
    app.okr
        .clone()
        .import_season(futures::stream::iter(messages(request_id, rows)))
        .await
        .map(tonic::Response::into_inner)
}

async fn objective_count(app: &TestApp) -> anyhow::Result<usize> {
    let mut count = 0;
    let mut page_token = String::new();
    loop {
        let page = app
            .okr
            .clone()
            .list_objectives(ListObjectivesRequest {
                page_size: 1_000,
                page_token,
                filter: format!(r#"cycle = "{CYCLE}""#),
            })
            .await?
            .into_inner();
        count += page.objectives.len();
        if page.next_page_token.is_empty() {
            return Ok(count);
        }
        page_token = page.next_page_token;
    }
}

async fn three_bad_rows_among_ten_thousand_are_reported_and_nothing_is_written(app: TestApp) -> anyhow::Result<()> {
    teams(&app).await?;
    let mut rows: Vec<Row> = (0..10_000).map(row).collect();
    rows[1234].key_results[2] = measured(key_result::Kind::Decrease, 9.0, 12.0);
    if let Some(objective) = rows[5000].objective.as_mut() {
        objective.owner = "orgUnits/ghost".into();
    }
    if let Some(objective) = rows[9999].objective.as_mut() {
        objective.aligns_to = vec![to_choice(NOT_DOING)];
    }
    let status = expect_code(import(&app, "season-1", rows).await, Code::InvalidArgument)?;
    assert_eq!(
        violated_fields(&status),
        vec![
            "rows[1234].key_results[2].target",
            "rows[5000].objective.owner",
            "rows[9999].objective.aligns_to[0].choice",
        ]
    );
    assert_eq!(objective_count(&app).await?, 0);
    // The same request id with the rows fixed goes through: the failed
    // import claimed nothing.
    let response = import(&app, "season-1", (0..10_000).map(row).collect()).await?;
    assert_eq!(response.objectives_created, 10_000);
    assert_eq!(response.key_results_created, 30_000);
    Ok(())
}

async fn a_season_is_written_whole_and_a_repeat_returns_the_first_result(app: TestApp) -> anyhow::Result<()> {
    teams(&app).await?;
    let rows: Vec<Row> = (0..300).map(row).collect();
    let first = import(&app, "season-2", rows.clone()).await?;
    assert_eq!(first.rows, 300);
    assert_eq!(first.objectives_created, 300);
    assert_eq!(first.key_results_created, 900);
    // After the cycle's own event, every objective and key result.
    assert_eq!(first.last_sequence, 1 + 1_200);
    let repeat = import(&app, "season-2", rows.clone()).await?;
    assert_eq!(repeat, first);
    assert_eq!(objective_count(&app).await?, 300);
    let mut different = rows;
    different.truncate(10);
    expect_code(import(&app, "season-2", different).await, Code::AlreadyExists)?;

    let mut okr = app.okr.clone();
    let child = okr
        .get_objective(trellis_proto::okr::v1::GetObjectiveRequest {
            name: "objectives/o120".into(),
        })
        .await?
        .into_inner();
    assert_eq!(child.state(), objective::State::Draft);
    assert_eq!(child.cycle, CYCLE);
    let targets: Vec<Option<Target>> = child.aligns_to.iter().map(|target| target.target.clone()).collect();
    assert_eq!(
        targets,
        vec![
            Some(Target::Choice(MID_MARKET.into())),
            Some(Target::KeyResult("objectives/o60/keyResults/kr1".into())),
        ]
    );
    let key_results: Vec<KeyResult> = okr
        .list_key_results(ListKeyResultsRequest {
            parent: "objectives/o120".into(),
            ..ListKeyResultsRequest::default()
        })
        .await?
        .into_inner()
        .key_results;
    assert_eq!(key_results.len(), 3);
    // Activation locks the imported drafts like any other.
    move_cycle(&app, "ACTIVE").await?;
    let active = okr
        .list_objectives(ListObjectivesRequest {
            filter: "state = ACTIVE".into(),
            page_size: 1_000,
            ..ListObjectivesRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(active.objectives.len(), 300);
    Ok(())
}

async fn rows_that_align_in_a_loop_or_to_unknown_rows_are_reported(app: TestApp) -> anyhow::Result<()> {
    teams(&app).await?;
    let mut rows: Vec<Row> = (0..3).map(row).collect();
    let link = |row_id: &str, key_result_id: &str| ImportAlignment {
        row_id: row_id.into(),
        key_result_id: key_result_id.into(),
        weight: 1.0,
    };
    rows[0].aligns_to_rows = vec![link("o1", "")];
    rows[1].aligns_to_rows = vec![link("o0", "kr2")];
    rows[2].aligns_to_rows = vec![link("nowhere", ""), link("o0", "kr9")];
    let status = expect_code(import(&app, "", rows).await, Code::InvalidArgument)?;
    let problems = violations(&status);
    let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "rows[2].aligns_to_rows[0].row_id",
            "rows[2].aligns_to_rows[1].key_result_id",
            "rows[0].aligns_to_rows",
        ]
    );
    assert!(problems[2].1.contains("o0 → o1 → o0"), "{}", problems[2].1);
    Ok(())
}

async fn an_import_that_breaks_off_writes_nothing(app: TestApp) -> anyhow::Result<()> {
    teams(&app).await?;
    let (sender, receiver) = futures::channel::mpsc::channel::<ImportSeasonRequest>(16);
    let mut okr = app.okr.clone();
    let call = tokio::spawn(async move { okr.import_season(receiver).await });
    let mut sender = sender;
    for message in messages("broken", (0..2_000).map(row).collect()).into_iter().take(3) {
        futures::SinkExt::send(&mut sender, message).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The client goes away mid-stream without ending it.
    call.abort();
    let _ = call.await;
    drop(sender);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(objective_count(&app).await?, 0);
    let response = import(&app, "broken", (0..2_000).map(row).collect()).await?;
    assert_eq!(response.objectives_created, 2_000);
    Ok(())
}

async fn only_a_planning_cycle_takes_an_import(app: TestApp) -> anyhow::Result<()> {
    teams(&app).await?;
    move_cycle(&app, "ACTIVE").await?;
    expect_code(
        import(&app, "", (0..3).map(row).collect()).await,
        Code::FailedPrecondition,
    )?;
    let no_header = app
        .okr
        .clone()
        .import_season(futures::stream::iter(vec![ImportSeasonRequest {
            header: None,
            rows: vec![row(0)],
        }]))
        .await;
    let status = expect_code(no_header, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["header"]);
    Ok(())
}
