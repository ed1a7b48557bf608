//! Two servers on one database, as replicas behind a load balancer: reads on
//! one follow what the other commits (through the strategy read cache's
//! feed follower), and each reads its own writes at once.

use std::time::Duration;

use tonic::Code;
use trellis_proto::strategy::v1::{DeleteStrategyRequest, GetStrategyRequest, Strategy, TransitionStrategyRequest};
use trellis_tests::{TestApp, backend_tests};

use crate::support::{complete_strategy, create_strategy, load_org};

backend_tests!(a_replica_reads_what_the_other_server_commits);

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
