//! Every cascade question on the small hand-made org of `cascade.rs`, with
//! the answers known in advance.

use trellis_proto::cascade::v1::{self as pb, misalignment::Reason, risk_reason::Kind as RiskKind};
use trellis_tests::{TestApp, backend_tests};

use crate::cascade::*;
use crate::{okr_support::CYCLE, support::eventually};

backend_tests!(each_question_answers_the_hand_made_org,);

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
        .get_alignment_path(pb::GetAlignmentPathRequest {
            name: deals_kr.clone(),
            as_of: None,
        })
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
