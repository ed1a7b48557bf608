//! The NATS server the event tests publish to: `TRELLIS_TEST_NATS_URL`
//! when set (`.ci/run` sets it once its server answers), else one on
//! 127.0.0.1:4222, started here with JetStream when nothing answers
//! there, as a PostgreSQL service would be: it stays up for later runs.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::sync::Mutex;

const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
const ADDRESS: &str = "127.0.0.1:4222";

static STARTING: Mutex<()> = Mutex::const_new(());
/// The server this process started, left running when it exits.
static STARTED: std::sync::OnceLock<Child> = std::sync::OnceLock::new();

fn answers() -> bool {
    TcpStream::connect_timeout(&ADDRESS.parse().expect("a socket address"), Duration::from_millis(500)).is_ok()
}

/// A NATS server with JetStream that answers.
pub async fn nats_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("TRELLIS_TEST_NATS_URL") {
        return Ok(url);
    }
    let _one_at_a_time = STARTING.lock().await;
    if answers() {
        return Ok(DEFAULT_URL.to_owned());
    }
    let store: PathBuf = std::env::temp_dir().join("trellis-test-nats");
    std::fs::create_dir_all(&store).with_context(|| format!("making {}", store.display()))?;
    let child = spawn_server(4222, &store).context(
        "nothing answers on 127.0.0.1:4222 and nats-server could not be started: install it (apt install nats-server)",
    )?;
    let _ = STARTED.set(child);
    for _ in 0..100 {
        if answers() {
            return Ok(DEFAULT_URL.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("nats-server was started but does not answer on {ADDRESS}")
}

/// Starts `nats-server` with JetStream on 127.0.0.1:`port`, keeping its
/// streams in `store`.
pub fn spawn_server(port: u16, store: &Path) -> std::io::Result<Child> {
    let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("nats-server");
    std::process::Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}
