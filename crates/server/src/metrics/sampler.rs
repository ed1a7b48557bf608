//! Gauges read from the services every few seconds: each feed's head, how
//! far the event relay trails it, the cascade's lag behind each feed it
//! follows and its graph's size, and the escalation steps not yet done.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    KeyValue,
    metrics::{Gauge, Meter},
};
use sea_orm_migration::sea_orm::{EntityTrait, PaginatorTrait};
use tokio::task::JoinHandle;
use trellis_cascade::Projection;
use trellis_foundation::{ChangeFeed, Db};

/// How often the gauges are read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// What the gauges are read from; each part only where this server runs
/// the service.
#[derive(Default)]
pub struct Sources {
    /// Each local service's feed, by its name.
    pub feeds: Vec<(&'static str, ChangeFeed, Db)>,
    /// Whether the feeds are relayed to NATS (their relay's lag is read).
    pub relayed: Vec<&'static str>,
    pub projection: Option<Arc<Projection>>,
    /// The health service's database, for its pending steps.
    pub health: Option<Db>,
}

struct Gauges {
    feed_head: Gauge<i64>,
    relay_lag: Gauge<i64>,
    consumer_lag: Gauge<i64>,
    consumer_connected: Gauge<i64>,
    last_apply: Gauge<f64>,
    graph_nodes: Gauge<i64>,
    graph_edges: Gauge<i64>,
    pending_steps: Gauge<i64>,
}

impl Gauges {
    fn new(meter: &Meter) -> Gauges {
        Gauges {
            feed_head: meter
                .i64_gauge("trellis.feed.head")
                .with_description("The last sequence committed to each service's change feed")
                .build(),
            relay_lag: meter
                .i64_gauge("trellis.relay.lag")
                .with_description("Events committed to a feed and not yet acknowledged by NATS JetStream")
                .build(),
            consumer_lag: meter
                .i64_gauge("trellis.cascade.feed.lag")
                .with_description("Events of a feed the cascade's graph has not applied yet")
                .build(),
            consumer_connected: meter
                .i64_gauge("trellis.cascade.feed.connected")
                .with_description("1 while the cascade follows the feed, 0 while it cannot reach it")
                .build(),
            last_apply: meter
                .f64_gauge("trellis.cascade.last_apply_timestamp")
                .with_unit("s")
                .with_description("When the cascade last applied an event of the feed to its graph (Unix time)")
                .build(),
            graph_nodes: meter
                .i64_gauge("trellis.cascade.graph.nodes")
                .with_description("Nodes in the cascade's alignment graph")
                .build(),
            graph_edges: meter
                .i64_gauge("trellis.cascade.graph.edges")
                .with_description("Edges in the cascade's alignment graph")
                .build(),
            pending_steps: meter
                .i64_gauge("trellis.health.pending_escalation_steps")
                .with_description("Escalation steps called for and not yet confirmed by the other services")
                .build(),
        }
    }
}

/// Reads the gauges now and then every [`SAMPLE_EVERY`], until aborted.
pub fn start(meter: &Meter, sources: Sources) -> JoinHandle<()> {
    let gauges = Gauges::new(meter);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            sample(&gauges, &sources).await;
        }
    })
}

async fn sample(gauges: &Gauges, sources: &Sources) {
    for (service, feed, db) in &sources.feeds {
        let label = [KeyValue::new("service", *service)];
        let head = match feed.head().await {
            Ok(head) => head,
            Err(err) => {
                tracing::debug!(service, error = %err, "reading the feed's head for the metrics");
                continue;
            }
        };
        gauges.feed_head.record(head, &label);
        if sources.relayed.contains(service) {
            match trellis_events::relayed_up_to(db, service, trellis_events::RELAY_NAME).await {
                Ok(cursor) => gauges.relay_lag.record((head - cursor).max(0), &label),
                Err(err) => tracing::debug!(service, error = %err, "reading the relay's cursor for the metrics"),
            }
        }
    }
    if let Some(projection) = &sources.projection {
        for feed in projection.feeds() {
            let label = [KeyValue::new("feed", feed.source)];
            gauges.consumer_lag.record((feed.head - feed.cursor).max(0), &label);
            gauges.consumer_connected.record(i64::from(feed.connected), &label);
            if feed.last_apply_micros > 0 {
                gauges.last_apply.record(feed.last_apply_micros as f64 / 1e6, &label);
            }
        }
        if let Ok((nodes, edges)) = projection
            .read(|graph| (graph.len() as i64, graph.edge_count() as i64))
            .await
        {
            gauges.graph_nodes.record(nodes, &[]);
            gauges.graph_edges.record(edges, &[]);
        }
    }
    if let Some(db) = &sources.health {
        match trellis_health::entity::step::Entity::find().count(db.conn()).await {
            Ok(pending) => gauges
                .pending_steps
                .record(i64::try_from(pending).unwrap_or(i64::MAX), &[]),
            Err(err) => tracing::debug!(error = %err, "counting pending escalation steps for the metrics"),
        }
    }
}
