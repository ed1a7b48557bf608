//! The connection to a Trellis server, the clients on it, and the short
//! forms of resource names the commands accept.

use std::{error::Error as _, time::Duration};

use tonic::{
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use trellis_access::oauth::{self, ClientCredentials, TokenError};
use trellis_proto::{
    access::v1::access_service_client::AccessServiceClient,
    cascade::v1::{
        cascade_service_client::CascadeServiceClient, org_service_client::OrgServiceClient,
        rhythm_service_client::RhythmServiceClient, webhook_service_client::WebhookServiceClient,
    },
    health::v1::health_metric_service_client::HealthMetricServiceClient,
    okr::v1::okr_service_client::OkrServiceClient,
    strategy::v1::strategy_service_client::StrategyServiceClient,
};

use crate::failure::Failure;

/// Season imports are large; the server accepts up to 64 MiB by default.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

pub type Conn = InterceptedService<Channel, Credentials>;

/// Who the CLI calls as: a bearer token for a server that authenticates
/// callers, and `x-trellis-actor` (recorded on changes by a server that
/// does not).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    actor: Option<MetadataValue<tonic::metadata::Ascii>>,
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Credentials {
    pub fn new(actor: Option<&str>, token: Option<&str>) -> Result<Credentials, Failure> {
        let actor = match actor.filter(|actor| !actor.is_empty()) {
            Some(actor) => Some(
                actor
                    .parse()
                    .map_err(|_| Failure::Usage(format!("--actor {actor:?} must be printable ASCII")))?,
            ),
            None => None,
        };
        let authorization = match token.map(str::trim).filter(|token| !token.is_empty()) {
            Some(token) => {
                let mut value: MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Failure::Usage("--token must be printable ASCII".to_owned()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Credentials { actor, authorization })
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(actor) = &self.actor {
            request.metadata_mut().insert("x-trellis-actor", actor.clone());
        }
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

/// A token from the issuer for a client of its own (the OAuth
/// client-credentials grant), asked for once per command.
pub async fn client_credentials_token(credentials: ClientCredentials) -> Result<String, Failure> {
    let http = oauth::http_client().map_err(|err| Failure::Usage(err.to_string()))?;
    match oauth::request_token(&http, &credentials).await {
        Ok(token) => Ok(token.token),
        Err(TokenError::Settings(reason)) => Err(Failure::Usage(reason)),
        Err(TokenError::Issuer(reason)) => Err(Failure::Issuer(reason)),
        Err(TokenError::Refused(reason)) => Err(Failure::Refused(reason)),
    }
}

/// Clients of every service, on one connection.
#[derive(Clone)]
pub struct Clients {
    pub org: OrgServiceClient<Conn>,
    /// Grants, served with the org units.
    pub access: AccessServiceClient<Conn>,
    pub strategy: StrategyServiceClient<Conn>,
    pub okr: OkrServiceClient<Conn>,
    pub health: HealthMetricServiceClient<Conn>,
    pub cascade: CascadeServiceClient<Conn>,
    /// Initiatives, weekly plans, the board and conversations, served by
    /// the cascade.
    pub rhythm: RhythmServiceClient<Conn>,
    /// Webhook subscriptions, served by the cascade.
    pub webhooks: WebhookServiceClient<Conn>,
}

/// `host:port` or a URL; `http://` is assumed.
pub fn server_url(server: &str) -> String {
    if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    }
}

/// The server of each service; the same one when they run together.
#[derive(Debug, Clone, Copy)]
pub struct Servers<'a> {
    pub strategy: &'a str,
    pub okr: &'a str,
    pub health: &'a str,
    /// The cascade and the org units.
    pub cascade: &'a str,
}

/// How the CLI reaches https:// servers: the CA it trusts, and its own
/// certificate for servers that ask for one.
#[derive(Debug, Default)]
pub struct Tls {
    ca: Option<Certificate>,
    identity: Option<Identity>,
}

impl Tls {
    pub fn load(ca: Option<&str>, identity: Option<(&str, &str)>) -> Result<Tls, Failure> {
        let read = |path: &str| {
            std::fs::read(path).map_err(|err| Failure::Io {
                path: path.to_owned(),
                reason: err.to_string(),
            })
        };
        Ok(Tls {
            ca: ca.map(read).transpose()?.map(Certificate::from_pem),
            identity: match identity {
                Some((cert, key)) => Some(Identity::from_pem(read(cert)?, read(key)?)),
                None => None,
            },
        })
    }

    fn config(&self, url: &str) -> Result<ClientTlsConfig, Failure> {
        let ca = self.ca.clone().ok_or_else(|| {
            Failure::Usage(format!(
                "{url} is https://: give --tls-ca, the CA its certificate chains to"
            ))
        })?;
        let mut config = ClientTlsConfig::new().ca_certificate(ca);
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        Ok(config)
    }
}

/// Connects once to each distinct server.
pub async fn connect(servers: &Servers<'_>, credentials: Credentials, tls: &Tls) -> Result<Clients, Failure> {
    let mut connected: Vec<(String, Conn)> = Vec::new();
    let mut conn_to = async |server: &str| -> Result<Conn, Failure> {
        let url = server_url(server);
        if let Some((_, conn)) = connected.iter().find(|(known, _)| *known == url) {
            return Ok(conn.clone());
        }
        let conn = InterceptedService::new(open(&url, tls).await?, credentials.clone());
        connected.push((url, conn.clone()));
        Ok(conn)
    };
    let cascade = conn_to(servers.cascade).await?;
    let strategy = conn_to(servers.strategy).await?;
    let okr = conn_to(servers.okr).await?;
    let health = conn_to(servers.health).await?;
    Ok(Clients {
        org: OrgServiceClient::new(cascade.clone()),
        access: AccessServiceClient::new(cascade.clone()),
        strategy: StrategyServiceClient::new(strategy),
        okr: OkrServiceClient::new(okr)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        health: HealthMetricServiceClient::new(health)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        rhythm: RhythmServiceClient::new(cascade.clone()),
        webhooks: WebhookServiceClient::new(cascade.clone()),
        cascade: CascadeServiceClient::new(cascade),
    })
}

async fn open(url: &str, tls: &Tls) -> Result<Channel, Failure> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|err| Failure::Usage(format!("server {url:?} is not a URL: {err}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if url.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls.config(url)?)
            .map_err(|err| Failure::Usage(format!("TLS for {url}: {err}")))?;
    }
    endpoint.connect().await.map_err(|err| Failure::Connect {
        server: url.to_owned(),
        reason: err
            .source()
            .map_or_else(|| err.to_string(), |source| source.to_string()),
    })
}

/// `id` as a name in `collection` ("objectives", "orgUnits", ...); a full
/// name is kept as it is.
pub fn named(collection: &str, id: &str) -> String {
    if id.contains('/') {
        id.to_owned()
    } else {
        format!("{collection}/{id}")
    }
}

/// A cycle as typed (`2027-Q1`, `cycles/2027-q1`) as its name; cycle ids
/// are lower case.
pub fn cycle_name(cycle: &str) -> String {
    if cycle.contains('/') {
        cycle.to_owned()
    } else {
        format!("cycles/{}", cycle.to_lowercase())
    }
}

/// The optional cycle filter of a cascade question.
pub fn optional_cycle(cycle: Option<&str>) -> String {
    cycle.map(cycle_name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_completed() {
        assert_eq!(named("objectives", "grow"), "objectives/grow");
        assert_eq!(named("objectives", "objectives/grow"), "objectives/grow");
        assert_eq!(cycle_name("2027-Q1"), "cycles/2027-q1");
        assert_eq!(cycle_name("cycles/2027-q1"), "cycles/2027-q1");
        assert_eq!(server_url("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(server_url("https://trellis.example"), "https://trellis.example");
    }
}
