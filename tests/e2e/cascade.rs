//! The cascade with all four services running: every question on a small
//! hand-made org with known answers, a cascade restarted mid-stream that
//! converges to the same answers, and a misalignment seen within a second
//! of the write that causes it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use prost_types::Timestamp;
use tonic::{Code, transport::Channel};
use trellis_proto::{
    cascade::v1::{
        self as pb, cascade_service_client::CascadeServiceClient, misalignment::Reason, risk_reason::Kind as RiskKind,
    },
    feed::v1::WatchChangesRequest,
    health::v1::{Direction, HealthMetric, Measurement, RecordMeasurementRequest, Thresholds},
    okr::v1::{
        AlignmentTarget, CheckIn, CreateCheckInRequest, KeyResult, ListKeyResultsRequest, Objective,
        alignment_target::Target, key_result, objective,
    },
    strategy::v1::{Choice, ChoiceKind, Strategy, TransitionStrategyRequest, UpdateChoiceRequest},
};
use trellis_server::ServiceName;
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{CYCLE, create_cycle, create_objective, measured, milestone, move_cycle, with_cadence},
    support::{complete_strategy, create_strategy, create_units, eventually, expect_code, load_org, unit, violations},
};

backend_tests!(
    each_question_answers_the_hand_made_org,
    a_misalignment_shows_within_a_second_of_the_write,
    a_cascade_restarted_mid_stream_converges_to_the_same_answers,
    bad_questions_are_refused_with_every_problem,
);

const CSAT: &str = "healthMetrics/csat";
const COMPANY_MID_MARKET: &str = "strategies/company/choices/mid-market";
const COMPANY_ONBOARDING: &str = "strategies/company/choices/fast-onboarding";
const SALES_MID_MARKET: &str = "strategies/sales/choices/mid-market";
const PRODUCT_MID_MARKET: &str = "strategies/product/choices/mid-market";

fn target(target: Target, weight: f64) -> AlignmentTarget {
    AlignmentTarget {
        target: Some(target),
        weight,
    }
}

fn objective_of(owner: &str, title: &str, aligns_to: Vec<AlignmentTarget>) -> Objective {
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
async fn strategies_and_season(app: &TestApp) -> anyhow::Result<()> {
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

async fn first_key_result(app: &TestApp, objective: &str) -> anyhow::Result<String> {
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
async fn objectives(app: &TestApp) -> anyhow::Result<()> {
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

async fn check_in(app: &TestApp, objective: &str, value: f64, confidence: i32) -> anyhow::Result<()> {
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
async fn quarter_under_way(app: &TestApp) -> anyhow::Result<()> {
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
async fn feed_heads(app: &TestApp) -> anyhow::Result<Vec<(&'static str, i64)>> {
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
async fn settled(services: &TestApp, cascade: &CascadeServiceClient<Channel>) -> anyhow::Result<()> {
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

fn names(nodes: &[pb::GraphNode]) -> Vec<&str> {
    nodes.iter().map(|node| node.name.as_str()).collect()
}

async fn rollup(app: &TestApp, name: &str) -> anyhow::Result<Option<f64>> {
    Ok(app
        .cascade
        .clone()
        .get_rollup(pb::GetRollupRequest {
            name: name.to_owned(),
            cycle: CYCLE.to_owned(),
        })
        .await?
        .into_inner()
        .rollup)
}

fn assert_close(actual: Option<f64>, expected: f64, what: &str) -> anyhow::Result<()> {
    match actual {
        Some(actual) if (actual - expected).abs() < 1e-9 => Ok(()),
        _ => bail!("{what}: expected {expected}, got {actual:?}"),
    }
}

async fn misalignments(cascade: &CascadeServiceClient<Channel>) -> anyhow::Result<Vec<(String, String, Reason)>> {
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

async fn each_question_answers_the_hand_made_org(app: TestApp) -> anyhow::Result<()> {
    strategies_and_season(&app).await?;
    objectives(&app).await?;
    settled(&app, &app.cascade).await?;
    let mut cascade = app.cascade.clone();

    // Planning, before activation: every objective a draft.
    let planning = cascade
        .get_planning_status(pb::GetPlanningStatusRequest {
            cycle: CYCLE.to_owned(),
            ..pb::GetPlanningStatusRequest::default()
        })
        .await?
        .into_inner();
    let per_unit: Vec<(&str, i32, i32, i32, i32)> = planning
        .unit_statuses
        .iter()
        .map(|status| {
            let name = status.org_unit.as_ref().map_or("", |unit| unit.name.as_str());
            (name, status.objectives, status.drafted, status.aligned, status.locked)
        })
        .collect();
    assert_eq!(
        per_unit,
        vec![
            ("orgUnits/acme", 1, 1, 1, 0),
            ("orgUnits/marketing", 0, 0, 0, 0),
            ("orgUnits/product", 1, 1, 0, 0),
            ("orgUnits/sales", 2, 2, 2, 0),
            ("orgUnits/emea", 2, 2, 2, 0),
        ]
    );
    assert_eq!(
        (
            planning.units,
            planning.units_with_objectives,
            planning.objectives,
            planning.aligned
        ),
        (5, 4, 6, 5)
    );
    let empty = cascade
        .get_planning_status(pb::GetPlanningStatusRequest {
            cycle: CYCLE.to_owned(),
            only_empty: true,
            ..pb::GetPlanningStatusRequest::default()
        })
        .await?
        .into_inner();
    let empty: Vec<&str> = empty
        .unit_statuses
        .iter()
        .filter_map(|status| status.org_unit.as_ref().map(|unit| unit.name.as_str()))
        .collect();
    assert_eq!(empty, vec!["orgUnits/marketing"]);

    quarter_under_way(&app).await?;
    settled(&app, &app.cascade).await?;

    // The path from a team's key result up to the company strategy, both
    // ways the sales objective aligns, and the owner's org chain.
    let deals_kr = first_key_result(&app, "objectives/emea-deals").await?;
    let win_kr = first_key_result(&app, "objectives/win-emea").await?;
    let path = cascade
        .get_alignment_path(pb::GetAlignmentPathRequest { name: deals_kr.clone() })
        .await?
        .into_inner();
    let routes: Vec<Vec<&str>> = path.routes.iter().map(|route| names(&route.nodes)).collect();
    assert_eq!(
        routes,
        vec![
            vec![
                deals_kr.as_str(),
                "objectives/emea-deals",
                win_kr.as_str(),
                "objectives/win-emea",
                SALES_MID_MARKET,
                "strategies/sales",
                COMPANY_MID_MARKET,
                "strategies/company",
            ],
            vec![
                deals_kr.as_str(),
                "objectives/emea-deals",
                win_kr.as_str(),
                "objectives/win-emea",
                "objectives/grow-mm",
                COMPANY_MID_MARKET,
                "strategies/company",
            ],
        ]
    );
    assert_eq!(
        path.routes[0].nodes[4].weight, 2.0,
        "the weight of win-emea's edge to its choice"
    );
    assert_eq!(
        names(&path.org_path),
        vec!["orgUnits/emea", "orgUnits/sales", "orgUnits/acme"]
    );

    // Everything under the company strategy, two levels deep, paged by two.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = cascade
            .list_aligned_descendants(pb::ListAlignedDescendantsRequest {
                name: "strategies/company".to_owned(),
                max_depth: 2,
                page_size: 2,
                page_token,
                ..pb::ListAlignedDescendantsRequest::default()
            })
            .await?
            .into_inner();
        assert_eq!(page.total_size, 6);
        listed.extend(page.nodes.into_iter().map(|node| (node.depth, node.name)));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let expected: Vec<(i32, String)> = [
        (1, COMPANY_ONBOARDING),
        (1, COMPANY_MID_MARKET),
        (1, "strategies/company/choices/no-consulting"),
        (2, "objectives/grow-mm"),
        (2, "objectives/onboarding"),
        (2, "strategies/sales"),
    ]
    .iter()
    .map(|(depth, name)| (*depth, (*name).to_owned()))
    .collect();
    assert_eq!(listed, expected);

    // Roll-ups: objective progress 0.25, 0.8, 0.5, 1, 0, 1 (see above).
    assert_close(
        rollup(&app, COMPANY_MID_MARKET).await?,
        (0.25 + 0.8) / 2.0,
        "company mid-market",
    )?;
    assert_close(
        rollup(&app, "strategies/company").await?,
        (0.525 + 1.0) / 2.0,
        "company strategy",
    )?;
    assert_close(rollup(&app, "orgUnits/acme").await?, 3.55 / 6.0, "the whole org")?;
    assert_close(rollup(&app, "orgUnits/sales").await?, 2.3 / 4.0, "sales")?;
    assert_close(rollup(&app, &win_kr).await?, 0.5, "what aligns to the sales key result")?;
    let contributors = cascade
        .list_rollup_contributors(pb::ListRollupContributorsRequest {
            name: "orgUnits/acme".to_owned(),
            cycle: CYCLE.to_owned(),
            ..pb::ListRollupContributorsRequest::default()
        })
        .await?
        .into_inner()
        .contributors;
    let contributors: Vec<(&str, Option<f64>)> = contributors
        .iter()
        .map(|rollup| {
            (
                rollup.node.as_ref().map_or("", |node| node.name.as_str()),
                rollup.rollup,
            )
        })
        .collect();
    assert_eq!(
        contributors,
        vec![
            // An objective's roll-up is what aligns to it: win-emea.
            ("objectives/grow-mm", Some(0.8)),
            ("orgUnits/marketing", None),
            ("orgUnits/product", Some(1.0)),
            ("orgUnits/sales", Some(0.575)),
        ]
    );

    let orphans = cascade
        .list_orphans(pb::ListOrphansRequest {
            cycle: CYCLE.to_owned(),
            ..pb::ListOrphansRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(names(&orphans.objectives), vec!["objectives/product-orphan"]);

    assert_eq!(
        misalignments(&app.cascade).await?,
        vec![(
            "objectives/emea-product".to_owned(),
            PRODUCT_MID_MARKET.to_owned(),
            Reason::OutsideOwnerAncestry
        )]
    );

    let uncovered = cascade
        .list_uncovered_choices(pb::ListUncoveredChoicesRequest {
            cycle: CYCLE.to_owned(),
            ..pb::ListUncoveredChoicesRequest::default()
        })
        .await?
        .into_inner();
    // Product's mid-market choice is served only by emea-product, which is
    // misaligned (outside its owner's ancestry): that does not cover it.
    assert_eq!(
        names(&uncovered.choices),
        vec![
            "strategies/product/choices/fast-onboarding",
            PRODUCT_MID_MARKET,
            "strategies/sales/choices/fast-onboarding"
        ]
    );

    // Risk: red guardrail, then the stale key result (its cadence is a
    // second), then low confidence.
    eventually("the one-second key result went stale", || {
        let mut cascade = app.cascade.clone();
        async move {
            let risks = cascade
                .list_risks(pb::ListRisksRequest {
                    cycle: CYCLE.to_owned(),
                    ..pb::ListRisksRequest::default()
                })
                .await?
                .into_inner()
                .risks;
            Ok(risks.len() == 3)
        }
    })
    .await?;
    let risks = cascade
        .list_risks(pb::ListRisksRequest {
            cycle: CYCLE.to_owned(),
            ..pb::ListRisksRequest::default()
        })
        .await?
        .into_inner()
        .risks;
    let ranked: Vec<(&str, f64, Vec<RiskKind>)> = risks
        .iter()
        .map(|risk| {
            (
                risk.objective.as_ref().map_or("", |node| node.name.as_str()),
                (risk.score * 1000.0).round() / 1000.0,
                risk.reasons.iter().map(pb::RiskReason::kind).collect(),
            )
        })
        .collect();
    assert_eq!(
        ranked,
        vec![
            ("objectives/grow-mm", 5.0, vec![RiskKind::GuardrailRed]),
            ("objectives/emea-product", 2.0, vec![RiskKind::StaleKeyResult]),
            ("objectives/win-emea", 1.6, vec![RiskKind::LowConfidence]),
        ]
    );
    Ok(())
}

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
async fn answers(cascade: &CascadeServiceClient<Channel>, deals_kr: &str) -> anyhow::Result<Vec<String>> {
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
