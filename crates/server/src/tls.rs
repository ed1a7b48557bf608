//! TLS for the server and for its calls: the certificate and key it
//! serves (`--tls-cert`, `--tls-key`), the CA clients must present a
//! certificate from (`--tls-client-ca`, mTLS), and what its own calls, to
//! itself and to `https://` peers, trust and present.

use std::path::Path;

use anyhow::Context;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::settings::Settings;

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// This server's certificate and key, when it serves TLS.
fn identity(settings: &Settings) -> anyhow::Result<Option<Identity>> {
    let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) else {
        return Ok(None);
    };
    Ok(Some(Identity::from_pem(
        read(cert, "TLS certificate")?,
        read(key, "TLS key")?,
    )))
}

/// How the server serves TLS, or `None` for plaintext.
pub fn server_config(settings: &Settings) -> anyhow::Result<Option<ServerTlsConfig>> {
    let Some(identity) = identity(settings)? else {
        return Ok(None);
    };
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &settings.tls_client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca, "client CA")?));
    }
    Ok(Some(config))
}

/// How this process's calls to `url` use TLS: `None` for an `http://`
/// peer; for an `https://` one, or for itself when it serves TLS, the
/// peers' CA and (for peers that ask, mTLS) its own certificate as the
/// client's. `server_name` is the name to expect when calling itself.
pub fn client_config(settings: &Settings, url: &str, itself: bool) -> anyhow::Result<Option<ClientTlsConfig>> {
    if !url.starts_with("https://") {
        return Ok(None);
    }
    let mut config = ClientTlsConfig::new();
    match settings.tls_peer_ca.as_ref().or(settings.tls_client_ca.as_ref()) {
        Some(ca) => config = config.ca_certificate(Certificate::from_pem(read(ca, "peer CA")?)),
        None => anyhow::bail!("{url} is https://: give --tls-peer-ca, the CA its certificate chains to"),
    }
    if let Some(identity) = identity(settings)? {
        config = config.identity(identity);
    }
    if itself {
        config = config.domain_name(settings.tls_server_name.clone());
    }
    Ok(Some(config))
}
