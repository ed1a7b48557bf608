//! The black-box test harness: `spawn_app` starts the real server on
//! `127.0.0.1:0` with a fresh database (a temp SQLite file, or a fresh
//! PostgreSQL database) and hands out generated clients. `backend_tests!`
//! runs each test on SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set,
//! on PostgreSQL.

use std::{future::Future, net::SocketAddr, sync::Once};

use anyhow::Context;
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};
use tonic_health::pb::health_client::HealthClient;
use trellis_foundation::context::ACTOR_METADATA_KEY;
use trellis_proto::{
    cascade::v1::{
        cascade_service_client::CascadeServiceClient, org_service_client::OrgServiceClient,
        rhythm_service_client::RhythmServiceClient,
    },
    health::v1::health_metric_service_client::HealthMetricServiceClient,
    okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};
use trellis_server::{Application, ServiceName, Settings};

mod database;
pub mod http;
pub mod issuer;
pub mod nats;
pub mod receiver;
pub mod tls;

use database::{FreshDatabase, drop_database};

pub const POSTGRES_URL_VARIABLE: &str = "TRELLIS_TEST_POSTGRES_URL";

/// Where a test's server keeps its data.
#[derive(Debug, Clone)]
pub enum TestBackend {
    Sqlite,
    /// The base URL; each test gets a fresh database beside it.
    Postgres(String),
}

impl TestBackend {
    /// PostgreSQL, when `TRELLIS_TEST_POSTGRES_URL` is set.
    pub fn postgres() -> Option<TestBackend> {
        std::env::var(POSTGRES_URL_VARIABLE)
            .ok()
            .filter(|url| !url.is_empty())
            .map(TestBackend::Postgres)
    }

    pub fn name(&self) -> &'static str {
        match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres(_) => "postgres",
        }
    }
}

/// Says once per test binary that the PostgreSQL runs were not made.
pub fn say_postgres_not_configured() {
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        eprintln!("note: {POSTGRES_URL_VARIABLE} is not set; storage and end-to-end tests ran on SQLite only");
    });
}

fn init_test_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

/// A running server and clients connected to it. Dropping it stops the
/// server and removes its database.
/// How the test's clients reach a server: presenting a bearer token when
/// [`TestApp::with_token`] gave one.
pub type TestChannel = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer …` to every call, when it holds a token.
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub struct TestApp {
    pub address: SocketAddr,
    /// Where health checks are answered in plaintext, if asked for
    /// (`health_listen`).
    pub health_address: Option<SocketAddr>,
    /// Where the Prometheus scrape endpoint answers, if asked for
    /// (`metrics_listen`).
    pub metrics_address: Option<SocketAddr>,
    /// How the test's clients reach the server (TLS when it serves it).
    endpoint: Endpoint,
    channel: Channel,
    pub backend: TestBackend,
    pub database_url: String,
    pub strategy: StrategyServiceClient<TestChannel>,
    pub org: OrgServiceClient<TestChannel>,
    pub okr: OkrServiceClient<TestChannel>,
    pub metrics: HealthMetricServiceClient<TestChannel>,
    pub cascade: CascadeServiceClient<TestChannel>,
    pub rhythm: RhythmServiceClient<TestChannel>,
    pub health: HealthClient<TestChannel>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// Kept so the SQLite files live as long as the server.
    sqlite_dir: Option<TempDir>,
    postgres_database: Option<(String, String)>,
}

pub async fn spawn_app(backend: &TestBackend) -> anyhow::Result<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with a chance to change the settings first.
pub async fn spawn_app_with(backend: &TestBackend, customize: impl FnOnce(&mut Settings)) -> anyhow::Result<TestApp> {
    init_test_logging();
    let database = FreshDatabase::create(backend).await?;
    let mut app = start(database.url.clone(), None, customize).await?;
    app.backend = backend.clone();
    app.sqlite_dir = database.sqlite_dir;
    app.postgres_database = database.postgres_database;
    Ok(app)
}

async fn start(
    database_url: String,
    listener: Option<TcpListener>,
    customize: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let mut settings = Settings::with_database(database_url.clone());
    settings.shutdown_grace_seconds = 5;
    customize(&mut settings);
    let client_settings = settings.clone();
    let app = match listener {
        Some(listener) => Application::build_on(settings, listener).await?,
        None => Application::build(settings).await?,
    };
    let address = app.local_addr();
    let health_address = app.health_addr();
    let metrics_address = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    // The test's clients call as the server calls itself: over TLS when it
    // serves TLS, presenting its own certificate.
    let scheme = if client_settings.serves_tls() { "https" } else { "http" };
    let url = format!("{scheme}://{address}");
    let mut endpoint = Channel::from_shared(url.clone())?;
    if let Some(tls) = trellis_server::tls::client_config(&client_settings, &url, true)? {
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint.connect().await.context("connecting to the server")?;
    let backend = if database_url.starts_with("sqlite") {
        TestBackend::Sqlite
    } else {
        TestBackend::Postgres(database_url.clone())
    };
    let clients = Clients::all_on(&InterceptedService::new(channel.clone(), Bearer::default()));
    Ok(TestApp {
        address,
        health_address,
        metrics_address,
        channel,
        endpoint,
        backend,
        database_url,
        strategy: clients.strategy,
        org: clients.org,
        okr: clients.okr,
        metrics: clients.metrics,
        cascade: clients.cascade,
        rhythm: clients.rhythm,
        health: clients.health,
        stop: Some(stop),
        server: Some(server),
        sqlite_dir: None,
        postgres_database: None,
    })
}

/// One client per service.
struct Clients {
    strategy: StrategyServiceClient<TestChannel>,
    org: OrgServiceClient<TestChannel>,
    okr: OkrServiceClient<TestChannel>,
    metrics: HealthMetricServiceClient<TestChannel>,
    cascade: CascadeServiceClient<TestChannel>,
    rhythm: RhythmServiceClient<TestChannel>,
    health: HealthClient<TestChannel>,
}

impl Clients {
    fn all_on(channel: &TestChannel) -> Clients {
        Clients {
            strategy: StrategyServiceClient::new(channel.clone()),
            org: OrgServiceClient::new(channel.clone()),
            okr: OkrServiceClient::new(channel.clone())
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
            metrics: HealthMetricServiceClient::new(channel.clone()),
            cascade: CascadeServiceClient::new(channel.clone()),
            rhythm: RhythmServiceClient::new(channel.clone()),
            health: HealthClient::new(channel.clone()),
        }
    }
}

/// The four services as four servers on four ports, each with a database
/// of its own: they know each other only by their peer addresses, as in a
/// deployment that runs them apart.
pub struct TestCluster {
    pub strategy: TestApp,
    pub okr: TestApp,
    pub health: TestApp,
    pub cascade: TestApp,
}

/// Starts a [`TestCluster`]: all four listeners are bound first, so every
/// server starts knowing its peers' addresses.
pub async fn spawn_cluster(backend: &TestBackend) -> anyhow::Result<TestCluster> {
    spawn_cluster_with(backend, |_, _, _| Ok(())).await
}

/// Like [`spawn_cluster`], with a chance to change each server's settings:
/// `customize(service, settings, url_of)` gets the peers' test URLs by service.
pub async fn spawn_cluster_with(
    backend: &TestBackend,
    customize: impl Fn(ServiceName, &mut Settings, &dyn Fn(ServiceName) -> String) -> anyhow::Result<()>,
) -> anyhow::Result<TestCluster> {
    init_test_logging();
    let mut listeners = Vec::new();
    let mut urls = Vec::new();
    for _ in ServiceName::ALL {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding a test port")?;
        urls.push(format!("http://{}", listener.local_addr()?));
        listeners.push(listener);
    }
    let url_of = |service: ServiceName| {
        ServiceName::ALL
            .iter()
            .position(|each| *each == service)
            .map(|index| urls[index].clone())
    };
    let mut servers = Vec::new();
    for (service, listener) in ServiceName::ALL.into_iter().zip(listeners) {
        let database = FreshDatabase::create(backend).await?;
        let mut customized = Ok(());
        let mut server = start(database.url.clone(), Some(listener), |settings| {
            settings.services = vec![service];
            settings.peer_strategy = url_of(ServiceName::Strategy);
            settings.peer_okr = url_of(ServiceName::Okr);
            settings.peer_health = url_of(ServiceName::Health);
            settings.peer_cascade = url_of(ServiceName::Cascade);
            customized = customize(service, settings, &|peer| url_of(peer).unwrap_or_default());
        })
        .await
        .with_context(|| format!("starting the {} server", service.as_str()))?;
        customized?;
        server.backend = backend.clone();
        server.sqlite_dir = database.sqlite_dir;
        server.postgres_database = database.postgres_database;
        servers.push(server);
    }
    let mut servers = servers.into_iter();
    let (Some(strategy), Some(okr), Some(health), Some(cascade)) =
        (servers.next(), servers.next(), servers.next(), servers.next())
    else {
        anyhow::bail!("expected four servers");
    };
    Ok(TestCluster {
        strategy,
        okr,
        health,
        cascade,
    })
}

impl TestCluster {
    /// Clients as a user of the split deployment has them: each service's
    /// client on its own server. The returned app owns no server; the
    /// cluster must outlive it.
    pub fn client_view(&self) -> TestApp {
        TestApp {
            address: self.cascade.address,
            health_address: self.cascade.health_address,
            metrics_address: self.cascade.metrics_address,
            endpoint: self.cascade.endpoint.clone(),
            channel: self.cascade.channel.clone(),
            backend: self.cascade.backend.clone(),
            database_url: self.cascade.database_url.clone(),
            strategy: self.strategy.strategy.clone(),
            org: self.cascade.org.clone(),
            okr: self.okr.okr.clone(),
            metrics: self.health.metrics.clone(),
            cascade: self.cascade.cascade.clone(),
            rhythm: self.cascade.rhythm.clone(),
            health: self.cascade.health.clone(),
            stop: None,
            server: None,
            sqlite_dir: None,
            postgres_database: None,
        }
    }
}

impl TestCluster {
    /// Like [`TestCluster::client_view`], every client presenting `token`.
    pub fn client_view_with_token(&self, token: &str) -> anyhow::Result<TestApp> {
        let bearer = Bearer(Some(MetadataValue::try_from(format!("Bearer {token}"))?));
        let on = |app: &TestApp| Clients::all_on(&InterceptedService::new(app.channel.clone(), bearer.clone()));
        let mut view = self.client_view();
        view.strategy = on(&self.strategy).strategy;
        view.okr = on(&self.okr).okr;
        view.metrics = on(&self.health).metrics;
        let cascade = on(&self.cascade);
        view.org = cascade.org;
        view.cascade = cascade.cascade;
        view.rhythm = cascade.rhythm;
        view.health = cascade.health;
        Ok(view)
    }
}

impl TestApp {
    /// Clients of the same server presenting `token` on every call; the
    /// view owns no server, so this app must outlive it.
    pub fn view_with_token(&self, token: &str) -> anyhow::Result<TestApp> {
        TestApp {
            address: self.address,
            health_address: self.health_address,
            metrics_address: self.metrics_address,
            endpoint: self.endpoint.clone(),
            channel: self.channel.clone(),
            backend: self.backend.clone(),
            database_url: self.database_url.clone(),
            strategy: self.strategy.clone(),
            org: self.org.clone(),
            okr: self.okr.clone(),
            metrics: self.metrics.clone(),
            cascade: self.cascade.clone(),
            rhythm: self.rhythm.clone(),
            health: self.health.clone(),
            stop: None,
            server: None,
            sqlite_dir: None,
            postgres_database: None,
        }
        .with_token(token)
    }

    /// The same server, its clients presenting `token` on every call.
    pub fn with_token(mut self, token: &str) -> anyhow::Result<TestApp> {
        let bearer = Bearer(Some(MetadataValue::try_from(format!("Bearer {token}"))?));
        let clients = Clients::all_on(&InterceptedService::new(self.channel.clone(), bearer));
        self.strategy = clients.strategy;
        self.org = clients.org;
        self.okr = clients.okr;
        self.metrics = clients.metrics;
        self.cascade = clients.cascade;
        self.rhythm = clients.rhythm;
        self.health = clients.health;
        Ok(self)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("server task")??;
        }
        Ok(())
    }

    /// Starts a graceful shutdown without waiting for it; see
    /// [`TestApp::shutdown`] to wait.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server but keeps its database, for tests that go on with
    /// peers on it ([`TestApp::spawn_peer`]).
    pub async fn stop_server(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("server task")??;
        }
        Ok(())
    }

    /// A second server on the same database, as another replica would be.
    /// It owns nothing: the database goes away with this app.
    pub async fn spawn_replica(&self) -> anyhow::Result<TestApp> {
        start(self.database_url.clone(), None, |_| {}).await
    }

    /// Another server on the same database with its own settings (a
    /// subset of the services, peers in this one). It owns nothing.
    pub async fn spawn_peer(&self, customize: impl FnOnce(&mut Settings)) -> anyhow::Result<TestApp> {
        start(self.database_url.clone(), None, customize).await
    }

    /// Like [`TestApp::spawn_peer`], serving on `listener`, bound already
    /// (so others can be told its address before it starts).
    pub async fn spawn_peer_on(
        &self,
        listener: TcpListener,
        customize: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<TestApp> {
        start(self.database_url.clone(), Some(listener), customize).await
    }

    /// This server's address as a peer URL.
    pub fn url(&self) -> String {
        self.endpoint.uri().to_string().trim_end_matches('/').to_owned()
    }

    /// A fresh channel to the server, for tests that need their own clients.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(self.endpoint.connect().await?)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some((base_url, name)) = self.postgres_database.take() {
            drop_database(base_url, name);
        }
    }
}

/// Runs one test against a fresh server on `backend`.
pub async fn run_test<F, Fut>(backend: TestBackend, test: F) -> anyhow::Result<()>
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let app = spawn_app(&backend).await?;
    test(app).await.with_context(|| format!("on {}", backend.name()))
}

/// Runs one test that starts its own servers (with settings of its own)
/// on `backend`.
pub async fn run_backend_test<F, Fut>(backend: TestBackend, test: F) -> anyhow::Result<()>
where
    F: FnOnce(TestBackend) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let name = backend.name();
    test(backend).await.with_context(|| format!("on {name}"))
}

/// A request carrying `x-trellis-actor`.
pub fn as_actor<T>(message: T, actor: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = actor.parse() {
        request.metadata_mut().insert(ACTOR_METADATA_KEY, value);
    }
    request
}

/// Runs one test against a fresh [`TestCluster`] on `backend`.
pub async fn run_cluster_test<F, Fut>(backend: TestBackend, test: F) -> anyhow::Result<()>
where
    F: FnOnce(TestCluster) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cluster = spawn_cluster(&backend).await?;
    test(cluster)
        .await
        .with_context(|| format!("on four servers, {}", backend.name()))
}

/// Declares each named `async fn(TestApp) -> anyhow::Result<()>` as two
/// tests, `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! backend_tests {
    (@runner $runner:ident; $($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    $crate::$runner($crate::TestBackend::Sqlite, super::$test).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match $crate::TestBackend::postgres() {
                        Some(backend) => $crate::$runner(backend, super::$test).await,
                        None => {
                            $crate::say_postgres_not_configured();
                            Ok(())
                        }
                    }
                }
            }
        )*
    };
    ($($test:ident),* $(,)?) => {
        $crate::backend_tests!(@runner run_test; $($test),*);
    };
}

/// Like [`backend_tests!`], for `async fn(TestBackend) -> anyhow::Result<()>`
/// (tests that start servers with settings of their own).
#[macro_export]
macro_rules! backend_only_tests {
    ($($test:ident),* $(,)?) => {
        $crate::backend_tests!(@runner run_backend_test; $($test),*);
    };
}

/// Like [`backend_tests!`], for `async fn(TestCluster) -> anyhow::Result<()>`.
#[macro_export]
macro_rules! cluster_tests {
    ($($test:ident),* $(,)?) => {
        $crate::backend_tests!(@runner run_cluster_test; $($test),*);
    };
}
