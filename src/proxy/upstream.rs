//! The upstream client: pooled hyper-util clients over rustls 0.23 (ring provider) for
//! https upstreams, verified by the platform verifier (`rustls-platform-verifier`: the
//! system roots) plus an optional CA bundle as extra roots (PEM, read with
//! `rustls-pki-types`), and configurable connect and request timeouts.
//!
//! Reusing a pooled connection safely:
//! - each upstream's idle connections are closed after its `idle_timeout_ms` (4 s by
//!   default: below the 5 s keep-alive of Node.js and Apache), so customs lets go of an
//!   idle connection before the upstream does;
//! - an upstream may still close one silently (without `Connection: close`) just as
//!   customs reuses it. Every connection looks, before the first byte of each request
//!   after the first, whether the upstream has already closed it (a pending end of
//!   stream or reset); if so nothing is written. And if the upstream closes it while the
//!   request arrives, TCP tells: a socket closed with bytes it never read answers them
//!   with a reset (before or right after its end of stream, which then carries a
//!   pending error), not an end of stream alone. Either way the request fails with
//!   [`StaleConnection`] and, since customs holds the whole body, is sent again once on
//!   a fresh connection. A request the upstream read whole (an end of stream after it,
//!   or any byte of a response) is never sent again: the upstream may have acted on it.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::destination::PinningResolver;

type Connector = HttpsConnector<Checking<HttpConnector<PinningResolver>>>;
pub type HttpClient = Client<Connector, Full<Bytes>>;

/// The clients (one pool per idle timeout the policy names, and one without a pool for
/// requests sent again), and the resolver their connector uses (which holds the
/// addresses destination checks pinned).
#[derive(Clone)]
pub struct UpstreamClient {
    connector: Connector,
    pools: Arc<Mutex<Vec<(Duration, HttpClient)>>>,
    /// No pooling: every request on a connection of its own.
    fresh: HttpClient,
    pub resolver: PinningResolver,
}

impl UpstreamClient {
    /// The pooled client whose idle connections last `idle` (built on first use: a
    /// policy names a few idle timeouts).
    pub fn pooled(&self, idle: Duration) -> HttpClient {
        let Ok(mut pools) = self.pools.lock() else {
            return self.fresh.clone();
        };
        if let Some((_, c)) = pools.iter().find(|(d, _)| *d == idle) {
            return c.clone();
        }
        let c = pool_client(self.connector.clone(), Some(idle));
        pools.push((idle, c.clone()));
        c
    }

    /// Sends `req` on a pooled connection (kept `idle` when idle); when that connection
    /// turns out closed before any of the request was written, sends it again once on a
    /// fresh connection. `retried` is told when that happens.
    pub async fn send(
        &self,
        idle: Duration,
        req: http::Request<Full<Bytes>>,
        retried: impl FnOnce(),
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        let again = copy(&req);
        match self.pooled(idle).request(req).await {
            Err(e) if is_stale(&e) => {
                retried();
                match again {
                    Some(req) => self.fresh.request(req).await,
                    None => Err(e),
                }
            }
            r => r,
        }
    }
}

/// A copy of a request to send again (its body is shared, not copied).
fn copy(req: &http::Request<Full<Bytes>>) -> Option<http::Request<Full<Bytes>>> {
    let mut b = http::Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .version(req.version());
    *b.headers_mut()? = req.headers().clone();
    b.body(req.body().clone()).ok()
}

fn pool_client(connector: Connector, idle: Option<Duration>) -> HttpClient {
    let mut b = Client::builder(TokioExecutor::new());
    // The timer evicts idle connections when their time is up (without it they would
    // only be found expired at the next checkout, holding their sockets meanwhile).
    b.pool_timer(TokioTimer::new());
    match idle {
        Some(d) => b.pool_idle_timeout(d).pool_max_idle_per_host(256),
        None => b.pool_max_idle_per_host(0),
    };
    b.build(connector)
}

/// The error of a request on a pooled connection that the upstream had closed: nothing
/// was written, or what was written was reset unread (see the module doc). Safe to send
/// again.
#[derive(Debug)]
pub struct StaleConnection;

impl std::fmt::Display for StaleConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream had closed this pooled connection; the request was not read")
    }
}

impl std::error::Error for StaleConnection {}

/// Whether a client error is [`StaleConnection`] (anywhere in its chain of sources).
pub fn is_stale(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if err.is::<StaleConnection>() {
            return true;
        }
        // An io::Error's source skips the error it wraps: look at that one first.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<StaleConnection>())
        {
            return true;
        }
        at = err.source();
    }
    false
}

/// A connector whose connections check for a close by the upstream before each request
/// but the first (see the module doc).
#[derive(Clone)]
pub struct Checking<C>(C);

impl<C> tower_service::Service<http::Uri> for Checking<C>
where
    C: tower_service::Service<http::Uri, Response = TokioIo<TcpStream>>,
    C::Future: Send + 'static,
{
    type Response = TokioIo<Checked>;
    type Error = C::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let connecting = self.0.call(dst);
        Box::pin(async move {
            let io = connecting.await?.into_inner();
            Ok(TokioIo::new(Checked {
                io,
                check: false,
                reused: false,
                answered: false,
            }))
        })
    }
}

/// A TCP connection to an upstream that, once a response has been read from it, looks
/// before the next request's first byte whether the upstream has closed it, and tells a
/// reset of a request the upstream never read from other failures.
pub struct Checked {
    io: TcpStream,
    /// Data was read since the last write: the next write starts a request on a
    /// connection that was reused.
    check: bool,
    /// The request being sent or answered started on a reused connection.
    reused: bool,
    /// A byte of its response has arrived.
    answered: bool,
}

impl Checked {
    /// A pending end of stream or error: the upstream closed the connection.
    fn closed_by_upstream(&self, cx: &mut Context<'_>) -> bool {
        let mut one = [0u8; 1];
        let mut buf = ReadBuf::new(&mut one);
        match self.io.poll_peek(cx, &mut buf) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => true,
            // Data waiting, or nothing yet: open.
            Poll::Ready(Ok(_)) | Poll::Pending => false,
        }
    }

    fn before_write(&mut self, cx: &mut Context<'_>) -> Option<std::io::Error> {
        if !std::mem::take(&mut self.check) {
            return None;
        }
        // A new request on a connection that has served one.
        self.reused = true;
        self.answered = false;
        self.closed_by_upstream(cx).then(stale)
    }

    /// A reset of a request on a reused connection before any byte of its response: the
    /// upstream closed the connection with the request unread.
    fn unread(&self, e: std::io::Error) -> std::io::Error {
        let reset = matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        );
        if reset && self.reused && !self.answered {
            stale()
        } else {
            e
        }
    }
}

fn stale() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, StaleConnection)
}

impl AsyncRead for Checked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.check = true;
                    self.answered = true;
                } else if self.reused && !self.answered {
                    // An end of stream before any response byte, with a reset behind it:
                    // the upstream closed before the request arrived (bytes for a closed
                    // socket are answered with a reset), so it never read it.
                    if let Ok(Some(e)) = self.io.take_error() {
                        return Poll::Ready(Err(self.unread(e)));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.unread(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Checked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(e) = self.before_write(cx) {
            return Poll::Ready(Err(e));
        }
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.unread(e))),
            r => r,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(e) = self.before_write(cx) {
            return Poll::Ready(Err(e));
        }
        match Pin::new(&mut self.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.unread(e))),
            r => r,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for Checked {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
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
        .wrap_connector(Checking(http));
    Ok(UpstreamClient {
        fresh: pool_client(https.clone(), None),
        pools: Arc::default(),
        connector: https,
        resolver,
    })
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
