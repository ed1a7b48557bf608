//! The cascade over time: a scripted quarter (planned; active with a
//! choice the company then refuses; through a red CSAT and back), and at
//! three moments of it what the live cascade answered. Asked afterwards
//! "as of" each moment, it answers the same, from a full replay for the
//! moment before a restart and from the snapshot that restart took for
//! those after it. Times outside the history are refused with the range,
//! and an objective's history tells when it became misaligned and when
//! its guardrail turned red and green again.

use prost_types::Timestamp;
use tonic::Code;
use trellis_foundation::time::{now_micros, to_timestamp};
use trellis_proto::{
    cascade::v1::{
        self as pb, GetAlignmentPathRequest, GetPlanningStatusRequest, GetProjectionStatusRequest, GetRollupRequest,
        ListAlignedDescendantsRequest, ListAlignmentHistoryRequest, ListMisalignmentsRequest, ListOrphansRequest,
        ListRisksRequest, ListUncoveredChoicesRequest, alignment_history_entry::Aspect,
    },
    okr::v1::{Objective, key_result, objective},
    strategy::v1::{Choice, ChoiceKind, TransitionStrategyRequest, UpdateChoiceRequest},
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, spawn_app_with};

use crate::{
    cascade::settled,
    health::{CSAT, create_metric, csat, record, remedial_objectives, state_of},
    okr_support::{
        CYCLE, MID_MARKET, company_objective, create_objective, measured, move_cycle, planning_season, to_choice,
    },
    support::{eventually, expect_code, violations},
};

backend_only_tests!(a_quarter_asked_as_of_three_moments_answers_as_it_did_then);

const GROW: &str = "objectives/grow";

/// Every question that takes `as_of`, asked as of `as_of` (now when
/// unset), as text to compare.
async fn answers(app: &TestApp, as_of: Option<Timestamp>) -> anyhow::Result<String> {
    let mut cascade = app.cascade.clone();
    let mut rollup = cascade
        .get_rollup(GetRollupRequest {
            name: "orgUnits/acme".into(),
            cycle: CYCLE.into(),
            as_of,
        })
        .await?
        .into_inner();
    // How long it took is not part of the answer.
    rollup.compute_time = None;
    let path = cascade
        .get_alignment_path(GetAlignmentPathRequest {
            name: GROW.into(),
            as_of,
        })
        .await?
        .into_inner();
    let descendants = cascade
        .list_aligned_descendants(ListAlignedDescendantsRequest {
            name: "strategies/company".into(),
            as_of,
            ..ListAlignedDescendantsRequest::default()
        })
        .await?
        .into_inner();
    let orphans = cascade
        .list_orphans(ListOrphansRequest {
            cycle: CYCLE.into(),
            as_of,
            ..ListOrphansRequest::default()
        })
        .await?
        .into_inner();
    let misalignments = cascade
        .list_misalignments(ListMisalignmentsRequest {
            cycle: CYCLE.into(),
            as_of,
            ..ListMisalignmentsRequest::default()
        })
        .await?
        .into_inner();
    let uncovered = cascade
        .list_uncovered_choices(ListUncoveredChoicesRequest {
            cycle: CYCLE.into(),
            as_of,
            ..ListUncoveredChoicesRequest::default()
        })
        .await?
        .into_inner();
    let risks = cascade
        .list_risks(ListRisksRequest {
            cycle: CYCLE.into(),
            as_of,
            ..ListRisksRequest::default()
        })
        .await?
        .into_inner();
    let planning = cascade
        .get_planning_status(GetPlanningStatusRequest {
            cycle: CYCLE.into(),
            as_of,
            ..GetPlanningStatusRequest::default()
        })
        .await?
        .into_inner();
    Ok(format!(
        "{rollup:?}\n{path:?}\n{descendants:?}\n{orphans:?}\n{misalignments:?}\n{uncovered:?}\n{risks:?}\n{planning:?}"
    ))
}

/// A moment of the quarter: once the cascade holds every write so far,
/// the time and what the cascade answers then.
async fn moment(app: &TestApp) -> anyhow::Result<(Timestamp, String)> {
    settled(app, &app.cascade).await?;
    let at = to_timestamp(now_micros());
    let said = answers(app, None).await?;
    // The next write commits strictly later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Ok((at, said))
}

async fn history(
    app: &TestApp,
    start_time: Option<Timestamp>,
    end_time: Option<Timestamp>,
) -> anyhow::Result<Vec<pb::AlignmentHistoryEntry>> {
    Ok(app
        .cascade
        .clone()
        .list_alignment_history(ListAlignmentHistoryRequest {
            name: GROW.into(),
            start_time,
            end_time,
            ..ListAlignmentHistoryRequest::default()
        })
        .await?
        .into_inner()
        .entries)
}

fn micros(timestamp: &Timestamp) -> i64 {
    trellis_foundation::time::from_timestamp(timestamp)
}

async fn a_quarter_asked_as_of_three_moments_answers_as_it_did_then(backend: TestBackend) -> anyhow::Result<()> {
    let mut first = spawn_app_with(&backend, |settings| settings.snapshot_retention = 3).await?;
    // Planned: the strategy active, CSAT green, the cycle in PLANNING.
    planning_season(&first).await?;
    first
        .strategy
        .clone()
        .activate_strategy(TransitionStrategyRequest {
            name: "strategies/company".into(),
            ..TransitionStrategyRequest::default()
        })
        .await?;
    create_metric(&first, "csat", csat()).await?;
    record(&first, CSAT, 1, 4.5).await?;
    let grow = Objective {
        guardrails: vec![CSAT.to_owned()],
        aligns_to: vec![to_choice(MID_MARKET)],
        ..company_objective(objective::Kind::Committed)
    };
    let kr = measured(key_result::Kind::Increase, 10.0, 50.0);
    create_objective(&first, "grow", grow, vec![kr]).await?;
    let (planned, planned_said) = moment(&first).await?;

    // A restart: the stop takes a snapshot, which the later moments are
    // rebuilt from.
    first.stop_server().await?;
    let app = first.spawn_peer(|settings| settings.snapshot_retention = 3).await?;

    let restored = app
        .cascade
        .clone()
        .get_projection_status(GetProjectionStatusRequest {})
        .await?
        .into_inner();
    assert!(restored.snapshot_time.is_some(), "the restart started from a snapshot");

    // Active, and the choice grow serves is one the company now refuses.
    move_cycle(&app, "ACTIVE").await?;
    app.strategy
        .clone()
        .update_choice(UpdateChoiceRequest {
            choice: Some(Choice {
                name: MID_MARKET.into(),
                kind: ChoiceKind::NotDoing as i32,
                ..Choice::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["kind".into()],
            }),
        })
        .await?;
    let (refused, refused_said) = moment(&app).await?;
    assert!(refused_said.contains("NotDoingChoice"), "{refused_said}");

    // CSAT red, then green again: the remedial objective runs and
    // completes.
    record(&app, CSAT, 2, 3.5).await?;
    record(&app, CSAT, 3, 3.4).await?;
    eventually("a remedial objective runs", || async {
        Ok(!remedial_objectives(&app).await?.is_empty())
    })
    .await?;
    record(&app, CSAT, 6, 4.4).await?;
    eventually("the remedial objective completes", || async {
        let remedial = remedial_objectives(&app).await?;
        let Some(remedial) = remedial.first() else {
            return Ok(false);
        };
        Ok(state_of(&app, &remedial.name).await? == objective::State::Completed)
    })
    .await?;
    let (recovered, recovered_said) = moment(&app).await?;

    // As of each moment: what was said then (twice: built, then cached).
    for (at, said) in [
        (planned, &planned_said),
        (refused, &refused_said),
        (recovered, &recovered_said),
    ] {
        assert_eq!(&answers(&app, Some(at)).await?, said, "as of {at:?}");
        assert_eq!(&answers(&app, Some(at)).await?, said, "as of {at:?}, again");
    }
    assert_ne!(planned_said, refused_said);
    assert_ne!(refused_said, recovered_said);

    // The history's range, and times outside it refused with it.
    let status = app
        .cascade
        .clone()
        .get_projection_status(GetProjectionStatusRequest {})
        .await?
        .into_inner();
    let start = status.history_start_time.expect("the history's start");
    assert!(micros(&start) <= micros(&planned), "{start:?} after {planned:?}");
    let future = to_timestamp(now_micros() + 3_600_000_000);
    let long_ago = to_timestamp(micros(&start) - 1_000_000);
    for (at, problem) in [(future, "is in the future"), (long_ago, "is before the history")] {
        let refused = app
            .cascade
            .clone()
            .get_rollup(GetRollupRequest {
                name: "orgUnits/acme".into(),
                cycle: CYCLE.into(),
                as_of: Some(at),
            })
            .await;
        let status = expect_code(refused, Code::InvalidArgument)?;
        let found = violations(&status);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "as_of");
        assert!(
            found[0].1.contains(problem) && found[0].1.contains("the history runs from"),
            "{found:?}"
        );
    }

    // When grow became misaligned, and when its guardrail turned red and
    // green again.
    let entries = history(&app, None, None).await?;
    let between = |entry: &pb::AlignmentHistoryEntry, from: &Timestamp, to: &Timestamp| {
        let at = micros(entry.change_time.as_ref().expect("a change time"));
        micros(from) < at && at <= micros(to)
    };
    let misaligned = entries
        .iter()
        .find(|entry| entry.aspect() == Aspect::Alignment && entry.after == "MISALIGNED")
        .expect("grow became misaligned");
    assert_eq!(misaligned.before, "ALIGNED");
    // The strategy's feed carries the choice as part of its strategy.
    assert!(MID_MARKET.starts_with(&misaligned.changed_resource), "{misaligned:?}");
    assert!(between(misaligned, &planned, &refused), "{misaligned:?}");
    assert_eq!(misaligned.misalignments.len(), 1, "{misaligned:?}");
    let red = entries
        .iter()
        .find(|entry| entry.aspect() == Aspect::Risk && entry.after.contains("GUARDRAIL_RED healthMetrics/csat"))
        .expect("the guardrail turned red");
    assert_eq!(red.changed_resource, CSAT);
    assert!(between(red, &refused, &recovered), "{red:?}");
    let green = entries
        .iter()
        .rev()
        .find(|entry| entry.aspect() == Aspect::Risk)
        .expect("a last risk change");
    assert!(!green.after.contains("GUARDRAIL"), "{entries:?}");
    let became_active = entries
        .iter()
        .find(|entry| entry.aspect() == Aspect::State && entry.after == "ACTIVE")
        .expect("grow became active");
    assert!(between(became_active, &planned, &refused), "{became_active:?}");
    // Oldest first.
    assert!(
        entries
            .windows(2)
            .all(|pair| micros(pair[0].change_time.as_ref().expect("a time"))
                <= micros(pair[1].change_time.as_ref().expect("a time")))
    );

    // Over the last stretch only: the red and the recovery, not the
    // misalignment before it.
    let late = history(&app, Some(refused), Some(recovered)).await?;
    assert!(
        late.iter().any(|entry| entry.after.contains("GUARDRAIL_RED")),
        "{late:?}"
    );
    assert!(late.iter().all(|entry| entry.aspect() != Aspect::Alignment), "{late:?}");

    // Bad questions: every problem at once; a node never there is absent.
    let bad = app
        .cascade
        .clone()
        .list_alignment_history(ListAlignmentHistoryRequest {
            name: "teams/x".into(),
            start_time: Some(recovered),
            end_time: Some(refused),
            confidence_below: 11,
            ..ListAlignmentHistoryRequest::default()
        })
        .await;
    let status = expect_code(bad, Code::InvalidArgument)?;
    let mut fields: Vec<String> = violations(&status).into_iter().map(|(field, _)| field).collect();
    fields.sort();
    assert_eq!(fields, ["confidence_below", "end_time", "name"]);
    let never = app
        .cascade
        .clone()
        .list_alignment_history(ListAlignmentHistoryRequest {
            name: "objectives/never".into(),
            ..ListAlignmentHistoryRequest::default()
        })
        .await;
    expect_code(never, Code::NotFound)?;
    Ok(())
}
