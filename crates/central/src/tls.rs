//! `--tls`: every listener speaks HTTPS with a server certificate signed by the emulator's own
//! CA. The CA is made once into `DATA/tls` (`ca.pem`, and `ca.key` readable by the owner only),
//! so a client that trusts `ca.pem` keeps working across restarts; the server certificate is
//! signed afresh at each start for the names the listeners are reached by.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Failure to make, read or use the TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS: {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS: {path} is unreadable: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("TLS: cannot make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

const CA_NAME: &str = "znak central emulator CA";

/// The CA certificate file clients are told to trust.
pub fn ca_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("ca.pem")
}

fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("ca.key")
}

/// The CA's parameters. They are the same at every start, so the stored `ca.pem` names the same
/// issuer as the certificates signed now with the stored key.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "znak");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// The CA: read from `DATA/tls`, or made and written there when it is not (yet) complete.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem_path: PathBuf,
}

fn read(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::File {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `text` to `path` through a temporary file (`private`: readable by the owner only).
fn write(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    let err = |source| TlsError::File {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl Ca {
    /// Loads the CA of `data_dir`, making it on first use.
    pub fn ensure(data_dir: &Path) -> Result<Ca, TlsError> {
        let dir = data_dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::File {
            path: dir.display().to_string(),
            source,
        })?;
        let (pem_path, key_path) = (ca_file(data_dir), key_file(data_dir));
        if let (Some(key_pem), Some(_)) = (read(&key_path)?, read(&pem_path)?) {
            let key = KeyPair::from_pem(&key_pem).map_err(|e| TlsError::Unreadable {
                path: key_path.display().to_string(),
                reason: e.to_string(),
            })?;
            return Ok(Ca {
                issuer: Issuer::new(ca_params(), key),
                pem_path,
            });
        }
        // Key first: a crash before the certificate is written leaves no usable pair, and the
        // next start makes both again.
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert = params.self_signed(&key)?;
        write(&key_path, &key.serialize_pem(), true)?;
        write(&pem_path, &cert.pem(), false)?;
        Ok(Ca {
            issuer: Issuer::new(params, key),
            pem_path,
        })
    }

    /// A server configuration with a fresh certificate for `names` (host names or addresses),
    /// offering HTTP/2 and HTTP/1.1.
    pub fn server_config(&self, names: &[String]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "znak central");
        let mut sans = Vec::new();
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into()?),
            };
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        params.subject_alt_names = sans;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM file (a CA file handed to clients).
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Unreadable {
            path: path.display().to_string(),
            reason: "no certificate in it".into(),
        });
    }
    Ok(certs)
}
