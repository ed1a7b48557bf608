//! What every Trellis server offers: grpc.health.v1 per service, and
//! reflection.

use futures::StreamExt;
use std::time::Duration;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use trellis_proto::feed::v1::WatchChangesRequest;
use trellis_server::ServiceName;
use trellis_tests::{TestApp, TestBackend, backend_tests, spawn_app_with};

use crate::support::eventually;

backend_tests!(
    health_reports_each_service_serving,
    reflection_lists_the_services,
    a_cascade_that_cannot_replay_a_feed_is_not_ready
);

/// Open change streams would hold a graceful shutdown until its grace
/// period ran out; the server ends them instead. The grace period here is
/// a minute, so finishing within the timeout means nothing waited on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_change_streams_instead_of_waiting_on_them() -> anyhow::Result<()> {
    let app = spawn_app_with(&TestBackend::Sqlite, |settings| settings.shutdown_grace_seconds = 60).await?;
    crate::support::load_org(&app).await?;
    let request = WatchChangesRequest {
        after_sequence: 0,
        resource_types: Vec::new(),
        ..WatchChangesRequest::default()
    };
    let mut stream = app.org.clone().watch_changes(request).await?.into_inner();
    assert!(stream.next().await.is_some());
    tokio::time::timeout(Duration::from_secs(30), app.shutdown()).await??;
    let mut remaining = 0;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        remaining += 1;
    }
    assert!(remaining <= 3, "the replayed events at most, then the stream ended");
    Ok(())
}

async fn health_reports_each_service_serving(app: TestApp) -> anyhow::Result<()> {
    let mut health = app.health.clone();
    for service in [
        "",
        "trellis.strategy.v1.StrategyService",
        "trellis.okr.v1.OkrService",
        "trellis.health.v1.HealthMetricService",
        "trellis.cascade.v1.OrgService",
        "trellis.cascade.v1.CascadeService",
    ] {
        // The cascade turns SERVING once it has replayed every feed.
        eventually(&format!("{service:?} is serving"), || {
            let mut health = health.clone();
            async move {
                let response = health
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await?
                    .into_inner();
                Ok(response.status() == ServingStatus::Serving)
            }
        })
        .await?;
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "trellis.example.v1.NoSuchService".into(),
        })
        .await;
    assert_eq!(unknown.err().map(|status| status.code()), Some(tonic::Code::NotFound));
    Ok(())
}

async fn reflection_lists_the_services(app: TestApp) -> anyhow::Result<()> {
    let mut client = ServerReflectionClient::new(app.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let Some(response) = responses.next().await else {
        anyhow::bail!("no reflection response");
    };
    let Some(MessageResponse::ListServicesResponse(list)) = response?.message_response else {
        anyhow::bail!("not a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    for expected in [
        "trellis.strategy.v1.StrategyService",
        "trellis.cascade.v1.OrgService",
        "trellis.cascade.v1.CascadeService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    Ok(())
}

/// A cascade replica takes traffic (its readiness probe) only once it has
/// replayed every feed: with the strategy service unreachable it stays
/// NOT_SERVING while the process itself is alive.
async fn a_cascade_that_cannot_replay_a_feed_is_not_ready(app: TestApp) -> anyhow::Result<()> {
    let cascade = app
        .spawn_peer(|settings| {
            settings.services = vec![ServiceName::Cascade];
            settings.peer_strategy = Some("http://127.0.0.1:1".to_owned());
            settings.peer_okr = Some(app.url());
            settings.peer_health = Some(app.url());
        })
        .await?;
    let health = cascade.health.clone();
    let status = |service: &'static str| {
        let mut health = health.clone();
        async move {
            anyhow::Ok(
                health
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await?
                    .into_inner()
                    .status(),
            )
        }
    };
    eventually("the okr feed is replayed", || async {
        let status = cascade
            .cascade
            .clone()
            .get_projection_status(trellis_proto::cascade::v1::GetProjectionStatusRequest {})
            .await?
            .into_inner();
        Ok(status.feeds.iter().any(|feed| feed.source == "okr" && feed.caught_up))
    })
    .await?;
    assert_eq!(status("").await?, ServingStatus::Serving);
    assert_eq!(status("trellis.cascade.v1.OrgService").await?, ServingStatus::Serving);
    assert_eq!(
        status("trellis.cascade.v1.CascadeService").await?,
        ServingStatus::NotServing
    );
    Ok(())
}
