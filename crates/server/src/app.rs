//! Building and running a server: bind first (port 0 allowed), connect and
//! migrate the database, wire the chosen services with gRPC clients to their
//! peers (this process by default), and shut down gracefully.

use std::{collections::HashSet, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::{ServingStatus, server::HealthReporter};
use tracing::{info, warn};
use trellis_access::{OidcSettings, Verifier};
use trellis_cascade::{
    AccessGrpc, AlignmentOps, CascadeGrpc, Consumers, OrgGrpc, OrgOps, Projection, RhythmGrpc, RhythmOps, RhythmTasks,
    SnapshotTasks, Source, WebhookGrpc, WebhookOps, WebhookSettings, WebhookTasks,
};
use trellis_foundation::{ChangeFeed, Db, Store, trace::continue_from_headers};
use trellis_health::{HealthGrpc, HealthOps};
use trellis_okr::{OkrGrpc, OkrOps};
use trellis_proto::{
    access::v1::access_service_server::AccessServiceServer,
    cascade::v1::{
        cascade_service_server::CascadeServiceServer, org_service_server::OrgServiceServer,
        rhythm_service_server::RhythmServiceServer, webhook_service_server::WebhookServiceServer,
    },
    health::v1::health_metric_service_server::HealthMetricServiceServer,
    okr::v1::okr_service_server::OkrServiceServer,
    strategy::v1::strategy_service_server::StrategyServiceServer,
};
use trellis_strategy::{StrategyGrpc, StrategyOps};

use crate::{
    access::{AccessChecks, OrgFeed},
    auth::AuthLayer,
    connections,
    guard::{Guard, GuardLimits},
    metrics::{Metrics, rpc::RpcMetrics, sampler, scrape},
    peers::{Caller, feed_sources, health_client, okr_client, org_client, strategy_client},
    settings::{AuthMode, ServiceName, Settings},
};

const STRATEGY_SERVICE: &str = "trellis.strategy.v1.StrategyService";
const ORG_SERVICE: &str = "trellis.cascade.v1.OrgService";
const OKR_SERVICE: &str = "trellis.okr.v1.OkrService";
const HEALTH_SERVICE: &str = "trellis.health.v1.HealthMetricService";
const CASCADE_SERVICE: &str = "trellis.cascade.v1.CascadeService";
/// How long JetStream remembers an event's id to drop it if resent: a
/// relay that crashed after publishing and is back within this resends
/// nothing twice.
const RELAY_DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);
const ACCESS_SERVICE: &str = "trellis.access.v1.AccessService";
const RHYTHM_SERVICE: &str = "trellis.cascade.v1.RhythmService";
const WEBHOOK_SERVICE: &str = "trellis.cascade.v1.WebhookService";
/// How long a keepalive ping may go unanswered before the connection drops.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// `--health-listen`'s listener.
    health_listener: Option<TcpListener>,
    /// `--metrics-listen`'s listener.
    metrics_listener: Option<TcpListener>,
    metrics: Arc<Metrics>,
    settings: Settings,
    db: Db,
    strategy: Option<StrategyOps>,
    okr: Option<OkrOps>,
    health: Option<HealthOps>,
    org: Option<OrgOps>,
    cascade: Option<Cascade>,
    checks: AccessChecks,
}

/// The cascade's questions, rhythm and webhooks, and the feeds its graph
/// follows.
struct Cascade {
    alignment: AlignmentOps,
    rhythm: RhythmOps,
    webhooks: WebhookOps,
    sources: Vec<Source>,
}

/// A generated server held to the message limit both ways (tonic's
/// servers share no trait these setters could go through).
macro_rules! sized {
    ($server:expr, $max:expr) => {
        $server.max_decoding_message_size($max).max_encoding_message_size($max)
    };
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        Application::build_on(settings, listener).await
    }

    /// Like [`Application::build`], on a listener bound already: servers
    /// that must know each other's addresses before any starts (services
    /// run apart, in tests) bind all their listeners first.
    pub async fn build_on(settings: Settings, listener: TcpListener) -> anyhow::Result<Application> {
        let wants = |service| settings.services.contains(&service);
        if wants(ServiceName::Strategy) {
            if !wants(ServiceName::Cascade) && settings.peer_cascade.is_none() {
                bail!("the strategy service needs the cascade service (org units): run it here or set --peer-cascade");
            }
            if !wants(ServiceName::Health) && settings.peer_health.is_none() {
                bail!(
                    "the strategy service needs the health service (the metrics assumptions name): run it here or \
                     set --peer-health"
                );
            }
        }
        if wants(ServiceName::Okr) {
            if !wants(ServiceName::Cascade) && settings.peer_cascade.is_none() {
                bail!("the okr service needs the cascade service (org units): run it here or set --peer-cascade");
            }
            if !wants(ServiceName::Strategy) && settings.peer_strategy.is_none() {
                bail!("the okr service needs the strategy service (choices): run it here or set --peer-strategy");
            }
        }
        if wants(ServiceName::Health) {
            for (service, local, peer) in [
                ("cascade", ServiceName::Cascade, &settings.peer_cascade),
                ("okr", ServiceName::Okr, &settings.peer_okr),
                ("strategy", ServiceName::Strategy, &settings.peer_strategy),
            ] {
                if !wants(local) && peer.is_none() {
                    bail!("the health service needs the {service} service: run it here or set --peer-{service}");
                }
            }
        }
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let health_listener = match settings.health_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding {address} (health_listen)"))?,
            ),
            None => None,
        };
        let metrics_listener = match settings.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding {address} (metrics_listen)"))?,
            ),
            None => None,
        };
        let metrics = Arc::new(Metrics::new(settings.otlp_metrics.clone())?);
        let service_token = crate::service_token::start(&settings).await?;
        let db = Db::connect(&settings.database_url)
            .await
            .with_context(|| format!("connecting to {}", redact(&settings.database_url)))?;

        let org = if wants(ServiceName::Cascade) {
            Some(
                OrgOps::new(
                    migrated_store::<trellis_cascade::Migrator>(&db, trellis_cascade::TABLE_PREFIX, &settings).await?,
                )
                .with_max_message_bytes(settings.max_message_bytes),
            )
        } else {
            None
        };
        let caller = |service| Caller {
            settings: &settings,
            local_addr,
            service,
            token: &service_token,
        };
        let checks = AccessChecks::start(&settings, || match &org {
            Some(org) => Ok(OrgFeed::Local(org.store().feed.clone())),
            None => Ok(OrgFeed::Peer(org_client(&caller("trellis-access"))?)),
        })
        .await?;
        let access = checks.access.clone();
        let org = org.map(|org| org.with_access(access.clone()));
        if let (Some(org), Some(admin)) = (&org, &settings.bootstrap_admin) {
            let made = org
                .bootstrap_admin(admin)
                .await
                .with_context(|| format!("making {admin} admin of the org (--bootstrap-admin)"))?;
            if made {
                info!(admin = %admin, "made admin of the whole org (first start)");
            }
        }
        let cascade = match &org {
            Some(org) => {
                let sources = feed_sources(&settings, local_addr, &service_token, org)?;
                let names: Vec<&'static str> = sources.iter().map(Source::name).collect();
                let projection = std::sync::Arc::new(Projection::new(&names));
                if settings.snapshot_retention > 0 {
                    let snapshots = trellis_cascade::store::snapshots::SnapshotStore::new(db.clone());
                    match snapshots.newest().await {
                        Ok(Some(restored)) => {
                            info!(
                                taken_micros = restored.taken_micros,
                                "starting the graph from a snapshot"
                            );
                            projection.restore(restored);
                        }
                        Ok(None) => info!("no snapshot of the graph: replaying every feed"),
                        Err(err) => warn!(error = %err, "reading snapshots; replaying every feed"),
                    }
                }
                let rhythm = RhythmOps::new(org.store().clone(), projection.clone())
                    .with_access(access.clone())
                    .with_max_metrics_per_person(settings.max_metrics_per_person)
                    .with_clock_offset(settings.rhythm_clock_offset_seconds.saturating_mul(1_000_000));
                let history = trellis_cascade::history::History::new(
                    sources.clone(),
                    Some(trellis_cascade::store::snapshots::SnapshotStore::new(db.clone())),
                    settings.as_of_cached_graphs,
                );
                let alignment = AlignmentOps::new(projection, org.store().page_tokens.clone())
                    .with_access(access.clone())
                    .with_max_metrics_per_person(settings.max_metrics_per_person)
                    .with_history(std::sync::Arc::new(history));
                let webhooks = WebhookOps::new(org.store().clone()).with_access(access.clone());
                Some(Cascade {
                    alignment,
                    rhythm,
                    webhooks,
                    sources,
                })
            }
            None => None,
        };
        let strategy = if wants(ServiceName::Strategy) {
            let store =
                migrated_store::<trellis_strategy::Migrator>(&db, trellis_strategy::TABLE_PREFIX, &settings).await?;
            Some(
                StrategyOps::new(
                    store,
                    org_client(&caller("trellis-strategy"))?,
                    health_client(&caller("trellis-strategy"))?,
                )
                .await?
                .with_access(access.clone()),
            )
        } else {
            None
        };
        let okr = if wants(ServiceName::Okr) {
            let store = migrated_store::<trellis_okr::Migrator>(&db, trellis_okr::TABLE_PREFIX, &settings).await?;
            let ops = OkrOps::new(
                store,
                org_client(&caller("trellis-okr"))?,
                strategy_client(&caller("trellis-okr"))?,
            )
            .await?
            .with_access(access.clone());
            let batches = metrics.batch_sizes();
            ops.observe_check_in_batches(Box::new(move |size| batches.record(size as u64, &[])));
            Some(ops)
        } else {
            None
        };
        let health = if wants(ServiceName::Health) {
            let store =
                migrated_store::<trellis_health::Migrator>(&db, trellis_health::TABLE_PREFIX, &settings).await?;
            let health = caller("trellis-health");
            let peers = trellis_health::Peers {
                org: org_client(&health)?,
                okr: okr_client(&health)?,
                strategy: strategy_client(&health)?,
            };
            Some(
                HealthOps::new(store, peers)
                    .with_runner_lease(Duration::from_secs(settings.health_runner_lease_seconds))
                    .with_fail_point(settings.health_fail_point.clone())
                    .with_access(access.clone()),
            )
        } else {
            None
        };
        Ok(Application {
            listener,
            local_addr,
            health_listener,
            metrics_listener,
            metrics,
            settings,
            db,
            strategy,
            okr,
            health,
            org,
            cascade,
            checks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the Prometheus scrape endpoint answers (`--metrics-listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Where health checks are answered in plaintext (`--health-listen`).
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn services(&self) -> &[ServiceName] {
        &self.settings.services
    }

    /// Serves until `shutdown` completes, then: health NOT_SERVING, open
    /// change streams ended, in-flight requests drained (within the grace
    /// period), database pool closed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            listener,
            health_listener,
            metrics_listener,
            metrics,
            settings,
            db,
            strategy,
            okr,
            health,
            org,
            cascade,
            mut checks,
            ..
        } = self;
        let max = settings.max_message_bytes;
        let (reporter, health_service) = tonic_health::server::health_reporter();
        // Answers as the main port's health service does, to the end.
        let _health_port = health_listener.map(|listener| {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            StopOnDrop(tokio::spawn(
                Server::builder()
                    .add_service(health_service.clone())
                    .serve_with_incoming(incoming),
            ))
        });
        let pool = descriptor_pool()?;
        let reflection = crate::reflection::service(pool.clone());

        let mut served: Vec<&'static str> = Vec::new();
        let mut feeds: Vec<ChangeFeed> = Vec::new();
        // The feeds whose events are relayed, by their tables' prefix.
        let mut relayed: Vec<(&'static str, ChangeFeed, Db)> = Vec::new();
        let mut sampled = sampler::Sources::default();
        let mut relay = |service: ServiceName, prefix: &'static str, store: &Store| {
            if settings.events_services.contains(&service) {
                relayed.push((prefix, store.feed.clone(), store.db.clone()));
                if settings.events_nats_url.is_some() {
                    sampled.relayed.push(prefix);
                }
            }
            sampled.feeds.push((prefix, store.feed.clone(), store.db.clone()));
        };
        let strategy_service = strategy.map(|ops| {
            served.push(STRATEGY_SERVICE);
            relay(ServiceName::Strategy, trellis_strategy::TABLE_PREFIX, ops.store());
            feeds.push(ops.store().feed.clone());
            sized!(StrategyServiceServer::new(StrategyGrpc::new(ops)), max)
        });
        let okr_service = okr.map(|ops| {
            served.push(OKR_SERVICE);
            relay(ServiceName::Okr, trellis_okr::TABLE_PREFIX, ops.store());
            feeds.push(ops.store().feed.clone());
            sized!(OkrServiceServer::new(OkrGrpc::new(ops)), max)
        });
        // Started once the server answers: the runner calls this process.
        let mut background = None;
        let mut health_db = None;
        let metric_service = health.map(|ops| {
            served.push(HEALTH_SERVICE);
            relay(ServiceName::Health, trellis_health::TABLE_PREFIX, ops.store());
            health_db = Some(ops.store().db.clone());
            feeds.push(ops.store().feed.clone());
            background = Some(ops.start_background());
            sized!(HealthMetricServiceServer::new(HealthGrpc::new(ops)), max)
        });
        let access_service = org.as_ref().map(|ops| {
            served.push(ACCESS_SERVICE);
            sized!(AccessServiceServer::new(AccessGrpc::new(ops.clone())), max)
        });
        let org_service = org.map(|ops| {
            served.push(ORG_SERVICE);
            relay(ServiceName::Cascade, trellis_cascade::TABLE_PREFIX, ops.store());
            feeds.push(ops.store().feed.clone());
            sized!(OrgServiceServer::new(OrgGrpc::new(ops)), max)
        });
        let mut relays = match &settings.events_nats_url {
            Some(nats_url) => Some(
                trellis_events::Relays::start(
                    trellis_events::RelaySettings {
                        nats_url: nats_url.clone(),
                        stream: settings.events_stream.clone(),
                        subject_prefix: settings.events_subject_prefix.clone(),
                        max_age: Duration::from_secs(settings.events_retention_days.saturating_mul(86_400)),
                        duplicate_window: RELAY_DUPLICATE_WINDOW,
                    },
                    relayed,
                )
                .context("starting the event relays")?,
            ),
            None => None,
        };
        let mut consumers = None;
        let mut rhythm_tasks = None;
        let mut snapshot_tasks = None;
        let mut projection = None;
        let mut rhythm_service = None;
        let mut webhook_service = None;
        let mut webhook_sources = None;
        let cascade_service = cascade.map(|cascade| {
            served.push(CASCADE_SERVICE);
            served.push(RHYTHM_SERVICE);
            served.push(WEBHOOK_SERVICE);
            let graph = cascade.alignment.projection().clone();
            projection = Some(graph.clone());
            // Before the consumers: the rhythm sees every move they make.
            let sweep_every = Duration::from_secs(settings.rhythm_sweep_seconds);
            rhythm_tasks = Some(RhythmTasks::start(graph.clone(), db.clone(), sweep_every));
            if settings.snapshot_retention > 0 {
                let every = Duration::from_secs(settings.snapshot_interval_seconds);
                snapshot_tasks = Some(SnapshotTasks::start(
                    graph.clone(),
                    db.clone(),
                    every,
                    trellis_cascade::store::snapshots::Retention {
                        newest: settings.snapshot_retention,
                        daily_days: settings.snapshot_daily_days,
                    },
                ));
            }
            webhook_sources = Some(cascade.sources.clone());
            consumers = Some(Consumers::start(graph, cascade.sources, db.clone()));
            webhook_service = Some(sized!(
                WebhookServiceServer::new(WebhookGrpc::new(cascade.webhooks)),
                max
            ));
            rhythm_service = Some(sized!(RhythmServiceServer::new(RhythmGrpc::new(cascade.rhythm)), max));
            sized!(CascadeServiceServer::new(CascadeGrpc::new(cascade.alignment)), max)
        });
        // The cascade answers from its graph: it is ready once every feed
        // has been replayed, so a new replica gets traffic only then.
        let ready_now: Vec<&'static str> = served
            .iter()
            .copied()
            .filter(|service| *service != CASCADE_SERVICE)
            .collect();
        set_status(&reporter, &ready_now, ServingStatus::Serving).await;
        // Registered before the server answers: a probe that comes early
        // must read NOT_SERVING, not "service not registered".
        if projection.is_some() {
            reporter
                .set_service_status(CASCADE_SERVICE, ServingStatus::NotServing)
                .await;
        }
        let mut webhook_tasks = match webhook_sources {
            Some(sources) => Some(
                WebhookTasks::start(
                    sources,
                    db.clone(),
                    WebhookSettings {
                        max_attempts: i32::try_from(settings.webhook_max_attempts).unwrap_or(i32::MAX),
                        first_retry: Duration::from_millis(settings.webhook_first_retry_millis),
                        max_retry: Duration::from_secs(settings.webhook_max_retry_seconds),
                        retention: Duration::from_secs(settings.webhook_retention_days.saturating_mul(86_400)),
                        ..WebhookSettings::default()
                    },
                )
                .context("starting the webhook deliveries")?,
            ),
            None => None,
        };
        let readiness = projection.clone().map(|projection| {
            let reporter = reporter.clone();
            tokio::spawn(async move {
                let mut closing = projection.closing();
                while projection.ready_after().is_none() {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = closing.changed() => return,
                    }
                }
                reporter
                    .set_service_status(CASCADE_SERVICE, ServingStatus::Serving)
                    .await;
            })
        });

        sampled.health = health_db;
        sampled.projection = projection.clone();
        let _sampler = StopOnDrop(sampler::start(metrics.meter(), sampled));
        let _scrape = metrics_listener.map(|listener| StopOnDrop(scrape::serve(listener, Arc::clone(&metrics))));
        let rpc_metrics = RpcMetrics::new(metrics.meter(), method_paths(&pool));

        let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
        let guard = Guard::new(
            &pool,
            GuardLimits {
                max_message_bytes: max,
                max_watchers: settings.max_watchers,
                max_imports: settings.max_imports,
                max_concurrent_calls: settings.max_concurrent_calls,
                call_timeout: Duration::from_secs(settings.call_timeout_seconds),
            },
        );
        let auth = AuthLayer::new(verifier(&settings).await?, settings.principal_quota_per_second);
        let keepalive = Duration::from_secs(settings.keepalive_seconds);
        let mut builder = Server::builder();
        if let Some(tls) = crate::tls::server_config(&settings)? {
            builder = builder.tls_config(tls).context("configuring TLS")?;
        }
        let router = builder
            .tcp_nodelay(true)
            .max_concurrent_streams(settings.max_streams_per_connection)
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .trace_fn(rpc_span)
            .layer(rpc_metrics)
            .layer(guard.clone())
            .layer(auth)
            .add_service(health_service)
            .add_service(reflection)
            .add_optional_service(strategy_service)
            .add_optional_service(okr_service)
            .add_optional_service(metric_service)
            .add_optional_service(org_service)
            .add_optional_service(access_service)
            .add_optional_service(cascade_service)
            .add_optional_service(rhythm_service)
            .add_optional_service(webhook_service);
        let incoming = connections::accept(
            listener,
            settings.max_connections,
            Duration::from_secs(settings.connection_idle_seconds),
        );
        let serve = router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        });
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => {
                result.context("serving")?;
                return Ok(());
            }
            () = shutdown => {}
        }
        info!("shutting down: draining in-flight requests");
        set_status(&reporter, &served, ServingStatus::NotServing).await;
        if let Some(background) = background.as_mut() {
            background.shutdown().await;
        }
        if let Some(consumers) = consumers.as_mut() {
            consumers.stop();
        }
        // After the feeds stop and before the rhythm does: the last
        // snapshot waits for the rhythm to write the moves applied.
        if let Some(snapshots) = snapshot_tasks.as_mut() {
            snapshots.stop_with_snapshot(Duration::from_secs(2)).await;
        }
        if let Some(rhythm) = rhythm_tasks.as_mut() {
            rhythm.stop();
        }
        if let Some(projection) = &projection {
            projection.close();
        }
        if let Some(readiness) = readiness {
            readiness.abort();
        }
        checks.stop();
        // The events committed so far go out; the rest on the next start.
        if let Some(webhooks) = webhook_tasks.as_mut() {
            webhooks.stop().await;
        }
        if let Some(relays) = relays.as_mut() {
            relays.stop().await;
        }
        for feed in &feeds {
            feed.close();
        }
        // Requests in flight finish before the listener closes: the peer
        // calls they make go to this same server.
        let grace = Duration::from_secs(settings.shutdown_grace_seconds);
        let started = tokio::time::Instant::now();
        // The server keeps accepting while it drains: a peer call may need
        // a new connection to this same server.
        let drained = tokio::select! {
            result = &mut serve => {
                result.context("serving")?;
                true
            }
            drained = guard.drain(grace) => drained,
        };
        if !drained {
            warn!(
                seconds = grace.as_secs(),
                unfinished = guard.in_flight(),
                "grace period over; dropping unfinished requests"
            );
        }
        let _ = stop_accepting.send(());
        let left = grace.saturating_sub(started.elapsed()).max(Duration::from_secs(1));
        match tokio::time::timeout(left, serve).await {
            Ok(result) => result.context("serving")?,
            Err(_) => warn!("connections did not close in time; closing them"),
        }
        metrics.shutdown();
        db.close().await.context("closing the database pool")?;
        info!("stopped");
        Ok(())
    }
}

/// `/package.Service/Method` of every method in `pool`: the only paths
/// the RPC metrics name.
fn method_paths(pool: &prost_reflect::DescriptorPool) -> HashSet<String> {
    let mut paths = HashSet::new();
    for service in pool.services() {
        for method in service.methods() {
            paths.insert(format!("/{}/{}", service.full_name(), method.name()));
        }
    }
    paths
}

/// A task stopped when its handle goes, however the function holding it
/// ends.
struct StopOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for StopOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A service's tables brought up to date, then its store opened.
async fn migrated_store<M: MigratorTrait>(db: &Db, prefix: &str, settings: &Settings) -> anyhow::Result<Store> {
    M::up(db.conn(), None)
        .await
        .with_context(|| format!("migrating the {prefix} tables"))?;
    open_store(db, prefix, settings).await
}

async fn open_store(db: &Db, prefix: &str, settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::open(db.clone(), prefix)
        .await
        .with_context(|| format!("opening the {prefix} store"))?;
    Ok(store.with_watch_stall(Duration::from_secs(settings.watch_stall_seconds)))
}

/// The token verifier `--auth-mode oidc` asks for.
async fn verifier(settings: &Settings) -> anyhow::Result<Option<Arc<Verifier>>> {
    if settings.auth_mode != AuthMode::Oidc {
        return Ok(None);
    }
    let setting = |value: &Option<String>| value.clone().unwrap_or_default();
    let verifier = Verifier::new(OidcSettings {
        issuer: setting(&settings.oidc_issuer),
        audience: setting(&settings.oidc_audience),
        jwks_url: setting(&settings.oidc_jwks_url),
        email_claim: settings.oidc_email_claim.clone(),
        groups_claim: settings.oidc_groups_claim.clone(),
        service_subjects: settings
            .oidc_service_subjects
            .iter()
            .map(|known| (known.subject.clone(), known.service.clone()))
            .collect(),
    })
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(Some(Arc::new(verifier)))
}

/// Every message type this server speaks (Trellis's, health checks and
/// reflection), for the guard's wire checks and for reflection.
fn descriptor_pool() -> anyhow::Result<prost_reflect::DescriptorPool> {
    let mut pool = prost_reflect::DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET)
        .context("reading the descriptor set")?;
    for extra in [
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ] {
        pool.decode_file_descriptor_set(extra)
            .context("reading the health and reflection descriptors")?;
    }
    Ok(pool)
}

/// One span per RPC, named after the method as OpenTelemetry's RPC
/// conventions have it, continuing the caller's trace when it sent one.
fn rpc_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let method = request.uri().path().trim_start_matches('/');
    let (service, name) = method.split_once('/').unwrap_or((method, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = name,
    );
    continue_from_headers(&span, request.headers());
    span
}

async fn set_status(reporter: &HealthReporter, services: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(*service, status).await;
    }
}

/// The database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:secret@db/trellis"),
            "postgres://app:***@db/trellis"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://trellis.db"), "sqlite://trellis.db");
    }
}
