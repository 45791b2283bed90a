//! Accept loops. Servers take a bound listener and a shutdown future (mini-redis's
//! `run(listener, shutdown)`), so tests bind `127.0.0.1:0` and run many in parallel.
//! On shutdown the listener closes and connections in flight drain, up to a timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pipeline::{self, Shared};
use super::respond::{Body, plain};

/// How long connections in flight may take to finish after shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the proxy on `listener` (HTTP/1.1 and cleartext HTTP/2) until `shutdown`
/// resolves, then drains for up to [`DRAIN_TIMEOUT`].
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    serve_with_drain(listener, shared, shutdown, DRAIN_TIMEOUT, None).await
}

/// As [`serve`], draining for up to `drain`.
pub async fn serve_with_drain(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<TlsAcceptor>,
) {
    let s = shared.clone();
    let (max_header_bytes, header_timeout) = {
        let rt = shared.runtime.load();
        (
            rt.policy.server.max_header_bytes,
            rt.policy.server.header_timeout,
        )
    };
    accept_loop(
        listener,
        HeadLimits {
            max_header_bytes,
            header_timeout,
        },
        Some(shared.metrics.clone()),
        move |req, peer| {
            let s = s.clone();
            // Boxed: hyper keeps one slot per connection sized for the service's future
            // for the connection's whole life; a box keeps idle connections small.
            Box::pin(pipeline::handle(req, s, peer))
        },
        shutdown,
        drain,
        tls,
    )
    .await;
    shared.ready.store(false, Ordering::SeqCst);
}

/// Serves `/metrics`, `/healthz` and `/readyz` until `shutdown` resolves.
pub async fn serve_admin(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) {
    accept_loop(
        listener,
        HeadLimits {
            max_header_bytes: crate::policy::compile::DEFAULT_MAX_HEADER_BYTES,
            header_timeout: ADMIN_HEADER_TIMEOUT,
        },
        None,
        move |req, _| {
            let s = shared.clone();
            async move { admin(req, &s) }
        },
        shutdown,
        DRAIN_TIMEOUT,
        None,
    )
    .await;
}

fn admin(req: Request<Incoming>, s: &Shared) -> http::Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => plain(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            s.metrics.render(),
        ),
        (&Method::GET, "/healthz") => plain(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/readyz") => {
            if s.ready.load(Ordering::SeqCst) {
                plain(StatusCode::OK, "text/plain", "ready\n")
            } else {
                plain(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n")
            }
        }
        _ => plain(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// How long an admin caller (a Prometheus scrape, a probe) has to send its request head.
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the HTTP layer bounds of a request head before the request reaches the handler.
struct HeadLimits {
    /// The request head's size, which is also each connection's read buffer.
    max_header_bytes: usize,
    /// How long a caller has to send a whole head: from the connection's start, then
    /// from each response (so it also ends idle keep-alive connections).
    header_timeout: Duration,
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    limits: HeadLimits,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    handler: H,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<TlsAcceptor>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = http::Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The request head must fit the read buffer (hyper answers 431 when it does not);
    // each keep-alive connection keeps a buffer this size while idle.
    // Without a timer hyper sets no header timeout at all: a caller trickling header
    // bytes (slowloris) would hold its connection for ever.
    builder
        .http1()
        .max_buf_size(
            limits
                .max_header_bytes
                .max(crate::policy::compile::DEFAULT_MAX_HEADER_BYTES),
        )
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // The same head limit for HTTP/2 (hyper's default is 16 KiB; over it, 431).
    builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(target: "customs::server", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let h = handler.clone();
                let first = Arc::new(AtomicBool::new(false));
                let started = first.clone();
                let svc = service_fn(move |req| {
                    started.store(true, Ordering::Relaxed);
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req, peer).await) }
                });
                let header_timeout = limits.header_timeout;
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                        let conn = graceful.watch(conn);
                        let metrics = metrics.clone();
                        tokio::spawn(drive(conn, first, header_timeout, metrics));
                    }
                    Some(acceptor) => {
                        // The handshake runs in the connection's task, bounded in time.
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        let metrics = metrics.clone();
                        tokio::spawn(async move {
                            let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                            let Ok(Ok(tls_stream)) = hs else { return };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), svc).into_owned();
                            drive(watcher.watch(conn), first, header_timeout, metrics).await;
                        });
                    }
                }
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(drain) => {
            tracing::warn!(target: "customs::server", "drain timeout: closing remaining connections");
        }
    }
}

/// Drives one connection to its end. hyper's header timer starts only once the
/// connection is known to speak HTTP/1, and HTTP/2 has none, so a caller that connects
/// and sends nothing (or a few bytes of the HTTP/2 preface) would hold the connection for
/// ever: its first request must also begin within `header_timeout` (`first` is set when
/// a request reaches the service), else the connection is dropped, which closes it.
async fn drive<C>(
    conn: C,
    first: Arc<AtomicBool>,
    header_timeout: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    tokio::pin!(conn);
    let result = tokio::select! {
        r = &mut conn => r,
        () = tokio::time::sleep(header_timeout) => {
            if !first.load(Ordering::Relaxed) {
                if let Some(m) = &metrics {
                    m.header_timeouts.inc();
                }
                return;
            }
            conn.await
        }
    };
    if let Err(e) = result {
        count_connection_error(metrics.as_deref(), e.as_ref());
    }
}

/// A request head over `max_header_bytes` never reaches the service: hyper answers 431
/// and ends the connection. A head not complete within `header_timeout` ends it without
/// an answer. Both are counted here, so no refusal goes uncounted.
fn count_connection_error(
    metrics: Option<&crate::metrics::Metrics>,
    e: &(dyn std::error::Error + Send + Sync + 'static),
) {
    let Some(m) = metrics else { return };
    let Some(e) = e.downcast_ref::<hyper::Error>() else {
        return;
    };
    if e.is_timeout() {
        m.header_timeouts.inc();
    } else if e.is_parse_too_large() {
        m.inspection_failures
            .with_label_values(&["header_too_large"])
            .inc();
        m.requests
            .with_label_values(&["none", "refuse", "header_too_large"])
            .inc();
    }
}
