//! A team's week in Trellis: initiatives held to the strategy filter
//! (work serving nothing lands in NOT_NOW, with the reason), P1 and P2
//! priorities planned, marked won or missed and locked once the next week
//! starts, and the board showing the four quadrants.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::{
    cascade::v1::{
        Board, CreateInitiativeRequest, GetAlignmentPathRequest, GetBoardRequest, GetInboxRequest,
        GetWeeklyPlanRequest, Initiative, Priority, UpdateInitiativeRequest, UpdateWeeklyPlanRequest, WeeklyPlan,
        initiative::Status,
        priority::{Level, Outcome},
    },
    okr::v1::{Objective, key_result, objective::Kind},
};
use trellis_tests::{TestApp, TestBackend, as_actor, backend_only_tests, backend_tests, spawn_app};

use crate::{
    health::{create_metric, csat},
    okr_support::{
        check_in_at, company_objective, create_objective, measured, move_cycle, objective, planning_season, to_choice,
    },
    support::{eventually, expect_code, violated_fields},
};

backend_tests!(
    work_that_serves_nothing_goes_to_not_now_with_its_reason,
    the_board_shows_a_units_four_square,
);
backend_only_tests!(a_teams_week_runs_from_plan_to_lock);

const ANA: &str = "ana@acme.example";
const KR: &str = "objectives/grow/keyResults/kr1";

/// Waits until the cascade's graph holds `name`.
async fn until_in_graph(app: &TestApp, name: &str) -> anyhow::Result<()> {
    eventually(&format!("the graph holds {name}"), || async {
        let request = GetAlignmentPathRequest {
            name: name.to_owned(),
            as_of: None,
        };
        Ok(app.cascade.clone().get_alignment_path(request).await.is_ok())
    })
    .await
}

fn work(owner: &str, title: &str, key_results: &[&str]) -> Initiative {
    Initiative {
        owner: owner.to_owned(),
        title: title.to_owned(),
        accountable: ANA.to_owned(),
        key_results: key_results.iter().map(|kr| (*kr).to_owned()).collect(),
        ..Initiative::default()
    }
}

async fn create_work(app: &TestApp, id: &str, initiative: Initiative) -> Result<Initiative, tonic::Status> {
    app.rhythm
        .clone()
        .create_initiative(CreateInitiativeRequest {
            initiative: Some(initiative),
            initiative_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn set_status(app: &TestApp, initiative: &Initiative, status: Status) -> Result<Initiative, tonic::Status> {
    app.rhythm
        .clone()
        .update_initiative(UpdateInitiativeRequest {
            initiative: Some(Initiative {
                status: status as i32,
                ..initiative.clone()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".to_owned()],
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn board(app: &TestApp, request: GetBoardRequest) -> anyhow::Result<Board> {
    Ok(app.rhythm.clone().get_board(request).await?.into_inner())
}

/// The current ISO week as the server counts it ("2026-W49").
async fn this_week(app: &TestApp) -> anyhow::Result<String> {
    let request = GetBoardRequest {
        org_unit: "orgUnits/acme".to_owned(),
        ..GetBoardRequest::default()
    };
    Ok(board(app, request).await?.week)
}

/// The week `weeks` after `week`, by the ISO calendar.
fn week_after(week: &str, weeks: u64) -> String {
    let (year, number) = week.split_once("-W").unwrap_or(("2027", "01"));
    let monday = chrono::NaiveDate::from_isoywd_opt(
        year.parse().unwrap_or(2027),
        number.parse().unwrap_or(1),
        chrono::Weekday::Mon,
    )
    .unwrap_or_default()
        + chrono::Days::new(weeks * 7);
    let iso = chrono::Datelike::iso_week(&monday);
    format!("{:04}-W{:02}", iso.year(), iso.week())
}

async fn work_that_serves_nothing_goes_to_not_now_with_its_reason(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&app, "grow", company_objective(Kind::Committed), vec![kr.clone()]).await?;
    let product = Objective {
        title: "Ship the app".to_owned(),
        ..objective(
            "orgUnits/product",
            Kind::Committed,
            vec![to_choice(crate::okr_support::MID_MARKET)],
        )
    };
    create_objective(&app, "app", product, vec![kr]).await?;
    until_in_graph(&app, KR).await?;
    until_in_graph(&app, "objectives/app/keyResults/kr1").await?;

    let draft = create_work(&app, "deal-desk", work("orgUnits/emea", "Deal desk", &[KR])).await?;
    assert_eq!(draft.status(), Status::NotNow, "its objective is still a DRAFT");
    assert!(
        draft.status_reason.contains("DRAFT, not ACTIVE"),
        "{}",
        draft.status_reason
    );
    let nothing = create_work(&app, "offsite", work("orgUnits/emea", "Team offsite", &[])).await?;
    assert_eq!(
        (nothing.status(), nothing.status_reason.as_str()),
        (Status::NotNow, "serves no key result")
    );
    let mut rhythm = app.rhythm.clone();
    let wrong = expect_code(
        rhythm
            .create_initiative(CreateInitiativeRequest {
                initiative: Some(Initiative {
                    target_week: "next week".to_owned(),
                    ..work("orgUnits/nowhere", " ", &["objectives/grow/keyResults/ghost", "okrs/x"])
                }),
                initiative_id: "Bad Id".to_owned(),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(
        violated_fields(&wrong),
        [
            "initiative.key_results[0]",
            "initiative.key_results[1]",
            "initiative.owner",
            "initiative.target_week",
            "initiative.title",
            "initiative_id",
        ],
        "shape and references, all at once"
    );

    move_cycle(&app, "ACTIVE").await?;
    eventually("the cascade sees the objective ACTIVE", || async {
        let planned = set_status(&app, &draft, Status::Planned).await;
        Ok(planned.is_ok_and(|planned| planned.status() == Status::Planned && planned.status_reason.is_empty()))
    })
    .await?;
    let refused = expect_code(
        set_status(&app, &nothing, Status::Planned).await,
        Code::FailedPrecondition,
    )?;
    assert!(
        refused.message().contains("serves no key result"),
        "{}",
        refused.message()
    );
    let elsewhere = create_work(
        &app,
        "app-store",
        work("orgUnits/emea", "App store listing", &["objectives/app/keyResults/kr1"]),
    )
    .await?;
    assert_eq!(elsewhere.status(), Status::NotNow);
    assert!(
        elsewhere
            .status_reason
            .contains("belongs to orgUnits/product, not to orgUnits/emea"),
        "{}",
        elsewhere.status_reason
    );
    let listed = rhythm
        .list_initiatives(trellis_proto::cascade::v1::ListInitiativesRequest {
            filter: "status = NOT_NOW AND key_results:\"objectives/app/keyResults/kr1\"".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let names: Vec<&str> = listed.initiatives.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["initiatives/app-store"]);
    Ok(())
}

fn priority(level: Level, title: &str, key_result: &str, initiative: &str) -> Priority {
    Priority {
        level: level as i32,
        title: title.to_owned(),
        key_result: key_result.to_owned(),
        initiative: initiative.to_owned(),
        owner: ANA.to_owned(),
        ..Priority::default()
    }
}

async fn update_plan(app: &TestApp, plan: WeeklyPlan) -> Result<WeeklyPlan, tonic::Status> {
    app.rhythm
        .clone()
        .update_weekly_plan(UpdateWeeklyPlanRequest {
            weekly_plan: Some(plan),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn a_teams_week_runs_from_plan_to_lock(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app(&backend).await?;
    planning_season(&app).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&app, "grow", company_objective(Kind::Committed), vec![kr]).await?;
    move_cycle(&app, "ACTIVE").await?;
    until_in_graph(&app, KR).await?;
    let week = this_week(&app).await?;
    let review = create_work(
        &app,
        "pipeline-review",
        Initiative {
            target_week: week_after(&week, 1),
            ..work("orgUnits/emea", "Weekly pipeline review", &[KR])
        },
    )
    .await?;
    assert_eq!(review.status(), Status::Planned);

    // Monday: the plan.
    let name = format!("orgUnits/emea/weeklyPlans/{}", week.to_lowercase());
    let empty = app
        .rhythm
        .clone()
        .get_weekly_plan(GetWeeklyPlanRequest { name: name.clone() })
        .await?
        .into_inner();
    assert!(empty.priorities.is_empty() && !empty.locked && empty.etag.is_empty());
    assert_eq!(empty.week, week);
    let wrong = expect_code(
        update_plan(
            &app,
            WeeklyPlan {
                name: name.clone(),
                priorities: vec![
                    priority(Level::P1, "Close the two open deals", "", ""),
                    priority(Level::P2, " ", "objectives/grow/keyResults/ghost", "initiatives/ghost"),
                    Priority {
                        outcome: 7,
                        ..priority(Level::Unspecified, "x", "bad", "")
                    },
                ],
                ..WeeklyPlan::default()
            },
        )
        .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(
        violated_fields(&wrong),
        [
            "weekly_plan.priorities[0].key_result",
            "weekly_plan.priorities[1].initiative",
            "weekly_plan.priorities[1].key_result",
            "weekly_plan.priorities[1].title",
            "weekly_plan.priorities[2].key_result",
            "weekly_plan.priorities[2].level",
            "weekly_plan.priorities[2].outcome",
        ]
    );
    let planned = update_plan(
        &app,
        WeeklyPlan {
            name: name.clone(),
            priorities: vec![
                priority(Level::P1, "Close the two open deals", KR, ""),
                priority(Level::P2, "Run the first pipeline review", "", &review.name),
            ],
            ..WeeklyPlan::default()
        },
    )
    .await?;
    assert_eq!(planned.priorities.len(), 2);
    assert_eq!(planned.updater, "anonymous");
    let owed = app
        .rhythm
        .clone()
        .get_inbox(as_actor(GetInboxRequest::default(), ANA))
        .await?
        .into_inner();
    assert_eq!(owed.priorities.len(), 2, "both are ana's, without an outcome");

    // Midweek: a check-in.
    check_in_at(&app, KR, 4.0, 7).await?;

    // Friday: wins and misses.
    let mut marked = planned.clone();
    marked.priorities[0].outcome = Outcome::Won as i32;
    marked.priorities[0].outcome_note = "Both signed".to_owned();
    marked.priorities[1].outcome = Outcome::Missed as i32;
    marked.priorities[1].outcome_note = "Moved to next week: two people out".to_owned();
    let stale = WeeklyPlan {
        etag: "\"0\"".to_owned(),
        ..marked.clone()
    };
    expect_code(update_plan(&app, stale).await, Code::Aborted)?;
    let marked = update_plan(&app, marked).await?;
    let outcomes: Vec<Outcome> = marked.priorities.iter().map(Priority::outcome).collect();
    assert_eq!(outcomes, [Outcome::Won, Outcome::Missed]);
    let owed = app
        .rhythm
        .clone()
        .get_inbox(as_actor(GetInboxRequest::default(), ANA))
        .await?
        .into_inner();
    assert!(owed.priorities.is_empty(), "every priority has its outcome");

    // The next week starts: a server whose calendar is a week ahead.
    let next_week = app
        .spawn_peer(|settings| settings.rhythm_clock_offset_seconds = 7 * 86_400)
        .await?;
    let locked = next_week
        .rhythm
        .clone()
        .get_weekly_plan(GetWeeklyPlanRequest { name: name.clone() })
        .await?
        .into_inner();
    assert!(locked.locked);
    assert_eq!(locked.priorities, marked.priorities, "what was marked is kept");
    let late = WeeklyPlan {
        priorities: vec![],
        ..marked.clone()
    };
    expect_code(update_plan(&next_week, late).await, Code::FailedPrecondition)?;
    next_week.shutdown().await?;
    app.shutdown().await
}

async fn the_board_shows_a_units_four_square(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    create_metric(&app, "csat", csat()).await?;
    for index in 0..3 {
        create_metric(&app, &format!("nps-{index}"), csat()).await?;
    }
    let guarded = Objective {
        guardrails: vec!["healthMetrics/csat".to_owned()],
        ..company_objective(Kind::Committed)
    };
    create_objective(
        &app,
        "grow",
        guarded,
        vec![measured(key_result::Kind::Increase, 0.0, 10.0)],
    )
    .await?;
    move_cycle(&app, "ACTIVE").await?;
    until_in_graph(&app, KR).await?;
    check_in_at(&app, KR, 5.0, 8).await?;
    let week = this_week(&app).await?;
    let due = |id: &str, weeks: u64| Initiative {
        target_week: week_after(&week, weeks),
        ..work("orgUnits/acme", id, &[KR])
    };
    eventually("the cascade sees the objective ACTIVE", || async {
        Ok(create_work(&app, "now", due("now", 0))
            .await
            .is_ok_and(|i| i.status() == Status::Planned))
    })
    .await?;
    create_work(&app, "soon", due("soon", 3)).await?;
    create_work(&app, "later", due("later", 6)).await?;
    create_work(&app, "undated", work("orgUnits/acme", "undated", &[KR])).await?;
    create_work(&app, "parked", work("orgUnits/acme", "parked", &[])).await?;
    let done = create_work(&app, "done", due("done", 0)).await?;
    set_status(&app, &done, Status::Done).await?;
    update_plan(
        &app,
        WeeklyPlan {
            name: format!("orgUnits/acme/weeklyPlans/{}", week.to_lowercase()),
            priorities: vec![priority(Level::P1, "Sign Brightline", KR, "")],
            ..WeeklyPlan::default()
        },
    )
    .await?;

    let whole = GetBoardRequest {
        org_unit: "orgUnits/acme".to_owned(),
        ..GetBoardRequest::default()
    };
    eventually("the board shows the check-in", || async {
        let board = board(&app, whole.clone()).await?;
        Ok(board.units[0].okrs.first().and_then(|kr| kr.confidence) == Some(8))
    })
    .await?;
    let acme = board(&app, whole.clone()).await?.units.remove(0);
    assert_eq!(acme.org_unit, "orgUnits/acme");
    let titles: Vec<&str> = acme.priorities.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles, ["Sign Brightline"]);
    let okrs: Vec<(&str, i32)> = acme.okrs.iter().map(|kr| (kr.key_result.as_str(), kr.colour)).collect();
    assert_eq!(okrs, [(KR, trellis_proto::cascade::v1::Colour::Green as i32)]);
    let pipeline: Vec<&str> = acme.pipeline.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        pipeline,
        ["initiatives/now", "initiatives/soon", "initiatives/undated"],
        "due within four weeks by week, then undated; not later, not done"
    );
    let not_now: Vec<&str> = acme.not_now.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(not_now, ["initiatives/parked"]);
    let health: Vec<(&str, bool, bool)> = acme
        .health
        .iter()
        .map(|m| (m.health_metric.as_str(), m.guardrail, m.accountable_overloaded))
        .collect();
    assert_eq!(
        health,
        [("healthMetrics/csat", true, true)],
        "acme owns no metric; its objective guards CSAT, whose accountable holds four"
    );

    let product = board(
        &app,
        GetBoardRequest {
            org_unit: "orgUnits/product".to_owned(),
            ..GetBoardRequest::default()
        },
    )
    .await?;
    assert_eq!(product.units[0].health.len(), 4, "product owns the four metrics");

    let mut units = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = board(
            &app,
            GetBoardRequest {
                include_subtree: true,
                page_size: 3,
                page_token: page_token.clone(),
                ..whole.clone()
            },
        )
        .await?;
        units.extend(page.units.into_iter().map(|unit| unit.org_unit));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        units,
        ["orgUnits/acme", "orgUnits/product", "orgUnits/sales", "orgUnits/emea"],
        "the subtree in tree order, page by page"
    );
    let bad = expect_code(
        app.rhythm
            .clone()
            .get_board(GetBoardRequest {
                org_unit: "acme".to_owned(),
                week: "2027-53".to_owned(),
                page_size: -1,
                ..GetBoardRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violated_fields(&bad), ["org_unit", "page_size", "week"]);
    Ok(())
}
