//! The strategy service's parts: choices and assumptions with names and
//! lifecycles of their own, deleting drafts (and only drafts), and lists by
//! filter and page.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::strategy::v1::{
    Assumption, AssumptionStatus, BatchGetChoicesRequest, Choice, ChoiceKind, CreateAssumptionRequest,
    CreateChoiceRequest, DeleteAssumptionRequest, DeleteChoiceRequest, DeleteStrategyRequest, GetAssumptionRequest,
    GetChoiceRequest, GetStrategyRequest, ListAssumptionsRequest, ListChoicesRequest, ListStrategiesRequest,
    SetAssumptionStatusRequest, Strategy, StrategyState, UpdateAssumptionRequest, UpdateChoiceRequest,
    UpdateStrategyRequest,
};
use trellis_tests::{TestApp, backend_tests};

use crate::strategy::*;
use crate::support::{
    choice, complete_strategy, create_strategy, ensure_metric, expect_code, load_org, violated_fields,
};

backend_tests!(
    choices_have_their_own_names_and_lifecycle,
    assumptions_take_their_status_idempotently,
    only_drafts_are_deleted_and_retired_strategies_are_read_only,
    strategies_list_by_filter_and_page,
);

async fn choices_have_their_own_names_and_lifecycle(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    create_strategy(&app, "c", complete_strategy("orgUnits/acme")).await?;
    let request = CreateChoiceRequest {
        parent: "strategies/c".into(),
        choice: Some(choice("", ChoiceKind::ManagementSystem, "Quarterly strategy reviews")),
        choice_id: "reviews".into(),
        request_id: "choice-1".into(),
    };
    let created = client.create_choice(request.clone()).await?.into_inner();
    assert_eq!(created.name, "strategies/c/choices/reviews");
    assert_eq!(
        client.create_choice(request).await?.into_inner(),
        created,
        "retried create"
    );
    let fetched = client
        .get_choice(GetChoiceRequest {
            name: created.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched, created);

    let not_doing = ListChoicesRequest {
        parent: "strategies/c".into(),
        filter: "kind = NOT_DOING".into(),
        ..ListChoicesRequest::default()
    };
    let listed = client.list_choices(not_doing).await?.into_inner().choices;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "strategies/c/choices/no-consulting");

    let patch = Choice {
        name: created.name.clone(),
        title: "Monthly strategy reviews".into(),
        etag: created.etag.clone(),
        ..Choice::default()
    };
    let updated = client
        .update_choice(UpdateChoiceRequest {
            choice: Some(patch),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(
        (updated.title.as_str(), updated.kind()),
        ("Monthly strategy reviews", ChoiceKind::ManagementSystem)
    );

    let batch = BatchGetChoicesRequest {
        names: vec![
            created.name.clone(),
            "strategies/c/choices/gone".into(),
            "strategies/c/choices/mid-market".into(),
        ],
    };
    let answer = client.batch_get_choices(batch).await?.into_inner();
    let found: Vec<&str> = answer
        .choices
        .iter()
        .filter_map(|entry| entry.choice.as_ref())
        .map(|choice| choice.name.as_str())
        .collect();
    assert_eq!(
        found,
        vec!["strategies/c/choices/reviews", "strategies/c/choices/mid-market"]
    );
    assert_eq!(answer.missing, vec!["strategies/c/choices/gone".to_owned()]);
    assert_eq!(answer.choices[0].strategy_state(), StrategyState::Draft);
    assert_eq!(answer.choices[0].strategy_owner, "orgUnits/acme");

    client
        .delete_choice(DeleteChoiceRequest {
            name: created.name.clone(),
            etag: updated.etag,
        })
        .await?;
    expect_code(
        client.get_choice(GetChoiceRequest { name: created.name }).await,
        Code::NotFound,
    )?;
    let bad = CreateChoiceRequest {
        parent: "strategies/c".into(),
        choice: Some(Choice::default()),
        choice_id: "Bad!".into(),
        request_id: String::new(),
    };
    let status = expect_code(client.create_choice(bad).await, Code::InvalidArgument)?;
    assert_eq!(
        violated_fields(&status),
        vec!["choice.kind", "choice.title", "choice_id"]
    );
    Ok(())
}

async fn assumptions_take_their_status_idempotently(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    create_strategy(&app, "a", complete_strategy("orgUnits/acme")).await?;
    let name = "strategies/a/assumptions/csat-green";
    let set = |status: AssumptionStatus, reason: &str| SetAssumptionStatusRequest {
        name: name.into(),
        status: status as i32,
        reason: reason.into(),
    };
    let at_risk = client
        .set_assumption_status(set(AssumptionStatus::AtRisk, "CSAT is yellow"))
        .await?
        .into_inner();
    assert_eq!(
        (at_risk.status(), at_risk.status_reason.as_str()),
        (AssumptionStatus::AtRisk, "CSAT is yellow")
    );
    let revision = get(&app, "strategies/a").await?.revision;
    let again = client
        .set_assumption_status(set(AssumptionStatus::AtRisk, "CSAT is yellow"))
        .await?
        .into_inner();
    assert_eq!(again, at_risk);
    assert_eq!(
        get(&app, "strategies/a").await?.revision,
        revision,
        "the same status again writes nothing"
    );
    expect_code(
        client
            .set_assumption_status(set(AssumptionStatus::Unspecified, ""))
            .await,
        Code::InvalidArgument,
    )?;

    ensure_metric(&app, "healthMetrics/dau").await?;
    let created = client
        .create_assumption(CreateAssumptionRequest {
            parent: "strategies/a".into(),
            assumption: Some(Assumption {
                statement: "Daily actives keep growing".into(),
                health_metric: "healthMetrics/dau".into(),
                ..Assumption::default()
            }),
            assumption_id: "dau-grows".into(),
            request_id: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(created.status(), AssumptionStatus::Holding);
    let by_metric = ListAssumptionsRequest {
        parent: "strategies/a".into(),
        filter: r#"health_metric = "healthMetrics/dau""#.into(),
        ..ListAssumptionsRequest::default()
    };
    assert_eq!(
        client.list_assumptions(by_metric).await?.into_inner().assumptions,
        vec![created.clone()]
    );
    let at_risk_only = ListAssumptionsRequest {
        parent: "strategies/a".into(),
        filter: "status = AT_RISK".into(),
        ..ListAssumptionsRequest::default()
    };
    assert_eq!(
        client
            .list_assumptions(at_risk_only)
            .await?
            .into_inner()
            .assumptions
            .len(),
        1
    );

    let patch = Assumption {
        name: created.name.clone(),
        statement: "DAU grows 5% a quarter".into(),
        ..Assumption::default()
    };
    let mask = FieldMask {
        paths: vec!["statement".into()],
    };
    let updated = client
        .update_assumption(UpdateAssumptionRequest {
            assumption: Some(patch),
            update_mask: Some(mask),
        })
        .await?
        .into_inner();
    assert_eq!(
        (updated.statement.as_str(), updated.health_metric.as_str()),
        ("DAU grows 5% a quarter", "healthMetrics/dau")
    );
    let fetched = client
        .get_assumption(GetAssumptionRequest {
            name: created.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched, updated);
    client
        .delete_assumption(DeleteAssumptionRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await?;
    expect_code(
        client.get_assumption(GetAssumptionRequest { name: created.name }).await,
        Code::NotFound,
    )?;
    Ok(())
}

async fn only_drafts_are_deleted_and_retired_strategies_are_read_only(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    create_strategy(&app, "draft", complete_strategy("orgUnits/acme")).await?;
    client
        .delete_strategy(DeleteStrategyRequest {
            name: "strategies/draft".into(),
            etag: String::new(),
        })
        .await?;
    expect_code(
        client
            .get_strategy(GetStrategyRequest {
                name: "strategies/draft".into(),
                revision: 0,
            })
            .await,
        Code::NotFound,
    )?;
    expect_code(
        client
            .get_choice(GetChoiceRequest {
                name: "strategies/draft/choices/mid-market".into(),
            })
            .await,
        Code::NotFound,
    )?;

    create_strategy(&app, "old", complete_strategy("orgUnits/acme")).await?;
    client.activate_strategy(transition("strategies/old", "")).await?;
    expect_code(
        client
            .delete_strategy(DeleteStrategyRequest {
                name: "strategies/old".into(),
                etag: String::new(),
            })
            .await,
        Code::FailedPrecondition,
    )?;
    client
        .review_strategy(transition("strategies/old", "market moved"))
        .await?;
    client.retire_strategy(transition("strategies/old", "replaced")).await?;
    let revision = get(&app, "strategies/old").await?.revision;
    let patch = Strategy {
        name: "strategies/old".into(),
        display_name: "Edited".into(),
        ..Strategy::default()
    };
    let mask = FieldMask {
        paths: vec!["display_name".into()],
    };
    expect_code(
        client
            .update_strategy(UpdateStrategyRequest {
                strategy: Some(patch),
                update_mask: Some(mask),
            })
            .await,
        Code::FailedPrecondition,
    )?;
    let new_choice = CreateChoiceRequest {
        parent: "strategies/old".into(),
        choice: Some(choice("", ChoiceKind::HowToWin, "Late idea")),
        choice_id: String::new(),
        request_id: String::new(),
    };
    expect_code(client.create_choice(new_choice).await, Code::FailedPrecondition)?;
    assert_eq!(get(&app, "strategies/old").await?.revision, revision);
    Ok(())
}

async fn strategies_list_by_filter_and_page(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    for (id, owner) in [
        ("s1", "orgUnits/acme"),
        ("s2", "orgUnits/sales"),
        ("s3", "orgUnits/sales"),
        ("s4", "orgUnits/product"),
        ("s5", "orgUnits/emea"),
    ] {
        create_strategy(&app, id, complete_strategy(owner)).await?;
    }
    client.activate_strategy(transition("strategies/s2", "")).await?;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_strategies(ListStrategiesRequest {
                page_size: 2,
                page_token,
                filter: String::new(),
            })
            .await?
            .into_inner();
        assert!(page.strategies.len() <= 2);
        seen.extend(page.strategies.into_iter().map(|strategy| strategy.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        seen,
        vec![
            "strategies/s1",
            "strategies/s2",
            "strategies/s3",
            "strategies/s4",
            "strategies/s5"
        ]
    );
    let by_owner = ListStrategiesRequest {
        filter: r#"owner = "orgUnits/sales" AND state = DRAFT"#.into(),
        ..ListStrategiesRequest::default()
    };
    let names: Vec<String> = client
        .list_strategies(by_owner)
        .await?
        .into_inner()
        .strategies
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["strategies/s3"]);
    let bad_state = ListStrategiesRequest {
        filter: "state = SLEEPING".into(),
        ..ListStrategiesRequest::default()
    };
    expect_code(client.list_strategies(bad_state).await, Code::InvalidArgument)?;
    Ok(())
}
