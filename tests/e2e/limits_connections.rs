//! No client can hold the server hostage: watchers, connections, imports
//! and calls beyond their caps are refused or shed, a watcher that stops
//! reading is dropped, a call past its deadline is cut and writes nothing,
//! and shutdown lets an import in flight finish. After each, the server
//! still answers.

use std::time::Duration;

use sea_orm::{ConnectionTrait, TransactionTrait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, ListOrgUnitsRequest},
    feed::v1::WatchChangesRequest,
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, spawn_app_with};

use crate::limits::*;
use crate::{
    okr_import,
    support::{expect_code, unit},
};

backend_only_tests!(
    watchers_beyond_their_cap_are_refused,
    imports_beyond_their_cap_are_refused,
    a_watcher_that_stops_reading_is_dropped,
    calls_beyond_the_concurrency_limit_are_shed,
    a_call_past_its_deadline_is_cut_and_writes_nothing,
    idle_and_surplus_connections_are_closed,
    shutdown_lets_an_import_in_flight_finish_its_peer_calls,
);

async fn watchers_beyond_their_cap_are_refused(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| {
        settings.max_watchers = 5;
        settings.max_imports = 1;
    })
    .await?;
    let rss_before = resident_mib();
    // Once the cascade serves, its feed consumers hold three of the five
    // (the org feed is read in process); two more fit.
    crate::support::eventually("the cascade serves", || {
        let mut health = app.health.clone();
        async move {
            let service = "trellis.cascade.v1.CascadeService".to_owned();
            let answer = health.check(HealthCheckRequest { service }).await?;
            Ok(answer.into_inner().status == 1)
        }
    })
    .await?;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..50 {
        let watch = app.strategy.clone().watch_changes(WatchChangesRequest::default()).await;
        match watch {
            Ok(stream) => held.push(stream.into_inner()),
            Err(status) if status.code() == Code::ResourceExhausted => refused += 1,
            Err(status) => return Err(status.into()),
        }
    }
    assert_eq!(held.len(), 2, "two watchers fit beside the cascade's three");
    assert_eq!(refused, 48);
    drop(held.pop());
    eventually_watch_fits(&app).await?;

    let rss_after = resident_mib();
    assert!(
        rss_after < rss_before + 200,
        "{rss_before} MiB before, {rss_after} MiB after"
    );
    still_serving(&app).await
}

async fn eventually_watch_fits(app: &TestApp) -> anyhow::Result<()> {
    for _ in 0..100 {
        if app
            .strategy
            .clone()
            .watch_changes(WatchChangesRequest::default())
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("a watcher that ended did not give its place back")
}

/// This process's resident memory (the server runs in it), in MiB.
fn resident_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or_default();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0);
    kib / 1024
}

async fn idle_and_surplus_connections_are_closed(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| {
        settings.connection_idle_seconds = 1;
        settings.max_connections = 8;
    })
    .await?;
    // A connection that sends nothing is closed once idle.
    let mut idle = tokio::net::TcpStream::connect(app.address).await?;
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match idle.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    assert!(read.await.is_ok(), "the idle connection was closed");
    // Connections past the limit are closed as they are accepted.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut connection = tokio::net::TcpStream::connect(app.address).await?;
        connection.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        held.push(connection);
    }
    let mut closed = 0;
    for connection in &mut held {
        let answer = tokio::time::timeout(Duration::from_millis(300), connection.read(&mut buffer)).await;
        if matches!(answer, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    assert!(closed >= 12, "{closed} of 20 connections past a limit of 8 were closed");
    drop(held);
    // Clients get through again once the idle ones are gone.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    still_serving(&app).await
}

async fn shutdown_lets_an_import_in_flight_finish_its_peer_calls(backend: TestBackend) -> anyhow::Result<()> {
    let mut app = spawn_app_with(&backend, |settings| settings.shutdown_grace_seconds = 30).await?;
    okr_import::teams(&app).await?;
    let messages = okr_import::messages("", (0..2_000).map(okr_import::row).collect());
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let mut okr = app.okr.clone();
    let import = tokio::spawn(async move {
        okr.import_season(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    let mut messages = messages.into_iter();
    for message in messages.by_ref().take(2) {
        sender.send(message).await?;
    }
    // The import's checks call the org and strategy services of this same
    // server once its last row is in: after the shutdown began. (The pause
    // lets the import reach the server first.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for message in messages {
        if sender.send(message).await.is_err() {
            break;
        }
    }
    drop(sender);
    let answer = import.await?;
    let created = answer.map(|answer| answer.into_inner().objectives_created);
    assert_eq!(
        created.as_ref().ok(),
        Some(&2_000),
        "the import in flight finished: {created:?}"
    );
    // A new call from a client is refused while the server drains, or
    // finds it gone.
    let late = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await;
    assert!(late.is_err());
    app.shutdown().await
}

async fn imports_beyond_their_cap_are_refused(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_imports = 1).await?;
    okr_import::teams(&app).await?;
    let mut messages = okr_import::messages("", (0..10).map(okr_import::row).collect()).into_iter();
    let Some(header) = messages.next() else {
        anyhow::bail!("no header");
    };
    // The first import, held open. Started alone, and given a moment to
    // reach the server: a second that got there first would hold the one
    // place itself.
    let (first_rows, first_stream) = tokio::sync::mpsc::channel(4);
    first_rows.send(header).await?;
    let mut okr = app.okr.clone();
    let first = tokio::spawn(async move {
        okr.import_season(tokio_stream::wrappers::ReceiverStream::new(first_stream))
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    anyhow::ensure!(!first.is_finished(), "the first import ended early: {:?}", first.await?);
    // While it is open, every other import is refused.
    for _ in 0..5 {
        let second = app
            .okr
            .clone()
            .import_season(futures::stream::iter(okr_import::messages("", Vec::new())))
            .await;
        expect_code(second, Code::ResourceExhausted)?;
    }
    // The first goes on and finishes; then imports are taken again.
    for message in messages {
        first_rows.send(message).await?;
    }
    drop(first_rows);
    let created = first.await?.map(|answer| answer.into_inner().objectives_created);
    assert_eq!(created.ok(), Some(10));
    // The slot is given back when the first's answer has been sent, which
    // may be a moment after the client has read it.
    let mut taken_again = false;
    for _ in 0..100 {
        let after = app
            .okr
            .clone()
            .import_season(futures::stream::iter(okr_import::messages("", Vec::new())))
            .await;
        if after.err().map(|status| status.code()) != Some(Code::ResourceExhausted) {
            taken_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken_again, "imports were refused after the first had finished");
    still_serving(&app).await
}

async fn a_watcher_that_stops_reading_is_dropped(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.watch_stall_seconds = 1).await?;
    let mut units = vec![unit("acme", "", "company")];
    units.extend((0..5_000).map(|index| unit(&format!("team-{index}"), "orgUnits/acme", "team")));
    crate::support::create_units(&app, units).await?;
    // A client with small flow-control windows, so its reading (or not)
    // reaches the server quickly.
    let channel = tonic::transport::Endpoint::from_shared(app.url())?
        .initial_stream_window_size(Some(65_535))
        .initial_connection_window_size(Some(65_535))
        .connect()
        .await?;
    let mut org = trellis_proto::cascade::v1::org_service_client::OrgServiceClient::new(channel);
    let mut stream = org.watch_changes(WatchChangesRequest::default()).await?.into_inner();
    anyhow::ensure!(stream.message().await?.is_some(), "no first event");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = 1;
    let ending = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => received += 1,
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    })
    .await?;
    let code = ending.as_ref().map(tonic::Status::code);
    assert_eq!(code, Some(Code::ResourceExhausted), "{ending:?}");
    assert!(received < 5_001, "{received} events before the stream was dropped");
    // A watcher that keeps up gets every event.
    let mut keeping_up = app
        .org
        .clone()
        .watch_changes(WatchChangesRequest::default())
        .await?
        .into_inner();
    for _ in 0..5_001 {
        anyhow::ensure!(keeping_up.message().await?.is_some(), "the stream ended early");
    }
    still_serving(&app).await
}

async fn calls_beyond_the_concurrency_limit_are_shed(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_concurrent_calls = 2).await?;
    let mut units = vec![unit("acme", "", "company")];
    units.extend((0..1_000).map(|index| unit(&format!("team-{index}"), "orgUnits/acme", "team")));
    crate::support::create_units(&app, units).await?;
    let calls = (0..40).map(|_| {
        let mut org = app.org.clone();
        tokio::spawn(async move {
            let request = ListOrgUnitsRequest {
                page_size: 1_000,
                ..ListOrgUnitsRequest::default()
            };
            org.list_org_units(request)
                .await
                .map(|_| ())
                .map_err(|status| status.code())
        })
    });
    let mut shed = 0;
    for call in futures::future::join_all(calls).await {
        match call? {
            Ok(()) => {}
            Err(Code::Unavailable) => shed += 1,
            Err(code) => anyhow::bail!("a call failed {code:?}"),
        }
    }
    assert!(shed > 0, "40 calls at once against a limit of 2: none shed");
    assert!(shed < 40, "every call shed");
    // Probes are never shed, and calls go through again.
    still_serving(&app).await?;
    app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    Ok(())
}

async fn a_call_past_its_deadline_is_cut_and_writes_nothing(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.call_timeout_seconds = 1).await?;
    // Another writer holds the org units' table past the server's second,
    // so the batch waits behind it whatever the machine's speed, and the
    // deadline cuts it there.
    let db = sea_orm::Database::connect(app.database_url.as_str()).await?;
    let lock = db.begin().await?;
    let hold = if app.database_url.starts_with("sqlite") {
        // A write statement takes the database's write lock, rows or none.
        "DELETE FROM cascade_org_units WHERE 1 = 0"
    } else {
        "LOCK TABLE cascade_org_units IN EXCLUSIVE MODE"
    };
    lock.execute_unprepared(hold).await?;
    let mut units = vec![unit("acme", "", "company")];
    units.extend((0..99).map(|index| unit(&format!("team-{index}"), "orgUnits/acme", "team")));
    let cut = app
        .org
        .clone()
        .batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests: units,
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await;
    lock.rollback().await?;
    db.close().await?;
    let status = expect_code(cut, Code::DeadlineExceeded)?;
    assert!(status.message().contains("1.000 s"), "{status:?}");
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert!(listed.into_inner().org_units.is_empty(), "the cut batch wrote nothing");
    still_serving(&app).await
}
