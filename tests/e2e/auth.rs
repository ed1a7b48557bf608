//! Authentication with `--auth-mode oidc`: tokens signed by a test issuer
//! whose keys the server reads from a JWKS it serves over HTTP. Every RPC
//! needs a good token; each way a token can be wrong is refused
//! UNAUTHENTICATED; a new key is taken without a restart; the actor on
//! the feed is the token's subject whatever `x-trellis-actor` says; and a
//! service's calls to its peers carry the caller's token.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::StreamExt;
use prost_reflect::DescriptorPool;
use serde_json::{Value, json};
use tonic::{Code, Request, metadata::MetadataValue};
use tonic_health::pb::HealthCheckRequest;
use trellis_proto::{
    cascade::v1::{CreateOrgUnitRequest, ListOrgUnitsRequest, OrgUnit},
    feed::v1::WatchChangesRequest,
    strategy::v1::CreateStrategyRequest,
};
use trellis_tests::{
    TestApp, TestBackend, backend_only_tests,
    issuer::{RSA_KID, TestIssuer, now},
    spawn_app_with,
};

use crate::{bad_input::call, support::complete_strategy};

backend_only_tests!(
    every_rpc_needs_a_token_and_probes_do_not,
    every_wrong_token_is_unauthenticated,
    a_key_published_later_is_accepted_without_a_restart,
    the_actor_is_the_tokens_subject,
    calls_between_services_carry_the_callers_token,
);

async fn spawn_with_issuer(backend: &TestBackend) -> anyhow::Result<(TestApp, TestIssuer)> {
    let issuer = TestIssuer::start().await?;
    let app = spawn_app_with(backend, |settings| issuer.configure(settings)).await?;
    Ok((app, issuer))
}

fn bearer<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(format!("Bearer {token}"))?);
    Ok(request)
}

fn acme() -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            display_name: "Acme".into(),
            kind: "company".into(),
            ..OrgUnit::default()
        }),
        org_unit_id: "acme".into(),
        ..CreateOrgUnitRequest::default()
    }
}

async fn list_units_with(app: &TestApp, token: &str) -> anyhow::Result<Code> {
    let outcome = app
        .org
        .clone()
        .list_org_units(bearer(ListOrgUnitsRequest::default(), token)?)
        .await;
    Ok(outcome.err().map_or(Code::Ok, |status| status.code()))
}

async fn every_rpc_needs_a_token_and_probes_do_not(backend: TestBackend) -> anyhow::Result<()> {
    let (app, _issuer) = spawn_with_issuer(&backend).await?;
    let pool = DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET)?;
    let channel = app.channel().await?;
    let mut wrong = Vec::new();
    let mut calls = 0;
    for service in pool.services() {
        for method in service.methods() {
            calls += 1;
            let code = call(channel.clone(), &method, Vec::new())
                .await
                .err()
                .map_or(Code::Ok, |status| status.code());
            if code != Code::Unauthenticated {
                wrong.push(format!("{}/{}: {code:?}", service.name(), method.name()));
            }
        }
    }
    assert!(calls >= 85, "{calls} calls");
    assert!(wrong.is_empty(), "answered without a token:\n{}", wrong.join("\n"));
    let mut health = app.health.clone();
    health.check(HealthCheckRequest { service: String::new() }).await?;
    Ok(())
}

/// `claims` signed with the RSA key, then changed by `change`.
fn token_with(issuer: &TestIssuer, change: impl FnOnce(&mut Value)) -> anyhow::Result<String> {
    let mut claims = issuer.claims("alice");
    change(&mut claims);
    issuer.sign(RSA_KID, &claims)
}

async fn every_wrong_token_is_unauthenticated(backend: TestBackend) -> anyhow::Result<()> {
    let (app, issuer) = spawn_with_issuer(&backend).await?;
    let good = issuer.token("alice")?;
    assert_eq!(list_units_with(&app, &good).await?, Code::Ok);

    let claims = URL_SAFE_NO_PAD.encode(issuer.claims("alice").to_string());
    let unsigned = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
    // HMAC keyed with the issuer's public key: the classic confusion.
    let public_pem = include_bytes!("../fixtures/auth/rsa-test-key.pub.pem");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(RSA_KID.to_owned());
    let confused = jsonwebtoken::encode(
        &header,
        &issuer.claims("alice"),
        &jsonwebtoken::EncodingKey::from_secret(public_pem),
    )?;
    let (head, rest) = good.split_once('.').unwrap_or_default();
    let (_, signature) = rest.split_once('.').unwrap_or_default();
    let forged_claims = URL_SAFE_NO_PAD.encode(issuer.claims("mallory").to_string());
    let tampered = format!("{head}.{forged_claims}.{signature}");
    issuer.add_ec_key("unpublished", false)?;
    let unknown_kid = issuer.sign("unpublished", &issuer.claims("alice"))?;

    let wrong = [
        ("expired", token_with(&issuer, |c| c["exp"] = json!(now() - 3600))?),
        (
            "not yet valid",
            token_with(&issuer, |c| c["nbf"] = json!(now() + 3600))?,
        ),
        (
            "another issuer",
            token_with(&issuer, |c| c["iss"] = json!("https://elsewhere.test"))?,
        ),
        (
            "another audience",
            token_with(&issuer, |c| c["aud"] = json!("billing"))?,
        ),
        ("no subject", token_with(&issuer, |c| c["sub"] = json!(""))?),
        (
            "no expiry",
            token_with(&issuer, |c| drop(c.as_object_mut().map(|c| c.remove("exp"))))?,
        ),
        ("alg none", unsigned),
        ("HS256 keyed with the public key", confused),
        ("tampered claims", tampered),
        ("unknown kid", unknown_kid),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (what, token) in wrong {
        assert_eq!(list_units_with(&app, &token).await?, Code::Unauthenticated, "{what}");
    }
    let mut no_scheme = Request::new(ListOrgUnitsRequest::default());
    no_scheme
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(good.as_str())?);
    let status = app.org.clone().list_org_units(no_scheme).await.err();
    assert_eq!(status.map(|status| status.code()), Some(Code::Unauthenticated));
    Ok(())
}

async fn a_key_published_later_is_accepted_without_a_restart(backend: TestBackend) -> anyhow::Result<()> {
    let (app, issuer) = spawn_with_issuer(&backend).await?;
    issuer.add_ec_key("ec-2", false)?;
    let token = issuer.sign("ec-2", &issuer.claims("alice"))?;
    assert_eq!(list_units_with(&app, &token).await?, Code::Unauthenticated);
    issuer.publish("ec-2")?;
    // Unknown key ids read the keys again at most every few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if list_units_with(&app, &token).await? == Code::Ok {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the new key was never accepted");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The first key still works.
    assert_eq!(list_units_with(&app, &issuer.token("bob")?).await?, Code::Ok);
    Ok(())
}

async fn the_actor_is_the_tokens_subject(backend: TestBackend) -> anyhow::Result<()> {
    let (app, issuer) = spawn_with_issuer(&backend).await?;
    let token = issuer.token("alice")?;
    let mut request = bearer(acme(), &token)?;
    request
        .metadata_mut()
        .insert("x-trellis-actor", MetadataValue::from_static("mallory"));
    app.org.clone().create_org_unit(request).await?;
    let mut events = app
        .org
        .clone()
        .watch_changes(bearer(WatchChangesRequest::default(), &token)?)
        .await?
        .into_inner();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await?
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    assert_eq!(event.resource_name, "orgUnits/acme");
    assert_eq!(event.actor, "alice");
    Ok(())
}

async fn calls_between_services_carry_the_callers_token(backend: TestBackend) -> anyhow::Result<()> {
    let (app, issuer) = spawn_with_issuer(&backend).await?;
    let token = issuer.token("alice")?;
    app.org.clone().create_org_unit(bearer(acme(), &token)?).await?;
    // Creating a strategy asks the org service (a peer, over gRPC) for the
    // owner's ancestry: that call must present alice's token too.
    let mut strategy = complete_strategy("orgUnits/acme");
    strategy.assumptions.clear();
    let created = app
        .strategy
        .clone()
        .create_strategy(bearer(
            CreateStrategyRequest {
                strategy: Some(strategy),
                strategy_id: "company".into(),
                ..CreateStrategyRequest::default()
            },
            &token,
        )?)
        .await?
        .into_inner();
    assert_eq!(created.name, "strategies/company");
    assert_eq!(created.revision_actor, "alice");
    Ok(())
}
