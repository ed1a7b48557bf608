//! Typed settings, layered with figment: defaults, then a TOML file
//! (`--config`), then `TRELLIS_*` environment variables, then flags. A file
//! with an unknown key is refused, and so is an unknown service name or a
//! malformed address.

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::PathBuf,
    str::FromStr,
};

use clap::Parser;
use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Format, Toml},
    value::{Dict, Map, Value},
};
use serde::{Deserialize, Deserializer, Serialize};

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50051));
pub const DEFAULT_DATABASE_URL: &str = "sqlite://trellis.db";

/// The services a process can host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceName {
    Strategy,
    Okr,
    Health,
    Cascade,
}

impl ServiceName {
    pub const ALL: [ServiceName; 4] = [
        ServiceName::Strategy,
        ServiceName::Okr,
        ServiceName::Health,
        ServiceName::Cascade,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Strategy => "strategy",
            ServiceName::Okr => "okr",
            ServiceName::Health => "health",
            ServiceName::Cascade => "cascade",
        }
    }
}

impl FromStr for ServiceName {
    type Err = String;

    fn from_str(text: &str) -> Result<ServiceName, String> {
        ServiceName::ALL
            .into_iter()
            .find(|service| service.as_str() == text.trim())
            .ok_or_else(|| format!("unknown service {text:?}; known: strategy, okr, health, cascade, or all"))
    }
}

/// `all`, or a comma-separated list.
pub fn parse_services(text: &str) -> Result<Vec<ServiceName>, String> {
    if text.trim() == "all" {
        return Ok(ServiceName::ALL.to_vec());
    }
    let mut services = Vec::new();
    for part in text.split(',').filter(|part| !part.trim().is_empty()) {
        let service: ServiceName = part.parse()?;
        if !services.contains(&service) {
            services.push(service);
        }
    }
    if services.is_empty() {
        return Err("no service to run".to_owned());
    }
    Ok(services)
}

/// Settings as resolved, ready to start a server with. Every field is a
/// file key of the same name, a flag with dashes, and a `TRELLIS_*`
/// variable in capitals; a key left out takes its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    #[serde(deserialize_with = "services_from_text")]
    pub services: Vec<ServiceName>,
    /// Peers' addresses (`http://host:port`); `None` means this process.
    pub peer_strategy: Option<String>,
    pub peer_okr: Option<String>,
    pub peer_health: Option<String>,
    pub peer_cascade: Option<String>,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace_seconds: u64,
    /// How long the health step runner's lease holds without renewal: how
    /// soon a standby health replica takes over from one that died.
    pub health_runner_lease_seconds: u64,
    /// Connections open at once; more are closed as they are accepted.
    pub max_connections: usize,
    /// Seconds a connection with no request in flight stays open.
    pub connection_idle_seconds: u64,
    /// HTTP/2 streams (calls) a connection may have open at once.
    pub max_streams_per_connection: u32,
    /// Seconds between HTTP/2 keepalive pings (a peer that does not answer
    /// within 20 seconds is dropped).
    pub keepalive_seconds: u64,
    /// Change and alignment streams (WatchChanges, WatchAlignment) open at once.
    pub max_watchers: usize,
    /// Season imports (ImportSeason streams) running at once.
    pub max_imports: usize,
    /// Seconds a change stream whose client reads nothing is kept.
    pub watch_stall_seconds: u64,
    /// Unary calls from clients in flight at once; more are shed.
    pub max_concurrent_calls: usize,
    /// Seconds a unary call may run.
    pub call_timeout_seconds: u64,
    /// Not a setting: for restart tests, the escalation step after which
    /// the health service's step runner stops as if the process had died.
    #[serde(skip)]
    pub health_fail_point: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: DEFAULT_LISTEN,
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            services: ServiceName::ALL.to_vec(),
            peer_strategy: None,
            peer_okr: None,
            peer_health: None,
            peer_cascade: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE_SECONDS,
            health_runner_lease_seconds: DEFAULT_HEALTH_RUNNER_LEASE_SECONDS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connection_idle_seconds: DEFAULT_CONNECTION_IDLE_SECONDS,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            keepalive_seconds: DEFAULT_KEEPALIVE_SECONDS,
            max_watchers: DEFAULT_MAX_WATCHERS,
            max_imports: DEFAULT_MAX_IMPORTS,
            watch_stall_seconds: DEFAULT_WATCH_STALL_SECONDS,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            call_timeout_seconds: DEFAULT_CALL_TIMEOUT_SECONDS,
            health_fail_point: None,
        }
    }
}

fn services_from_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ServiceName>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_services(&text).map_err(serde::de::Error::custom)
}

impl Settings {
    /// Defaults with the given database, on a free loopback port; for
    /// tests and tools.
    pub fn with_database(database_url: impl Into<String>) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            ..Settings::default()
        }
    }

    /// Layers the file (`--config`) over the defaults and the flags, each
    /// given or taken from its `TRELLIS_*` variable by clap, over the file.
    pub fn load(flags: Flags) -> Result<Settings, String> {
        let mut layers = Figment::new();
        if let Some(path) = &flags.config {
            if !path.is_file() {
                return Err(format!("reading {}: no such file", path.display()));
            }
            layers = layers.merge(Toml::file_exact(path));
        }
        let settings: Settings = layers.merge(flags).extract().map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), String> {
        for (name, peer) in [
            ("peer_strategy", &self.peer_strategy),
            ("peer_okr", &self.peer_okr),
            ("peer_health", &self.peer_health),
            ("peer_cascade", &self.peer_cascade),
        ] {
            if let Some(peer) = peer
                && !(peer.starts_with("http://") || peer.starts_with("https://"))
            {
                return Err(format!("{name} must be an http:// or https:// url, got {peer:?}"));
            }
        }
        if self.max_message_bytes < 1024 {
            return Err("max_message_bytes must be at least 1024".to_owned());
        }
        for (name, value) in [
            ("health_runner_lease_seconds", self.health_runner_lease_seconds),
            ("connection_idle_seconds", self.connection_idle_seconds),
            ("keepalive_seconds", self.keepalive_seconds),
            ("max_connections", self.max_connections as u64),
            ("max_streams_per_connection", u64::from(self.max_streams_per_connection)),
            ("max_watchers", self.max_watchers as u64),
            ("max_imports", self.max_imports as u64),
            ("watch_stall_seconds", self.watch_stall_seconds),
            ("max_concurrent_calls", self.max_concurrent_calls as u64),
            ("call_timeout_seconds", self.call_timeout_seconds),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Large enough for a batch of 50,000 org units or 10,000 measurements; a
/// season import streams its rows one message each.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
pub const DEFAULT_CONNECTION_IDLE_SECONDS: u64 = 300;
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 256;
pub const DEFAULT_KEEPALIVE_SECONDS: u64 = 60;
pub const DEFAULT_MAX_WATCHERS: usize = 256;
pub const DEFAULT_MAX_IMPORTS: usize = 4;
pub const DEFAULT_WATCH_STALL_SECONDS: u64 = trellis_foundation::feed::DEFAULT_WATCH_STALL.as_secs();
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1_024;
pub const DEFAULT_CALL_TIMEOUT_SECONDS: u64 = 60;
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 20;
pub const DEFAULT_HEALTH_RUNNER_LEASE_SECONDS: u64 = trellis_health::DEFAULT_RUNNER_LEASE.as_secs();

/// The command line; every flag has a `TRELLIS_*` twin.
#[derive(Debug, Default, Parser, Serialize)]
#[command(
    name = "trellis-server",
    version,
    about = "Trellis: strategy, OKRs, health metrics and the cascade, over gRPC"
)]
pub struct Flags {
    /// Address to listen on (host:port; port 0 picks a free one).
    #[arg(long, env = "TRELLIS_LISTEN")]
    pub listen: Option<String>,
    /// sqlite://path (created on first start) or postgres://user@host/db.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `all`, or a comma-separated list of strategy, okr, health, cascade.
    #[arg(long, env = "TRELLIS_SERVICES")]
    pub services: Option<String>,
    /// A TOML file of settings (keys as the long flags, with underscores).
    #[arg(long, env = "TRELLIS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "TRELLIS_PEER_STRATEGY")]
    pub peer_strategy: Option<String>,
    #[arg(long, env = "TRELLIS_PEER_OKR")]
    pub peer_okr: Option<String>,
    #[arg(long, env = "TRELLIS_PEER_HEALTH")]
    pub peer_health: Option<String>,
    #[arg(long, env = "TRELLIS_PEER_CASCADE")]
    pub peer_cascade: Option<String>,
    /// Largest gRPC message in bytes (default 16 MiB); a larger request is
    /// refused RESOURCE_EXHAUSTED before it is buffered.
    #[arg(long, env = "TRELLIS_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Seconds a graceful shutdown waits for in-flight requests.
    #[arg(long, env = "TRELLIS_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Seconds the health step runner's lease holds unless renewed: health
    /// replicas on one database take turns running escalation steps, and a
    /// standby takes over this long after the holder dies (default 15).
    #[arg(long, env = "TRELLIS_HEALTH_RUNNER_LEASE_SECONDS")]
    pub health_runner_lease_seconds: Option<u64>,
    /// Connections open at once (default 4096); more are closed on accept.
    #[arg(long, env = "TRELLIS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection with no call in flight stays open (default 300).
    #[arg(long, env = "TRELLIS_CONNECTION_IDLE_SECONDS")]
    pub connection_idle_seconds: Option<u64>,
    /// Calls a connection may have open at once, advertised as HTTP/2
    /// MAX_CONCURRENT_STREAMS (default 256).
    #[arg(long, env = "TRELLIS_MAX_STREAMS_PER_CONNECTION")]
    pub max_streams_per_connection: Option<u32>,
    /// Seconds between HTTP/2 keepalive pings; a client that does not
    /// answer within 20 seconds is dropped (default 60).
    #[arg(long, env = "TRELLIS_KEEPALIVE_SECONDS")]
    pub keepalive_seconds: Option<u64>,
    /// WatchChanges and WatchAlignment streams open at once (default 256);
    /// more are refused RESOURCE_EXHAUSTED.
    #[arg(long, env = "TRELLIS_MAX_WATCHERS")]
    pub max_watchers: Option<usize>,
    /// Season imports running at once (default 4); more are refused
    /// RESOURCE_EXHAUSTED.
    #[arg(long, env = "TRELLIS_MAX_IMPORTS")]
    pub max_imports: Option<usize>,
    /// Seconds a WatchChanges stream whose client reads nothing (its
    /// buffer full) is kept before it is dropped with RESOURCE_EXHAUSTED
    /// (default 30).
    #[arg(long, env = "TRELLIS_WATCH_STALL_SECONDS")]
    pub watch_stall_seconds: Option<u64>,
    /// Unary calls from clients in flight at once (default 1024); more are
    /// shed at once with UNAVAILABLE rather than queued.
    #[arg(long, env = "TRELLIS_MAX_CONCURRENT_CALLS")]
    pub max_concurrent_calls: Option<usize>,
    /// Seconds a unary call may run before it is cut with DEADLINE_EXCEEDED
    /// (default 60; a client's shorter grpc-timeout applies too).
    #[arg(long, env = "TRELLIS_CALL_TIMEOUT_SECONDS")]
    pub call_timeout_seconds: Option<u64>,
}

/// Every problem figment found, each naming its key and where it came
/// from (figment's own message prefixes keys with a profile Trellis does
/// not use).
fn describe(errors: figment::Error) -> String {
    let problems: Vec<String> = errors
        .into_iter()
        .map(|error| {
            let source = error.metadata.as_ref().map_or_else(
                || "settings".to_owned(),
                |metadata| match &metadata.source {
                    Some(source) => format!("{} {source}", metadata.name),
                    None => metadata.name.to_string(),
                },
            );
            let key = error.path.join(".");
            if key.is_empty() {
                format!("{source}: {}", error.kind)
            } else {
                format!("{source}: {key}: {}", error.kind)
            }
        })
        .collect();
    problems.join("; ")
}

/// The flags (and their variables) as one more layer: only what was
/// given, so an absent flag leaves the file's value or the default.
impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        Metadata::named("flags and TRELLIS_* variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut given = match Value::serialize(self)? {
            Value::Dict(_, dict) => dict,
            other => return Err(figment::Error::from(format!("flags serialized as {other:?}"))),
        };
        given.retain(|_, value| !matches!(value, Value::Empty(..)));
        Ok(Profile::Default.collect(given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_all_lists_and_refuse_unknown_names() {
        assert_eq!(parse_services("all").ok(), Some(ServiceName::ALL.to_vec()));
        assert_eq!(parse_services("health").ok(), Some(vec![ServiceName::Health]));
        assert_eq!(
            parse_services("cascade, strategy").ok(),
            Some(vec![ServiceName::Cascade, ServiceName::Strategy])
        );
        assert!(parse_services("strategy,billing").is_err());
        assert!(parse_services("").is_err());
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let path = dir.path().join("trellis.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndatabase_url = \"sqlite://from-file.db\"\n",
        )
        .map_err(|err| err.to_string())?;
        let flags = Flags {
            config: Some(path),
            database_url: Some("sqlite://from-flag.db".into()),
            ..Flags::default()
        };
        let settings = Settings::load(flags)?;
        assert_eq!(settings.listen.port(), 6000);
        assert_eq!(settings.database_url, "sqlite://from-flag.db");
        Ok(())
    }

    #[test]
    fn a_bad_value_names_its_key_and_its_layer() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let path = dir.path().join("trellis.toml");
        std::fs::write(&path, "max_watchers = -3\n").map_err(|err| err.to_string())?;
        let from_file = Settings::load(Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .err()
        .unwrap_or_default();
        assert!(
            from_file.contains("max_watchers") && from_file.contains(&path.display().to_string()),
            "{from_file}"
        );
        let flags = Flags::try_parse_from([
            "trellis-server",
            "--config",
            &path.display().to_string(),
            "--max-watchers",
            "9",
        ])
        .map_err(|err| err.to_string())?;
        assert_eq!(
            Settings::load(flags)?.max_watchers,
            9,
            "a flag covers the file's bad value"
        );
        let from_flag = Settings::load(Flags {
            services: Some("strategy,billing".into()),
            ..Flags::default()
        })
        .err()
        .unwrap_or_default();
        assert!(
            from_flag.contains("services") && from_flag.contains("billing"),
            "{from_flag}"
        );
        Ok(())
    }

    #[test]
    fn unknown_file_keys_are_refused() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let path = dir.path().join("trellis.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:6000\"\nlisten_port = 7\n").map_err(|err| err.to_string())?;
        let error = Settings::load(Flags {
            config: Some(path),
            ..Flags::default()
        })
        .err()
        .unwrap_or_default();
        assert!(error.contains("listen_port"), "{error}");
        Ok(())
    }

    #[test]
    fn the_health_runner_lease_defaults_to_fifteen_seconds_and_is_never_zero() -> Result<(), String> {
        assert_eq!(Settings::load(Flags::default())?.health_runner_lease_seconds, 15);
        let flags = Flags::try_parse_from(["trellis-server", "--health-runner-lease-seconds", "4"])
            .map_err(|err| err.to_string())?;
        assert_eq!(Settings::load(flags)?.health_runner_lease_seconds, 4);
        let error = Settings::load(Flags {
            health_runner_lease_seconds: Some(0),
            ..Flags::default()
        })
        .err()
        .unwrap_or_default();
        assert!(error.contains("health_runner_lease_seconds"), "{error}");
        Ok(())
    }
}
