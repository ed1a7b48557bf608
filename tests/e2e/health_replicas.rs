//! Two health replicas on one database, as behind a load balancer. A
//! metric's escalation steps must run in order, so one replica at a time
//! runs them (the one holding the runner lease): steps recorded through a
//! standby are run by the holder, a standby takes over when the holder
//! dies once its claim lapses, and at once when the holder shuts down.

use prost_types::Timestamp;
use tokio::net::TcpListener;
use trellis_proto::okr::v1::objective;
use trellis_server::ServiceName;
use trellis_tests::{TestApp, backend_tests};

use crate::{
    health::{CSAT, create_metric, csat, guarded_season, metric, objective_of, record, remedial_objectives, state_of},
    support::eventually,
};

backend_tests!(
    a_standby_runs_the_steps_only_once_the_dead_holders_claim_lapsed,
    a_holder_that_shuts_down_hands_the_steps_over_at_once,
);

/// A health-only server on `app`'s database, calling `others` for the rest.
pub(crate) async fn health_replica(
    app: &TestApp,
    others: &TestApp,
    lease_seconds: u64,
    fail_point: Option<&str>,
) -> anyhow::Result<TestApp> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    health_replica_on(listener, app, others, lease_seconds, fail_point).await
}

async fn health_replica_on(
    listener: TcpListener,
    app: &TestApp,
    others: &TestApp,
    lease_seconds: u64,
    fail_point: Option<&str>,
) -> anyhow::Result<TestApp> {
    let peer = others.url();
    let fail_point = fail_point.map(str::to_owned);
    app.spawn_peer_on(listener, move |settings| {
        settings.services = vec![ServiceName::Health];
        settings.peer_okr = Some(peer.clone());
        settings.peer_strategy = Some(peer.clone());
        settings.peer_cascade = Some(peer);
        settings.health_runner_lease_seconds = lease_seconds;
        settings.health_fail_point = fail_point;
    })
    .await
}

/// The strategy, OKR and cascade services on their own server, and a
/// first health replica (the strategy service checks its assumptions'
/// metrics there); `app` keeps only the database, so the test decides
/// which further health replicas run. CSAT is created on the replica,
/// before the guarded season whose strategy names it.
async fn others_apart(
    app: &mut TestApp,
    lease_seconds: u64,
    fail_point: Option<&str>,
) -> anyhow::Result<(TestApp, TestApp)> {
    app.stop_server().await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let health_url = format!("http://{}", listener.local_addr()?);
    let others = app
        .spawn_peer(|settings| {
            settings.services = vec![ServiceName::Strategy, ServiceName::Okr, ServiceName::Cascade];
            settings.peer_health = Some(health_url);
        })
        .await?;
    let first = health_replica_on(listener, app, &others, lease_seconds, fail_point).await?;
    crate::support::load_org(&others).await?;
    create_metric(&first, "csat", csat()).await?;
    Ok((others, first))
}

/// The other services apart, the guarded season, and a health server on
/// `app`'s database whose runner "dies" right after pausing the guarded
/// objective on two red readings; returns them and that objective.
pub(crate) async fn paused_by_a_doomed_runner(
    app: &mut TestApp,
    lease_seconds: u64,
) -> anyhow::Result<(TestApp, TestApp, String)> {
    let (others, doomed) = others_apart(app, lease_seconds, Some("PAUSE_GUARDED")).await?;
    let [stretch, ..] = guarded_season(&others).await?;
    record(&doomed, CSAT, 1, 3.5).await?;
    record(&doomed, CSAT, 2, 3.4).await?;
    eventually("the guarded objective is paused", || async {
        Ok(state_of(&others, &stretch).await? == objective::State::Paused)
    })
    .await?;
    Ok((others, doomed, stretch))
}

fn seconds(time: Option<&Timestamp>) -> f64 {
    time.map_or(0.0, |time| time.seconds as f64 + f64::from(time.nanos) / 1e9)
}

async fn pending_steps(app: &TestApp) -> anyhow::Result<i32> {
    Ok(metric(app, CSAT).await?.escalation.unwrap_or_default().pending_steps)
}

/// The holder pauses the guarded objective and dies before creating the
/// remedial objective. A standby that was told of the same red readings
/// leaves the steps alone until the dead holder's claim has lapsed, then
/// finishes them: one remedial objective, and green resumes the pause.
async fn a_standby_runs_the_steps_only_once_the_dead_holders_claim_lapsed(mut app: TestApp) -> anyhow::Result<()> {
    const LEASE_SECONDS: u64 = 3;
    let (others, doomed, stretch) = paused_by_a_doomed_runner(&mut app, LEASE_SECONDS).await?;
    let paused_at = seconds(objective_of(&others, &stretch).await?.update_time.as_ref());

    // The standby records a red reading of its own, which wakes its runner.
    let standby = health_replica(&app, &others, LEASE_SECONDS, None).await?;
    record(&standby, CSAT, 3, 3.3).await?;
    eventually("the standby took over and created the remedial objective", || async {
        Ok(!remedial_objectives(&others).await?.is_empty())
    })
    .await?;
    let remedial = remedial_objectives(&others).await?;
    assert_eq!(remedial.len(), 1);
    // The holder ran the pause at least a third of a term before its claim
    // lapsed, and the standby may claim only after that.
    let waited = seconds(remedial[0].create_time.as_ref()) - paused_at;
    assert!(
        waited >= LEASE_SECONDS as f64 / 3.0 - 0.1,
        "the standby ran a step {waited:.2} s after the pause, while the holder's claim held"
    );
    eventually("no step is pending", || async {
        Ok(pending_steps(&standby).await? == 0)
    })
    .await?;
    let escalation = metric(&standby, CSAT).await?.escalation.unwrap_or_default();
    assert_eq!(escalation.paused_objectives, vec![stretch.clone()]);
    assert_eq!(escalation.remedial_objective, remedial[0].name);

    record(&standby, CSAT, 4, 4.5).await?;
    eventually("the paused objective is resumed", || async {
        Ok(state_of(&others, &stretch).await? == objective::State::Active)
    })
    .await?;
    assert_eq!(remedial_objectives(&others).await?.len(), 1);
    doomed.shutdown().await?;
    standby.shutdown().await?;
    others.shutdown().await
}

/// With a claim that would hold for a minute: readings sent to the standby
/// are escalated by the holder, and once the holder shuts down the standby
/// runs the next escalation straight away.
async fn a_holder_that_shuts_down_hands_the_steps_over_at_once(mut app: TestApp) -> anyhow::Result<()> {
    const LEASE_SECONDS: u64 = 60;
    let (others, holder) = others_apart(&mut app, LEASE_SECONDS, None).await?;
    let [stretch, ..] = guarded_season(&others).await?;
    record(&holder, CSAT, 1, 3.5).await?;
    record(&holder, CSAT, 2, 3.4).await?;
    eventually("the holder escalated", || async {
        Ok(remedial_objectives(&others).await?.len() == 1 && pending_steps(&holder).await? == 0)
    })
    .await?;

    // Green through the standby: its runner stands by; the holder finishes
    // the remedial objective and resumes the paused one.
    let standby = health_replica(&app, &others, LEASE_SECONDS, None).await?;
    record(&standby, CSAT, 3, 4.5).await?;
    eventually("the holder resumed the paused objective", || async {
        Ok(state_of(&others, &stretch).await? == objective::State::Active && pending_steps(&standby).await? == 0)
    })
    .await?;
    let first = &remedial_objectives(&others).await?[0];
    assert_eq!(first.state(), objective::State::Completed);

    // The holder leaves; the standby runs the next escalation well within
    // the minute the claim would otherwise have held.
    holder.shutdown().await?;
    record(&standby, CSAT, 4, 3.5).await?;
    record(&standby, CSAT, 5, 3.4).await?;
    // `eventually` gives up long before the claim would have lapsed.
    eventually("the standby escalated again", || async {
        Ok(remedial_objectives(&others).await?.len() == 2
            && state_of(&others, &stretch).await? == objective::State::Paused)
    })
    .await?;
    standby.shutdown().await?;
    others.shutdown().await
}
