//! The upstream client: a pooled hyper-util client over rustls 0.23 (ring provider) for
//! https upstreams, verified by the platform verifier (`rustls-platform-verifier`: the
//! system roots) plus an optional CA bundle as extra roots (PEM, read with
//! `rustls-pki-types`), and configurable connect and request timeouts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::destination::PinningResolver;

/// The pooled client, and the resolver its connector uses (which holds the addresses
/// destination checks pinned).
#[derive(Clone)]
pub struct UpstreamClient {
    pub client: Client<HttpsConnector<HttpConnector<PinningResolver>>, Full<Bytes>>,
    pub resolver: PinningResolver,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read CA bundle `{path}`: {reason}")]
    CaBundle { path: String, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

pub fn build(
    connect_timeout: Duration,
    ca_bundle: Option<&Path>,
) -> Result<UpstreamClient, ClientError> {
    build_with(connect_timeout, ca_bundle, None, PinningResolver::system())
}

/// As [`build`], with an optional client certificate and key (PEM) for upstreams that
/// require mutual TLS.
pub fn build_with(
    connect_timeout: Duration,
    ca_bundle: Option<&Path>,
    client_auth: Option<(&Path, &Path)>,
    resolver: PinningResolver,
) -> Result<UpstreamClient, ClientError> {
    let mut extra: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(path) = ca_bundle {
        let bad = |reason: String| ClientError::CaBundle {
            path: path.display().to_string(),
            reason,
        };
        extra = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if extra.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The platform's verifier (on Linux: the system roots through WebPKI), with the CA
    // bundle's certificates as extra roots.
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let tls = match client_auth {
        None => tls.with_no_client_auth(),
        Some((cert, key)) => {
            let (certs, key) = super::tls::read_pair(cert, key).map_err(ClientError::Tls)?;
            tls.with_client_auth_cert(certs, key)
                .map_err(|e| ClientError::Tls(e.to_string()))?
        }
    };
    let mut http = HttpConnector::new_with_resolver(resolver.clone());
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https);
    Ok(UpstreamClient { client, resolver })
}

/// The kind of an upstream failure, for metrics and the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect (refused, unreachable, TLS handshake failed, connect timeout).
    Connect,
    /// No response head within the request timeout.
    Timeout,
    /// The connection broke or the upstream spoke bad HTTP.
    Reset,
}

impl UpstreamFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Reset => "reset",
        }
    }
}

pub fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamFailure {
    if e.is_connect() {
        // hyper-util reports its connect timeout as a connect error whose source says so.
        let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::TimedOut
            {
                return UpstreamFailure::Timeout;
            }
            src = s.source();
        }
        return UpstreamFailure::Connect;
    }
    UpstreamFailure::Reset
}
