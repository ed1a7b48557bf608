//! Signing tokens with a key made on the spot: for tests and benchmarks
//! that act as their own identity provider (the server then verifies real
//! ES256 signatures against a real JWKS). Not for production: a real
//! issuer keeps its keys.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use serde_json::{Value, json};

/// A P-256 key pair and its id.
pub struct LocalKey {
    kid: String,
    key: EncodingKey,
    public: Value,
}

impl LocalKey {
    pub fn generate(kid: &str) -> Result<LocalKey, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "making a P-256 key".to_owned())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| "reading the P-256 key".to_owned())?;
        // An uncompressed point: 0x04, then X and Y.
        let point = pair.public_key().as_ref();
        let public = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(LocalKey {
            kid: kid.to_owned(),
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, as a JWKS lists it.
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// A JWKS holding just this key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public] })
    }

    /// `claims` signed ES256, with this key's id in the header.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|err| format!("signing: {err}"))
    }
}
