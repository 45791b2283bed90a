//! TLS on the listener, for deployments where the caller is not on localhost. The
//! certificate and key come from PEM files (read with `rustls-pki-types`) and are
//! reloaded when they change: new connections get the new certificate, connections in
//! flight keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: Mutex<Option<(u64, u64)>>,
}

/// Reads a certificate chain and its private key.
pub fn read_pair(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificate `{}`: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in `{}`", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read private key `{}`: {e}", key.display()))?;
    Ok((certs, key))
}

fn certified(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let (certs, key) = read_pair(cert, key)?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("unusable private key: {e}"))?;
    Ok(CertifiedKey::new(certs, signing))
}

fn stamp(cert: &Path, key: &Path) -> Option<(u64, u64)> {
    let m = |p: &Path| -> Option<u64> {
        let md = std::fs::metadata(p).ok()?;
        let t = md
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(t.as_nanos() as u64 ^ md.len())
    };
    Some((m(cert)?, m(key)?))
}

impl ServerTls {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, String> {
        let ck = certified(cert, key)?;
        Ok(Arc::new(ServerTls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(ck),
            stamp: Mutex::new(stamp(cert, key)),
        }))
    }

    /// Reloads the pair if either file changed. `Ok(true)` when a new pair is in use; an
    /// error keeps the old pair.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamp(&self.cert, &self.key);
        if self.stamp.lock().map(|s| *s == now).unwrap_or(false) {
            return Ok(false);
        }
        if let Ok(mut s) = self.stamp.lock() {
            *s = now;
        }
        let ck = certified(&self.cert, &self.key)?;
        self.current.store(Arc::new(ck));
        Ok(true)
    }

    /// The certificate and key files.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert, &self.key)
    }

    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, String> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(cfg)))
    }
}

impl ResolvesServerCert for ServerTls {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
