//! Typed settings, layered with figment: defaults, then a TOML file
//! (`--config`), then `TRELLIS_*` environment variables, then flags. A file
//! with an unknown key is refused, and so is an unknown service name or a
//! malformed address.

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::PathBuf,
    str::FromStr,
};

use figment::{
    Figment,
    providers::{Format, Toml},
};
use serde::{Deserialize, Deserializer};

mod flags;

pub use flags::Flags;

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

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    None,
    Oidc,
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
    /// `none` (no credentials: loopback only, unless `insecure_no_auth`)
    /// or `oidc` (every call needs a verified bearer token).
    pub auth_mode: AuthMode,
    /// The issuer tokens must name (`iss`), with `oidc`.
    pub oidc_issuer: Option<String>,
    /// The audience tokens must name (`aud`), with `oidc`.
    pub oidc_audience: Option<String>,
    /// The issuer's keys: `https://` or `http://` (a JWKS endpoint) or
    /// `file://` (a JWKS file), with `oidc`.
    pub oidc_jwks_url: Option<String>,
    /// The claims holding a caller's email and groups.
    pub oidc_email_claim: String,
    pub oidc_groups_claim: String,
    /// Serve `none` on a non-loopback address anyway.
    pub insecure_no_auth: bool,
    /// A file holding the bearer token this process presents when it
    /// calls its peers on its own behalf (escalation steps, sweeps); read
    /// again when it changes, so a rotated token is picked up.
    pub service_token_file: Option<PathBuf>,
    /// Instead of a token file: the client this process gets its token
    /// as, from the issuer's token endpoint (the client-credentials grant),
    /// its secret's file, and the scopes it asks for.
    pub service_client_id: Option<String>,
    pub service_client_secret_file: Option<PathBuf>,
    pub service_token_scope: Option<String>,
    /// Token subjects that are Trellis's services run apart: each such
    /// token is that service's principal.
    #[serde(deserialize_with = "service_subjects_from_text")]
    pub oidc_service_subjects: Vec<ServiceSubject>,
    /// A Cedar policy replacing the default one, with `oidc`.
    pub policy_file: Option<PathBuf>,
    /// Made admin of the whole org when the org root has no grants yet
    /// (the first start): `user:…`, `serviceAccount:…` or a bare subject.
    pub bootstrap_admin: Option<String>,
    /// Requests a second each verified principal may make (a burst of
    /// twice that), with `oidc`; 0 is no quota. Trellis's own services are
    /// not held to it.
    pub principal_quota_per_second: u32,
    /// TLS: the certificate chain and key served (both or neither).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// mTLS: clients must present a certificate issued by this CA.
    pub tls_client_ca: Option<PathBuf>,
    /// The CA trusted for https:// peers and for calls to itself.
    pub tls_peer_ca: Option<PathBuf>,
    /// The name in this server's certificate, for calls to itself.
    pub tls_server_name: String,
    /// A second address answering health checks only, in plaintext and
    /// without credentials (what a check answers is no secret).
    pub health_listen: Option<SocketAddr>,
    /// Where the Prometheus scrape endpoint answers (`GET /metrics`).
    pub metrics_listen: Option<SocketAddr>,
    /// More metrics than this for one accountable person is flagged.
    pub max_metrics_per_person: usize,
    /// How often missed check-ins are looked for.
    pub rhythm_sweep_seconds: u64,
    /// How often the cascade snapshots its graph (0: only at shutdown).
    pub snapshot_interval_seconds: u64,
    /// Snapshots kept (default 3); 0 keeps none, and every start replays
    /// the feeds.
    pub snapshot_retention: usize,
    /// Beyond those, the first snapshot of each day for this many days
    /// (default 0: none), so an as-of question that far back starts near
    /// its time instead of replaying from the start.
    pub snapshot_daily_days: u32,
    /// Where each feed's events are relayed (`nats://host:port`); none:
    /// not relayed.
    pub events_nats_url: Option<String>,
    /// The JetStream stream the events go to (made if missing).
    pub events_stream: String,
    /// The first token of every event's subject.
    pub events_subject_prefix: String,
    /// How long the stream keeps events.
    pub events_retention_days: u64,
    /// The feeds relayed, of those this process serves (default: all).
    #[serde(deserialize_with = "services_from_text")]
    pub events_services: Vec<ServiceName>,
    /// Graphs of past times kept for as-of questions (each the size of the
    /// live graph); 0 builds each one afresh.
    pub as_of_cached_graphs: usize,
    /// Attempts at a webhook delivery before it is dead-lettered.
    pub webhook_max_attempts: u32,
    /// The wait before a delivery's second attempt; doubled after each
    /// failure, up to `webhook_max_retry_seconds`.
    pub webhook_first_retry_millis: u64,
    pub webhook_max_retry_seconds: u64,
    /// How long delivered and dead-lettered deliveries are kept.
    pub webhook_retention_days: u64,
    /// Not a setting: for tests, how far ahead of the clock the rhythm's
    /// calendar runs (a plan locking without a week's wait).
    #[serde(skip)]
    pub rhythm_clock_offset_seconds: i64,
    /// Not a setting: for restart tests, the escalation step after which
    /// the health service's step runner stops as if the process had died.
    #[serde(skip)]
    pub health_fail_point: Option<String>,
    /// Not a setting: for tests, where OTLP metrics go and how often,
    /// instead of `OTEL_EXPORTER_OTLP_ENDPOINT` (one process's
    /// environment, shared by every server a test runs).
    #[serde(skip)]
    pub otlp_metrics: Option<(String, std::time::Duration)>,
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
            auth_mode: AuthMode::None,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_jwks_url: None,
            oidc_email_claim: "email".to_owned(),
            oidc_groups_claim: "groups".to_owned(),
            insecure_no_auth: false,
            service_token_file: None,
            service_client_id: None,
            service_client_secret_file: None,
            service_token_scope: None,
            oidc_service_subjects: Vec::new(),
            policy_file: None,
            bootstrap_admin: None,
            principal_quota_per_second: DEFAULT_PRINCIPAL_QUOTA_PER_SECOND,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_peer_ca: None,
            tls_server_name: "localhost".to_owned(),
            health_listen: None,
            metrics_listen: None,
            max_metrics_per_person: trellis_cascade::DEFAULT_MAX_METRICS_PER_PERSON,
            rhythm_sweep_seconds: 30,
            snapshot_interval_seconds: 300,
            snapshot_retention: 3,
            snapshot_daily_days: 0,
            as_of_cached_graphs: 2,
            webhook_max_attempts: 10,
            webhook_first_retry_millis: 1_000,
            webhook_max_retry_seconds: 3_600,
            webhook_retention_days: 7,
            events_nats_url: None,
            events_stream: "TRELLIS".to_owned(),
            events_subject_prefix: "trellis".to_owned(),
            events_retention_days: 30,
            events_services: ServiceName::ALL.to_vec(),
            rhythm_clock_offset_seconds: 0,
            otlp_metrics: None,
            health_fail_point: None,
        }
    }
}

/// A token subject that is one of Trellis's services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSubject {
    /// `trellis-okr`, `trellis-cascade`, ...
    pub service: String,
    pub subject: String,
}

/// `trellis-okr=SUBJECT,trellis-cascade=SUBJECT,...`
pub fn parse_service_subjects(text: &str) -> Result<Vec<ServiceSubject>, String> {
    let mut parsed: Vec<ServiceSubject> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let Some((service, subject)) = part.split_once('=') else {
            return Err(format!("{part:?} is not SERVICE=SUBJECT"));
        };
        let (service, subject) = (service.trim(), subject.trim());
        if !crate::auth::SERVICES.contains(&service) {
            return Err(format!(
                "{service:?} is not one of Trellis's services ({})",
                crate::auth::SERVICES.join(", ")
            ));
        }
        if subject.is_empty() {
            return Err(format!("{service} has no subject"));
        }
        if parsed.iter().any(|known| known.subject == subject) {
            return Err(format!("the subject {subject:?} is given twice"));
        }
        parsed.push(ServiceSubject {
            service: service.to_owned(),
            subject: subject.to_owned(),
        });
    }
    Ok(parsed)
}

fn service_subjects_from_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ServiceSubject>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_service_subjects(&text).map_err(serde::de::Error::custom)
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
        // NATS names: subject tokens and stream names of plain characters.
        let plain =
            |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !self.events_subject_prefix.split('.').all(plain) {
            return Err(format!(
                "events_subject_prefix must be dot-separated tokens of letters, digits, - and _, got {:?}",
                self.events_subject_prefix
            ));
        }
        if !plain(&self.events_stream) {
            return Err(format!(
                "events_stream must be letters, digits, - and _, got {:?}",
                self.events_stream
            ));
        }
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
        self.validate_auth()?;
        self.validate_tls()?;
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
            ("max_metrics_per_person", self.max_metrics_per_person as u64),
            ("rhythm_sweep_seconds", self.rhythm_sweep_seconds),
            ("events_retention_days", self.events_retention_days),
            ("webhook_max_attempts", u64::from(self.webhook_max_attempts)),
            ("webhook_first_retry_millis", self.webhook_first_retry_millis),
            ("webhook_max_retry_seconds", self.webhook_max_retry_seconds),
            ("webhook_retention_days", self.webhook_retention_days),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// Whether this server serves TLS.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    fn validate_tls(&self) -> Result<(), String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("tls_cert and tls_key go together: give both or neither".to_owned());
            }
            (None, None) if self.tls_client_ca.is_some() => {
                return Err("tls_client_ca (mTLS) needs the server to serve TLS: give tls_cert and tls_key".to_owned());
            }
            _ => {}
        }
        if self.serves_tls() && self.tls_peer_ca.is_none() && self.tls_client_ca.is_none() {
            return Err(
                "a TLS server calls itself (and its peers) over TLS: give tls_peer_ca, the CA its certificate \
                 chains to"
                    .to_owned(),
            );
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), String> {
        match self.auth_mode {
            AuthMode::Oidc => {
                for (name, value) in [
                    ("oidc_issuer", &self.oidc_issuer),
                    ("oidc_audience", &self.oidc_audience),
                    ("oidc_jwks_url", &self.oidc_jwks_url),
                ] {
                    if value.as_deref().is_none_or(|value| value.trim().is_empty()) {
                        return Err(format!("auth_mode oidc needs {name}"));
                    }
                }
                match (
                    &self.service_client_id,
                    &self.service_client_secret_file,
                    &self.service_token_file,
                ) {
                    (Some(_), None, _) | (None, Some(_), _) => Err(
                        "service_client_id and service_client_secret_file go together: give both or neither".to_owned(),
                    ),
                    (Some(_), Some(_), Some(_)) => Err(
                        "give service_token_file or service_client_id (a token of the issuer's), not both".to_owned(),
                    ),
                    _ => Ok(()),
                }
            }
            AuthMode::None if !self.listen.ip().is_loopback() && !self.insecure_no_auth => Err(format!(
                "refusing to serve {} without authentication: anyone who reaches it could read and change \
                 everything. Use --auth-mode oidc (see the README, \"Securing Trellis\"), listen on a loopback \
                 address, or pass --insecure-no-auth if something in front of Trellis authenticates callers",
                self.listen
            )),
            AuthMode::None => Ok(()),
        }
    }
}

/// Large enough for a batch of 50,000 org units or 10,000 measurements; a
/// season import streams its rows one message each.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
/// Far above what a person or a script of one team makes, low enough that
/// one runaway client cannot take the whole server.
pub const DEFAULT_PRINCIPAL_QUOTA_PER_SECOND: u32 = 2_000;
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

#[cfg(test)]
mod tests;
