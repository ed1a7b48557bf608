//! Snapshots of the cascade's graph: a server that stops takes one, the
//! next starts from it and replays only the feeds' tail, and answers as a
//! server that replayed every feed does, writes made meanwhile included.
//! A snapshot whose bytes do not match is skipped.

use sea_orm::{ConnectionTrait, Database};
use trellis_proto::{
    cascade::v1::{GetAlignmentPathRequest, GetProjectionStatusRequest, GetRollupRequest, ProjectionStatus},
    okr::v1::{key_result, objective::Kind},
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, spawn_app_with};

use crate::{
    cascade::settled,
    okr_support::{check_in_at, company_objective, create_objective, measured, move_cycle, planning_season},
};

backend_only_tests!(a_restart_from_a_snapshot_answers_as_a_full_replay_does);

const KR: &str = "objectives/grow/keyResults/kr1";

/// What the cascade answers about the season: the company's roll-up and
/// the key result's way up, as text to compare.
async fn answers(app: &TestApp) -> anyhow::Result<String> {
    settled(app, &app.cascade).await?;
    let mut cascade = app.cascade.clone();
    let rollup = cascade
        .get_rollup(GetRollupRequest {
            as_of: None,
            name: "orgUnits/acme".into(),
            cycle: "cycles/2027-q1".into(),
        })
        .await?
        .into_inner();
    let path = cascade
        .get_alignment_path(GetAlignmentPathRequest {
            name: KR.into(),
            as_of: None,
        })
        .await?
        .into_inner();
    Ok(format!("{:?} {} {:?}", rollup.rollup, rollup.objectives, path.routes))
}

async fn status(app: &TestApp) -> anyhow::Result<ProjectionStatus> {
    Ok(app
        .cascade
        .clone()
        .get_projection_status(GetProjectionStatusRequest {})
        .await?
        .into_inner())
}

/// Events the okr feed applied since the server started.
fn okr_applied(status: &ProjectionStatus) -> i64 {
    status
        .feeds
        .iter()
        .find(|feed| feed.source == "okr")
        .map_or(0, |feed| feed.events_applied)
}

async fn a_restart_from_a_snapshot_answers_as_a_full_replay_does(backend: TestBackend) -> anyhow::Result<()> {
    let mut first = spawn_app_with(&backend, |settings| settings.snapshot_retention = 3).await?;
    planning_season(&first).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&first, "grow", company_objective(Kind::Committed), vec![kr]).await?;
    move_cycle(&first, "ACTIVE").await?;
    for value in [2.0, 4.0, 5.0] {
        check_in_at(&first, KR, value, 6).await?;
    }
    let before = answers(&first).await?;
    assert!(status(&first).await?.snapshot_time.is_none(), "the first start replays");
    // Stopping takes a snapshot.
    first.stop_server().await?;

    let restarted = first.spawn_peer(|settings| settings.snapshot_retention = 3).await?;
    // A write while it starts: the tail after the snapshot.
    check_in_at(&restarted, KR, 7.0, 6).await?;
    let after = answers(&restarted).await?;
    let restored = status(&restarted).await?;
    assert!(restored.snapshot_time.is_some(), "it started from the snapshot");
    let replayed = first.spawn_peer(|settings| settings.snapshot_retention = 0).await?;
    assert_eq!(answers(&replayed).await?, after, "a full replay answers the same");
    let (tail, whole) = (okr_applied(&restored), okr_applied(&status(&replayed).await?));
    assert!(
        0 < tail && tail < whole,
        "only the tail was replayed: {tail} events of {whole}"
    );
    assert_ne!(before, after, "the check-in after the snapshot counts");
    replayed.shutdown().await?;

    // A snapshot whose bytes do not match is skipped for an older one (or
    // a full replay), and the answers stay the same.
    restarted.shutdown().await?;
    let db = Database::connect(first.database_url.as_str()).await?;
    db.execute_unprepared("UPDATE cascade_snapshots SET sha256 = 'not-the-hash'")
        .await?;
    db.close().await?;
    let fallen_back = first.spawn_peer(|settings| settings.snapshot_retention = 3).await?;
    assert_eq!(answers(&fallen_back).await?, after);
    assert!(status(&fallen_back).await?.snapshot_time.is_none(), "no snapshot loads");
    fallen_back.shutdown().await?;
    Ok(())
}
