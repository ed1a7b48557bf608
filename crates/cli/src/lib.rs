//! The `trellis` command-line client: a command per resource and per
//! cascade question, bulk imports with line-numbered errors, and the demo
//! organisation. The binary's `main.rs` parses and calls [`run`].

pub mod client;
pub mod commands;
pub mod demo;
pub mod failure;
pub mod import;
pub mod output;

use clap::{Args, Parser, Subcommand};
use trellis_access::oauth::ClientCredentials;

use crate::{
    client::{Credentials, Servers, Tls, connect},
    commands::{access, audit, cascade, cycle, health, okr, org, rhythm, strategy, webhook},
    failure::Failure,
    output::{Format, Printer},
};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the server failed, or something unexpected happened
  2  bad command line
  3  invalid input (the server's field violations, or bad rows in a file); nothing changed
  4  not found
  5  conflict: already exists, stale etag, or not allowed in the resource's state
  6  the server (or the token issuer) cannot be reached, or does not host that service
  7  no token, or one the server does not accept (--token, TRELLIS_TOKEN), or
     the issuer refused --client-id and --client-secret
  8  the caller may not do that
  9  `trellis audit verify` found a broken link in a feed's hash chain, or
     could not read every event";

#[derive(Debug, Parser)]
#[command(
    name = "trellis",
    version,
    about = "Trellis from the command line: strategies, OKRs, health metrics and the cascade",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The server, as a URL or host:port.
    #[arg(
        long,
        env = "TRELLIS_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub server: String,
    /// Where the services run apart (`trellis-server --services …`), the
    /// server of each; --server otherwise.
    #[arg(long, env = "TRELLIS_STRATEGY_SERVER", global = true)]
    pub strategy_server: Option<String>,
    #[arg(long, env = "TRELLIS_OKR_SERVER", global = true)]
    pub okr_server: Option<String>,
    #[arg(long, env = "TRELLIS_HEALTH_SERVER", global = true)]
    pub health_server: Option<String>,
    /// The cascade's server, which also holds the org units.
    #[arg(long, env = "TRELLIS_CASCADE_SERVER", global = true)]
    pub cascade_server: Option<String>,
    /// How answers are printed.
    #[arg(long, short = 'o', env = "TRELLIS_OUTPUT", value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// Who makes the changes, recorded on each (x-trellis-actor); defaults to $USER.
    #[arg(long, env = "TRELLIS_ACTOR", global = true)]
    pub actor: Option<String>,
    /// A bearer token for a server run with --auth-mode oidc (from your
    /// identity provider); sent as `authorization: Bearer <token>`.
    #[arg(long, env = "TRELLIS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Instead of --token: get one from the issuer with the OAuth
    /// client-credentials grant, as this client (with --client-secret and
    /// --issuer).
    #[arg(
        long,
        env = "TRELLIS_CLIENT_ID",
        global = true,
        conflicts_with = "token",
        requires_all = ["client_secret", "issuer"]
    )]
    pub client_id: Option<String>,
    /// The secret of --client-id (better in TRELLIS_CLIENT_SECRET than on
    /// the command line, where other users of the machine can see it).
    #[arg(
        long,
        env = "TRELLIS_CLIENT_SECRET",
        global = true,
        hide_env_values = true,
        requires = "client_id"
    )]
    pub client_secret: Option<String>,
    /// The issuer --client-id asks for a token: its URL, under which its
    /// discovery document (/.well-known/openid-configuration) names the
    /// token endpoint.
    #[arg(long, env = "TRELLIS_OIDC_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// Scopes to ask the issuer for (space-separated), if it wants them.
    #[arg(long, env = "TRELLIS_TOKEN_SCOPE", global = true)]
    pub scope: Option<String>,
    /// The API to ask the issuer for a token for (its `audience`
    /// parameter), for issuers that take one.
    #[arg(long, env = "TRELLIS_TOKEN_AUDIENCE", global = true)]
    pub audience: Option<String>,
    /// For https:// servers: the CA (PEM) their certificates chain to.
    #[arg(long, env = "TRELLIS_TLS_CA", global = true)]
    pub tls_ca: Option<String>,
    /// For servers that require client certificates (mTLS): yours (PEM),
    /// with --tls-client-key.
    #[arg(long, env = "TRELLIS_TLS_CLIENT_CERT", global = true, requires = "tls_client_key")]
    pub tls_client_cert: Option<String>,
    #[arg(long, env = "TRELLIS_TLS_CLIENT_KEY", global = true, requires = "tls_client_cert")]
    pub tls_client_key: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Org units: the company's structure.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Strategies: choices made and refused, and the assumptions behind them.
    #[command(subcommand)]
    Strategy(strategy::StrategyCommand),
    /// OKR cycles (quarters) and their lifecycle.
    #[command(subcommand)]
    Cycle(cycle::CycleCommand),
    /// Objectives, key results, check-ins and season imports.
    #[command(subcommand)]
    Okr(okr::OkrCommand),
    /// Health metrics (KPIs), measurements and their history.
    #[command(subcommand)]
    Health(health::HealthCommand),
    /// Grants: who holds which role on an org unit, and what you may do.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Alignment questions answered by the cascade, now or as of a past time.
    Cascade(cascade::CascadeArgs),
    /// A unit's Four Square for a week: priorities, OKRs, the pipeline of
    /// initiatives, health metrics.
    Board {
        unit: String,
        /// `2027-W05`; this week by default.
        #[arg(long)]
        week: Option<String>,
        /// Every unit below too, a page at a time.
        #[arg(long)]
        subtree: bool,
        #[command(flatten)]
        page: Page,
    },
    /// What a person owes (you by default): open conversations, missed
    /// check-ins escalated to them, this week's priorities without an outcome.
    Inbox {
        #[arg(long)]
        person: Option<String>,
    },
    /// Initiatives: the work, held to the strategy filter.
    #[command(subcommand)]
    Initiative(rhythm::InitiativeCommand),
    /// A unit's weekly priorities: plan, show, mark won or missed.
    #[command(subcommand)]
    Week(rhythm::WeekCommand),
    /// Conversations a change of colour or a missed check-in opened.
    #[command(subcommand)]
    Conversation(rhythm::ConversationCommand),
    /// The demo organisation.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// Signed webhooks: event types POSTed to a URL (admin of the org).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Checks on the stored history: that no change was altered after it
    /// was written.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Paging of a List call (AIP-158).
#[derive(Debug, Clone, Default, Args)]
pub struct Page {
    /// At most this many items (the server's default is 100, its cap 1000).
    #[arg(long, default_value_t = 0)]
    pub page_size: i32,
    /// The token printed after the previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let actor = cli.actor.clone().or_else(|| std::env::var("USER").ok());
    let servers = Servers {
        strategy: cli.strategy_server.as_deref().unwrap_or(&cli.server),
        okr: cli.okr_server.as_deref().unwrap_or(&cli.server),
        health: cli.health_server.as_deref().unwrap_or(&cli.server),
        cascade: cli.cascade_server.as_deref().unwrap_or(&cli.server),
    };
    let token = match (&cli.client_id, &cli.client_secret, &cli.issuer) {
        (Some(client_id), Some(client_secret), Some(issuer)) => Some(
            client::client_credentials_token(ClientCredentials {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scope: cli.scope.clone(),
                audience: cli.audience.clone(),
            })
            .await?,
        ),
        _ => cli.token.clone(),
    };
    let credentials = Credentials::new(actor.as_deref(), token.as_deref())?;
    let tls = Tls::load(
        cli.tls_ca.as_deref(),
        cli.tls_client_cert.as_deref().zip(cli.tls_client_key.as_deref()),
    )?;
    let clients = connect(&servers, credentials, &tls).await?;
    let printer = Printer { format: cli.output };
    match cli.command {
        Command::Org(command) => org::run(command, &clients, printer).await,
        Command::Strategy(command) => strategy::run(command, &clients, printer).await,
        Command::Cycle(command) => cycle::run(command, &clients, printer).await,
        Command::Okr(command) => okr::run(command, &clients, printer).await,
        Command::Health(command) => health::run(command, &clients, printer).await,
        Command::Cascade(command) => cascade::run(command, &clients, printer).await,
        Command::Access(command) => access::run(command, &clients, printer).await,
        Command::Board {
            unit,
            week,
            subtree,
            page,
        } => rhythm::board(unit, week, subtree, page, &clients, printer).await,
        Command::Inbox { person } => rhythm::inbox(person, &clients, printer).await,
        Command::Initiative(command) => rhythm::initiative(command, &clients, printer).await,
        Command::Week(command) => rhythm::week(command, &clients, printer).await,
        Command::Conversation(command) => rhythm::conversation(command, &clients, printer).await,
        Command::Demo(command) => demo::run(command, &clients, printer).await,
        Command::Audit(command) => audit::run(command, &clients, printer).await,
        Command::Webhook(command) => webhook::run(command, &clients, printer).await,
    }
}
