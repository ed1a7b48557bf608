//! The command line as the last settings layer: every flag has a
//! `TRELLIS_*` twin (read by clap), and only what was given overrides the
//! file and the defaults.

use std::path::PathBuf;

use clap::Parser;
use figment::{
    Metadata, Profile, Provider,
    value::{Dict, Map, Value},
};
use serde::Serialize;

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
    /// `none` (the default: no credentials, loopback addresses only) or
    /// `oidc` (every call needs a bearer token from the issuer).
    #[arg(long, env = "TRELLIS_AUTH_MODE", value_parser = ["none", "oidc"])]
    pub auth_mode: Option<String>,
    /// With oidc: the issuer tokens must come from (their `iss`).
    #[arg(long, env = "TRELLIS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// With oidc: the audience tokens must be for (their `aud`).
    #[arg(long, env = "TRELLIS_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// With oidc: the issuer's keys, an https:// (or http://) JWKS URL or
    /// a file:// path; read again on an unknown key id.
    #[arg(long, env = "TRELLIS_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// The token claim holding the caller's email (default `email`).
    #[arg(long, env = "TRELLIS_OIDC_EMAIL_CLAIM")]
    pub oidc_email_claim: Option<String>,
    /// The token claim holding the caller's groups (default `groups`).
    #[arg(long, env = "TRELLIS_OIDC_GROUPS_CLAIM")]
    pub oidc_groups_claim: Option<String>,
    /// Serve without authentication on a non-loopback address (only when
    /// something in front of Trellis authenticates every caller).
    #[arg(long, env = "TRELLIS_INSECURE_NO_AUTH", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_no_auth: Option<bool>,
    /// With oidc: a file with the bearer token this process presents to
    /// its peers for the work it does on its own (read again when changed).
    #[arg(long, env = "TRELLIS_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,
    /// With oidc: instead of --service-token-file, get this process's
    /// token from the issuer (--oidc-issuer) with the OAuth
    /// client-credentials grant as this client, renewed before it expires.
    #[arg(long, env = "TRELLIS_SERVICE_CLIENT_ID")]
    pub service_client_id: Option<String>,
    /// The file holding --service-client-id's secret.
    #[arg(long, env = "TRELLIS_SERVICE_CLIENT_SECRET_FILE")]
    pub service_client_secret_file: Option<PathBuf>,
    /// Scopes --service-client-id asks the issuer for, if it wants them.
    #[arg(long, env = "TRELLIS_SERVICE_TOKEN_SCOPE")]
    pub service_token_scope: Option<String>,
    /// With oidc: which token subjects are Trellis's services run apart,
    /// as `trellis-okr=SUBJECT,trellis-cascade=SUBJECT,...`; a token with
    /// such a subject is that service, with what the policy gives it.
    #[arg(long, env = "TRELLIS_OIDC_SERVICE_SUBJECTS")]
    pub oidc_service_subjects: Option<String>,
    /// With oidc: a Cedar policy file deciding who may do what, in place
    /// of the default one (checked against the schema at start).
    #[arg(long, env = "TRELLIS_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// A principal (`user:SUB_OR_EMAIL`, `serviceAccount:NAME`, or a bare
    /// subject) made admin of the whole org on first start.
    #[arg(long, env = "TRELLIS_BOOTSTRAP_ADMIN")]
    pub bootstrap_admin: Option<String>,
    /// With oidc: requests a second each principal may make (twice that
    /// in a burst); more are RESOURCE_EXHAUSTED. 0 turns quotas off.
    #[arg(long, env = "TRELLIS_PRINCIPAL_QUOTA_PER_SECOND")]
    pub principal_quota_per_second: Option<u32>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "TRELLIS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TRELLIS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Require clients to present a certificate issued by this CA (mTLS).
    #[arg(long, env = "TRELLIS_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// The CA this process trusts for https:// peers and for its calls to
    /// itself (default: --tls-client-ca).
    #[arg(long, env = "TRELLIS_TLS_PEER_CA")]
    pub tls_peer_ca: Option<PathBuf>,
    /// The name this server's certificate holds, for its calls to itself
    /// (default `localhost`).
    #[arg(long, env = "TRELLIS_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// Also answer health checks (grpc.health.v1 only, without TLS or
    /// credentials) on this address, for probes that cannot speak TLS
    /// (Kubernetes' gRPC probes).
    #[arg(long, env = "TRELLIS_HEALTH_LISTEN")]
    pub health_listen: Option<String>,
    /// Serve the Prometheus scrape endpoint (`GET /metrics`, plaintext, no
    /// credentials) on this address: per-RPC calls, errors and latency,
    /// feed heads and lags, the relay's lag, pending escalation steps,
    /// group-commit batch sizes, the cascade graph's size.
    #[arg(long, env = "TRELLIS_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// A person accountable for more health metrics than this is flagged
    /// (ListAccountabilitySpread; default 3).
    #[arg(long, env = "TRELLIS_MAX_METRICS_PER_PERSON")]
    pub max_metrics_per_person: Option<usize>,
    /// How often the cascade looks for key results past their cadence
    /// without a check-in, in seconds (default 30).
    #[arg(long, env = "TRELLIS_RHYTHM_SWEEP_SECONDS")]
    pub rhythm_sweep_seconds: Option<u64>,
    /// How often the cascade snapshots its graph, in seconds (default 300;
    /// 0: only at shutdown).
    #[arg(long, env = "TRELLIS_SNAPSHOT_INTERVAL_SECONDS")]
    pub snapshot_interval_seconds: Option<u64>,
    /// Snapshots of the graph kept (default 3; 0 keeps none, and every
    /// start replays the feeds).
    #[arg(long, env = "TRELLIS_SNAPSHOT_RETENTION")]
    pub snapshot_retention: Option<usize>,
    /// Beyond the newest snapshots, the first of each day for this many
    /// days (default 0): as-of questions that far back start near their
    /// time instead of replaying the feeds from the start.
    #[arg(long, env = "TRELLIS_SNAPSHOT_DAILY_DAYS")]
    pub snapshot_daily_days: Option<u32>,
    /// Relay every feed event as a CloudEvent to this NATS server's
    /// JetStream (`nats://host:4222`); unset: events stay in the feeds.
    #[arg(long, env = "TRELLIS_EVENTS_NATS_URL")]
    pub events_nats_url: Option<String>,
    /// The JetStream stream the events go to, made if missing (default
    /// TRELLIS).
    #[arg(long, env = "TRELLIS_EVENTS_STREAM")]
    pub events_stream: Option<String>,
    /// The first token of the events' subjects (default trellis).
    #[arg(long, env = "TRELLIS_EVENTS_SUBJECT_PREFIX")]
    pub events_subject_prefix: Option<String>,
    /// How many days the stream keeps events (default 30).
    #[arg(long, env = "TRELLIS_EVENTS_RETENTION_DAYS")]
    pub events_retention_days: Option<u64>,
    /// The feeds relayed, of those this process serves: `all` or a list
    /// of strategy,okr,health,cascade (default all).
    #[arg(long, env = "TRELLIS_EVENTS_SERVICES")]
    pub events_services: Option<String>,
    /// Graphs of past times kept for as-of questions, each the size of the
    /// live graph (default 2; 0 builds each one afresh).
    #[arg(long, env = "TRELLIS_AS_OF_CACHED_GRAPHS")]
    pub as_of_cached_graphs: Option<usize>,
    /// Attempts at a webhook delivery before it is dead-lettered (default
    /// 10).
    #[arg(long, env = "TRELLIS_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    /// The wait before a webhook delivery's second attempt, doubled after
    /// each failure (default 1000).
    #[arg(long, env = "TRELLIS_WEBHOOK_FIRST_RETRY_MILLIS")]
    pub webhook_first_retry_millis: Option<u64>,
    /// The longest wait between attempts (default 3600).
    #[arg(long, env = "TRELLIS_WEBHOOK_MAX_RETRY_SECONDS")]
    pub webhook_max_retry_seconds: Option<u64>,
    /// How many days delivered and dead-lettered deliveries are listed
    /// (default 7).
    #[arg(long, env = "TRELLIS_WEBHOOK_RETENTION_DAYS")]
    pub webhook_retention_days: Option<u64>,
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
