//! Fixtures for the OKR tests: an org, a company strategy to align to, a
//! cycle open for the whole company, and builders for objectives and key
//! results.

use prost_types::{Duration, Timestamp};
use trellis_proto::okr::v1::{
    AlignmentTarget, CheckIn, CreateCheckInRequest, CreateCycleRequest, CreateObjectiveRequest, Cycle, KeyResult,
    Objective, TransitionCycleRequest, alignment_target::Target, key_result, objective,
};
use trellis_tests::TestApp;

use crate::support::{complete_strategy, create_strategy, load_org};

pub const CYCLE: &str = "cycles/2027-q1";
pub const MID_MARKET: &str = "strategies/company/choices/mid-market";
pub const NOT_DOING: &str = "strategies/company/choices/no-consulting";

pub fn at(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

pub async fn create_cycle(app: &TestApp, id: &str, org_unit: &str) -> anyhow::Result<Cycle> {
    Ok(app
        .okr
        .clone()
        .create_cycle(CreateCycleRequest {
            cycle: Some(Cycle {
                display_name: format!("Cycle {id}"),
                start_time: Some(at(1_798_761_600)),
                end_time: Some(at(1_806_537_600)),
                org_unit: org_unit.to_owned(),
                ..Cycle::default()
            }),
            cycle_id: id.to_owned(),
            request_id: String::new(),
        })
        .await?
        .into_inner())
}

/// The org, the company strategy (owned by acme) and cycle 2027-q1 for
/// the whole company.
pub async fn planning_season(app: &TestApp) -> anyhow::Result<()> {
    load_org(app).await?;
    create_strategy(app, "company", complete_strategy("orgUnits/acme")).await?;
    create_cycle(app, "2027-q1", "orgUnits/acme").await?;
    Ok(())
}

pub fn to_choice(name: &str) -> AlignmentTarget {
    AlignmentTarget {
        target: Some(Target::Choice(name.to_owned())),
        weight: 1.0,
    }
}

pub fn to_objective(name: &str) -> AlignmentTarget {
    AlignmentTarget {
        target: Some(Target::Objective(name.to_owned())),
        weight: 1.0,
    }
}

pub fn objective(owner: &str, kind: objective::Kind, aligns_to: Vec<AlignmentTarget>) -> Objective {
    Objective {
        cycle: CYCLE.to_owned(),
        owner: owner.to_owned(),
        accountable: "ana@acme.example".to_owned(),
        title: "Win mid-market Europe".to_owned(),
        kind: kind as i32,
        aligns_to,
        ..Objective::default()
    }
}

/// An objective of the whole company, serving its mid-market choice.
pub fn company_objective(kind: objective::Kind) -> Objective {
    objective("orgUnits/acme", kind, vec![to_choice(MID_MARKET)])
}

pub fn measured(kind: key_result::Kind, start: f64, target: f64) -> KeyResult {
    KeyResult {
        title: format!("{kind:?} from {start} to {target}"),
        kind: kind as i32,
        start,
        target,
        unit: "%".to_owned(),
        weight: 1.0,
        owner: "ana@acme.example".to_owned(),
        ..KeyResult::default()
    }
}

pub fn band(lower: f64, upper: f64) -> KeyResult {
    KeyResult {
        lower,
        upper,
        ..measured(key_result::Kind::Threshold, 0.0, 0.0)
    }
}

pub fn milestone() -> KeyResult {
    KeyResult {
        due_time: Some(at(1_806_000_000)),
        ..measured(key_result::Kind::Milestone, 0.0, 0.0)
    }
}

pub fn with_cadence(key_result: KeyResult, seconds: i64) -> KeyResult {
    KeyResult {
        cadence: Some(Duration { seconds, nanos: 0 }),
        ..key_result
    }
}

pub async fn create_objective(
    app: &TestApp,
    id: &str,
    objective: Objective,
    key_results: Vec<KeyResult>,
) -> anyhow::Result<Objective> {
    Ok(app
        .okr
        .clone()
        .create_objective(CreateObjectiveRequest {
            objective: Some(objective),
            key_results,
            objective_id: id.to_owned(),
            request_id: String::new(),
        })
        .await?
        .into_inner())
}

pub async fn move_cycle(app: &TestApp, to: &str) -> anyhow::Result<Cycle> {
    let request = TransitionCycleRequest {
        name: CYCLE.to_owned(),
        etag: String::new(),
    };
    let mut okr = app.okr.clone();
    let cycle = match to {
        "ACTIVE" => okr.activate_cycle(request).await?,
        "REVIEW" => okr.review_cycle(request).await?,
        _ => okr.close_cycle(request).await?,
    };
    Ok(cycle.into_inner())
}

/// Checks in `value` at `confidence` on `key_result`.
pub async fn check_in_at(app: &TestApp, key_result: &str, value: f64, confidence: i32) -> anyhow::Result<()> {
    let request = CreateCheckInRequest {
        parent: key_result.to_owned(),
        check_in: Some(CheckIn {
            value,
            confidence,
            ..CheckIn::default()
        }),
        request_id: String::new(),
    };
    app.okr.clone().create_check_in(request).await?;
    Ok(())
}
