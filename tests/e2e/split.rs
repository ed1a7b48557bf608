//! The four services run apart: four servers on four ports, each with its
//! own database, knowing each other only by their peer addresses. The
//! whiskey-club scenario runs across them, the cascade answers from the
//! other servers' feeds, and one escalation is one trace across health,
//! okr, strategy and the org service.

use anyhow::Context;
use tonic::Code;
use trellis_proto::common::v1::Visibility;
use trellis_proto::{
    cascade::v1::{GetAlignmentPathRequest, GetProjectionStatusRequest},
    okr::v1::{CreateCycleRequest, Cycle, ListCyclesRequest, ListObjectivesRequest, objective},
    strategy::v1::GetStrategyRequest,
};
use trellis_server::settings::{ServiceName, ServiceSubject};
use trellis_tests::{
    TestApp, TestBackend, TestCluster, backend_only_tests, cluster_tests,
    issuer::{ADMIN, TestIssuer},
    spawn_cluster_with,
    tls::TestCa,
};

use crate::{
    health::{CSAT, remedial_objectives, whiskey_club_escalation_end_to_end},
    support::{eventually, expect_code},
};

async fn the_whiskey_club_runs_across_four_servers(cluster: TestCluster) -> anyhow::Result<()> {
    the_whiskey_club_runs_across(|| Ok(cluster.client_view())).await
}

/// The whiskey club through clients from `view` (one server per service),
/// and the cascade following the other servers' feeds.
async fn the_whiskey_club_runs_across(view: impl Fn() -> anyhow::Result<TestApp>) -> anyhow::Result<()> {
    whiskey_club_escalation_end_to_end(view()?).await?;
    let app = view()?;

    // The cascade, on its own server, sees what the okr server holds.
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
                as_of: None,
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
backend_only_tests!(
    the_split_cluster_runs_under_oidc_and_tls_with_client_credentials,
    the_split_cluster_runs_under_oidc_and_mutual_tls_with_service_certificates,
);

/// The four servers with `--auth-mode oidc` and TLS, as a deployment that
/// runs them apart on a network: every call needs a token, every
/// connection is TLS (`https://` peers), and each server is one of
/// Trellis's services to the others either by a client-credentials token
/// of its own (`--service-client-id`; the issuer's subject for it named in
/// `--oidc-service-subjects`) or, with mTLS, by its certificate.
async fn secured_cluster(
    backend: &TestBackend,
    issuer: &TestIssuer,
    ca: &TestCa,
    mutual: bool,
) -> anyhow::Result<TestCluster> {
    let secrets = tempfile::tempdir()?;
    let mut subjects = Vec::new();
    for service in ServiceName::ALL {
        let name = format!("trellis-{}", service.as_str());
        issuer.register_client(&name, &format!("{name}-secret"), &format!("svc-{name}"))?;
        std::fs::write(secrets.path().join(&name), format!("{name}-secret\n"))?;
        subjects.push(ServiceSubject {
            service: name.clone(),
            subject: format!("svc-{name}"),
        });
    }
    spawn_cluster_with(backend, |service, settings, url_of| {
        let name = format!("trellis-{}", service.as_str());
        issuer.configure(settings);
        ca.configure_as(settings, mutual, &name)?;
        let https = |peer: ServiceName| Some(url_of(peer).replace("http://", "https://"));
        settings.peer_strategy = https(ServiceName::Strategy);
        settings.peer_okr = https(ServiceName::Okr);
        settings.peer_health = https(ServiceName::Health);
        settings.peer_cascade = https(ServiceName::Cascade);
        if !mutual {
            settings.service_client_id = Some(name.clone());
            settings.service_client_secret_file = Some(secrets.path().join(&name));
            settings.oidc_service_subjects.clone_from(&subjects);
        }
        Ok(())
    })
    .await
}

/// A private objective on the okr server reaches the cascade on its own
/// server (whose feed reader is the cascade's service, which reads
/// everything) and is answered to the admin, while an outsider is told it
/// does not exist.
async fn a_private_objective_crosses_to_the_cascade(cluster: &TestCluster, issuer: &TestIssuer) -> anyhow::Result<()> {
    let admin = cluster.client_view_with_token(&issuer.token(ADMIN)?)?;
    let outsider = cluster.client_view_with_token(&issuer.token("mallory")?)?;
    // Drafted in a quarter still being planned.
    let season = admin
        .okr
        .clone()
        .list_cycles(ListCyclesRequest::default())
        .await?
        .into_inner()
        .cycles
        .first()
        .cloned()
        .context("the season's cycle")?;
    let next = admin
        .okr
        .clone()
        .create_cycle(CreateCycleRequest {
            cycle: Some(Cycle {
                display_name: "Next quarter".into(),
                start_time: season.end_time,
                end_time: season.end_time.map(|end| prost_types::Timestamp {
                    seconds: end.seconds + 90 * 86_400,
                    nanos: 0,
                }),
                org_unit: season.org_unit.clone(),
                ..Cycle::default()
            }),
            cycle_id: "next-quarter".into(),
            request_id: String::new(),
        })
        .await?
        .into_inner();
    let mut request = crate::access::new_objective("hidden-plan", "orgUnits/product");
    if let Some(objective) = request.objective.as_mut() {
        objective.cycle = next.name;
        objective.set_visibility(Visibility::Private);
    }
    let created = admin.okr.clone().create_objective(request).await?.into_inner();
    eventually("the cascade answers the admin about the private objective", || async {
        Ok(admin
            .cascade
            .clone()
            .get_alignment_path(GetAlignmentPathRequest {
                as_of: None,
                name: created.name.clone(),
            })
            .await
            .is_ok())
    })
    .await?;
    let hidden = outsider
        .cascade
        .clone()
        .get_alignment_path(GetAlignmentPathRequest {
            as_of: None,
            name: created.name.clone(),
        })
        .await;
    expect_code(hidden, Code::NotFound)?;
    Ok(())
}

async fn the_split_cluster_runs_under_oidc_and_tls_with_client_credentials(backend: TestBackend) -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await?;
    let ca = TestCa::new("Trellis test CA")?;
    let cluster = secured_cluster(&backend, &issuer, &ca, false).await?;
    // Each server got its own token at start.
    assert_eq!(issuer.tokens_issued(), 4);
    let without_token = cluster
        .okr
        .okr
        .clone()
        .list_objectives(ListObjectivesRequest::default())
        .await;
    expect_code(without_token, Code::Unauthenticated)?;
    let token = issuer.token(ADMIN)?;
    the_whiskey_club_runs_across(|| cluster.client_view_with_token(&token)).await?;
    a_private_objective_crosses_to_the_cascade(&cluster, &issuer).await
}

async fn the_split_cluster_runs_under_oidc_and_mutual_tls_with_service_certificates(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await?;
    let ca = TestCa::new("Trellis test CA")?;
    let cluster = secured_cluster(&backend, &issuer, &ca, true).await?;
    assert_eq!(issuer.tokens_issued(), 0);
    let admin = cluster.client_view_with_token(&issuer.token(ADMIN)?)?;
    crate::health::guarded_season(&admin).await?;
    a_private_objective_crosses_to_the_cascade(&cluster, &issuer).await
}
