//! An OIDC issuer for tests: it signs tokens with an RSA key (RS256) and
//! P-256 keys (ES256) and serves, over plain HTTP on a loopback port, its
//! discovery document, its public keys as a JWKS, and a token endpoint
//! giving tokens to registered clients (the client-credentials grant). So
//! a server under test verifies real tokens against real keys, and the CLI
//! and services get theirs as from a real identity provider, with no
//! external one. Keys can be added (a rotation) while the server runs.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpListener};
use trellis_access::signing::LocalKey;
use trellis_server::settings::{AuthMode, Settings};

pub const AUDIENCE: &str = "trellis";
pub const RSA_KID: &str = "rsa-1";

const RSA_PEM: &[u8] = include_bytes!("../fixtures/auth/rsa-test-key.pem");
const RSA_JWK: &str = include_str!("../fixtures/auth/rsa-test-key.jwk.json");

/// A signing key the issuer holds.
struct SigningKey {
    kid: String,
    signer: Signer,
    public: Value,
}

enum Signer {
    Rsa(EncodingKey),
    Ec(LocalKey),
}

pub struct TestIssuer {
    served: Arc<Served>,
    pub jwks_address: SocketAddr,
}

/// What the issuer's HTTP endpoints answer from.
struct Served {
    issuer: String,
    keys: Mutex<Vec<SigningKey>>,
    /// The JWKS served: the public keys published so far.
    published: Mutex<Vec<Value>>,
    /// Registered clients by id: their secret and the subject of their
    /// tokens.
    clients: Mutex<HashMap<String, (String, String)>>,
    /// Whether the discovery document offers only `client_secret_post`.
    post_only: AtomicBool,
    tokens_issued: AtomicUsize,
}

impl TestIssuer {
    /// An issuer with its RSA key published, serving its JWKS.
    pub async fn start() -> anyhow::Result<TestIssuer> {
        let mut rsa_public: Value = serde_json::from_str(RSA_JWK)?;
        rsa_public["kid"] = json!(RSA_KID);
        rsa_public["alg"] = json!("RS256");
        rsa_public["use"] = json!("sig");
        let rsa = SigningKey {
            kid: RSA_KID.to_owned(),
            signer: Signer::Rsa(EncodingKey::from_rsa_pem(RSA_PEM)?),
            public: rsa_public.clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let jwks_address = listener.local_addr()?;
        let served = Arc::new(Served {
            issuer: format!("http://{jwks_address}"),
            keys: Mutex::new(vec![rsa]),
            published: Mutex::new(vec![rsa_public]),
            clients: Mutex::new(HashMap::new()),
            post_only: AtomicBool::new(false),
            tokens_issued: AtomicUsize::new(0),
        });
        tokio::spawn(serve(listener, Arc::clone(&served)));
        Ok(TestIssuer { served, jwks_address })
    }

    /// The issuer's identifier (its tokens' `iss`), the URL its discovery
    /// document is read under.
    pub fn issuer(&self) -> &str {
        &self.served.issuer
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.served.issuer)
    }

    /// Lets client `id` with `secret` get tokens for `subject` from the
    /// token endpoint.
    pub fn register_client(&self, id: &str, secret: &str, subject: &str) -> anyhow::Result<()> {
        self.served
            .clients
            .lock()
            .map_err(|_| anyhow::anyhow!("clients poisoned"))?
            .insert(id.to_owned(), (secret.to_owned(), subject.to_owned()));
        Ok(())
    }

    /// Makes the discovery document offer only `client_secret_post`, so
    /// clients must send their secret in the form.
    pub fn accept_only_form_secrets(&self) {
        self.served.post_only.store(true, Ordering::Relaxed);
    }

    /// How many tokens the token endpoint has given.
    pub fn tokens_issued(&self) -> usize {
        self.served.tokens_issued.load(Ordering::Relaxed)
    }

    /// Settings for a server that trusts this issuer, with [`ADMIN`]
    /// admin of the whole org.
    pub fn configure(&self, settings: &mut Settings) {
        settings.auth_mode = AuthMode::Oidc;
        settings.bootstrap_admin = Some(format!("user:{ADMIN}"));
        settings.oidc_issuer = Some(self.issuer().to_owned());
        settings.oidc_audience = Some(AUDIENCE.to_owned());
        settings.oidc_jwks_url = Some(self.jwks_url());
    }

    /// Makes a new P-256 key `kid`; `publish` says whether the JWKS shows
    /// it yet.
    pub fn add_ec_key(&self, kid: &str, publish: bool) -> anyhow::Result<()> {
        let key = LocalKey::generate(kid).map_err(anyhow::Error::msg)?;
        self.served
            .keys
            .lock()
            .map_err(|_| anyhow::anyhow!("keys poisoned"))?
            .push(SigningKey {
                kid: kid.to_owned(),
                public: key.public_jwk().clone(),
                signer: Signer::Ec(key),
            });
        if publish {
            self.publish(kid)?;
        }
        Ok(())
    }

    /// Shows key `kid` in the JWKS.
    pub fn publish(&self, kid: &str) -> anyhow::Result<()> {
        let keys = self.served.keys.lock().map_err(|_| anyhow::anyhow!("keys poisoned"))?;
        let key = keys.iter().find(|key| key.kid == kid).context("no such key")?;
        self.served
            .published
            .lock()
            .map_err(|_| anyhow::anyhow!("jwks poisoned"))?
            .push(key.public.clone());
        Ok(())
    }

    /// The claims of a good token for `subject`, valid for an hour.
    pub fn claims(&self, subject: &str) -> Value {
        self.served.claims(subject)
    }

    /// A good RS256 token for `subject`.
    pub fn token(&self, subject: &str) -> anyhow::Result<String> {
        self.sign(RSA_KID, &self.claims(subject))
    }

    /// `claims` signed with key `kid` (its id in the header).
    pub fn sign(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
        self.served.sign(kid, claims)
    }
}

impl Served {
    fn claims(&self, subject: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": subject,
            "iat": now, "nbf": now - 5, "exp": now + 3600,
            "email": format!("{subject}@example.com"), "groups": ["planners"],
        })
    }

    fn sign(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
        let keys = self.keys.lock().map_err(|_| anyhow::anyhow!("keys poisoned"))?;
        let key = keys.iter().find(|key| key.kid == kid).context("no such key")?;
        match &key.signer {
            Signer::Rsa(rsa) => {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(key.kid.clone());
                Ok(jsonwebtoken::encode(&header, claims, rsa)?)
            }
            Signer::Ec(ec) => ec.sign(claims).map_err(anyhow::Error::msg),
        }
    }

    fn discovery(&self) -> Value {
        let methods = if self.post_only.load(Ordering::Relaxed) {
            json!(["client_secret_post"])
        } else {
            json!(["client_secret_basic", "client_secret_post"])
        };
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": methods,
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        })
    }

    /// The token endpoint: a client-credentials grant, the client named
    /// by HTTP Basic (each part form-encoded) or in the form, as offered.
    fn token_response(&self, authorization: Option<&str>, body: &[u8]) -> (u16, Value) {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return (400, json!({"error": "unsupported_grant_type"}));
        }
        let from_basic = authorization
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|pair| {
                let (id, secret) = pair.split_once(':')?;
                let decode = |part: &str| {
                    form_urlencoded::parse(format!("x={part}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((decode(id)?, decode(secret)?))
            });
        let presented = match from_basic {
            Some(_) if self.post_only.load(Ordering::Relaxed) => None,
            Some(pair) => Some(pair),
            None => form.get("client_id").cloned().zip(form.get("client_secret").cloned()),
        };
        let clients = self.clients.lock().map(|clients| clients.clone()).unwrap_or_default();
        let subject = presented.and_then(|(id, secret)| {
            clients
                .get(&id)
                .filter(|(known, _)| *known == secret)
                .map(|(_, subject)| subject.clone())
        });
        let Some(subject) = subject else {
            return (
                401,
                json!({"error": "invalid_client", "error_description": "unknown client or wrong secret"}),
            );
        };
        match self.sign(RSA_KID, &self.claims(&subject)) {
            Ok(token) => {
                self.tokens_issued.fetch_add(1, Ordering::Relaxed);
                (
                    200,
                    json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
                )
            }
            Err(err) => (
                500,
                json!({"error": "server_error", "error_description": err.to_string()}),
            ),
        }
    }
}

/// The subject `configure` makes admin of the whole org.
pub const ADMIN: &str = "alice";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

/// Answers HTTP requests: the discovery document, the JWKS as it is now,
/// and the token endpoint.
async fn serve(listener: TcpListener, served: Arc<Served>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let served = Arc::clone(&served);
        tokio::spawn(async move {
            let Some(request) = crate::http::read_request(&mut stream).await else {
                return;
            };
            let (status, body) = match (request.method.as_str(), request.path.as_str()) {
                ("GET", "/.well-known/openid-configuration") => (200, served.discovery()),
                ("GET", "/jwks.json") => {
                    let keys = served.published.lock().map(|keys| keys.clone()).unwrap_or_default();
                    (200, json!({ "keys": keys }))
                }
                ("POST", "/token") => served.token_response(request.header("authorization"), &request.body),
                _ => (404, json!({"error": "not_found"})),
            };
            let body = body.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
