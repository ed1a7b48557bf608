//! A server in a child process of the bench, so the figures it reports of
//! itself (peak RSS) are the server's alone: the bench re-runs its own
//! executable with `TRELLIS_BENCH_SERVE` set to the database URL.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
};

use anyhow::{Context, bail};
use trellis_server::{Application, Settings};

/// Set in the child's environment: the database it serves.
pub const SERVE_ENV: &str = "TRELLIS_BENCH_SERVE";
/// Set in the child's environment with `--auth`: the JWKS file it trusts.
const JWKS_ENV: &str = "TRELLIS_BENCH_JWKS";
/// Set in the child's environment to keep snapshots of the cascade's
/// graph (taken at shutdown, loaded at start); without it they are off.
const SNAPSHOTS_ENV: &str = "TRELLIS_BENCH_SNAPSHOTS";
/// Set in the child's environment to relay its feeds: `NATS_URL STREAM`.
pub const EVENTS_ENV: &str = "TRELLIS_BENCH_EVENTS";
const READY_PREFIX: &str = "listening on ";

/// In the child: serve until the parent closes stdin (or goes away).
pub async fn serve(database_url: String) -> anyhow::Result<()> {
    let mut settings = Settings::with_database(database_url);
    if let Some(jwks) = std::env::var_os(JWKS_ENV) {
        crate::target::configure_oidc(&mut settings, Path::new(&jwks));
    }
    if let Some((nats_url, stream)) = std::env::var(EVENTS_ENV).ok().and_then(|value| {
        value
            .split_once(' ')
            .map(|(url, stream)| (url.to_owned(), stream.to_owned()))
    }) {
        settings.events_nats_url = Some(nats_url);
        settings.events_subject_prefix = stream.to_lowercase();
        settings.events_stream = stream;
    }
    // Without snapshots the start replays every feed (the baseline).
    settings.snapshot_retention = if std::env::var_os(SNAPSHOTS_ENV).is_some() {
        3
    } else {
        0
    };
    let app = Application::build(settings).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{READY_PREFIX}{}", app.local_addr())?;
    stdout.flush()?;
    let parent_gone = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|read| read > 0)
            .unwrap_or(false)
        {
            line.clear();
        }
    });
    app.run_until_stopped(async {
        let _ = parent_gone.await;
    })
    .await
}

/// The parent's handle on the child.
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
}

impl ServerProcess {
    /// With `jwks`, the server runs `--auth-mode oidc` trusting that key.
    /// With `snapshots`, it loads the newest snapshot of the cascade's
    /// graph at start and takes one when it stops. With `events`
    /// (`(nats_url, stream)`), it relays its feeds there.
    pub fn start(
        database_url: &str,
        jwks: Option<&Path>,
        snapshots: bool,
        events: Option<(&str, &str)>,
    ) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("finding the bench executable")?;
        let mut command = Command::new(exe);
        if let Some((nats_url, stream)) = events {
            command.env(EVENTS_ENV, format!("{nats_url} {stream}"));
        }
        if let Some(jwks) = jwks {
            command.env(JWKS_ENV, jwks);
        }
        if snapshots {
            command.env(SNAPSHOTS_ENV, "1");
        }
        let mut child = command
            .env(SERVE_ENV, database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server process")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's address")?;
        let Some(address) = line.trim().strip_prefix(READY_PREFIX) else {
            bail!("the server process did not start: {line:?}");
        };
        Ok(ServerProcess {
            url: format!("http://{address}"),
            child,
            stdin,
        })
    }

    /// The most memory the server has held so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        peak_rss_mib(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        self.child.wait().context("waiting for the server process")?;
        Ok(())
    }
}

/// VmHWM of a process, in MiB (Linux).
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    memory_line(pid, "VmHWM:")
}

/// VmRSS of a process, in MiB (Linux).
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    memory_line(pid, "VmRSS:")
}

fn memory_line(pid: u32, prefix: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {prefix} line"))?;
    Ok((kib / 1024.0).round())
}
