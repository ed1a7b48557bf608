//! The strategy service: lifecycle, revisions, validation, etags and
//! idempotency. Choices, assumptions, deletion and lists are in
//! `strategy_parts.rs`.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::strategy::v1::{
    AssumptionStatus, Choice, ChoiceKind, CreateChoiceRequest, CreateStrategyRequest, GetStrategyRequest, Horizon,
    ListStrategiesRequest, ListStrategyRevisionsRequest, Strategy, StrategyState, TransitionStrategyRequest,
    UpdateChoiceRequest, UpdateStrategyRequest,
};
use trellis_tests::{TestApp, as_actor, backend_tests};

use crate::support::{
    choice, complete_strategy, create_strategy, ensure_metric, expect_code, load_org, violated_fields,
};

backend_tests!(
    a_strategy_is_created_as_a_draft_with_its_choices,
    every_legal_transition_moves_and_every_illegal_one_is_refused,
    activation_needs_a_complete_strategy,
    every_change_is_a_readable_revision,
    five_bad_fields_are_five_violations,
    a_stale_etag_aborts_and_writes_no_revision,
    a_retried_create_makes_one_strategy,
);

pub(crate) fn transition(name: &str, reason: &str) -> TransitionStrategyRequest {
    TransitionStrategyRequest {
        name: name.to_owned(),
        etag: String::new(),
        reason: reason.to_owned(),
    }
}

pub(crate) async fn get(app: &TestApp, name: &str) -> anyhow::Result<Strategy> {
    Ok(app
        .strategy
        .clone()
        .get_strategy(GetStrategyRequest {
            name: name.to_owned(),
            revision: 0,
        })
        .await?
        .into_inner())
}

pub(crate) async fn revision_count(app: &TestApp, name: &str) -> anyhow::Result<usize> {
    let request = ListStrategyRevisionsRequest {
        name: name.to_owned(),
        page_size: 1000,
        page_token: String::new(),
    };
    Ok(app
        .strategy
        .clone()
        .list_strategy_revisions(request)
        .await?
        .into_inner()
        .strategies
        .len())
}

pub(crate) async fn a_strategy_is_created_as_a_draft_with_its_choices(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    ensure_metric(&app, "healthMetrics/csat").await?;
    let request = CreateStrategyRequest {
        strategy: Some(complete_strategy("orgUnits/acme")),
        strategy_id: "growth".into(),
        request_id: String::new(),
    };
    let created = app
        .strategy
        .clone()
        .create_strategy(as_actor(request, "ceo@acme.test"))
        .await?
        .into_inner();
    assert_eq!(created.name, "strategies/growth");
    assert_eq!(created.state(), StrategyState::Draft);
    assert_eq!(
        (created.revision, created.revision_actor.as_str()),
        (1, "ceo@acme.test")
    );
    let choice_names: Vec<&str> = created.choices.iter().map(|choice| choice.name.as_str()).collect();
    assert_eq!(
        choice_names,
        vec![
            "strategies/growth/choices/fast-onboarding",
            "strategies/growth/choices/mid-market",
            "strategies/growth/choices/no-consulting"
        ]
    );
    assert_eq!(created.assumptions[0].name, "strategies/growth/assumptions/csat-green");
    assert_eq!(created.assumptions[0].status(), AssumptionStatus::Holding);
    assert_eq!(get(&app, "strategies/growth").await?, created);
    expect_code(
        app.strategy
            .clone()
            .get_strategy(GetStrategyRequest {
                name: "strategies/none".into(),
                revision: 0,
            })
            .await,
        Code::NotFound,
    )?;
    let duplicate = CreateStrategyRequest {
        strategy: Some(complete_strategy("orgUnits/acme")),
        strategy_id: "growth".into(),
        request_id: String::new(),
    };
    expect_code(
        app.strategy.clone().create_strategy(duplicate).await,
        Code::AlreadyExists,
    )?;
    Ok(())
}

pub(crate) async fn every_legal_transition_moves_and_every_illegal_one_is_refused(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    create_strategy(&app, "s", complete_strategy("orgUnits/acme")).await?;
    let name = "strategies/s";
    type Call = fn(
        &mut trellis_proto::strategy::v1::strategy_service_client::StrategyServiceClient<trellis_tests::TestChannel>,
        TransitionStrategyRequest,
    ) -> futures::future::BoxFuture<'_, Result<tonic::Response<Strategy>, tonic::Status>>;
    let activate: Call = |client, request| Box::pin(client.activate_strategy(request));
    let review: Call = |client, request| Box::pin(client.review_strategy(request));
    let retire: Call = |client, request| Box::pin(client.retire_strategy(request));
    let all = [("activate", activate), ("review", review), ("retire", retire)];
    // The path through every state, and at each state the moves that are illegal there.
    let path = [
        (StrategyState::Draft, "activate", StrategyState::Active),
        (StrategyState::Active, "review", StrategyState::UnderReview),
        (StrategyState::UnderReview, "activate", StrategyState::Active),
        (StrategyState::Active, "review", StrategyState::UnderReview),
        (StrategyState::UnderReview, "retire", StrategyState::Retired),
    ];
    let legal_from = |state: StrategyState| -> Vec<&str> {
        match state {
            StrategyState::Draft => vec!["activate"],
            StrategyState::Active => vec!["review"],
            StrategyState::UnderReview => vec!["activate", "retire"],
            _ => vec![],
        }
    };
    for (from, verb, to) in path {
        let before = get(&app, name).await?;
        assert_eq!(before.state(), from);
        for (illegal, call) in all.iter().filter(|(other, _)| !legal_from(from).contains(other)) {
            let status = expect_code(
                call(&mut client, transition(name, "no")).await,
                Code::FailedPrecondition,
            )?;
            assert!(
                status.message().contains(from.as_str_name()),
                "{illegal} from {from:?}: {}",
                status.message()
            );
        }
        assert_eq!(
            get(&app, name).await?.revision,
            before.revision,
            "refused moves write nothing"
        );
        let (_, call) = all
            .iter()
            .find(|(candidate, _)| *candidate == verb)
            .ok_or_else(|| anyhow::anyhow!("no {verb}"))?;
        let moved = call(&mut client, transition(name, "evidence")).await?.into_inner();
        assert_eq!(moved.state(), to);
        assert_eq!(moved.revision, before.revision + 1);
        assert_eq!(moved.state_reason, "evidence");
    }
    for (_, call) in &all {
        expect_code(call(&mut client, transition(name, "")).await, Code::FailedPrecondition)?;
    }
    Ok(())
}

pub(crate) async fn activation_needs_a_complete_strategy(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let bare = Strategy {
        display_name: "Bare".into(),
        owner: "orgUnits/acme".into(),
        ..Strategy::default()
    };
    create_strategy(&app, "bare", bare).await?;
    let status = expect_code(
        app.strategy
            .clone()
            .activate_strategy(transition("strategies/bare", ""))
            .await,
        Code::FailedPrecondition,
    )?;
    for gap in ["challenge", "winning aspiration", "horizon", "choice"] {
        assert!(status.message().contains(gap), "{gap}: {}", status.message());
    }
    Ok(())
}

pub(crate) async fn every_change_is_a_readable_revision(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    let first = create_strategy(&app, "rev", complete_strategy("orgUnits/acme")).await?;
    let patch = Strategy {
        name: first.name.clone(),
        display_name: "Win the mid-market, v2".into(),
        ..Strategy::default()
    };
    let mask = FieldMask {
        paths: vec!["display_name".into()],
    };
    let second = client
        .update_strategy(UpdateStrategyRequest {
            strategy: Some(patch),
            update_mask: Some(mask),
        })
        .await?
        .into_inner();
    assert_eq!(second.challenge, first.challenge, "fields outside the mask are kept");
    let new_choice = CreateChoiceRequest {
        parent: first.name.clone(),
        choice: Some(choice("", ChoiceKind::Capability, "Self-serve onboarding")),
        choice_id: "self-serve".into(),
        request_id: String::new(),
    };
    client.create_choice(as_actor(new_choice, "strategist")).await?;
    let third = get(&app, &first.name).await?;
    assert_eq!(
        (third.revision, third.choices.len(), third.revision_actor.as_str()),
        (3, 4, "strategist")
    );

    let history = client
        .list_strategy_revisions(ListStrategyRevisionsRequest {
            name: first.name.clone(),
            page_size: 2,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    let revisions: Vec<i64> = history.strategies.iter().map(|strategy| strategy.revision).collect();
    assert_eq!(revisions, vec![3, 2], "newest first");
    let rest = ListStrategyRevisionsRequest {
        name: first.name.clone(),
        page_size: 2,
        page_token: history.next_page_token,
    };
    let rest = client.list_strategy_revisions(rest).await?.into_inner();
    assert_eq!(rest.strategies, vec![first.clone()]);

    let at_one = client
        .get_strategy(GetStrategyRequest {
            name: "strategies/rev@1".into(),
            revision: 0,
        })
        .await?
        .into_inner();
    assert_eq!(at_one, first);
    let at_two = client
        .get_strategy(GetStrategyRequest {
            name: first.name.clone(),
            revision: 2,
        })
        .await?
        .into_inner();
    assert_eq!(
        (at_two.display_name.as_str(), at_two.choices.len()),
        ("Win the mid-market, v2", 3)
    );
    expect_code(
        client
            .get_strategy(GetStrategyRequest {
                name: "strategies/rev@9".into(),
                revision: 0,
            })
            .await,
        Code::NotFound,
    )?;
    expect_code(
        client
            .get_strategy(GetStrategyRequest {
                name: "strategies/rev@x".into(),
                revision: 0,
            })
            .await,
        Code::InvalidArgument,
    )?;
    Ok(())
}

pub(crate) async fn five_bad_fields_are_five_violations(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    ensure_metric(&app, "healthMetrics/csat").await?;
    let backwards = Horizon {
        start_time: super::support::horizon().end_time,
        end_time: super::support::horizon().start_time,
    };
    let bad = Strategy {
        display_name: String::new(),
        owner: "acme".into(),
        parent_choice: "choices/x".into(),
        horizon: Some(backwards),
        choices: vec![Choice {
            title: "No kind".into(),
            ..Choice::default()
        }],
        ..Strategy::default()
    };
    let request = CreateStrategyRequest {
        strategy: Some(bad),
        strategy_id: "ok-id".into(),
        request_id: String::new(),
    };
    let status = expect_code(
        app.strategy.clone().create_strategy(request).await,
        Code::InvalidArgument,
    )?;
    assert_eq!(
        violated_fields(&status),
        vec![
            "strategy.choices[0].kind",
            "strategy.display_name",
            "strategy.horizon.end_time",
            "strategy.owner",
            "strategy.parent_choice",
        ]
    );
    let listed = app
        .strategy
        .clone()
        .list_strategies(ListStrategiesRequest::default())
        .await?
        .into_inner();
    assert!(listed.strategies.is_empty(), "nothing was written");

    let unknown_owner = CreateStrategyRequest {
        strategy: Some(complete_strategy("orgUnits/ghost")),
        strategy_id: "ghost-owned".into(),
        request_id: String::new(),
    };
    let status = expect_code(
        app.strategy.clone().create_strategy(unknown_owner).await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violated_fields(&status), vec!["strategy.owner"]);
    Ok(())
}

pub(crate) async fn a_stale_etag_aborts_and_writes_no_revision(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut client = app.strategy.clone();
    let first = create_strategy(&app, "etag", complete_strategy("orgUnits/acme")).await?;
    let patch = |display_name: &str, etag: &str| UpdateStrategyRequest {
        strategy: Some(Strategy {
            name: first.name.clone(),
            display_name: display_name.into(),
            etag: etag.into(),
            ..Strategy::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    let second = client.update_strategy(patch("Second", &first.etag)).await?.into_inner();
    expect_code(
        client.update_strategy(patch("Lost update", &first.etag)).await,
        Code::Aborted,
    )?;
    let stale_transition = TransitionStrategyRequest {
        name: first.name.clone(),
        etag: first.etag.clone(),
        reason: String::new(),
    };
    expect_code(client.activate_strategy(stale_transition).await, Code::Aborted)?;
    let stale_choice = UpdateChoiceRequest {
        choice: Some(Choice {
            name: "strategies/etag/choices/mid-market".into(),
            title: "x".into(),
            etag: "\"999\"".into(),
            ..Choice::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    };
    expect_code(client.update_choice(stale_choice).await, Code::Aborted)?;
    assert_eq!(get(&app, &first.name).await?, second);
    assert_eq!(revision_count(&app, &first.name).await?, 2);
    Ok(())
}

pub(crate) async fn a_retried_create_makes_one_strategy(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    ensure_metric(&app, "healthMetrics/csat").await?;
    let request = CreateStrategyRequest {
        strategy: Some(complete_strategy("orgUnits/acme")),
        strategy_id: String::new(),
        request_id: "retry-me".into(),
    };
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let mut client = app.strategy.clone();
        let request = request.clone();
        attempts.push(tokio::spawn(async move { client.create_strategy(request).await }));
    }
    let mut names = Vec::new();
    for attempt in attempts {
        names.push(attempt.await??.into_inner().name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "every retry answers with the first strategy: {names:?}");
    let listed = app
        .strategy
        .clone()
        .list_strategies(ListStrategiesRequest::default())
        .await?
        .into_inner();
    assert_eq!(listed.strategies.len(), 1);
    let mut changed = request.clone();
    if let Some(strategy) = changed.strategy.as_mut() {
        strategy.display_name = "Something else".into();
    }
    expect_code(app.strategy.clone().create_strategy(changed).await, Code::AlreadyExists)?;
    Ok(())
}
