//! Two servers on one database, as replicas behind a load balancer: reads on
//! one follow what the other commits (through the strategy read cache's
//! feed follower), each reads its own writes at once, and writes through
//! both at once all land.

use std::time::Duration;

use tonic::Code;
use trellis_proto::{
    health::v1::{HealthMetric, ListMeasurementsRequest},
    strategy::v1::{DeleteStrategyRequest, GetStrategyRequest, Strategy, TransitionStrategyRequest},
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    health::{CSAT, create_metric, csat, record},
    support::{complete_strategy, create_strategy, load_org},
};

backend_tests!(
    a_replica_reads_what_the_other_server_commits,
    writes_through_two_replicas_at_once_all_land,
);

/// How long a change may take to reach the other replica before the test
/// calls it lost (it is woken by commits in its own process and otherwise
/// re-reads the feed every two seconds).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(20);

async fn read(app: &TestApp, name: &str) -> Result<Strategy, tonic::Status> {
    let request = GetStrategyRequest {
        name: name.to_owned(),
        revision: 0,
    };
    app.strategy
        .clone()
        .get_strategy(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn eventually(
    app: &TestApp,
    name: &str,
    accept: impl Fn(&Result<Strategy, tonic::Status>) -> bool,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        let seen = read(app, name).await;
        if accept(&seen) {
            return Ok(());
        }
        if started.elapsed() > PROPAGATION_LIMIT {
            anyhow::bail!("the replica still reads {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_replica_reads_what_the_other_server_commits(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let created = create_strategy(&app, "shared", complete_strategy("orgUnits/acme")).await?;
    let replica = app.spawn_replica().await?;
    assert_eq!(
        read(&replica, &created.name).await?,
        created,
        "the replica reads and caches it"
    );

    let request = TransitionStrategyRequest {
        name: created.name.clone(),
        etag: String::new(),
        reason: "go".into(),
    };
    let activated = app.strategy.clone().activate_strategy(request).await?.into_inner();
    assert_eq!(
        read(&app, &created.name).await?,
        activated,
        "the writer reads its own write at once"
    );
    eventually(&replica, &created.name, |seen| {
        seen.as_ref().is_ok_and(|strategy| *strategy == activated)
    })
    .await?;

    let draft = create_strategy(&app, "short-lived", complete_strategy("orgUnits/acme")).await?;
    read(&replica, &draft.name).await?;
    let request = DeleteStrategyRequest {
        name: draft.name.clone(),
        etag: String::new(),
    };
    replica.strategy.clone().delete_strategy(request).await?;
    let gone = read(&replica, &draft.name).await;
    assert_eq!(gone.err().map(|status| status.code()), Some(Code::NotFound));
    eventually(&app, &draft.name, |seen| {
        seen.as_ref().is_err_and(|status| status.code() == Code::NotFound)
    })
    .await?;
    replica.shutdown().await
}

/// Measurements recorded through both replicas side by side. Each write
/// reads before it writes; on SQLite, a transaction that began by reading
/// would fail outright at its write whenever the other process committed
/// in between, so writes must take the lock when they begin.
async fn writes_through_two_replicas_at_once_all_land(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let quiet = HealthMetric {
        escalation_policy: None,
        ..csat()
    };
    create_metric(&app, "csat", quiet).await?;
    let replica = app.spawn_replica().await?;
    const READINGS: i64 = 120;
    let writes = (0..READINGS).map(|n| {
        let server = if n % 2 == 0 { &app } else { &replica };
        record(server, CSAT, n, 4.0 + (n % 10) as f64 / 10.0)
    });
    let failed: Vec<String> = futures::future::join_all(writes)
        .await
        .into_iter()
        .filter_map(|outcome| outcome.err().map(|err| format!("{err:#}")))
        .collect();
    assert!(failed.is_empty(), "{} of {READINGS} failed: {failed:?}", failed.len());
    let listed = replica
        .metrics
        .clone()
        .list_measurements(ListMeasurementsRequest {
            health_metric: CSAT.to_owned(),
            page_size: 1_000,
            ..ListMeasurementsRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(listed.measurements.len(), READINGS as usize);
    replica.shutdown().await
}
