//! The server under test: one given by address, one spawned in this
//! process on a fresh database, or (for figures of the server alone, such
//! as its peak memory) one spawned as a child process.

use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use serde_json::json;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};
use trellis_access::signing::LocalKey;
use trellis_server::{Application, Settings, settings::AuthMode};

use crate::{
    Args, Workload,
    server_process::{ServerProcess, peak_rss_mib, rss_mib},
};

/// The issuer and audience of the tokens the bench makes for a server it
/// spawns with `--auth`.
const ISSUER: &str = "https://bench.trellis.invalid";
const AUDIENCE: &str = "trellis-bench";
/// The subject the bench's token names; admin of the whole org.
const SUBJECT: &str = "bench";

/// A channel to the server that presents the bench's token, if it has one.
pub type BenchChannel = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer …` to every call when the server wants it.
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub struct Target {
    pub url: String,
    pub backend: String,
    /// Whether the server checks tokens ("oidc"), for the figures.
    pub auth: Option<&'static str>,
    bearer: Bearer,
    /// The JWKS a spawned server process trusts, to restart it the same.
    jwks: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    process: Option<ServerProcess>,
    server_pid: Option<u32>,
    /// The spawned server's database, so it can be restarted on it.
    database_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    /// The JWKS the server reads, with `--auth`.
    _keys: Option<tempfile::TempDir>,
}

impl Target {
    pub async fn start(args: &Args) -> anyhow::Result<Target> {
        if let Some(url) = &args.server {
            if args.auth {
                bail!("--auth needs --spawn: the bench makes the keys the server it starts trusts");
            }
            return Ok(Target {
                url: url.clone(),
                backend: args.backend.clone(),
                auth: None,
                bearer: Bearer::default(),
                jwks: None,
                stop: None,
                server: None,
                process: None,
                server_pid: args.server_pid,
                database_url: None,
                _dir: None,
                _keys: None,
            });
        }
        if !args.spawn {
            bail!("give --server URL or --spawn");
        }
        Target::spawn(args, args.auth).await
    }

    /// A server in this process (or, for the season and cascade, a child
    /// process) on a fresh database, or on `--database-url`; with `auth`,
    /// it runs `--auth-mode oidc` trusting a key the bench makes, and the
    /// bench's calls present a token signed with it.
    pub async fn spawn(args: &Args, auth: bool) -> anyhow::Result<Target> {
        let (database_url, dir) = match &args.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let dir = tempfile::tempdir().context("creating a temp dir")?;
                (format!("sqlite://{}", dir.path().join("bench.db").display()), Some(dir))
            }
        };
        let backend = if database_url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        }
        .to_owned();
        if matches!(args.workload, Workload::Season | Workload::Cascade | Workload::Events) {
            if auth && args.workload == Workload::Season {
                bail!("--auth is for the get_strategy, check_in and cascade workloads");
            }
            let keys = auth.then(bench_key).transpose()?;
            let jwks = keys.as_ref().map(|(_, _, jwks)| jwks.clone());
            let process = ServerProcess::start(&database_url, jwks.as_deref(), true, None)?;
            eprintln!(
                "spawned a {backend} server process on {}{}",
                process.url,
                if auth { " (--auth-mode oidc)" } else { "" }
            );
            let (bearer, keys_dir) = match keys {
                Some((bearer, dir, _)) => (bearer, Some(dir)),
                None => (Bearer::default(), None),
            };
            return Ok(Target {
                url: process.url.clone(),
                backend,
                auth: auth.then_some("oidc"),
                bearer,
                jwks,
                stop: None,
                server: None,
                process: Some(process),
                server_pid: None,
                database_url: Some(database_url),
                _dir: dir,
                _keys: keys_dir,
            });
        }
        let mut settings = Settings::with_database(database_url.clone());
        let (bearer, keys_dir) = if auth {
            let (bearer, keys_dir, jwks) = bench_key()?;
            configure_oidc(&mut settings, &jwks);
            (bearer, Some(keys_dir))
        } else {
            (Bearer::default(), None)
        };
        let app = Application::build(settings).await?;
        let url = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        eprintln!(
            "spawned a {backend} server on {url}{}",
            if auth { " (--auth-mode oidc)" } else { "" }
        );
        Ok(Target {
            url,
            backend,
            auth: auth.then_some("oidc"),
            bearer,
            jwks: None,
            _keys: keys_dir,
            stop: Some(stop),
            server: Some(server),
            process: None,
            server_pid: None,
            database_url: Some(database_url),
            _dir: dir,
        })
    }

    /// `count` separate connections, so load is not bound to one HTTP/2 stream limit.
    pub async fn channels(&self, count: usize) -> anyhow::Result<Vec<BenchChannel>> {
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let channel = Endpoint::from_shared(self.url.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {}", self.url))?;
            channels.push(InterceptedService::new(channel, self.bearer.clone()));
        }
        Ok(channels)
    }

    /// The server's peak RSS when the bench can see its process.
    pub fn peak_rss_mib(&self) -> anyhow::Result<Option<f64>> {
        match (&self.process, self.server_pid) {
            (Some(process), _) => process.peak_rss_mib().map(Some),
            (None, Some(pid)) => peak_rss_mib(pid).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The server's process id when it runs in a process of its own the
    /// bench can see (not when it serves inside the bench).
    pub fn server_process_id(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid).or(self.server_pid)
    }

    /// Whether [`Target::restart`] can restart the server.
    pub fn restartable(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the spawned server process and starts a new one on the same
    /// database (a fresh process: nothing in memory survives); with
    /// `snapshots` its cascade starts from the newest snapshot.
    pub fn restart(&mut self, snapshots: bool) -> anyhow::Result<()> {
        self.restart_with(snapshots, None)
    }

    /// Like [`Target::restart`], the new process relaying its feeds to
    /// `events` (`(nats_url, stream)`) when given.
    pub fn restart_with(&mut self, snapshots: bool, events: Option<(&str, &str)>) -> anyhow::Result<()> {
        let (Some(process), Some(database_url)) = (self.process.take(), self.database_url.as_deref()) else {
            bail!("only a spawned server process can be restarted");
        };
        process.stop()?;
        let process = ServerProcess::start(database_url, self.jwks.as_deref(), snapshots, events)?;
        self.url = process.url.clone();
        self.process = Some(process);
        Ok(())
    }

    /// The server's current RSS (VmRSS) when the bench can see its process.
    pub fn rss_mib(&self) -> anyhow::Result<Option<f64>> {
        match (&self.process, self.server_pid) {
            (Some(process), _) => rss_mib(process.pid()).map(Some),
            (None, Some(pid)) => rss_mib(pid).map(Some),
            (None, None) => Ok(None),
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await??;
        }
        if let Some(process) = self.process.take() {
            process.stop()?;
        }
        Ok(())
    }
}

/// Makes the server trust the bench's key (the JWKS file at `jwks`),
/// with the bench's subject admin of the whole org.
pub fn configure_oidc(settings: &mut Settings, jwks: &Path) {
    settings.auth_mode = AuthMode::Oidc;
    settings.oidc_issuer = Some(ISSUER.to_owned());
    settings.oidc_audience = Some(AUDIENCE.to_owned());
    settings.oidc_jwks_url = Some(format!("file://{}", jwks.display()));
    settings.bootstrap_admin = Some(format!("user:{SUBJECT}"));
    // Every call is one principal's: the quota is checked but not reached.
    settings.principal_quota_per_second = 10_000_000;
}

/// Makes a P-256 key and writes its JWKS to a temp dir; returns a
/// day-long token of the bench's own, the dir, and the JWKS's path.
fn bench_key() -> anyhow::Result<(Bearer, tempfile::TempDir, PathBuf)> {
    let key = LocalKey::generate("bench-1").map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir().context("creating a temp dir for the keys")?;
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, key.jwks().to_string()).context("writing the JWKS")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let token = key
        .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 86_400}))
        .map_err(anyhow::Error::msg)?;
    let value = MetadataValue::try_from(format!("Bearer {token}")).context("the token as metadata")?;
    Ok((Bearer(Some(value)), dir, jwks))
}
