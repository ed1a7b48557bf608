//! Fixtures and assertions shared by the tests.

use std::{fmt::Debug, future::Future, time::Duration};

use anyhow::{Context, bail};
use prost_types::Timestamp;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, OrgUnit},
    health::v1::{GetHealthMetricRequest, HealthMetric},
    strategy::v1::{Assumption, Choice, ChoiceKind, CreateStrategyRequest, Horizon, Strategy},
};
use trellis_tests::TestApp;

/// A small org: acme → {sales → emea, product}.
pub async fn load_org(app: &TestApp) -> anyhow::Result<()> {
    let units = [
        ("acme", "", "company"),
        ("sales", "orgUnits/acme", "division"),
        ("product", "orgUnits/acme", "division"),
        ("emea", "orgUnits/sales", "team"),
    ];
    // One request id: loading it again (a fixture that needed the org
    // earlier) replays the first load.
    app.org
        .clone()
        .batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests: units.iter().map(|(id, parent, kind)| unit(id, parent, kind)).collect(),
            request_id: "load-the-test-org".to_owned(),
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await?;
    Ok(())
}

/// Creates `requests` in one `BatchCreateOrgUnits` call.
pub async fn create_units(app: &TestApp, requests: Vec<CreateOrgUnitRequest>) -> anyhow::Result<()> {
    app.org
        .clone()
        .batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests,
            request_id: String::new(),
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await?;
    Ok(())
}

/// The create request of unit `id` under `parent` (a name, or "" for a root).
pub fn unit(id: &str, parent: &str, kind: &str) -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            parent: parent.to_owned(),
            display_name: id.to_uppercase(),
            kind: kind.to_owned(),
            ..OrgUnit::default()
        }),
        org_unit_id: id.to_owned(),
        request_id: String::new(),
    }
}

pub fn horizon() -> Horizon {
    Horizon {
        start_time: Some(Timestamp {
            seconds: 1_798_761_600,
            nanos: 0,
        }),
        end_time: Some(Timestamp {
            seconds: 1_830_297_600,
            nanos: 0,
        }),
    }
}

pub fn choice(id: &str, kind: ChoiceKind, title: &str) -> Choice {
    Choice {
        name: id.to_owned(),
        kind: kind as i32,
        title: title.to_owned(),
        ..Choice::default()
    }
}

/// A complete strategy (it can be activated) owned by `owner`.
pub fn complete_strategy(owner: &str) -> Strategy {
    Strategy {
        display_name: "Win the mid-market".to_owned(),
        challenge: "Enterprise-grade tools are too heavy for mid-sized companies".to_owned(),
        winning_aspiration: "The planning tool mid-sized companies choose first".to_owned(),
        horizon: Some(horizon()),
        owner: owner.to_owned(),
        choices: vec![
            choice("mid-market", ChoiceKind::WhereToPlay, "Mid-sized companies in Europe"),
            choice("fast-onboarding", ChoiceKind::HowToWin, "Live in a day"),
            choice("no-consulting", ChoiceKind::NotDoing, "No bespoke consulting projects"),
        ],
        assumptions: vec![Assumption {
            name: "csat-green".to_owned(),
            statement: "Customers stay satisfied while we grow".to_owned(),
            health_metric: "healthMetrics/csat".to_owned(),
            ..Assumption::default()
        }],
        ..Strategy::default()
    }
}

pub async fn create_strategy(app: &TestApp, id: &str, strategy: Strategy) -> anyhow::Result<Strategy> {
    for assumption in &strategy.assumptions {
        ensure_metric(app, &assumption.health_metric).await?;
    }
    let request = CreateStrategyRequest {
        strategy: Some(strategy),
        strategy_id: id.to_owned(),
        request_id: String::new(),
    };
    Ok(app
        .strategy
        .clone()
        .create_strategy(request)
        .await
        .with_context(|| format!("creating {id}"))?
        .into_inner())
}

/// Creates the health metric `name` unless it exists: an assumption may
/// name only a metric that exists. CSAT gets the configuration the health
/// tests use; another metric a plain one owned by acme.
pub async fn ensure_metric(app: &TestApp, name: &str) -> anyhow::Result<()> {
    let Some(id) = name.strip_prefix("healthMetrics/") else {
        return Ok(());
    };
    let lookup = app
        .metrics
        .clone()
        .get_health_metric(GetHealthMetricRequest { name: name.to_owned() })
        .await;
    match lookup {
        Ok(_) => return Ok(()),
        Err(status) if status.code() == Code::NotFound => {}
        // Health runs on another server there; the test creates it there.
        Err(status) if status.code() == Code::Unimplemented => return Ok(()),
        Err(status) => return Err(status.into()),
    }
    let metric = if id == "csat" {
        crate::health::csat()
    } else {
        HealthMetric {
            display_name: id.to_uppercase(),
            owner: "orgUnits/acme".to_owned(),
            ..crate::health::csat()
        }
    };
    crate::health::create_metric(app, id, metric).await.map(|_| ())
}

/// The status of a call that must fail with `code`.
pub fn expect_code<T: Debug>(result: Result<T, Status>, code: Code) -> anyhow::Result<Status> {
    match result {
        Ok(value) => bail!("expected {code:?}, got a success: {value:?}"),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => bail!("expected {code:?}, got {:?}: {}", status.code(), status.message()),
    }
}

/// The `BadRequest` field violations of an `INVALID_ARGUMENT`, as (field, description).
pub fn violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .into_iter()
                .map(|violation| (violation.field, violation.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of `violations(status)`, sorted.
pub fn violated_fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = violations(status).into_iter().map(|(field, _)| field).collect();
    fields.sort();
    fields
}

/// How long background work gets before a test gives up on it.
const WAIT: Duration = Duration::from_secs(20);

/// Polls `check` until it holds, for work that runs in the background.
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
