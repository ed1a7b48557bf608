//! The issuer's signing keys (a JWKS), read from a `file://` path or an
//! `http(s)://` URL, kept by key id and read again when a token names a key
//! not seen yet (at most every [`MIN_REFRESH`]) or when they are older than
//! [`MAX_AGE`], so a rotation is picked up without a restart.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::RwLock,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};
use tokio::sync::Mutex;

/// Unknown key ids read the keys again at most this often.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Keys are read again when they are older than this.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where the keys are published.
#[derive(Debug, Clone)]
pub enum KeySource {
    File(PathBuf),
    Http { client: reqwest::Client, url: String },
}

impl KeySource {
    pub fn parse(url: &str) -> Result<KeySource, String> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(KeySource::File(PathBuf::from(path)));
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(KeySource::Http {
                client: crate::http::client()?,
                url: url.to_owned(),
            });
        }
        Err(format!("{url:?} is not a file://, http:// or https:// URL"))
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let bytes = match self {
            KeySource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|err| format!("reading {}: {err}", path.display()))?,
            KeySource::Http { client, url } => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|err| format!("fetching {url}: {err}"))?;
                crate::http::read_bounded(response, url, MAX_JWKS_BYTES).await?
            }
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWKS is over {MAX_JWKS_BYTES} bytes"));
        }
        serde_json::from_slice(&bytes).map_err(|err| format!("the JWKS is not a JSON key set: {err}"))
    }
}

/// A usable key: the one algorithm it verifies, and the key.
#[derive(Clone)]
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The keys by id, read again when needed.
pub struct Keys {
    source: KeySource,
    by_id: RwLock<HashMap<String, Key>>,
    /// When the keys were last read (or tried), held while reading so one
    /// caller reads for all.
    read_at: Mutex<Option<Instant>>,
}

impl Keys {
    /// The keys of `source`; a first read that fails is logged and tried
    /// again on the first token, so a server can start while its issuer
    /// is briefly away.
    pub async fn load(source: KeySource) -> Keys {
        let keys = Keys {
            source,
            by_id: RwLock::new(HashMap::new()),
            read_at: Mutex::new(None),
        };
        keys.refresh(Duration::ZERO).await;
        keys
    }

    /// The key `kid`, reading the keys again if it is unknown and they were
    /// not read within [`MIN_REFRESH`]. Keys older than [`MAX_AGE`] are read
    /// again by one caller while the others go on with what is known.
    pub async fn get(&self, kid: &str) -> Option<Key> {
        if self.cached(kid).is_some() {
            if let Ok(read_at) = self.read_at.try_lock()
                && read_at.is_none_or(|at| at.elapsed() > MAX_AGE)
            {
                self.fetch_into(read_at).await;
            }
            return self.cached(kid);
        }
        self.refresh(MIN_REFRESH).await;
        self.cached(kid)
    }

    fn cached(&self, kid: &str) -> Option<Key> {
        self.by_id
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    async fn refresh(&self, min_interval: Duration) {
        let read_at = self.read_at.lock().await;
        if read_at.is_some_and(|at| at.elapsed() < min_interval) {
            return;
        }
        self.fetch_into(read_at).await;
    }

    /// Reads the keys, holding `read_at` (so one caller reads for all).
    async fn fetch_into(&self, mut read_at: tokio::sync::MutexGuard<'_, Option<Instant>>) {
        *read_at = Some(Instant::now());
        match self.source.fetch().await {
            Ok(set) => {
                let keys = usable_keys(&set);
                tracing::info!(keys = keys.len(), "read the issuer's signing keys");
                *self.by_id.write().unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
            }
            Err(err) => tracing::warn!(error = %err, "could not read the issuer's signing keys"),
        }
    }
}

/// The keys Trellis accepts, by id: RSA keys for RS256 and P-256 keys for
/// ES256. Keys without an id, of other kinds, or published for another
/// algorithm are left out.
fn usable_keys(set: &JwkSet) -> HashMap<String, Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = algorithm_of(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, Key { algorithm, key }))
        })
        .collect()
}

fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let (algorithm, published_as) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(algorithm),
        Some(stated) if stated == published_as => Some(algorithm),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_JWK: &str = include_str!("../../../tests/fixtures/auth/rsa-test-key.jwk.json");

    fn set(keys: Vec<serde_json::Value>) -> JwkSet {
        serde_json::from_value(serde_json::json!({ "keys": keys })).unwrap_or(JwkSet { keys: Vec::new() })
    }

    fn rsa(kid: Option<&str>, alg: Option<&str>) -> serde_json::Value {
        let mut key: serde_json::Value = serde_json::from_str(RSA_JWK).unwrap_or_default();
        if let Some(kid) = kid {
            key["kid"] = serde_json::json!(kid);
        }
        if let Some(alg) = alg {
            key["alg"] = serde_json::json!(alg);
        }
        key
    }

    #[test]
    fn only_asymmetric_keys_with_ids_count_each_for_its_own_algorithm() {
        let keys = usable_keys(&set(vec![
            rsa(Some("plain"), None),
            rsa(Some("stated"), Some("RS256")),
            // An RSA key claiming another algorithm is not trusted for any.
            rsa(Some("confused"), Some("HS256")),
            rsa(None, Some("RS256")),
            serde_json::json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0", "alg": "HS256"}),
        ]));
        let mut ids: Vec<&str> = keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["plain", "stated"]);
        assert!(keys.values().all(|key| key.algorithm == Algorithm::RS256));
    }

    #[tokio::test]
    async fn a_missing_key_file_leaves_no_keys_and_no_panic() {
        let keys = Keys::load(KeySource::File(PathBuf::from("/nonexistent/jwks.json"))).await;
        assert!(keys.get("any").await.is_none());
        assert!(KeySource::parse("ftp://keys").is_err());
    }
}
