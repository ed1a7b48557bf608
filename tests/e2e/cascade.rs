//! The cascade with all four services running: the small hand-made org
//! the cascade tests share (strategies, a season, objectives and a quarter
//! under way, with answers known in advance) and the helpers that read it.
//! The questions are in `cascade_questions.rs`, the cascade over time in
//! `cascade_changes.rs`.

use anyhow::{Context, bail};
use futures::StreamExt;
use prost_types::Timestamp;
use trellis_proto::{
    cascade::v1::{self as pb, cascade_service_client::CascadeServiceClient, misalignment::Reason},
    feed::v1::WatchChangesRequest,
    health::v1::{Direction, HealthMetric, Measurement, RecordMeasurementRequest, Thresholds},
    okr::v1::{
        AlignmentTarget, CheckIn, CreateCheckInRequest, KeyResult, ListKeyResultsRequest, Objective,
        alignment_target::Target, key_result, objective,
    },
    strategy::v1::{Strategy, TransitionStrategyRequest},
};
use trellis_tests::TestApp;
use trellis_tests::TestChannel;

use crate::{
    okr_support::{CYCLE, create_cycle, create_objective, measured, milestone, move_cycle, with_cadence},
    support::{complete_strategy, create_strategy, create_units, eventually, load_org, unit},
};

pub(crate) const CSAT: &str = "healthMetrics/csat";
pub(crate) const COMPANY_MID_MARKET: &str = "strategies/company/choices/mid-market";
pub(crate) const COMPANY_ONBOARDING: &str = "strategies/company/choices/fast-onboarding";
pub(crate) const SALES_MID_MARKET: &str = "strategies/sales/choices/mid-market";
pub(crate) const PRODUCT_MID_MARKET: &str = "strategies/product/choices/mid-market";

pub(crate) fn target(target: Target, weight: f64) -> AlignmentTarget {
    AlignmentTarget {
        target: Some(target),
        weight,
    }
}

pub(crate) fn objective_of(owner: &str, title: &str, aligns_to: Vec<AlignmentTarget>) -> Objective {
    Objective {
        cycle: CYCLE.to_owned(),
        owner: owner.to_owned(),
        accountable: "ana@acme.example".to_owned(),
        title: title.to_owned(),
        kind: objective::Kind::Committed as i32,
        aligns_to,
        ..Objective::default()
    }
}

/// The first half of the org: units, strategies, the metric, the cycle.
pub(crate) async fn strategies_and_season(app: &TestApp) -> anyhow::Result<()> {
    load_org(app).await?;
    create_units(app, vec![unit("marketing", "orgUnits/acme", "division")]).await?;
    create_strategy(app, "company", complete_strategy("orgUnits/acme")).await?;
    let sales = Strategy {
        parent_choice: COMPANY_MID_MARKET.to_owned(),
        ..complete_strategy("orgUnits/sales")
    };
    create_strategy(app, "sales", sales).await?;
    create_strategy(app, "product", complete_strategy("orgUnits/product")).await?;
    for strategy in ["company", "sales", "product"] {
        app.strategy
            .clone()
            .activate_strategy(TransitionStrategyRequest {
                name: format!("strategies/{strategy}"),
                ..TransitionStrategyRequest::default()
            })
            .await?;
    }
    let csat = HealthMetric {
        display_name: "CSAT".to_owned(),
        owner: "orgUnits/product".to_owned(),
        accountable: "lena@acme.example".to_owned(),
        unit: "points".to_owned(),
        direction: Direction::HigherIsBetter as i32,
        thresholds: Some(Thresholds {
            green: 4.2,
            red: 3.8,
            ..Thresholds::default()
        }),
        cadence: Some(prost_types::Duration {
            seconds: 365 * 86_400,
            nanos: 0,
        }),
        ..HealthMetric::default()
    };
    crate::health::create_metric(app, "csat", csat).await?;
    create_cycle(app, "2027-q1", "orgUnits/acme").await?;
    Ok(())
}

pub(crate) async fn first_key_result(app: &TestApp, objective: &str) -> anyhow::Result<String> {
    let key_results = app
        .okr
        .clone()
        .list_key_results(ListKeyResultsRequest {
            parent: objective.to_owned(),
            ..ListKeyResultsRequest::default()
        })
        .await?
        .into_inner()
        .key_results;
    key_results
        .first()
        .map(|kr| kr.name.clone())
        .with_context(|| format!("{objective} has no key result"))
}

/// The second half: six objectives of cycle 2027-q1 (see each comment).
pub(crate) async fn objectives(app: &TestApp) -> anyhow::Result<()> {
    let increase = || measured(key_result::Kind::Increase, 0.0, 100.0);
    let to_ten = || measured(key_result::Kind::Increase, 0.0, 10.0);
    // The company's, guarded by CSAT: 50% and an undelivered milestone.
    let grow = Objective {
        guardrails: vec![CSAT.to_owned()],
        ..objective_of(
            "orgUnits/acme",
            "Grow mid-market",
            vec![target(Target::Choice(COMPANY_MID_MARKET.into()), 1.0)],
        )
    };
    create_objective(app, "grow-mm", grow, vec![increase(), milestone()]).await?;
    // Sales: its own strategy's choice (weight 2) and the company objective.
    let win = objective_of(
        "orgUnits/sales",
        "Win EMEA",
        vec![
            target(Target::Choice(SALES_MID_MARKET.into()), 2.0),
            target(Target::Objective("objectives/grow-mm".into()), 1.0),
        ],
    );
    create_objective(app, "win-emea", win, vec![to_ten()]).await?;
    let win_kr = first_key_result(app, "objectives/win-emea").await?;
    // EMEA: aligned to a key result of the sales objective.
    let deals = objective_of(
        "orgUnits/emea",
        "Close EMEA deals",
        vec![target(Target::KeyResult(win_kr), 1.0)],
    );
    let band = KeyResult {
        lower: 3.0,
        upper: 7.0,
        ..measured(key_result::Kind::Threshold, 0.0, 0.0)
    };
    create_objective(app, "emea-deals", deals, vec![band]).await?;
    // Product: aligned to nothing.
    create_objective(
        app,
        "product-orphan",
        objective_of("orgUnits/product", "Polish", Vec::new()),
        vec![to_ten()],
    )
    .await?;
    // EMEA serving the product unit's strategy: outside its ancestry.
    let foreign = objective_of(
        "orgUnits/emea",
        "Borrowed goal",
        vec![target(Target::Choice(PRODUCT_MID_MARKET.into()), 1.0)],
    );
    create_objective(app, "emea-product", foreign, vec![with_cadence(to_ten(), 1)]).await?;
    // Sales serving the company's how-to-win choice.
    let onboarding = objective_of(
        "orgUnits/sales",
        "Onboard in a day",
        vec![target(Target::Choice(COMPANY_ONBOARDING.into()), 1.0)],
    );
    create_objective(app, "onboarding", onboarding, vec![milestone()]).await?;
    Ok(())
}

pub(crate) async fn check_in(app: &TestApp, objective: &str, value: f64, confidence: i32) -> anyhow::Result<()> {
    let parent = first_key_result(app, objective).await?;
    app.okr
        .clone()
        .create_check_in(CreateCheckInRequest {
            parent,
            check_in: Some(CheckIn {
                value,
                confidence,
                ..CheckIn::default()
            }),
            request_id: String::new(),
        })
        .await
        .with_context(|| format!("checking in on {objective}"))?;
    Ok(())
}

/// Activates the cycle, checks in, and turns CSAT red.
pub(crate) async fn quarter_under_way(app: &TestApp) -> anyhow::Result<()> {
    move_cycle(app, "ACTIVE").await?;
    check_in(app, "objectives/grow-mm", 50.0, 8).await?;
    check_in(app, "objectives/win-emea", 8.0, 2).await?;
    check_in(app, "objectives/emea-deals", 5.0, 8).await?;
    check_in(app, "objectives/emea-deals", 9.0, 8).await?;
    check_in(app, "objectives/product-orphan", 10.0, 9).await?;
    check_in(app, "objectives/emea-product", 0.0, 7).await?;
    check_in(app, "objectives/onboarding", 1.0, 9).await?;
    app.metrics
        .clone()
        .record_measurement(RecordMeasurementRequest {
            health_metric: CSAT.to_owned(),
            measurement: Some(Measurement {
                value: 3.0,
                measure_time: Some(Timestamp {
                    seconds: 1_799_000_000,
                    nanos: 0,
                }),
                source: "survey".to_owned(),
                ..Measurement::default()
            }),
        })
        .await?;
    Ok(())
}

/// The sequence each feed the cascade follows has reached now, read from
/// the services themselves (their first heartbeat).
pub(crate) async fn feed_heads(app: &TestApp) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let request = || WatchChangesRequest {
        after_sequence: i64::MAX,
        resource_types: Vec::new(),
        heartbeats: true,
    };
    let mut heads = Vec::new();
    let streams = [
        ("org", app.org.clone().watch_changes(request()).await?.into_inner()),
        (
            "strategy",
            app.strategy.clone().watch_changes(request()).await?.into_inner(),
        ),
        ("okr", app.okr.clone().watch_changes(request()).await?.into_inner()),
        (
            "health",
            app.metrics.clone().watch_changes(request()).await?.into_inner(),
        ),
    ];
    for (source, mut stream) in streams {
        let heartbeat = stream.next().await.context("no heartbeat")??;
        heads.push((source, heartbeat.head_sequence));
    }
    Ok(heads)
}

/// Waits until `cascade` has applied everything `services` had committed.
pub(crate) async fn settled(services: &TestApp, cascade: &CascadeServiceClient<TestChannel>) -> anyhow::Result<()> {
    let heads = feed_heads(services).await?;
    eventually("the projection caught up with every feed", || {
        let mut cascade = cascade.clone();
        let heads = heads.clone();
        async move {
            let status = cascade
                .get_projection_status(pb::GetProjectionStatusRequest {})
                .await?
                .into_inner();
            Ok(heads.iter().all(|(source, head)| {
                status
                    .feeds
                    .iter()
                    .any(|feed| feed.source == *source && feed.cursor >= *head && feed.caught_up)
            }))
        }
    })
    .await
}

pub(crate) fn names(nodes: &[pb::GraphNode]) -> Vec<&str> {
    nodes.iter().map(|node| node.name.as_str()).collect()
}

pub(crate) async fn rollup(app: &TestApp, name: &str) -> anyhow::Result<Option<f64>> {
    Ok(app
        .cascade
        .clone()
        .get_rollup(pb::GetRollupRequest {
            as_of: None,
            name: name.to_owned(),
            cycle: CYCLE.to_owned(),
        })
        .await?
        .into_inner()
        .rollup)
}

pub(crate) fn assert_close(actual: Option<f64>, expected: f64, what: &str) -> anyhow::Result<()> {
    match actual {
        Some(actual) if (actual - expected).abs() < 1e-9 => Ok(()),
        _ => bail!("{what}: expected {expected}, got {actual:?}"),
    }
}

pub(crate) async fn misalignments(
    cascade: &CascadeServiceClient<TestChannel>,
) -> anyhow::Result<Vec<(String, String, Reason)>> {
    let found = cascade
        .clone()
        .list_misalignments(pb::ListMisalignmentsRequest {
            cycle: CYCLE.to_owned(),
            ..pb::ListMisalignmentsRequest::default()
        })
        .await?
        .into_inner()
        .misalignments;
    Ok(found
        .into_iter()
        .map(|finding| {
            let reason = finding.reason();
            (
                finding.objective.map(|node| node.name).unwrap_or_default(),
                finding.target.map(|node| node.name).unwrap_or_default(),
                reason,
            )
        })
        .collect())
}
