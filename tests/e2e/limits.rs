//! No request can bring the server down: oversized and malformed input,
//! filters of any size, error lists of any length, deep org chains, and
//! clients that hold connections, streams and imports open. After each,
//! the server still answers.

use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, GetOrgUnitRequest, ListOrgUnitsRequest, OrgUnit},
    feed::v1::WatchChangesRequest,
    health::v1::ListHealthMetricsRequest,
    okr::v1::{ListCyclesRequest, ListObjectivesRequest},
    strategy::v1::ListStrategiesRequest,
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, backend_tests, spawn_app_with};

use crate::{
    okr_import,
    raw::raw_call,
    support::{expect_code, unit, violated_fields},
};

backend_tests!(
    huge_and_many_termed_filters_are_refused_on_every_list,
    long_violation_lists_reach_the_client_within_the_trailer_budget,
    strings_with_control_characters_are_refused_and_nothing_is_stored,
    malformed_messages_are_invalid_arguments,
    org_chains_are_capped_and_the_deepest_allowed_chain_of_longest_ids_is_stored,
    a_batch_reports_shape_and_reference_problems_together,
);

backend_only_tests!(
    oversized_messages_are_resource_exhausted,
    a_batch_whose_answer_is_too_large_is_refused_before_it_is_written,
    watchers_beyond_their_cap_are_refused,
    imports_beyond_their_cap_are_refused,
    a_watcher_that_stops_reading_is_dropped,
    calls_beyond_the_concurrency_limit_are_shed,
    a_call_past_its_deadline_is_cut_and_writes_nothing,
    idle_and_surplus_connections_are_closed,
    shutdown_lets_an_import_in_flight_finish_its_peer_calls,
);

/// The server still answers a health check.
async fn still_serving(app: &TestApp) -> anyhow::Result<()> {
    let mut health = app.health.clone();
    health.check(HealthCheckRequest { service: String::new() }).await?;
    Ok(())
}

async fn huge_and_many_termed_filters_are_refused_on_every_list(app: TestApp) -> anyhow::Result<()> {
    let terms = |count: usize| vec!["kind = \"team\""; count].join(" OR ");
    let (mut org, mut strategy, mut okr, mut metrics) = (
        app.org.clone(),
        app.strategy.clone(),
        app.okr.clone(),
        app.metrics.clone(),
    );
    let nested = |depth: usize| format!("{}kind = team{}", "(".repeat(depth), ")".repeat(depth));
    for filter in [
        terms(15_000),
        terms(1_000),
        "x".repeat(1 << 20),
        "(".repeat(100_000),
        nested(2_000),
    ] {
        let listed = org.list_org_units(ListOrgUnitsRequest {
            filter: filter.clone(),
            ..ListOrgUnitsRequest::default()
        });
        expect_code(listed.await, Code::InvalidArgument)?;
        let strategies = strategy.list_strategies(ListStrategiesRequest {
            filter: filter.clone(),
            ..ListStrategiesRequest::default()
        });
        expect_code(strategies.await, Code::InvalidArgument)?;
        let cycles = okr.list_cycles(ListCyclesRequest {
            filter: filter.clone(),
            ..ListCyclesRequest::default()
        });
        expect_code(cycles.await, Code::InvalidArgument)?;
        let objectives = okr.list_objectives(ListObjectivesRequest {
            filter: filter.clone(),
            ..ListObjectivesRequest::default()
        });
        expect_code(objectives.await, Code::InvalidArgument)?;
        let metrics = metrics.list_health_metrics(ListHealthMetricsRequest {
            filter: filter.clone(),
            ..ListHealthMetricsRequest::default()
        });
        expect_code(metrics.await, Code::InvalidArgument)?;
        still_serving(&app).await?;
    }
    // Within the limits, a long filter is answered.
    org.list_org_units(ListOrgUnitsRequest {
        filter: terms(64),
        ..ListOrgUnitsRequest::default()
    })
    .await?;
    Ok(())
}

async fn long_violation_lists_reach_the_client_within_the_trailer_budget(app: TestApp) -> anyhow::Result<()> {
    let huge_parent = format!("orgUnits/{}", "p".repeat(1 << 20));
    let requests: Vec<CreateOrgUnitRequest> = (0..1_000)
        .map(|row| CreateOrgUnitRequest {
            org_unit_id: format!("unit-{row}"),
            org_unit: Some(OrgUnit {
                parent: if row == 0 {
                    huge_parent.clone()
                } else {
                    "orgUnits/nowhere".into()
                },
                display_name: String::new(),
                ..OrgUnit::default()
            }),
            ..CreateOrgUnitRequest::default()
        })
        .collect();
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests,
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    // Details within budget, so clients with a 16 KiB metadata limit get them.
    assert!(
        status.details().len() <= 6_000,
        "{} bytes of details",
        status.details().len()
    );
    assert!(status.message().len() < 200, "{}", status.message());
    let fields = violated_fields(&status);
    assert!(fields.len() > 10, "{fields:?}");
    assert!(fields.iter().all(|field| field.len() < 300));
    assert!(
        status.message().starts_with("2000 invalid fields"),
        "{}",
        status.message()
    );
    still_serving(&app).await
}

async fn strings_with_control_characters_are_refused_and_nothing_is_stored(app: TestApp) -> anyhow::Result<()> {
    for bad in ["Sales\u{0}", "Sa\u{1b}[31mles", "Sales\u{7f}", "Sales\u{85}"] {
        let status = expect_code(
            app.org.clone().create_org_unit(unit("sales", "", bad)).await,
            Code::InvalidArgument,
        )?;
        assert_eq!(violated_fields(&status), vec!["org_unit.kind".to_owned()], "{bad:?}");
    }
    let mut good = unit("sales", "", "division");
    if let Some(org_unit) = good.org_unit.as_mut() {
        org_unit.description = "line one\nline two\ttabbed\r\n".into();
    }
    app.org.clone().create_org_unit(good).await?;
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert_eq!(listed.into_inner().org_units.len(), 1);
    still_serving(&app).await
}

async fn malformed_messages_are_invalid_arguments(app: TestApp) -> anyhow::Result<()> {
    let get = "/trellis.cascade.v1.OrgService/GetOrgUnit";
    let valid = GetOrgUnitRequest {
        name: "orgUnits/acme".into(),
    }
    .encode_to_vec();
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", valid[..valid.len() - 3].to_vec()),
        ("wrong wire type", vec![0x08, 0x01]),
        ("invalid UTF-8", vec![0x0a, 0x02, 0xc3, 0x28]),
        ("length past the end", vec![0x0a, 0x7f, b'a']),
        ("a group", vec![0x0b, 0x0c]),
        (
            "varint too long",
            vec![0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for (what, body) in malformed {
        let status = raw_call(&app, get, body).await.err();
        assert_eq!(
            status.map(|status| status.code()),
            Some(Code::InvalidArgument),
            "{what}"
        );
    }
    // A valid encoding reaches the handler (which finds nothing).
    assert_eq!(
        raw_call(&app, get, valid).await.err().map(|s| s.code()),
        Some(Code::NotFound)
    );
    still_serving(&app).await
}

async fn oversized_messages_are_resource_exhausted(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_message_bytes = 64 * 1024).await?;
    let body = GetOrgUnitRequest {
        name: format!("orgUnits/{}", "a".repeat(100 * 1024)),
    }
    .encode_to_vec();
    let status = raw_call(&app, "/trellis.cascade.v1.OrgService/GetOrgUnit", body)
        .await
        .err();
    assert_eq!(status.map(|status| status.code()), Some(Code::ResourceExhausted));
    still_serving(&app).await
}

fn chain(length: usize, id_length: usize) -> Vec<CreateOrgUnitRequest> {
    let id = |level: usize| format!("u{level:0>width$}", width = id_length - 1);
    (0..length)
        .map(|level| {
            let parent = if level == 0 {
                String::new()
            } else {
                format!("orgUnits/{}", id(level - 1))
            };
            CreateOrgUnitRequest {
                org_unit_id: id(level),
                org_unit: Some(OrgUnit {
                    parent,
                    display_name: format!("Level {level}"),
                    kind: "unit".into(),
                    ..OrgUnit::default()
                }),
                ..CreateOrgUnitRequest::default()
            }
        })
        .collect()
}

async fn org_chains_are_capped_and_the_deepest_allowed_chain_of_longest_ids_is_stored(
    app: TestApp,
) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    let too_deep = org.batch_create_org_units(BatchCreateOrgUnitsRequest {
        requests: chain(5_000, 8),
        ..BatchCreateOrgUnitsRequest::default()
    });
    let status = expect_code(too_deep.await, Code::InvalidArgument)?;
    assert!(violated_fields(&status).contains(&"requests[32].org_unit.parent".to_owned()));
    still_serving(&app).await?;
    // 32 levels of 63-character ids: the longest path any unit can have.
    let deepest = org.batch_create_org_units(BatchCreateOrgUnitsRequest {
        requests: chain(32, 63),
        ..BatchCreateOrgUnitsRequest::default()
    });
    let created = deepest.await?.into_inner().org_units;
    assert_eq!(created.last().map(|unit| unit.depth), Some(31));
    // One more below it is refused, alone or in a batch.
    let below = CreateOrgUnitRequest {
        org_unit_id: "one-more".into(),
        org_unit: Some(OrgUnit {
            parent: format!("orgUnits/u{:0>62}", 31),
            display_name: "One more".into(),
            ..OrgUnit::default()
        }),
        ..CreateOrgUnitRequest::default()
    };
    expect_code(app.org.clone().create_org_unit(below).await, Code::InvalidArgument)?;
    Ok(())
}

async fn a_batch_reports_shape_and_reference_problems_together(app: TestApp) -> anyhow::Result<()> {
    let mut requests = vec![unit("sales", "missing", "division"), unit("emea", "sales", "team")];
    if let Some(org_unit) = requests[1].org_unit.as_mut() {
        org_unit.display_name = String::new();
    }
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests,
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    let fields = violated_fields(&status);
    assert!(fields.contains(&"requests[0].org_unit.parent".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"requests[1].org_unit.display_name".to_owned()),
        "{fields:?}"
    );
    // The single create does the same.
    let mut single = unit("sales", "missing", "division");
    if let Some(org_unit) = single.org_unit.as_mut() {
        org_unit.display_name = String::new();
    }
    let status = expect_code(app.org.clone().create_org_unit(single).await, Code::InvalidArgument)?;
    let fields = violated_fields(&status);
    assert!(fields.contains(&"org_unit.parent".to_owned()), "{fields:?}");
    assert!(fields.contains(&"org_unit.display_name".to_owned()), "{fields:?}");
    Ok(())
}

async fn a_batch_whose_answer_is_too_large_is_refused_before_it_is_written(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_message_bytes = 256 * 1024).await?;
    // Small to send, large to answer: every unit carries its ancestors.
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests: chain(30, 63)
                    .into_iter()
                    .chain(
                        (0..1_500)
                            .map(|index| unit(&format!("leaf-{index}"), &format!("orgUnits/u{:0>62}", 29), "team")),
                    )
                    .collect(),
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::ResourceExhausted,
    )?;
    assert!(status.message().contains("smaller batches"), "{}", status.message());
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert!(listed.into_inner().org_units.is_empty(), "nothing was written");
    Ok(())
}

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
    // The largest batch there is: far more than a second of work here.
    let mut units = vec![unit("acme", "", "company")];
    units.extend((0..49_999).map(|index| unit(&format!("team-{index}"), "orgUnits/acme", "team")));
    let cut = app
        .org
        .clone()
        .batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests: units,
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await;
    expect_code(cut, Code::DeadlineExceeded)?;
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert!(listed.into_inner().org_units.is_empty(), "the cut batch wrote nothing");
    still_serving(&app).await
}
