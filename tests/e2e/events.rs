//! Events out to NATS JetStream, against the real `nats-server` on
//! 127.0.0.1:4222 (`.ci/run` starts it when it does not answer): every
//! feed event reaches the stream once, in feed order, as a CloudEvent;
//! a restart resumes where the relay left off; a relay that crashed after
//! publishing and before storing its cursor resends, and the stream drops
//! the resends; two replicas on one database relay each event once; a
//! NATS server that goes away for a while is caught up with once back.

use std::collections::HashMap;

use async_nats::jetstream;
use sea_orm::{ConnectionTrait, Database};
use trellis_proto::okr::v1::{key_result, objective::Kind};
use trellis_server::Settings;
use trellis_tests::{TestApp, TestBackend, backend_only_tests, nats::nats_url, spawn_app_with};

use crate::{
    cascade::feed_heads,
    okr_support::{check_in_at, company_objective, create_objective, measured, move_cycle, planning_season},
    support::eventually,
};

backend_only_tests!(
    every_event_reaches_the_stream_once_in_order_as_a_cloud_event,
    two_replicas_relay_each_event_once,
    a_relay_catches_up_once_nats_is_back,
);

/// A stream and subject tree of the test's own: tests share the server.
fn relaying(nats: &str, stream: &str) -> impl Fn(&mut Settings) + Clone {
    let (nats, stream) = (nats.to_owned(), stream.to_owned());
    move |settings: &mut Settings| {
        settings.events_nats_url = Some(nats.clone());
        settings.events_stream = stream.clone();
        settings.events_subject_prefix = stream.to_lowercase();
    }
}

fn unique_stream() -> String {
    format!("T{}", uuid::Uuid::new_v4().simple())
}

/// One message of the stream: its subject, its `Nats-Msg-Id`, its
/// CloudEvent.
struct Published {
    subject: String,
    message_id: String,
    event: serde_json::Value,
}

async fn published(nats: &str, stream: &str) -> anyhow::Result<Vec<Published>> {
    let jetstream = jetstream::new(async_nats::connect(nats).await?);
    let mut stream = jetstream.get_stream(stream).await?;
    let last = stream.info().await?.state.last_sequence;
    let mut found = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await?;
        let message_id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|id| id.to_string())
            .unwrap_or_default();
        found.push(Published {
            subject: message.subject.to_string(),
            message_id,
            event: serde_json::from_slice(&message.payload)?,
        });
    }
    Ok(found)
}

/// The feeds as the relay names them, with their heads.
async fn heads(app: &TestApp) -> anyhow::Result<HashMap<String, i64>> {
    Ok(feed_heads(app)
        .await?
        .into_iter()
        .map(|(source, head)| (if source == "org" { "cascade" } else { source }.to_owned(), head))
        .collect())
}

/// Waits until every relay has stored its cursor at its feed's head: all
/// it sent is acknowledged (a resend included).
async fn relayed_to_the_heads(app: &TestApp) -> anyhow::Result<()> {
    let heads = heads(app).await?;
    let db = Database::connect(app.database_url.as_str()).await?;
    eventually("every relay's cursor is at its feed's head", || async {
        for (service, head) in &heads {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT cursor FROM {service}_event_relays"),
                ))
                .await?;
            let cursor: i64 = row.map_or(Ok(0), |row| row.try_get("", "cursor"))?;
            if cursor < *head {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    db.close().await?;
    Ok(())
}

/// Waits until the stream holds as many events as the feeds, then checks
/// each: a CloudEvent of the spec's required attributes, its id the
/// message id, each feed's events once and in order.
async fn all_published_once_in_order(app: &TestApp, nats: &str, stream: &str) -> anyhow::Result<Vec<Published>> {
    relayed_to_the_heads(app).await?;
    let heads = heads(app).await?;
    let total: i64 = heads.values().sum();
    eventually("the stream holds every event", || async {
        Ok(published(nats, stream)
            .await
            .is_ok_and(|found| found.len() as i64 >= total))
    })
    .await?;
    let found = published(nats, stream).await?;
    assert_eq!(found.len() as i64, total, "no more events than the feeds hold");
    let mut next: HashMap<String, i64> = HashMap::new();
    let prefix = stream.to_lowercase();
    for message in &found {
        let event = &message.event;
        for required in ["id", "source", "specversion", "type"] {
            assert!(
                event[required].as_str().is_some_and(|value| !value.is_empty()),
                "{required} missing from {event}"
            );
        }
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["id"].as_str(), Some(message.message_id.as_str()));
        let source = event["source"].as_str().unwrap_or_default();
        let service = source.strip_prefix("/trellis/").unwrap_or_default().to_owned();
        let sequence = event["sequence"].as_i64().unwrap_or_default();
        let expected = next.entry(service.clone()).or_insert(1);
        assert_eq!(sequence, *expected, "{service}'s events in order, each once");
        *expected += 1;
        assert_eq!(message.message_id, format!("{service}-{sequence}"));
        assert!(
            message.subject.starts_with(&format!("{prefix}.{service}.")),
            "{}",
            message.subject
        );
        assert!(event["subject"].as_str().is_some_and(|name| !name.is_empty()));
        assert!(event["time"].as_str().is_some());
        assert!(
            event["chainhash"]
                .as_str()
                .is_some_and(|hash| hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())),
            "the event's link in its feed's hash chain: {event}"
        );
    }
    for (service, head) in heads {
        assert_eq!(
            next.get(&service).copied().unwrap_or(1) - 1,
            head,
            "all of {service}'s events"
        );
    }
    Ok(found)
}

async fn a_season(app: &TestApp) -> anyhow::Result<()> {
    planning_season(app).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(app, "grow", company_objective(Kind::Committed), vec![kr]).await?;
    move_cycle(app, "ACTIVE").await?;
    Ok(())
}

async fn every_event_reaches_the_stream_once_in_order_as_a_cloud_event(backend: TestBackend) -> anyhow::Result<()> {
    let (nats, stream) = (nats_url().await?, unique_stream());
    let mut first = spawn_app_with(&backend, relaying(&nats, &stream)).await?;
    a_season(&first).await?;
    let found = all_published_once_in_order(&first, &nats, &stream).await?;
    // The resource comes as proto3 JSON.
    let objective = found
        .iter()
        .find(|message| message.event["subject"] == "objectives/grow")
        .expect("the objective's event");
    assert_eq!(objective.event["type"], "trellis.okr.v1.Objective.created");
    assert_eq!(objective.event["data"]["name"], "objectives/grow");
    assert!(objective.event["actor"].as_str().is_some());

    // Restarted: it resumes where it left off.
    first.stop_server().await?;
    let second = first.spawn_peer(relaying(&nats, &stream)).await?;
    check_in_at(&second, "objectives/grow/keyResults/kr1", 4.0, 7).await?;
    all_published_once_in_order(&second, &nats, &stream).await?;

    // As if it had crashed after publishing and before storing: every
    // cursor back at the start. It resends all, and the stream drops the
    // resends by their ids.
    let mut second = second;
    second.stop_server().await?;
    let db = Database::connect(first.database_url.as_str()).await?;
    for service in ["strategy", "okr", "health", "cascade"] {
        db.execute_unprepared(&format!("UPDATE {service}_event_relays SET cursor = 0"))
            .await?;
    }
    db.close().await?;
    let third = first.spawn_peer(relaying(&nats, &stream)).await?;
    check_in_at(&third, "objectives/grow/keyResults/kr1", 5.0, 7).await?;
    all_published_once_in_order(&third, &nats, &stream).await?;
    Ok(())
}

async fn two_replicas_relay_each_event_once(backend: TestBackend) -> anyhow::Result<()> {
    let (nats, stream) = (nats_url().await?, unique_stream());
    let first = spawn_app_with(&backend, relaying(&nats, &stream)).await?;
    let second = first.spawn_peer(relaying(&nats, &stream)).await?;
    a_season(&first).await?;
    for value in [1.0, 2.0, 3.0] {
        check_in_at(&second, "objectives/grow/keyResults/kr1", value, 6).await?;
        check_in_at(&first, "objectives/grow/keyResults/kr1", value + 0.5, 6).await?;
    }
    all_published_once_in_order(&first, &nats, &stream).await?;
    Ok(())
}

async fn a_relay_catches_up_once_nats_is_back(backend: TestBackend) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let store = tempfile::tempdir()?;
    let nats = format!("nats://127.0.0.1:{port}");
    let answers = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let mut server = trellis_tests::nats::spawn_server(port, store.path())?;
    eventually("the test's NATS answers", || async { Ok(answers()) }).await?;
    let stream = unique_stream();
    let app = spawn_app_with(&backend, relaying(&nats, &stream)).await?;
    a_season(&app).await?;
    all_published_once_in_order(&app, &nats, &stream).await?;

    // NATS goes away; writes go on.
    server.kill()?;
    server.wait()?;
    for value in [1.0, 2.0, 3.0] {
        check_in_at(&app, "objectives/grow/keyResults/kr1", value, 6).await?;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    // Back: the relay catches up, nothing lost, nothing twice.
    let mut server = trellis_tests::nats::spawn_server(port, store.path())?;
    let caught_up = all_published_once_in_order(&app, &nats, &stream).await;
    server.kill()?;
    server.wait()?;
    caught_up.map(|_| ())
}
