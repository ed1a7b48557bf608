//! The server under test: one given by address, one spawned in this
//! process on a fresh database, or (for figures of the server alone, such
//! as its peak memory) one spawned as a child process.

use anyhow::{Context, bail};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};
use trellis_server::{Application, Settings};

use crate::{
    Args, Workload,
    server_process::{ServerProcess, peak_rss_mib, rss_mib},
};

pub struct Target {
    pub url: String,
    pub backend: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    process: Option<ServerProcess>,
    server_pid: Option<u32>,
    /// The spawned server's database, so it can be restarted on it.
    database_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    pub async fn start(args: &Args) -> anyhow::Result<Target> {
        if let Some(url) = &args.server {
            return Ok(Target {
                url: url.clone(),
                backend: args.backend.clone(),
                stop: None,
                server: None,
                process: None,
                server_pid: args.server_pid,
                database_url: None,
                _dir: None,
            });
        }
        if !args.spawn {
            bail!("give --server URL or --spawn");
        }
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
        if matches!(args.workload, Workload::Season | Workload::Cascade) {
            let process = ServerProcess::start(&database_url)?;
            eprintln!("spawned a {backend} server process on {}", process.url);
            return Ok(Target {
                url: process.url.clone(),
                backend,
                stop: None,
                server: None,
                process: Some(process),
                server_pid: None,
                database_url: Some(database_url),
                _dir: dir,
            });
        }
        let app = Application::build(Settings::with_database(database_url.clone())).await?;
        let url = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        eprintln!("spawned a {backend} server on {url}");
        Ok(Target {
            url,
            backend,
            stop: Some(stop),
            server: Some(server),
            process: None,
            server_pid: None,
            database_url: Some(database_url),
            _dir: dir,
        })
    }

    /// `count` separate connections, so load is not bound to one HTTP/2 stream limit.
    pub async fn channels(&self, count: usize) -> anyhow::Result<Vec<Channel>> {
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let channel = Endpoint::from_shared(self.url.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {}", self.url))?;
            channels.push(channel);
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

    /// Whether [`Target::restart`] can restart the server.
    pub fn restartable(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the spawned server process and starts a new one on the same
    /// database (a fresh process: nothing in memory survives).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let (Some(process), Some(database_url)) = (self.process.take(), self.database_url.as_deref()) else {
            bail!("only a spawned server process can be restarted");
        };
        process.stop()?;
        let process = ServerProcess::start(database_url)?;
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
