//! Certificates made in the test: a CA, a certificate for the server
//! (valid for `localhost`, for serving and for its calls to itself), and
//! client certificates, written as PEM files the server's flags name.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use trellis_server::Settings;

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    dir: TempDir,
}

/// A certificate and its key, in PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let ca_pem = params.self_signed(&key)?.pem();
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            ca_pem,
            dir: tempfile::tempdir()?,
        })
    }

    /// A certificate for `localhost` (and 127.0.0.1) that serves and calls
    /// (server and client use), named `common_name`.
    pub fn issue(&self, common_name: &str) -> anyhow::Result<Issued> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA's certificate as a file.
    pub fn ca_file(&self) -> anyhow::Result<PathBuf> {
        self.write("ca.pem", &self.ca_pem)
    }

    /// `issued` as a certificate file and a key file named after `name`.
    pub fn files(&self, issued: &Issued, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        Ok((
            self.write(&format!("{name}.pem"), &issued.cert_pem)?,
            self.write(&format!("{name}.key"), &issued.key_pem)?,
        ))
    }

    fn write(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Settings for a server that serves TLS with a certificate of this CA
    /// and, with `mutual`, requires clients to present one too.
    pub fn configure(&self, settings: &mut Settings, mutual: bool) -> anyhow::Result<()> {
        self.configure_as(settings, mutual, "trellis-server")
    }

    /// Like [`TestCa::configure`], the server's certificate (which it
    /// also presents to its peers) named `common_name`: a service's name
    /// makes it that service to peers that ask for client certificates.
    pub fn configure_as(&self, settings: &mut Settings, mutual: bool, common_name: &str) -> anyhow::Result<()> {
        let server = self.issue(common_name)?;
        settings.tls_cert = Some(self.write(&format!("{common_name}.pem"), &server.cert_pem)?);
        settings.tls_key = Some(self.write(&format!("{common_name}.key"), &server.key_pem)?);
        let ca = self.ca_file()?;
        settings.tls_peer_ca = Some(ca.clone());
        if mutual {
            settings.tls_client_ca = Some(ca);
        }
        Ok(())
    }

    /// A client that trusts this CA and presents `identity`, if any.
    pub fn client(&self, identity: Option<&Issued>) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        if let Some(issued) = identity {
            config = config.identity(Identity::from_pem(&issued.cert_pem, &issued.key_pem));
        }
        config
    }
}
