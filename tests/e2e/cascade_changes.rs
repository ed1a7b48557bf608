//! The cascade as the company works: a misalignment seen within a second of
//! the write that causes it, a cascade restarted mid-stream that converges
//! to the same answers, and bad questions refused with every problem.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use tonic::Code;
use trellis_proto::{
    cascade::v1::{self as pb, cascade_service_client::CascadeServiceClient, misalignment::Reason},
    strategy::v1::{Choice, ChoiceKind, TransitionStrategyRequest, UpdateChoiceRequest},
};
use trellis_server::ServiceName;
use trellis_tests::TestChannel;
use trellis_tests::{TestApp, backend_tests};

use crate::cascade::*;
use crate::{
    okr_support::CYCLE,
    support::{expect_code, violations},
};

backend_tests!(
    a_misalignment_shows_within_a_second_of_the_write,
    a_cascade_restarted_mid_stream_converges_to_the_same_answers,
    bad_questions_are_refused_with_every_problem,
);

async fn a_misalignment_shows_within_a_second_of_the_write(app: TestApp) -> anyhow::Result<()> {
    strategies_and_season(&app).await?;
    objectives(&app).await?;
    settled(&app, &app.cascade).await?;

    let mut alignment = app
        .cascade
        .clone()
        .watch_alignment(pb::WatchAlignmentRequest {
            under: "orgUnits/sales".to_owned(),
        })
        .await?
        .into_inner();

    // The choice the onboarding objective serves becomes one the company
    // refuses: the objective slipped in before, and is now misaligned.
    let written = Instant::now();
    app.strategy
        .clone()
        .update_choice(UpdateChoiceRequest {
            choice: Some(Choice {
                name: COMPANY_ONBOARDING.to_owned(),
                kind: ChoiceKind::NotDoing as i32,
                ..Choice::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["kind".to_owned()],
            }),
        })
        .await?;
    let expected = (
        "objectives/onboarding".to_owned(),
        COMPANY_ONBOARDING.to_owned(),
        Reason::NotDoingChoice,
    );
    loop {
        if misalignments(&app.cascade).await?.contains(&expected) {
            break;
        }
        if written.elapsed() > Duration::from_secs(1) {
            bail!("no NOT_DOING misalignment a second after the write");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A strategy under review, then a retired one.
    for strategy in ["strategies/sales", "strategies/product"] {
        app.strategy
            .clone()
            .review_strategy(TransitionStrategyRequest {
                name: strategy.to_owned(),
                reason: "The pipeline contradicts the plan".to_owned(),
                ..TransitionStrategyRequest::default()
            })
            .await?;
    }
    app.strategy
        .clone()
        .retire_strategy(TransitionStrategyRequest {
            name: "strategies/product".to_owned(),
            reason: "Folded into the company strategy".to_owned(),
            ..TransitionStrategyRequest::default()
        })
        .await?;
    settled(&app, &app.cascade).await?;
    assert_eq!(
        misalignments(&app.cascade).await?,
        vec![
            (
                "objectives/emea-product".to_owned(),
                PRODUCT_MID_MARKET.to_owned(),
                Reason::StrategyRetired
            ),
            (
                "objectives/emea-product".to_owned(),
                PRODUCT_MID_MARKET.to_owned(),
                Reason::OutsideOwnerAncestry
            ),
            expected,
            (
                "objectives/win-emea".to_owned(),
                SALES_MID_MARKET.to_owned(),
                Reason::StrategyUnderReview
            ),
        ]
    );

    // The dashboard under sales saw its strategy change.
    let mut seen = Vec::new();
    while !seen.iter().any(|name: &String| name == "strategies/sales") {
        let change = tokio::time::timeout(Duration::from_secs(5), alignment.next())
            .await
            .context("no alignment change under sales")?
            .context("the watch ended")??;
        seen.extend(change.node.map(|node| node.name));
    }
    assert!(
        !seen.iter().any(|name| name.starts_with("strategies/product")),
        "a change outside the subtree was sent: {seen:?}"
    );
    Ok(())
}

/// Every question's answer, as text, for comparing two cascades.
async fn answers(cascade: &CascadeServiceClient<TestChannel>, deals_kr: &str) -> anyhow::Result<Vec<String>> {
    let mut cascade = cascade.clone();
    let mut answers = Vec::new();
    for name in [
        "strategies/company",
        "orgUnits/acme",
        COMPANY_MID_MARKET,
        "objectives/win-emea",
    ] {
        let mut rollup = cascade
            .get_rollup(pb::GetRollupRequest {
                as_of: None,
                name: name.to_owned(),
                cycle: CYCLE.to_owned(),
            })
            .await?
            .into_inner();
        rollup.compute_time = None;
        answers.push(format!("{rollup:?}"));
        let descendants = cascade
            .list_aligned_descendants(pb::ListAlignedDescendantsRequest {
                name: name.to_owned(),
                page_size: 1000,
                ..pb::ListAlignedDescendantsRequest::default()
            })
            .await?
            .into_inner();
        answers.push(format!("{:?}", descendants.nodes));
    }
    let path = cascade
        .get_alignment_path(pb::GetAlignmentPathRequest {
            as_of: None,
            name: deals_kr.to_owned(),
        })
        .await?
        .into_inner();
    answers.push(format!("{path:?}"));
    let orphans = cascade
        .list_orphans(pb::ListOrphansRequest {
            cycle: CYCLE.to_owned(),
            ..pb::ListOrphansRequest::default()
        })
        .await?
        .into_inner();
    answers.push(format!("{orphans:?}"));
    answers.push(format!("{:?}", misalignments(&cascade).await?));
    let uncovered = cascade
        .list_uncovered_choices(pb::ListUncoveredChoicesRequest::default())
        .await?
        .into_inner();
    answers.push(format!("{uncovered:?}"));
    let planning = cascade
        .get_planning_status(pb::GetPlanningStatusRequest {
            cycle: CYCLE.to_owned(),
            ..pb::GetPlanningStatusRequest::default()
        })
        .await?
        .into_inner();
    answers.push(format!("{planning:?}"));
    Ok(answers)
}

async fn a_cascade_restarted_mid_stream_converges_to_the_same_answers(app: TestApp) -> anyhow::Result<()> {
    let peers = |settings: &mut trellis_server::Settings, url: String| {
        settings.services = vec![ServiceName::Cascade];
        settings.peer_strategy = Some(url.clone());
        settings.peer_okr = Some(url.clone());
        settings.peer_health = Some(url);
    };
    let url = app.url();
    let mut cascade = app.spawn_peer(|settings| peers(settings, url.clone())).await?;
    strategies_and_season(&app).await?;
    // Stopped while the objectives and check-ins are being written.
    let writes = async {
        objectives(&app).await?;
        quarter_under_way(&app).await
    };
    let stop = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        cascade.stop_server().await
    };
    let (written, stopped) = tokio::join!(writes, stop);
    written?;
    stopped?;
    let restarted = app.spawn_peer(|settings| peers(settings, url.clone())).await?;
    settled(&app, &restarted.cascade).await?;
    settled(&app, &app.cascade).await?;
    let deals_kr = first_key_result(&app, "objectives/emea-deals").await?;
    let expected = answers(&app.cascade, &deals_kr).await?;
    assert_eq!(answers(&restarted.cascade, &deals_kr).await?, expected);
    assert!(expected.iter().any(|answer| answer.contains("product-orphan")));
    Ok(())
}

async fn bad_questions_are_refused_with_every_problem(app: TestApp) -> anyhow::Result<()> {
    strategies_and_season(&app).await?;
    settled(&app, &app.cascade).await?;
    let mut cascade = app.cascade.clone();
    let status = expect_code(
        cascade
            .list_risks(pb::ListRisksRequest {
                cycle: String::new(),
                org_unit: "teams/x".to_owned(),
                confidence_below: 11,
                page_size: -1,
                ..pb::ListRisksRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    let mut fields: Vec<String> = violations(&status).into_iter().map(|(field, _)| field).collect();
    fields.sort();
    assert_eq!(fields, vec!["confidence_below", "cycle", "org_unit"]);
    expect_code(
        cascade
            .get_alignment_path(pb::GetAlignmentPathRequest {
                as_of: None,
                name: "objectives/nope".to_owned(),
            })
            .await,
        Code::NotFound,
    )?;
    let status = expect_code(
        cascade
            .list_orphans(pb::ListOrphansRequest {
                cycle: CYCLE.to_owned(),
                page_token: "forged".to_owned(),
                ..pb::ListOrphansRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violations(&status)[0].0, "page_token");
    let status = expect_code(
        cascade
            .get_planning_status(pb::GetPlanningStatusRequest {
                cycle: CYCLE.to_owned(),
                org_unit: "orgUnits/nowhere".to_owned(),
                ..pb::GetPlanningStatusRequest::default()
            })
            .await,
        Code::NotFound,
    )?;
    assert!(status.message().contains("orgUnits/nowhere"), "{}", status.message());
    Ok(())
}
