//! The change feed: replay then follow, resume from a cursor, every event
//! exactly once and in order even under many concurrent writers.

use std::time::Duration;

use futures::StreamExt;
use sea_orm::{ConnectionTrait, Database};
use tonic::Streaming;
use trellis_proto::chain::Verifier;
use trellis_proto::{
    cascade::v1::{CreateOrgUnitRequest, OrgUnit, UpdateOrgUnitRequest, org_service_client::OrgServiceClient},
    feed::v1::{ChangeEvent, ChangeKind, WatchChangesRequest},
    strategy::v1::GetStrategyRequest,
};
use trellis_tests::{TestApp, as_actor, backend_tests};

use crate::support::{complete_strategy, create_strategy, load_org};

backend_tests!(
    a_watcher_resumes_from_its_cursor_and_sees_every_event_once,
    concurrent_writers_never_make_a_watcher_skip_or_repeat,
    events_carry_the_actor_and_the_resource,
    a_feed_written_before_the_chain_is_chained_on_upgrade,
);

const WAIT: Duration = Duration::from_secs(20);

async fn next_event(stream: &mut Streaming<ChangeEvent>) -> anyhow::Result<ChangeEvent> {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(event)) => Ok(event?),
        Ok(None) => anyhow::bail!("the change stream ended"),
        Err(_) => anyhow::bail!("no change event within {WAIT:?}"),
    }
}

async fn watch(app: &TestApp, after_sequence: i64) -> anyhow::Result<Streaming<ChangeEvent>> {
    let request = WatchChangesRequest {
        after_sequence,
        resource_types: Vec::new(),
        ..WatchChangesRequest::default()
    };
    Ok(app.org.clone().watch_changes(request).await?.into_inner())
}

fn team(id: &str) -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            parent: "orgUnits/acme".into(),
            display_name: id.into(),
            kind: "team".into(),
            ..OrgUnit::default()
        }),
        org_unit_id: id.into(),
        request_id: String::new(),
    }
}

async fn a_watcher_resumes_from_its_cursor_and_sees_every_event_once(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?; // sequences 1..=4
    let mut seen = Vec::new();
    let mut stream = watch(&app, 0).await?;
    for _ in 0..3 {
        seen.push(next_event(&mut stream).await?.sequence);
    }
    drop(stream); // the consumer goes away with its cursor at 3
    let mut org = app.org.clone();
    for index in 0..5 {
        org.create_org_unit(team(&format!("team-{index}"))).await?;
    }
    let cursor = seen.last().copied().unwrap_or_default();
    let mut resumed = watch(&app, cursor).await?;
    for _ in 0..6 {
        seen.push(next_event(&mut resumed).await?.sequence);
    }
    // Live: an event committed while the watcher waits arrives too.
    org.create_org_unit(team("late")).await?;
    seen.push(next_event(&mut resumed).await?.sequence);
    assert_eq!(seen, (1..=10).collect::<Vec<i64>>());
    Ok(())
}

async fn concurrent_writers_never_make_a_watcher_skip_or_repeat(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    const WRITERS: usize = 16;
    const WRITES_EACH: usize = 12;
    let mut stream = watch(&app, 0).await?;
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut org = OrgServiceClient::new(app.channel().await?);
        writers.push(tokio::spawn(async move {
            for write in 0..WRITES_EACH {
                let id = format!("w{writer}-{write}");
                let created = org.create_org_unit(team(&id)).await?.into_inner();
                // Updates touch rows other writers do not, so none conflict.
                let patch = OrgUnit {
                    name: created.name,
                    display_name: format!("{id} renamed"),
                    kind: "team".into(),
                    ..OrgUnit::default()
                };
                org.update_org_unit(UpdateOrgUnitRequest {
                    org_unit: Some(patch),
                    update_mask: None,
                })
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    let total = 4 + WRITERS * WRITES_EACH * 2;
    let mut sequences = Vec::with_capacity(total);
    // Concurrent writers still link each event to the one committed
    // before it.
    let mut chain = Verifier::default();
    while sequences.len() < total {
        let event = next_event(&mut stream).await?;
        chain.check(&event).map_err(|broken| anyhow::anyhow!("{broken}"))?;
        sequences.push(event.sequence);
    }
    for writer in writers {
        writer.await??;
    }
    let expected: Vec<i64> = (1..=i64::try_from(total)?).collect();
    assert_eq!(sequences, expected, "the watcher saw every sequence once, in order");
    let extra = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "no event beyond the writes: {extra:?}");
    Ok(())
}

async fn events_carry_the_actor_and_the_resource(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let created = create_strategy(&app, "growth", complete_strategy("orgUnits/acme")).await?;
    let mut strategy = app.strategy.clone();
    let request = trellis_proto::strategy::v1::TransitionStrategyRequest {
        name: created.name.clone(),
        etag: String::new(),
        reason: String::new(),
    };
    strategy.activate_strategy(as_actor(request, "cso@acme.test")).await?;

    let request = WatchChangesRequest {
        after_sequence: 0,
        resource_types: vec!["trellis.strategy.v1.Strategy".into()],
        ..WatchChangesRequest::default()
    };
    let mut stream = strategy.watch_changes(request).await?.into_inner();
    let first = next_event(&mut stream).await?;
    assert_eq!(
        (first.kind(), first.resource_name.as_str(), first.actor.as_str()),
        (ChangeKind::Created, "strategies/growth", "anonymous")
    );
    let second = next_event(&mut stream).await?;
    assert_eq!(
        (second.kind(), second.actor.as_str()),
        (ChangeKind::Updated, "cso@acme.test")
    );
    // Choice and assumption events (sequences 2..=5) were filtered out.
    assert_eq!(second.sequence, 6);
    let resource = second
        .resource
        .ok_or_else(|| anyhow::anyhow!("event without resource"))?;
    assert_eq!(resource.type_url, "type.googleapis.com/trellis.strategy.v1.Strategy");
    let decoded: trellis_proto::strategy::v1::Strategy = prost::Message::decode(resource.value.as_slice())?;
    let current = strategy
        .get_strategy(GetStrategyRequest {
            name: created.name,
            revision: 0,
        })
        .await?
        .into_inner();
    assert_eq!(decoded, current);
    Ok(())
}

/// A database written before the hash chain existed: the columns are
/// dropped and the migration forgotten, as they were then. A server
/// started on it chains the old events, to the very hashes they got when
/// they were written (the chain covers only what was stored), and goes on
/// chaining new ones.
async fn a_feed_written_before_the_chain_is_chained_on_upgrade(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let written = events_up_to(&app, 4).await?;
    assert!(written.iter().all(|event| event.hash.len() == 64));

    let db = Database::connect(app.database_url.as_str()).await?;
    for statement in [
        "ALTER TABLE cascade_changes DROP COLUMN hash",
        "ALTER TABLE cascade_change_counter DROP COLUMN last_hash",
        "DELETE FROM cascade_migrations WHERE version = 'm0300_cascade_change_chain'",
    ] {
        db.execute_unprepared(statement).await?;
    }
    let upgraded = app.spawn_replica().await?;
    let chained = events_up_to(&upgraded, 4).await?;
    let hashes = |events: &[ChangeEvent]| events.iter().map(|event| event.hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&chained), hashes(&written));

    upgraded.org.clone().create_org_unit(team("after")).await?;
    let mut chain = Verifier::default();
    for event in events_up_to(&upgraded, 5).await? {
        chain.check(&event).map_err(|broken| anyhow::anyhow!("{broken}"))?;
    }
    assert_eq!(chain.verified(), 5);
    Ok(())
}

async fn events_up_to(app: &TestApp, last: i64) -> anyhow::Result<Vec<ChangeEvent>> {
    let mut stream = watch(app, 0).await?;
    let mut events = Vec::new();
    while events.last().is_none_or(|event: &ChangeEvent| event.sequence < last) {
        events.push(next_event(&mut stream).await?);
    }
    Ok(events)
}
