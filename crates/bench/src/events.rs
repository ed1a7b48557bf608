//! `events`: a season loaded through the services with no relay, then the
//! server restarted (from its snapshot, as a replica restarts) relaying
//! its feeds to NATS JetStream (`--nats-url`):
//! how fast the whole backlog reaches the stream (`events_per_s`), then
//! the lag from a check-in's commit to its event in the stream at
//! `--writes-per-s` (`relay_lag_p99_ms`).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{
    Args,
    cascade::{caught_up, check_in_total, check_ins_at_rate, sample_key_results},
    season::{Shape, load, round},
    target::Target,
};

#[derive(Debug, Serialize)]
pub struct EventsFigures {
    pub workload: &'static str,
    pub backend: String,
    /// Events in the feeds once the season was loaded.
    pub events: i64,
    /// The backlog relayed, from the relaying server's start to the last
    /// event in the stream.
    pub events_per_s: f64,
    /// The ceiling, in the same run: messages of the events' average size
    /// published straight to a stream of their own, in the relay's batches
    /// (`trellis_events::RELAY_BATCH`) with their acknowledgements awaited
    /// together (no feed read, no encoding, no cursor written).
    pub events_ceiling_per_s: f64,
    pub events_to_ceiling: f64,
    pub writes_per_s: f64,
    /// From a check-in's commit to its event arriving from the stream.
    pub relay_lag_p50_ms: f64,
    pub relay_lag_p99_ms: f64,
}

pub async fn run(args: &Args, target: &mut Target) -> anyhow::Result<EventsFigures> {
    let shape = Shape {
        teams: args.teams,
        objectives: args.objectives,
        key_results: args.krs,
    };
    let channel = target.channels(1).await?.remove(0);
    let load_seconds = load(channel.clone(), shape).await?;
    let status = caught_up(&channel, Duration::from_secs(1_800)).await?;
    let events: i64 = status.feeds.iter().map(|feed| feed.head_sequence).sum();
    eprintln!("loaded the season in {load_seconds:.1} s: {events} events in the feeds");

    let stream = format!("BENCH{}", uuid::Uuid::new_v4().simple());
    let jetstream = async_nats::jetstream::new(
        async_nats::connect(&args.nats_url)
            .await
            .with_context(|| format!("connecting to {}", args.nats_url))?,
    );
    let started = Instant::now();
    // As a replica is deployed: its cascade starts from the snapshot the
    // loading server took when it stopped, so the relay is not measured
    // against a replay of every feed that a real restart does not make.
    target.restart_with(true, Some((&args.nats_url, &stream)))?;
    let deadline = started + Duration::from_secs(1_800);
    loop {
        let held = match jetstream.get_stream(&stream).await {
            Ok(mut found) => found.info().await.map(|info| info.state.messages).unwrap_or(0),
            Err(_) => 0,
        };
        if held >= u64::try_from(events).unwrap_or(u64::MAX) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the backlog did not reach the stream: {held} of {events}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let relay_seconds = started.elapsed().as_secs_f64();
    let events_per_s = events as f64 / relay_seconds;
    eprintln!("relayed {events} events in {relay_seconds:.1} s: {events_per_s:.0}/s");
    let info = jetstream.get_stream(&stream).await?.info().await?.state.clone();
    let average_bytes = usize::try_from(info.bytes / info.messages.max(1)).unwrap_or(1024);
    let ceiling_per_s = publish_ceiling(&jetstream, &stream, average_bytes).await?;

    // Check-ins at --writes-per-s, each event timed from its commit to its
    // arrival from the stream.
    let channels = target.channels(args.connections).await?;
    let key_results = sample_key_results(&channels[0], args.teams).await?;
    // Check-ins on private objectives arrive on the private tree.
    let prefix = stream.to_lowercase();
    let client = jetstream.client();
    let mut arrivals = futures::stream::select(
        client.subscribe(format!("{prefix}.okr.checkin.created")).await?,
        client
            .subscribe(format!("{prefix}.private.okr.checkin.created"))
            .await?,
    );
    // The subscription is in place at the server before the first write.
    client.flush().await?;
    let total = check_in_total(args);
    let lags = tokio::spawn(async move {
        let mut lags = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        while lags.len() < total as u64 {
            let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(30), arrivals.next()).await else {
                break;
            };
            let arrived = trellis_foundation::time::now_micros();
            let event: serde_json::Value = serde_json::from_slice(&message.payload)?;
            let committed = event["time"]
                .as_str()
                .and_then(|time| chrono::DateTime::parse_from_rfc3339(time).ok())
                .context("an event without its time")?;
            let micros = arrived - committed.timestamp_micros();
            lags.saturating_record(u64::try_from(micros).unwrap_or(0).max(1));
        }
        anyhow::Ok(lags)
    });
    let (_, writes_per_s, failed) = check_ins_at_rate(args, &channels, &key_results).await?;
    anyhow::ensure!(failed == 0, "{failed} check-ins failed");
    let lags = lags.await??;
    anyhow::ensure!(
        lags.len() == total as u64,
        "{} of {total} check-ins reached the stream",
        lags.len()
    );
    let (p50, p99) = (
        lags.value_at_quantile(0.5) as f64 / 1e3,
        lags.value_at_quantile(0.99) as f64 / 1e3,
    );
    eprintln!("{total} check-ins at {writes_per_s:.0}/s: commit to stream p50 {p50:.2} ms, p99 {p99:.2} ms");
    Ok(EventsFigures {
        workload: "events",
        backend: target.backend.clone(),
        events,
        events_per_s: events_per_s.round(),
        events_ceiling_per_s: ceiling_per_s.round(),
        events_to_ceiling: round(events_per_s / ceiling_per_s.max(f64::MIN_POSITIVE), 3),
        writes_per_s: writes_per_s.round(),
        relay_lag_p50_ms: round(p50, 2),
        relay_lag_p99_ms: round(p99, 2),
    })
}

/// Messages published per second straight to a stream of their own, the
/// way the relay publishes (see [`EventsFigures::events_ceiling_per_s`]).
async fn publish_ceiling(
    jetstream: &async_nats::jetstream::Context,
    stream: &str,
    message_bytes: usize,
) -> anyhow::Result<f64> {
    const MESSAGES: usize = 200_000;
    const BATCH: usize = trellis_events::RELAY_BATCH as usize;
    let name = format!("{stream}CEILING");
    let subject = format!("{}.ceiling", name.to_lowercase());
    jetstream
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await?;
    let payload = vec![b'x'; message_bytes];
    let started = Instant::now();
    for first in (0..MESSAGES).step_by(BATCH) {
        let mut acks = Vec::with_capacity(BATCH);
        for n in first..(first + BATCH).min(MESSAGES) {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("ceiling-{n}").as_str());
            acks.push(
                jetstream
                    .publish_with_headers(subject.clone(), headers, payload.clone().into())
                    .await?,
            );
        }
        for ack in futures::future::join_all(acks.into_iter().map(std::future::IntoFuture::into_future)).await {
            ack?;
        }
    }
    let per_s = MESSAGES as f64 / started.elapsed().as_secs_f64();
    eprintln!("ceiling: {MESSAGES} messages of {message_bytes} bytes straight to JetStream at {per_s:.0}/s");
    jetstream.delete_stream(&name).await?;
    Ok(per_s)
}
