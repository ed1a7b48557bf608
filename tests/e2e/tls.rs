//! TLS and mTLS with certificates made in the test: the server serves TLS,
//! refuses a client without a certificate of its CA when it asks for one,
//! and its services still reach each other (over TLS, presenting its own
//! certificate).

use anyhow::Context;
use tonic::{
    Code,
    transport::{Channel, ClientTlsConfig},
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use trellis_proto::{
    cascade::v1::{ListOrgUnitsRequest, org_service_client::OrgServiceClient},
    strategy::v1::CreateStrategyRequest,
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, issuer::TestIssuer, spawn_app_with, tls::TestCa};

use crate::support::{complete_strategy, load_org};

backend_only_tests!(
    a_tls_server_answers_over_tls_and_calls_itself_over_tls,
    mutual_tls_refuses_a_client_without_a_certificate_of_its_ca,
    a_client_certificate_naming_a_service_is_that_service_under_oidc,
    health_checks_are_answered_in_plaintext_on_their_own_port,
);

/// What a ListOrgUnits call gets over a channel with `tls` (plaintext
/// without): `Err` when no connection could be made at all.
async fn list_with(app: &TestApp, tls: Option<ClientTlsConfig>) -> Result<Code, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://{}", app.address)).map_err(|err| err.to_string())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|err| err.to_string())?;
    }
    let channel = endpoint.connect().await.map_err(|err| err.to_string())?;
    let outcome = OrgServiceClient::new(channel)
        .list_org_units(ListOrgUnitsRequest::default())
        .await;
    Ok(outcome.err().map_or(Code::Ok, |status| status.code()))
}

/// Creates a strategy, which makes the strategy service ask the org
/// service of the same server about its owner.
async fn create_strategy_calling_itself(app: &TestApp, id: &str) -> anyhow::Result<()> {
    load_org(app).await?;
    let mut strategy = complete_strategy("orgUnits/acme");
    strategy.assumptions.clear();
    app.strategy
        .clone()
        .create_strategy(CreateStrategyRequest {
            strategy: Some(strategy),
            strategy_id: id.to_owned(),
            request_id: String::new(),
        })
        .await?;
    Ok(())
}

async fn a_tls_server_answers_over_tls_and_calls_itself_over_tls(backend: TestBackend) -> anyhow::Result<()> {
    let ca = TestCa::new("Trellis test CA")?;
    let mut configured = Ok(());
    let app = spawn_app_with(&backend, |settings| configured = ca.configure(settings, false)).await?;
    configured?;
    assert!(app.url().starts_with("https://"), "{}", app.url());
    assert_eq!(list_with(&app, Some(ca.client(None))).await, Ok(Code::Ok));
    // Plaintext gets no answer from a TLS port.
    assert!(!matches!(list_with(&app, None).await, Ok(Code::Ok)));
    // Nor does a client that trusts another CA.
    let stranger = TestCa::new("Another CA")?;
    assert!(list_with(&app, Some(stranger.client(None))).await.is_err());
    // Creating a strategy asks the org service (this same server, over
    // TLS) about its owner.
    create_strategy_calling_itself(&app, "over-tls").await
}

async fn mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(backend: TestBackend) -> anyhow::Result<()> {
    let ca = TestCa::new("Trellis test CA")?;
    let mut configured = Ok(());
    let app = spawn_app_with(&backend, |settings| configured = ca.configure(settings, true)).await?;
    configured?;
    let refused = |outcome: Result<Code, String>| !matches!(outcome, Ok(Code::Ok));
    assert!(
        refused(list_with(&app, Some(ca.client(None))).await),
        "no client certificate"
    );
    let stranger = TestCa::new("Another CA")?;
    let foreign = stranger.issue("mallory")?;
    assert!(
        refused(list_with(&app, Some(ca.client(Some(&foreign)))).await),
        "a certificate of another CA"
    );
    let ours = ca.issue("trellis-okr")?;
    assert_eq!(list_with(&app, Some(ca.client(Some(&ours)))).await, Ok(Code::Ok));
    // The server's services reach each other presenting its certificate.
    create_strategy_calling_itself(&app, "over-mtls").await
}

/// A server with mTLS (a CA made here) and oidc (an issuer started here),
/// its settings changed by `customize` too.
async fn spawn_with_mtls_and_oidc(
    backend: &TestBackend,
    customize: impl FnOnce(&mut trellis_server::Settings),
) -> anyhow::Result<(TestApp, TestCa, TestIssuer)> {
    let ca = TestCa::new("Trellis test CA")?;
    let issuer = TestIssuer::start().await?;
    let mut configured = Ok(());
    let app = spawn_app_with(backend, |settings| {
        issuer.configure(settings);
        configured = ca.configure(settings, true);
        customize(settings);
    })
    .await?;
    configured?;
    Ok((app, ca, issuer))
}

/// With `--auth-mode oidc` and mTLS, a call without a token whose client
/// certificate (of the server's client CA) names one of Trellis's services
/// runs as that service's principal, as a service run apart calls its
/// peers; a certificate naming anyone else still needs a token.
async fn a_client_certificate_naming_a_service_is_that_service_under_oidc(backend: TestBackend) -> anyhow::Result<()> {
    let (app, ca, _issuer) = spawn_with_mtls_and_oidc(&backend, |_| {}).await?;
    let service = ca.issue("trellis-cascade")?;
    assert_eq!(list_with(&app, Some(ca.client(Some(&service)))).await, Ok(Code::Ok));
    let person = ca.issue("mallory")?;
    assert_eq!(
        list_with(&app, Some(ca.client(Some(&person)))).await,
        Ok(Code::Unauthenticated)
    );
    Ok(())
}

/// `health_listen`: a server serving mTLS with oidc also answers health
/// checks in plaintext, without credentials, on a port of their own (for
/// Kubernetes' gRPC probes, which speak no TLS); nothing else is served
/// there.
async fn health_checks_are_answered_in_plaintext_on_their_own_port(backend: TestBackend) -> anyhow::Result<()> {
    let (app, _ca, _issuer) = spawn_with_mtls_and_oidc(&backend, |settings| {
        settings.health_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await?;
    let address = app.health_address.context("a health address")?;
    let channel = Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "trellis.okr.v1.OkrService".to_owned(),
        })
        .await?
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    let elsewhere = OrgServiceClient::new(channel)
        .list_org_units(ListOrgUnitsRequest::default())
        .await;
    assert_eq!(elsewhere.err().map(|status| status.code()), Some(Code::Unimplemented));
    Ok(())
}
