//! Accept loops. Servers take a bound listener and a shutdown future (mini-redis's
//! `run(listener, shutdown)`), so tests bind `127.0.0.1:0` and run many in parallel.
//! On shutdown the listener closes and connections in flight drain, up to a timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::pipeline::{self, Shared};
use super::respond::{Body, Failure, plain};

/// How long connections in flight may take to finish after shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the proxy on `listener` (HTTP/1.1 and cleartext HTTP/2) until `shutdown`
/// resolves, then drains for up to [`DRAIN_TIMEOUT`].
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    serve_with_drain(listener, shared, shutdown, DRAIN_TIMEOUT, None).await
}

/// As [`serve`], draining for up to `drain`.
pub async fn serve_with_drain(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<TlsAcceptor>,
) -> Drained {
    let s = shared.clone();
    let (max_header_bytes, header_timeout) = {
        let rt = shared.runtime.load();
        (
            rt.policy.server.max_header_bytes,
            rt.policy.server.header_timeout,
        )
    };
    let drained = accept_loop(
        listener,
        HeadLimits {
            max_header_bytes,
            header_timeout,
        },
        Some(Gate {
            permits: shared.connection_permits.clone(),
            metrics: shared.metrics.clone(),
        }),
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
    drained
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
        (&Method::GET, "/metrics") => {
            let m = &s.metrics;
            m.memory_in_flight.set(gauge_value(s.budget.used()));
            m.memory_in_flight_peak.set(gauge_value(s.budget.peak()));
            m.memory_budget.set(gauge_value(s.budget.capacity()));
            let open = s
                .max_connections
                .saturating_sub(s.connection_permits.available_permits());
            m.connections.set(gauge_value(open));
            plain(StatusCode::OK, "text/plain; version=0.0.4", m.render())
        }
        (&Method::GET, "/healthz") => plain(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/readyz") => readiness(s),
        _ => Failure::AdminNotFound.response(""),
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `/readyz`: 200 while customs accepts traffic, 503 before its reload triggers are in
/// place and once shutdown has begun; the body names the policy in force (its hash, when
/// it was loaded) and the GeoIP database's build time, so a probe or a person can tell
/// which policy a replica enforces.
fn readiness(s: &Shared) -> http::Response<Body> {
    let ready = s.ready.load(Ordering::SeqCst);
    let rt = s.runtime.load();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "policy_hash": rt.policy.hash,
        "policy_loaded_at": s.metrics.policy_loaded_at.get(),
        "geoip_build": s.metrics.geoip_build_time.get(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, "application/json", format!("{body}\n"))
}

/// How long an admin caller (a Prometheus scrape, a probe) has to send its request head.
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the HTTP layer bounds of a request head before the request reaches the handler.
struct HeadLimits {
    /// The request head's size, which is also each connection's read buffer.
    max_header_bytes: usize,
    /// How long a caller has to send a whole head: from the connection's start, then
    /// from each response (so it also ends idle keep-alive connections, HTTP/2's too).
    header_timeout: Duration,
}

/// What a connection's requests have done, written by its service and read by [`drive`].
struct Activity {
    /// When the connection was accepted: the clock `last_done_ms` counts from.
    born: Instant,
    /// A request has reached the service.
    started: AtomicBool,
    /// The connection speaks HTTP/2.
    h2: AtomicBool,
    /// Requests whose handler has not finished.
    in_flight: AtomicUsize,
    /// When the last handler finished, in milliseconds after `born`.
    last_done_ms: AtomicU64,
    /// Requests in flight on the whole listener (shared by its connections).
    listener_in_flight: Arc<AtomicUsize>,
}

impl Activity {
    fn new(listener_in_flight: Arc<AtomicUsize>) -> Activity {
        Activity {
            listener_in_flight,
            born: Instant::now(),
            started: AtomicBool::new(false),
            h2: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
        }
    }

    /// A request reached the service: it counts as in flight until the guard drops
    /// (its handler finished, or the caller reset the stream).
    fn begin(self: &Arc<Self>, version: Version) -> InFlight {
        self.started.store(true, Ordering::Relaxed);
        if version == Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.listener_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When an HTTP/2 connection with nothing in flight becomes idle for too long, or
    /// `None` while a request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed));
        Some(self.born + last + timeout)
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let now = u64::try_from(a.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.last_done_ms.store(now, Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::Relaxed);
        a.listener_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The proxy listener's bounds beyond the head: a permit per open connection, and where
/// connection-level events are counted. (The admin listener has none.)
struct Gate {
    permits: Arc<tokio::sync::Semaphore>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Failed accepts (out of file descriptors, say): each is counted and backed off, from
/// 10 ms doubling to 1 s while they go on; logged at most once a second, with how many
/// failed since the last line.
struct AcceptErrors {
    backoff: Duration,
    since_log: u64,
    logged: Option<Instant>,
}

impl AcceptErrors {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Self {
        AcceptErrors {
            backoff: Self::FIRST,
            since_log: 0,
            logged: None,
        }
    }

    /// Counts and (at most once a second) logs a failure; how long to wait before the
    /// next accept.
    fn failed(
        &mut self,
        e: &std::io::Error,
        metrics: Option<&crate::metrics::Metrics>,
    ) -> Duration {
        if let Some(m) = metrics {
            m.accept_errors.inc();
        }
        self.since_log += 1;
        if self
            .logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(target: "customs::server", error = %e, failures = self.since_log, "accept failed: backing off");
            self.since_log = 0;
            self.logged = Some(Instant::now());
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(Self::MAX);
        wait
    }

    fn succeeded(&mut self) {
        self.backoff = Self::FIRST;
    }
}

/// A permit for one more connection: at once if one is free, else once one closes (the
/// listener does not accept meanwhile: new callers wait in the kernel's backlog, as
/// Envoy's overload manager stops accepting). `None` when shutdown came first.
async fn connection_permit(
    gate: &Gate,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    last_log: &mut Option<Instant>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(p) = gate.permits.clone().try_acquire_owned() {
        return Some(p);
    }
    gate.metrics.connection_limit_reached.inc();
    if last_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        tracing::warn!(target: "customs::server", "limits.max_connections connections are open: not accepting until one closes");
        *last_log = Some(Instant::now());
    }
    tokio::select! {
        p = gate.permits.clone().acquire_owned() => p.ok(),
        _ = shutdown.as_mut() => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn accept_loop<H, F>(
    listener: TcpListener,
    limits: HeadLimits,
    gate: Option<Gate>,
    handler: H,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<TlsAcceptor>,
) -> Drained
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = http::Response<Body>> + Send + 'static,
{
    // Shutdown reaches every connection through this channel; each holds a receiver until
    // it ends, so `closed()` tells when all have (hyper-util's `GracefulShutdown`, which
    // cannot also end idle HTTP/2 connections).
    let (graceful, _) = watch::channel(());
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
    let metrics = gate.as_ref().map(|g| g.metrics.clone());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut accept_errors = AcceptErrors::new();
    let mut limit_logged = None;
    tokio::pin!(shutdown);
    loop {
        let permit = match &gate {
            Some(g) => match connection_permit(g, &mut shutdown, &mut limit_logged).await {
                Some(p) => Some(p),
                None => break,
            },
            None => None,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => {
                        accept_errors.succeeded();
                        x
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        let wait = accept_errors.failed(&e, metrics.as_deref());
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => continue,
                            _ = &mut shutdown => break,
                        }
                    }
                };
                let _ = stream.set_nodelay(true);
                let h = handler.clone();
                let activity = Arc::new(Activity::new(in_flight.clone()));
                let seen = activity.clone();
                let svc = service_fn(move |req: Request<Incoming>| {
                    let guard = seen.begin(req.version());
                    let h = h.clone();
                    async move {
                        let res = h(req, peer).await;
                        drop(guard);
                        Ok::<_, Infallible>(res)
                    }
                });
                let ends = Ends {
                    activity,
                    header_timeout: limits.header_timeout,
                    shutdown: graceful.subscribe(),
                    metrics: metrics.clone(),
                    _permit: permit,
                };
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                        tokio::spawn(drive(conn, |c| c.graceful_shutdown(), ends));
                    }
                    Some(acceptor) => {
                        // The handshake runs in the connection's task, bounded in time.
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        tokio::spawn(async move {
                            let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                            let Ok(Ok(tls_stream)) = hs else { return };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), svc).into_owned();
                            drive(conn, |c| c.graceful_shutdown(), ends).await;
                        });
                    }
                }
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = graceful.send(());
    tokio::select! {
        _ = graceful.closed() => Drained::default(),
        _ = tokio::time::sleep(drain) => {
            let cut = Drained {
                requests: in_flight.load(Ordering::Relaxed),
                connections: graceful.receiver_count(),
            };
            tracing::warn!(target: "customs::server", requests_cut = cut.requests, connections_cut = cut.connections, drain_ms = drain.as_millis() as u64, "drain timeout: closing the remaining connections, requests in flight are cut");
            cut
        }
    }
}

/// What a drain left unfinished when its timeout ran out (all zero: it finished).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Requests whose handlers had not finished.
    pub requests: usize,
    /// Connections still open (idle ones among them).
    pub connections: usize,
}

impl Drained {
    /// Whether every connection ended within the drain timeout.
    pub fn finished(&self) -> bool {
        self.connections == 0
    }
}

/// What ends a connection besides its caller: shutdown, and the time limits.
struct Ends {
    activity: Arc<Activity>,
    header_timeout: Duration,
    /// Changes when the server shuts down; held until the connection ends.
    shutdown: watch::Receiver<()>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The connection's place under `limits.max_connections`, given back when it ends.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Drives one connection to its end.
///
/// - hyper's header timer starts only once the connection is known to speak HTTP/1, so
///   a caller that connects and sends nothing (or a few bytes of the HTTP/2 preface)
///   would hold the connection for ever: its first request must reach the service
///   within `header_timeout`, else the connection is dropped, which closes it.
/// - HTTP/1 keep-alive connections are then ended by hyper's timer. HTTP/2 has none (its
///   pings only find dead peers): an HTTP/2 connection with no request in flight for
///   `header_timeout` is shut down gracefully (GOAWAY), as on shutdown, and dropped if
///   it has not ended another `header_timeout` later.
/// - On shutdown, every connection is shut down gracefully: requests in flight finish.
async fn drive<C>(conn: C, graceful: impl Fn(std::pin::Pin<&mut C>), ends: Ends)
where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let Ends {
        activity,
        header_timeout,
        mut shutdown,
        metrics,
        _permit,
    } = ends;
    tokio::pin!(conn);
    let mut deadline = Some(activity.born + header_timeout);
    let mut shutting = false;
    let result = loop {
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut conn => break r,
            _ = shutdown.changed(), if !shutting => {
                shutting = true;
                graceful(conn.as_mut());
            }
            () = sleep => {
                if shutting {
                    // Shut down for idling and still not ended: closed.
                    return;
                }
                if !activity.started.load(Ordering::Relaxed) {
                    count_header_timeout(metrics.as_deref());
                    return;
                }
                if !activity.h2.load(Ordering::Relaxed) {
                    // HTTP/1: hyper's header timer takes over.
                    deadline = None;
                    continue;
                }
                match activity.idle_deadline(header_timeout) {
                    Some(at) if at <= Instant::now() => {
                        count_header_timeout(metrics.as_deref());
                        shutting = true;
                        graceful(conn.as_mut());
                        deadline = Some(Instant::now() + header_timeout);
                    }
                    Some(at) => deadline = Some(at),
                    // In flight: look again a timeout from now (a request's own time is
                    // bounded by the body timeout and the upstream's).
                    None => deadline = Some(Instant::now() + header_timeout),
                }
            }
        }
    };
    if let Err(e) = result {
        count_connection_error(metrics.as_deref(), e.as_ref());
    }
}

fn count_header_timeout(metrics: Option<&crate::metrics::Metrics>) {
    if let Some(m) = metrics {
        m.header_timeouts.inc();
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
        count_header_timeout(Some(m));
    } else if e.is_parse_too_large() {
        m.inspection_failures
            .with_label_values(&["header_too_large"])
            .inc();
        m.requests
            .with_label_values(&["none", "refuse", "header_too_large"])
            .inc();
    }
}
