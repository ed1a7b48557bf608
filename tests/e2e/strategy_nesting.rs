//! Strategies nest under a parent strategy's choice: the rules that keep
//! the strategy cascade coherent.

use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::strategy::v1::{
    Choice, ChoiceKind, CreateStrategyRequest, DeleteChoiceRequest, GetChoiceRequest, ListStrategiesRequest, Strategy,
    TransitionStrategyRequest, UpdateChoiceRequest, UpdateStrategyRequest,
};
use trellis_tests::{TestApp, backend_tests};

use crate::support::{complete_strategy, create_strategy, expect_code, load_org, violations};

backend_tests!(
    a_strategy_nests_under_a_choice_of_an_ancestor_units_strategy,
    nesting_is_refused_under_not_doing_missing_foreign_or_retired_choices,
    a_choice_that_carries_strategies_keeps_its_kind_and_stays,
    a_choice_deleted_while_a_strategy_nests_under_it_leaves_no_orphan,
    an_update_can_neither_nest_a_strategy_under_itself_nor_strand_the_ones_below,
);

fn nested(owner: &str, parent_choice: &str) -> Strategy {
    Strategy {
        parent_choice: parent_choice.to_owned(),
        ..complete_strategy(owner)
    }
}

/// The org, a company strategy, and the sales strategy nested under its
/// `mid-market` choice.
async fn company_with_sales(app: &TestApp) -> anyhow::Result<Strategy> {
    load_org(app).await?;
    create_strategy(app, "company", complete_strategy("orgUnits/acme")).await?;
    create_strategy(
        app,
        "sales",
        nested("orgUnits/sales", "strategies/company/choices/mid-market"),
    )
    .await
}

async fn refused_field(app: &TestApp, id: &str, strategy: Strategy) -> anyhow::Result<Vec<(String, String)>> {
    let request = CreateStrategyRequest {
        strategy: Some(strategy),
        strategy_id: id.into(),
        request_id: String::new(),
    };
    let status = expect_code(
        app.strategy.clone().create_strategy(request).await,
        Code::InvalidArgument,
    )?;
    Ok(violations(&status))
}

async fn a_strategy_nests_under_a_choice_of_an_ancestor_units_strategy(app: TestApp) -> anyhow::Result<()> {
    let sales = company_with_sales(&app).await?;
    assert_eq!(sales.parent_choice, "strategies/company/choices/mid-market");
    let team = create_strategy(
        &app,
        "emea",
        nested("orgUnits/emea", "strategies/sales/choices/fast-onboarding"),
    )
    .await?;
    assert_eq!(team.owner, "orgUnits/emea");
    Ok(())
}

async fn nesting_is_refused_under_not_doing_missing_foreign_or_retired_choices(app: TestApp) -> anyhow::Result<()> {
    company_with_sales(&app).await?;
    let cases = [
        (
            "under-not-doing",
            nested("orgUnits/sales", "strategies/company/choices/no-consulting"),
            "NOT_DOING",
        ),
        (
            "under-missing",
            nested("orgUnits/sales", "strategies/company/choices/gone"),
            "does not exist",
        ),
        (
            "sibling",
            nested("orgUnits/product", "strategies/sales/choices/mid-market"),
            "not an ancestor",
        ),
        (
            "same-unit",
            nested("orgUnits/sales", "strategies/sales/choices/mid-market"),
            "not an ancestor",
        ),
        (
            "upside-down",
            nested("orgUnits/acme", "strategies/sales/choices/mid-market"),
            "not an ancestor",
        ),
    ];
    for (id, strategy, reason) in cases {
        let found = refused_field(&app, id, strategy).await?;
        assert_eq!(found.len(), 1, "{id}: {found:?}");
        assert_eq!(found[0].0, "strategy.parent_choice", "{id}");
        assert!(found[0].1.contains(reason), "{id}: {}", found[0].1);
    }

    let mut client = app.strategy.clone();
    let move_to_self = UpdateStrategyRequest {
        strategy: Some(Strategy {
            name: "strategies/sales".into(),
            parent_choice: "strategies/sales/choices/mid-market".into(),
            ..Strategy::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["parent_choice".into()],
        }),
    };
    expect_code(client.update_strategy(move_to_self).await, Code::InvalidArgument)?;

    create_strategy(&app, "old", complete_strategy("orgUnits/acme")).await?;
    for step in ["activate", "review", "retire"] {
        let request = TransitionStrategyRequest {
            name: "strategies/old".into(),
            etag: String::new(),
            reason: String::new(),
        };
        match step {
            "activate" => client.activate_strategy(request).await?,
            "review" => client.review_strategy(request).await?,
            _ => client.retire_strategy(request).await?,
        };
    }
    let found = refused_field(
        &app,
        "under-retired",
        nested("orgUnits/sales", "strategies/old/choices/mid-market"),
    )
    .await?;
    assert!(found[0].1.contains("RETIRED"), "{found:?}");
    Ok(())
}

async fn a_choice_that_carries_strategies_keeps_its_kind_and_stays(app: TestApp) -> anyhow::Result<()> {
    company_with_sales(&app).await?;
    let mut client = app.strategy.clone();
    let to_not_doing = UpdateChoiceRequest {
        choice: Some(Choice {
            name: "strategies/company/choices/mid-market".into(),
            kind: ChoiceKind::NotDoing as i32,
            ..Choice::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["kind".into()],
        }),
    };
    let status = expect_code(client.update_choice(to_not_doing).await, Code::FailedPrecondition)?;
    assert!(status.message().contains("strategies/sales"), "{}", status.message());
    let delete = DeleteChoiceRequest {
        name: "strategies/company/choices/mid-market".into(),
        etag: String::new(),
    };
    expect_code(client.delete_choice(delete).await, Code::FailedPrecondition)?;
    // A choice nothing nests under may become NOT_DOING.
    let other = UpdateChoiceRequest {
        choice: Some(Choice {
            name: "strategies/company/choices/fast-onboarding".into(),
            kind: ChoiceKind::NotDoing as i32,
            ..Choice::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["kind".into()],
        }),
    };
    assert_eq!(
        client.update_choice(other).await?.into_inner().kind(),
        ChoiceKind::NotDoing
    );
    Ok(())
}

/// Nesting under a choice while it is being deleted: either the nesting
/// wins (and the delete is refused) or the delete wins (and the nesting is
/// refused); never a strategy under a choice that is gone.
async fn a_choice_deleted_while_a_strategy_nests_under_it_leaves_no_orphan(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    for round in 0..8 {
        let company = format!("company-{round}");
        create_strategy(&app, &company, complete_strategy("orgUnits/acme")).await?;
        let choice = format!("strategies/{company}/choices/mid-market");
        let mut nesting_client = app.strategy.clone();
        let nesting = CreateStrategyRequest {
            strategy: Some(nested("orgUnits/sales", &choice)),
            strategy_id: format!("sales-{round}"),
            request_id: String::new(),
        };
        let nest = tokio::spawn(async move { nesting_client.create_strategy(nesting).await });
        let mut deleting_client = app.strategy.clone();
        let delete_request = DeleteChoiceRequest {
            name: choice.clone(),
            etag: String::new(),
        };
        let delete = tokio::spawn(async move { deleting_client.delete_choice(delete_request).await });
        let (nested_result, delete_result) = (nest.await?, delete.await?);
        let mut client = app.strategy.clone();
        let choice_exists = client
            .get_choice(GetChoiceRequest { name: choice.clone() })
            .await
            .is_ok();
        let filter = format!("parent_choice = \"{choice}\"");
        let nested_now = client
            .list_strategies(ListStrategiesRequest {
                filter,
                ..ListStrategiesRequest::default()
            })
            .await?
            .into_inner()
            .strategies;
        assert!(
            choice_exists || nested_now.is_empty(),
            "round {round}: a strategy nests under a deleted choice"
        );
        assert_eq!(nested_result.is_ok(), !nested_now.is_empty(), "round {round}");
        assert_ne!(
            nested_result.is_ok(),
            delete_result.is_ok(),
            "round {round}: exactly one of the two wins"
        );
    }
    Ok(())
}

async fn company_strategy(app: &TestApp) -> anyhow::Result<Strategy> {
    let request = trellis_proto::strategy::v1::GetStrategyRequest {
        name: "strategies/company".into(),
        ..Default::default()
    };
    Ok(app.strategy.clone().get_strategy(request).await?.into_inner())
}

/// The create-time rules hold on update too: no loop through the parent
/// choices, and the strategies nested below keep an owner above theirs.
async fn an_update_can_neither_nest_a_strategy_under_itself_nor_strand_the_ones_below(
    app: TestApp,
) -> anyhow::Result<()> {
    company_with_sales(&app).await?;
    let company = company_strategy(&app).await?;
    let update = |owner: &str, parent_choice: &str, paths: &[&str]| UpdateStrategyRequest {
        strategy: Some(Strategy {
            owner: owner.to_owned(),
            parent_choice: parent_choice.to_owned(),
            ..company.clone()
        }),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        }),
    };
    // company under sales, which is under company.
    let looped = update(
        "orgUnits/emea",
        "strategies/sales/choices/fast-onboarding",
        &["owner", "parent_choice"],
    );
    let status = expect_code(
        app.strategy.clone().update_strategy(looped).await,
        Code::InvalidArgument,
    )?;
    let fields: Vec<String> = violations(&status).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, vec!["strategy.parent_choice".to_owned()]);
    // company moved below sales, whose strategy nests under company.
    let stranding = update("orgUnits/emea", "", &["owner"]);
    let status = expect_code(
        app.strategy.clone().update_strategy(stranding).await,
        Code::InvalidArgument,
    )?;
    let problems = violations(&status);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "strategy.owner");
    assert!(problems[0].1.contains("strategies/sales"), "{}", problems[0].1);
    // Nothing changed.
    let after = company_strategy(&app).await?;
    assert_eq!(
        (after.owner.as_str(), after.parent_choice.as_str()),
        ("orgUnits/acme", "")
    );
    Ok(())
}
