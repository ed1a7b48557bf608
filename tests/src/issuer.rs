//! An OIDC issuer for tests: it signs tokens with an RSA key (RS256) and
//! P-256 keys (ES256) and serves its public keys as a JWKS over plain HTTP
//! on a loopback port, so a server under test verifies real tokens against
//! real keys, with no external identity provider. Keys can be added (a
//! rotation) while the server runs.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use trellis_access::signing::LocalKey;
use trellis_server::settings::{AuthMode, Settings};

pub const ISSUER: &str = "https://issuer.trellis.test";
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
    keys: Mutex<Vec<SigningKey>>,
    /// The JWKS served: the public keys published so far.
    published: Arc<Mutex<Vec<Value>>>,
    pub jwks_address: SocketAddr,
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
        let published = Arc::new(Mutex::new(vec![rsa_public]));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let jwks_address = listener.local_addr()?;
        tokio::spawn(serve_jwks(listener, Arc::clone(&published)));
        Ok(TestIssuer {
            keys: Mutex::new(vec![rsa]),
            published,
            jwks_address,
        })
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.jwks_address)
    }

    /// Settings for a server that trusts this issuer, with [`ADMIN`]
    /// admin of the whole org.
    pub fn configure(&self, settings: &mut Settings) {
        settings.auth_mode = AuthMode::Oidc;
        settings.bootstrap_admin = Some(format!("user:{ADMIN}"));
        settings.oidc_issuer = Some(ISSUER.to_owned());
        settings.oidc_audience = Some(AUDIENCE.to_owned());
        settings.oidc_jwks_url = Some(self.jwks_url());
    }

    /// Makes a new P-256 key `kid`; `publish` says whether the JWKS shows
    /// it yet.
    pub fn add_ec_key(&self, kid: &str, publish: bool) -> anyhow::Result<()> {
        let key = LocalKey::generate(kid).map_err(anyhow::Error::msg)?;
        self.keys
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
        let keys = self.keys.lock().map_err(|_| anyhow::anyhow!("keys poisoned"))?;
        let key = keys.iter().find(|key| key.kid == kid).context("no such key")?;
        self.published
            .lock()
            .map_err(|_| anyhow::anyhow!("jwks poisoned"))?
            .push(key.public.clone());
        Ok(())
    }

    /// The claims of a good token for `subject`, valid for an hour.
    pub fn claims(subject: &str) -> Value {
        let now = now();
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": subject,
            "iat": now, "nbf": now - 5, "exp": now + 3600,
            "email": format!("{subject}@example.com"), "groups": ["planners"],
        })
    }

    /// A good RS256 token for `subject`.
    pub fn token(&self, subject: &str) -> anyhow::Result<String> {
        self.sign(RSA_KID, &TestIssuer::claims(subject))
    }

    /// `claims` signed with key `kid` (its id in the header).
    pub fn sign(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
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
}

/// The subject `configure` makes admin of the whole org.
pub const ADMIN: &str = "alice";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

/// Answers every HTTP request with the JWKS as it is now.
async fn serve_jwks(listener: TcpListener, published: Arc<Mutex<Vec<Value>>>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let published = Arc::clone(&published);
        tokio::spawn(async move {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let keys = published.lock().map(|keys| keys.clone()).unwrap_or_default();
            let body = json!({ "keys": keys }).to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
