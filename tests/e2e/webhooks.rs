//! Signed webhooks: a receiver that verifies every signature sees each
//! event its webhook asks for, in feed order, retried after a 500; a
//! receiver that always fails gets a delivery dead-lettered after the
//! attempt limit, without holding up the other webhook; events about
//! private objects never go out; bad subscriptions are refused with every
//! violation at once; the secret is never returned.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use prost_types::FieldMask;
use tonic::Code;
use trellis_proto::{
    cascade::v1::{
        CreateWebhookRequest, DeleteWebhookRequest, GetWebhookRequest, ListWebhookDeliveriesRequest,
        ListWebhooksRequest, UpdateWebhookRequest, Webhook, WebhookDelivery, webhook_delivery::State,
        webhook_service_client::WebhookServiceClient,
    },
    common::v1::Visibility,
    okr::v1::{key_result, objective::Kind},
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, receiver::Receiver, spawn_app_with};

use crate::{
    okr_support::{company_objective, create_objective, measured, planning_season},
    support::{eventually, expect_code, unit, violated_fields},
};

backend_only_tests!(webhooks_are_signed_retried_and_dead_lettered);

const SECRET: &str = "a-receiver-secret-of-32-chars-ok";
const OTHER_SECRET: &str = "another-secret-of-at-least-24";

fn webhook(url: &str, types: &[&str], secret: &str) -> Webhook {
    Webhook {
        display_name: "Chat".into(),
        url: url.into(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        secret: secret.into(),
        ..Webhook::default()
    }
}

async fn deliveries(
    client: &mut WebhookServiceClient<tonic::transport::Channel>,
    parent: &str,
) -> anyhow::Result<Vec<WebhookDelivery>> {
    Ok(client
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: parent.into(),
            page_size: 1000,
            ..ListWebhookDeliveriesRequest::default()
        })
        .await?
        .into_inner()
        .deliveries)
}

async fn webhooks_are_signed_retried_and_dead_lettered(backend: TestBackend) -> anyhow::Result<()> {
    // The first attempt at each event fails; the second succeeds.
    let flaky = Receiver::start(Arc::new(|attempt| if attempt == 1 { 500 } else { 204 })).await?;
    let broken = Receiver::start(Arc::new(|_| 500)).await?;
    let app: TestApp = spawn_app_with(&backend, |settings| {
        settings.webhook_first_retry_millis = 50;
        settings.webhook_max_retry_seconds = 1;
        settings.webhook_max_attempts = 3;
    })
    .await?;
    let mut hooks = WebhookServiceClient::new(app.channel().await?);

    // Bad subscriptions: every violation at once, nothing made.
    let bad = hooks
        .create_webhook(CreateWebhookRequest {
            webhook: Some(webhook(
                "http://chat.example.com/hook",
                &["trellis.okr.v1.*", "bad type!"],
                "short",
            )),
            webhook_id: "Bad Id".into(),
            request_id: String::new(),
        })
        .await;
    let status = expect_code(bad, Code::InvalidArgument)?;
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        ["webhook.event_types[1]", "webhook.secret", "webhook.url", "webhook_id"],
        "{status:?}"
    );
    assert!(
        hooks
            .list_webhooks(ListWebhooksRequest::default())
            .await?
            .into_inner()
            .webhooks
            .is_empty()
    );

    let okr_hook = hooks
        .create_webhook(CreateWebhookRequest {
            webhook: Some(webhook(&flaky.url, &["trellis.okr.v1.Objective.*"], SECRET)),
            webhook_id: "chat".into(),
            request_id: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(okr_hook.name, "webhooks/chat");
    assert!(okr_hook.secret.is_empty(), "the secret is never returned");
    let unit_hook = hooks
        .create_webhook(CreateWebhookRequest {
            webhook: Some(webhook(
                &broken.url,
                &["trellis.cascade.v1.OrgUnit.created"],
                OTHER_SECRET,
            )),
            webhook_id: "broken".into(),
            request_id: String::new(),
        })
        .await?
        .into_inner();

    planning_season(&app).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&app, "grow", company_objective(Kind::Committed), vec![kr.clone()]).await?;
    let mut secret = company_objective(Kind::Committed);
    secret.visibility = Visibility::Private as i32;
    create_objective(&app, "secret-plan", secret, vec![kr]).await?;
    create_objective(
        &app,
        "retain",
        company_objective(Kind::Aspirational),
        vec![measured(key_result::Kind::Increase, 0.0, 5.0)],
    )
    .await?;

    // The flaky receiver gets the two public objectives, each on its
    // second attempt.
    eventually("both objectives are delivered", || {
        let mut hooks = hooks.clone();
        async move {
            let listed = deliveries(&mut hooks, "webhooks/chat").await?;
            Ok(listed.len() == 2 && listed.iter().all(|delivery| delivery.state() == State::Delivered))
        }
    })
    .await?;
    let listed = deliveries(&mut hooks, "webhooks/chat").await?;
    for delivery in &listed {
        assert_eq!((delivery.attempts, delivery.last_status_code), (2, 204), "{delivery:?}");
        assert_eq!(delivery.event_type, "trellis.okr.v1.Objective.created");
    }
    let subjects: Vec<&str> = listed.iter().map(|delivery| delivery.subject.as_str()).collect();
    assert_eq!(subjects, ["objectives/retain", "objectives/grow"], "newest first");

    flaky.received(|received| -> anyhow::Result<()> {
        assert_eq!(received.len(), 4, "two attempts at each of two events");
        let mut delivered = Vec::new();
        for request in received {
            let timestamp: i64 = request.timestamp.parse().context("a Unix timestamp")?;
            assert!(
                trellis_events::signature::verify(SECRET, &request.id, timestamp, &request.body, &request.signature),
                "a signature that does not verify: {}",
                request.signature
            );
            assert!(!trellis_events::signature::verify(
                OTHER_SECRET,
                &request.id,
                timestamp,
                &request.body,
                &request.signature
            ));
            let event: serde_json::Value = serde_json::from_slice(&request.body)?;
            assert_eq!(event["specversion"], "1.0");
            assert_eq!(event["id"].as_str(), Some(request.id.as_str()));
            assert_ne!(
                event["subject"], "objectives/secret-plan",
                "a private objective went out"
            );
            if request.status == 204 {
                delivered.push(event["subject"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(delivered, ["objectives/grow", "objectives/retain"], "in feed order");
        Ok(())
    })?;

    // The broken receiver: each org unit made is tried three times, then
    // dead-lettered; the other webhook went on meanwhile.
    eventually("the broken receiver's deliveries are dead-lettered", || {
        let mut hooks = hooks.clone();
        async move {
            let listed = deliveries(&mut hooks, "webhooks/broken").await?;
            Ok(!listed.is_empty() && listed.iter().all(|delivery| delivery.state() == State::DeadLettered))
        }
    })
    .await?;
    let dead = deliveries(&mut hooks, "webhooks/broken").await?;
    assert!(dead.len() >= 4, "the planning season's org units: {dead:?}");
    for delivery in &dead {
        assert_eq!((delivery.attempts, delivery.last_status_code), (3, 500), "{delivery:?}");
        assert!(delivery.last_error.contains("500"), "{}", delivery.last_error);
    }
    broken.received(|received| assert_eq!(received.len(), dead.len() * 3));
    let shown = hooks
        .get_webhook(GetWebhookRequest {
            name: unit_hook.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (shown.pending_deliveries, shown.dead_lettered_deliveries),
        (0, dead.len() as i64)
    );
    let only_dead = hooks
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: unit_hook.name.clone(),
            state: State::Delivered as i32,
            ..ListWebhookDeliveriesRequest::default()
        })
        .await?
        .into_inner();
    assert!(only_dead.deliveries.is_empty());

    // Paused, a webhook queues; resumed, it sends.
    let paused = hooks
        .update_webhook(UpdateWebhookRequest {
            webhook: Some(Webhook {
                name: unit_hook.name.clone(),
                paused: true,
                etag: shown.etag.clone(),
                ..Webhook::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["paused".into()],
            }),
        })
        .await?
        .into_inner();
    assert!(paused.paused);
    app.org
        .clone()
        .create_org_unit(unit("later", "orgUnits/acme", "team"))
        .await?;
    eventually("the new unit is queued", || {
        let mut hooks = hooks.clone();
        async move {
            let listed = deliveries(&mut hooks, "webhooks/broken").await?;
            Ok(listed.iter().any(|delivery| delivery.subject == "orgUnits/later"))
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = deliveries(&mut hooks, "webhooks/broken").await?;
    let later = queued
        .iter()
        .find(|delivery| delivery.subject == "orgUnits/later")
        .context("queued")?;
    assert_eq!((later.state(), later.attempts), (State::Pending, 0), "paused: not sent");

    // A stale etag is refused; deleting forgets the deliveries.
    let stale = hooks
        .delete_webhook(DeleteWebhookRequest {
            name: unit_hook.name.clone(),
            etag: shown.etag.clone(),
        })
        .await;
    expect_code(stale, Code::Aborted)?;
    hooks
        .delete_webhook(DeleteWebhookRequest {
            name: unit_hook.name.clone(),
            etag: paused.etag.clone(),
        })
        .await?;
    expect_code(
        hooks
            .get_webhook(GetWebhookRequest {
                name: unit_hook.name.clone(),
            })
            .await,
        Code::NotFound,
    )?;
    app.shutdown().await
}
