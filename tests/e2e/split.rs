//! The four services run apart: four servers on four ports, each with its
//! own database, knowing each other only by their peer addresses. The
//! whiskey-club scenario runs across them, the cascade answers from the
//! other servers' feeds, and one escalation is one trace across health,
//! okr, strategy and the org service.

use tonic::Code;
use trellis_proto::{
    cascade::v1::{GetAlignmentPathRequest, GetProjectionStatusRequest},
    okr::v1::{ListObjectivesRequest, objective},
    strategy::v1::GetStrategyRequest,
};
use trellis_tests::{TestCluster, cluster_tests};

use crate::{
    health::{CSAT, remedial_objectives, whiskey_club_escalation_end_to_end},
    support::{eventually, expect_code},
};

async fn the_whiskey_club_runs_across_four_servers(cluster: TestCluster) -> anyhow::Result<()> {
    whiskey_club_escalation_end_to_end(cluster.client_view()).await?;

    // The cascade, on its own server, sees what the okr server holds.
    let app = cluster.client_view();
    let remedial = remedial_objectives(&app).await?;
    let Some(latest) = remedial
        .iter()
        .find(|objective| objective.state() == objective::State::Active)
    else {
        anyhow::bail!("no active remedial objective");
    };
    eventually("the cascade knows the remedial objective", || async {
        let path = app
            .cascade
            .clone()
            .get_alignment_path(GetAlignmentPathRequest {
                name: latest.name.clone(),
            })
            .await;
        Ok(path.is_ok_and(|path| {
            let path = path.into_inner();
            path.start.is_some_and(|start| start.state == "ACTIVE")
                && path.org_path.iter().any(|unit| unit.name == "orgUnits/product")
        }))
    })
    .await?;
    let status = app
        .cascade
        .clone()
        .get_projection_status(GetProjectionStatusRequest::default())
        .await?
        .into_inner();
    for feed in &status.feeds {
        assert!(
            feed.connected,
            "the {} feed is not connected: {}",
            feed.source, feed.last_error
        );
    }
    Ok(())
}

/// Each server serves its own service only: the others are UNIMPLEMENTED
/// there, and nothing one server holds is in another's database.
async fn each_server_hosts_one_service(cluster: TestCluster) -> anyhow::Result<()> {
    crate::health::guarded_season(&cluster.client_view()).await?;
    let on_okr_server = cluster
        .okr
        .strategy
        .clone()
        .get_strategy(GetStrategyRequest {
            name: "strategies/company".to_owned(),
            revision: 0,
        })
        .await;
    expect_code(on_okr_server, Code::Unimplemented)?;
    let on_strategy_server = cluster
        .strategy
        .okr
        .clone()
        .list_objectives(ListObjectivesRequest::default())
        .await;
    expect_code(on_strategy_server, Code::Unimplemented)?;
    let objectives = cluster
        .okr
        .okr
        .clone()
        .list_objectives(ListObjectivesRequest {
            filter: format!("guardrails:\"{CSAT}\""),
            ..ListObjectivesRequest::default()
        })
        .await?
        .into_inner()
        .objectives;
    assert_eq!(objectives.len(), 2);
    Ok(())
}

cluster_tests!(the_whiskey_club_runs_across_four_servers, each_server_hosts_one_service);
