//! `customs run`: the proxy. `customs demo`: the proxy plus stand-in upstreams that
//! listen at the policy's (loopback) upstream URLs, for a first look.
//!
//! Settings are layered: flags over `CUSTOMS_*` environment variables over the policy
//! file's `[server]` table over built-in defaults.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::{Exit, load_geo, load_policy, report_load_error};
use crate::metrics::Metrics;
use crate::proxy::reload::{Overrides, Reloader};
use crate::proxy::tls::ServerTls;
use crate::proxy::{Runtime, Shared, server, upstream};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(
        long,
        short = 'c',
        env = "CUSTOMS_CONFIG",
        default_value = "config/policy.toml"
    )]
    pub config: PathBuf,
    /// Address for the application's requests [default: policy's `server.listen`, else 127.0.0.1:8080].
    #[arg(long, env = "CUSTOMS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address for /metrics, /healthz, /readyz [default: policy's `server.admin_listen`, else 127.0.0.1:9090].
    #[arg(long, env = "CUSTOMS_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// GeoIP database [default: policy's `geoip.database`].
    #[arg(long, env = "CUSTOMS_GEOIP")]
    pub geoip: Option<PathBuf>,
    /// Largest request body inspected, in bytes [default: policy's `server.max_body_bytes`, else 8 MiB].
    #[arg(long, env = "CUSTOMS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Extra CA certificates (PEM) for https upstreams [default: policy's `server.ca_bundle`].
    #[arg(long, env = "CUSTOMS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, env = "CUSTOMS_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Certificate (PEM) for TLS on the listener [default: policy's `server.tls_cert`; none: plain HTTP].
    #[arg(long, env = "CUSTOMS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for TLS on the listener [default: policy's `server.tls_key`].
    #[arg(long, env = "CUSTOMS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Client certificate (PEM) for upstreams that require mutual TLS [default: policy's `server.client_cert`].
    #[arg(long, env = "CUSTOMS_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) [default: policy's `server.client_key`].
    #[arg(long, env = "CUSTOMS_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Do not watch the policy's and database's directories for changes (SIGHUP and
    /// polling still reload).
    #[arg(long, env = "CUSTOMS_NO_WATCH")]
    pub no_watch: bool,
    /// Seconds between checks of the policy and database files; 0 disables [default: policy's `server.reload_poll_seconds`, else 30].
    #[arg(long, env = "CUSTOMS_RELOAD_POLL_SECONDS")]
    pub reload_poll_seconds: Option<u64>,
    /// How long the policy file must stay unchanged before a reload loads it, in milliseconds [default: policy's `server.reload_settle_ms`, else 2000].
    #[arg(long, env = "CUSTOMS_RELOAD_SETTLE_MS")]
    pub reload_settle_ms: Option<u64>,
    /// After SIGTERM, keep accepting for this long while /readyz answers 503 [default: policy's `server.shutdown_delay_ms`, else 0].
    #[arg(long, env = "CUSTOMS_SHUTDOWN_DELAY_MS")]
    pub shutdown_delay_ms: Option<u64>,
    /// How long requests in flight may take to finish after accepting stops [default: policy's `server.drain_timeout_ms`, else 30000].
    #[arg(long, env = "CUSTOMS_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: Option<u64>,
    /// Log filter (tracing-subscriber `EnvFilter` syntax).
    #[arg(long, env = "CUSTOMS_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub run: Args,
}

/// Logs go to standard output as JSON lines, written by a thread of their own: a worker
/// hands each formatted line over and goes on, and the log thread writes what has queued
/// up, at most every [`LOG_PACE`] (see [`Paced`]). Writing each line from the worker cost
/// ~6-9 us of CPU a request (`BENCHMARKS.md`). Nothing is dropped: when [`LOG_QUEUE`] lines
/// are waiting (standard output blocked), workers wait too, as they did when they wrote
/// themselves. The guard writes what is still queued when it is dropped, at exit.
fn init_tracing(filter: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE)
        .thread_name("customs-log")
        .finish(Paced::new(std::io::stdout(), LOG_PACE));
    let _ = tracing_subscriber::fmt()
        .event_format(super::logline::JsonLine)
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
    guard
}

/// How long a log line may wait for the lines after it, so that they are written together.
const LOG_PACE: Duration = Duration::from_millis(10);

/// How many lines may wait for the log thread: ~0.5 s at 30,000 requests a second. The
/// queue's slots are allocated and touched up front (32 bytes each): tracing-appender's
/// default of 128,000 took 4 MiB of resident memory from the start.
const LOG_QUEUE: usize = 16 * 1024;

/// A buffered writer whose flushes are at least `pace` apart. The log thread flushes each
/// time it has taken every queued line; were each flush written at once, a line arriving
/// alone would cost a `write(2)` and a wake-up of the log thread, as many as the lines.
/// A flush that comes sooner than `pace` after the last one first waits out the rest,
/// while the lines arriving meanwhile queue up to be written with the next. A line after
/// a quiet spell is written at once; under load every line is out within ~2 `pace`.
struct Paced<W: Write> {
    out: std::io::BufWriter<W>,
    pace: Duration,
    last: Option<std::time::Instant>,
}

impl<W: Write> Paced<W> {
    fn new(out: W, pace: Duration) -> Self {
        Paced {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
            pace,
            last: None,
        }
    }
}

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(last) = self.last {
            let wait = self.pace.saturating_sub(last.elapsed());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        let r = self.out.flush();
        self.last = Some(std::time::Instant::now());
        r
    }
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, std::io::Error> {
    // One worker: a current-thread runtime does the same work without the work-stealing
    // scheduler's cross-thread bookkeeping (measured in BENCHMARKS.md).
    if workers == 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        b.worker_threads(workers);
    }
    b.enable_all().build()
}

pub fn main(args: Args) -> Exit {
    let _log = init_tracing(&args.log);
    match runtime(args.workers) {
        Ok(rt) => rt.block_on(run(args, false)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            Exit::Error
        }
    }
}

pub fn demo(args: DemoArgs) -> Exit {
    let _log = init_tracing(&args.run.log);
    match runtime(args.run.workers) {
        Ok(rt) => rt.block_on(run(args.run, true)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            Exit::Error
        }
    }
}

async fn run(args: Args, demo: bool) -> Exit {
    let loaded = match load_policy(&args.config) {
        Ok(l) => l,
        Err(e) => return report_load_error(&args.config, e),
    };
    for w in &loaded.warnings {
        tracing::warn!(target: "customs::policy", message = %w.message, "policy warning");
    }
    let source = loaded.source;
    let mut policy = loaded.policy;
    if let Some(n) = args.max_body_bytes {
        policy.server.max_body_bytes = n;
    }
    let geo = match load_geo(args.geoip.as_deref(), &policy, &args.config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let ca = args.ca_bundle.clone().or_else(|| {
        policy
            .server
            .ca_bundle
            .as_ref()
            .map(|p| resolve(&args.config, p))
    });
    let client_auth = match (&args.client_cert, &args.client_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => policy
            .server
            .client_auth
            .as_ref()
            .map(|(c, k)| (resolve(&args.config, c), resolve(&args.config, k))),
    };
    let client = match upstream::build_with(
        policy.server.connect_timeout,
        ca.as_deref(),
        client_auth
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path())),
        crate::proxy::destination::PinningResolver::system(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let metrics = match Metrics::new() {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("error: cannot create metrics: {e}");
            return Exit::Error;
        }
    };
    let listen = args
        .listen
        .map(|a| a.to_string())
        .unwrap_or_else(|| policy.server.listen.clone());
    let admin_listen = args
        .admin_listen
        .map(|a| a.to_string())
        .unwrap_or_else(|| policy.server.admin_listen.clone());

    let mut demo_tasks = Vec::new();
    if demo {
        for u in &policy.upstreams {
            let name = u.name.clone();
            let region = policy.region_name(u.region).to_string();
            let Some(addr) = demo_addr(&u.url) else {
                eprintln!(
                    "error: demo upstream `{name}` must have an http:// url on a loopback address, not `{}`",
                    u.url
                );
                return Exit::Error;
            };
            match TcpListener::bind(addr).await {
                Ok(l) => demo_tasks.push(tokio::spawn(demo_upstream(l, name, region))),
                Err(e) => {
                    eprintln!("error: cannot start demo upstream `{name}` on {addr}: {e}");
                    return Exit::Error;
                }
            }
        }
    }

    let tls_pair = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => policy
            .server
            .tls
            .as_ref()
            .map(|(c, k)| (resolve(&args.config, c), resolve(&args.config, k))),
    };
    let server_tls = match &tls_pair {
        None => None,
        Some((c, k)) => match ServerTls::load(c, k) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Error;
            }
        },
    };
    let acceptor = match server_tls.as_ref().map(|t| t.acceptor()).transpose() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: TLS setup failed: {e}");
            return Exit::Error;
        }
    };
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return Exit::Error;
        }
    };
    let admin = match TcpListener::bind(&admin_listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {admin_listen} (admin): {e}");
            return Exit::Error;
        }
    };
    let hash = policy.hash.clone();
    let geoip_file = super::geoip_path(args.geoip.as_deref(), &policy, &args.config);
    let server_settings = policy.server.clone();
    let shared = Arc::new(Shared::new(
        Runtime {
            policy,
            geo: Arc::new(geo),
        },
        client,
        metrics,
    ));
    tracing::info!(target: "customs::server", listen = %listen, admin = %admin_listen, policy_hash = %hash, "customs is listening");
    if demo {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| listen.clone());
        let admin_addr = admin
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| admin_listen.clone());
        tokio::spawn(async move {
            // Let the accept loops start, then show the three outcomes.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            eprintln!("{}", demo_self_check(&addr).await);
            eprintln!("{}", demo_banner(&addr, &admin_addr));
        });
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Not ready until the reload triggers are installed (the reloader says when).
    shared
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let admin_task = {
        let shared = shared.clone();
        let mut rx = rx.clone();
        tokio::spawn(server::serve_admin(admin, shared, async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    };
    let reloader = Reloader::new(
        args.config.clone(),
        Overrides {
            geoip: args.geoip.clone(),
            max_body_bytes: args.max_body_bytes,
            reload_settle: args.reload_settle_ms.map(Duration::from_millis),
        },
        shared.clone(),
        geoip_file,
    );
    reloader.loaded(&source);
    if let Some(t) = &server_tls {
        reloader.set_tls(t.clone());
    }
    let poll = match args.reload_poll_seconds {
        Some(0) => None,
        Some(n) => Some(Duration::from_secs(n)),
        None => server_settings.reload_poll,
    };
    let reload_task = {
        let mut rx = rx.clone();
        tokio::spawn(reloader.run(poll, !args.no_watch, async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    };
    // Accepting stops only after the shutdown delay; the admin listener stays up until
    // the proxy has drained, so /readyz can say 503 the whole time.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let drain = args
        .drain_timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(server_settings.drain_timeout);
    let delay = args
        .shutdown_delay_ms
        .map(Duration::from_millis)
        .unwrap_or(server_settings.shutdown_delay);
    let proxy = server::serve_with_drain(
        listener,
        shared.clone(),
        async move {
            let _ = stop_rx.await;
        },
        drain,
        acceptor,
    );
    let signal = async {
        shutdown_signal().await;
        tracing::info!(target: "customs::server", delay_ms = delay.as_millis() as u64, drain_ms = drain.as_millis() as u64, "shutting down: not ready; accepting stops after the delay, then connections drain");
        shared
            .ready
            .store(false, std::sync::atomic::Ordering::SeqCst);
        shared.metrics.draining.set(1);
        tokio::time::sleep(delay).await;
        let _ = stop_tx.send(());
    };
    let (drained, ()) = tokio::join!(proxy, signal);
    let _ = tx.send(true);
    let _ = admin_task.await;
    let _ = reload_task.await;
    for t in demo_tasks {
        t.abort();
    }
    if !drained.finished() {
        // Requests were cut: an orchestrator (and whoever reads its events) must not take
        // this for a clean stop.
        tracing::error!(target: "customs::server", requests_cut = drained.requests, connections_cut = drained.connections, "stopped before every connection drained");
        return Exit::Error;
    }
    tracing::info!(target: "customs::server", "stopped");
    Exit::Ok
}

fn resolve(config: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn demo_addr(url: &http::Uri) -> Option<SocketAddr> {
    if url.scheme_str() != Some("http") {
        return None;
    }
    let a = url.authority()?;
    let ip: std::net::IpAddr = a.host().trim_matches(['[', ']']).parse().ok()?;
    if !ip.is_loopback() {
        return None;
    }
    Some(SocketAddr::new(ip, a.port_u16().unwrap_or(80)))
}

/// A stand-in service: answers every request with what it received (sizes and tags,
/// never the body).
async fn demo_upstream(listener: TcpListener, name: String, region: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        let region = region.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let name = name.clone();
                let region = region.clone();
                async move {
                    let jur = req
                        .headers()
                        .get(crate::proxy::pipeline::JURISDICTIONS_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let path = req.uri().path().to_string();
                    let n = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().len())
                        .unwrap_or(0);
                    let body = serde_json::json!({
                        "upstream": name, "region": region, "path": path,
                        "received_bytes": n, "customs_jurisdictions": jur,
                    });
                    let mut r = Response::new(http_body_util::Full::new(bytes::Bytes::from(
                        format!("{body}\n"),
                    )));
                    *r.status_mut() = StatusCode::OK;
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Sends the three example requests through the proxy and describes what happened.
async fn demo_self_check(addr: &str) -> String {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, http_body_util::Full<bytes::Bytes>>(
        hyper_util::client::legacy::connect::HttpConnector::new(),
    );
    let cases: [(&str, &str, &[u8]); 3] = [
        (
            "a US user's record",
            "/crm/v1/contacts",
            include_bytes!("../../tests/fixtures/us-user.json"),
        ),
        (
            "a UK complainant inside a chat message",
            "/chat/im/v1/messages",
            include_bytes!("../../tests/fixtures/chat-message.json"),
        ),
        (
            "a German user's record",
            "/crm/v1/contacts",
            include_bytes!("../../tests/fixtures/eea-user.json"),
        ),
    ];
    let mut out = String::from("customs demo: three requests through the proxy\n");
    for (what, path, body) in cases {
        let req = http::Request::post(format!("http://{addr}{path}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(body)));
        let Ok(req) = req else { continue };
        let line = match client.request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let decision = header_str(resp.headers(), "customs-decision");
                let rerouted = header_str(resp.headers(), "customs-rerouted-to");
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                match status.as_u16() {
                    403 => format!(
                        "403 BLOCKED: rule {} forbids region `{}` (records {})",
                        v["rules"]
                            .as_array()
                            .map(|r| r
                                .iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default(),
                        v["destination_region"].as_str().unwrap_or("?"),
                        v["violating_records"]
                    ),
                    s if !rerouted.is_empty() => format!(
                        "{s} REROUTED to `{rerouted}` (upstream answered {})",
                        v["upstream"]
                    ),
                    s => format!(
                        "{s} {} to {}",
                        if decision == "allow" {
                            "FORWARDED"
                        } else {
                            &decision
                        },
                        v["upstream"]
                    ),
                }
            }
            Err(e) => format!("request failed: {e}"),
        };
        out.push_str(&format!("  POST {path:<22} {what:<42} → {line}\n"));
    }
    out
}

fn header_str(h: &http::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn demo_banner(listen: &str, admin: &str) -> String {
    format!(
        "\ncustoms demo: proxy on http://{listen}, admin on http://{admin}\n\
         stand-in upstreams: crm-us (us), crm-eu (eu), chat (cn)\n\n\
         try, from another terminal in this directory:\n\
         curl -s http://{listen}/crm/v1/contacts -H 'content-type: application/json' --data-binary @tests/fixtures/us-user.json\n\
         curl -s http://{listen}/chat/im/v1/messages -H 'content-type: application/json' --data-binary @tests/fixtures/chat-message.json\n\
         curl -s -i http://{listen}/crm/v1/contacts -H 'content-type: application/json' --data-binary @tests/fixtures/eea-user.json\n\
         curl -s http://{admin}/metrics | grep '^customs_requests_total'\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    /// Each write that reached the writer, and when.
    type Writes = Vec<(Instant, Vec<u8>)>;

    /// Records each write that reaches it.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Writes>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push((Instant::now(), buf.to_vec()));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_are_written_together_and_flushes_are_paced() {
        let pace = Duration::from_millis(30);
        let rec = Recorder::default();
        let mut w = Paced::new(rec.clone(), pace);
        w.write_all(b"one\n").unwrap();
        assert!(rec.0.lock().unwrap().is_empty(), "held until a flush");
        w.flush().unwrap();
        // Lines queued while the log thread waits go out in one write.
        w.write_all(b"two\n").unwrap();
        w.write_all(b"three\n").unwrap();
        w.flush().unwrap();
        w.write_all(b"four\n").unwrap();
        w.flush().unwrap();
        let got = rec.0.lock().unwrap().clone();
        let chunks: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(
            chunks,
            [&b"one\n"[..], &b"two\nthree\n"[..], &b"four\n"[..]]
        );
        for pair in got.windows(2) {
            assert!(
                pair[1].0.duration_since(pair[0].0) >= pace,
                "writes closer than the pace"
            );
        }
        // Dropped (at exit), what is buffered is written.
        w.write_all(b"five\n").unwrap();
        drop(w);
        assert_eq!(rec.0.lock().unwrap().last().unwrap().1, b"five\n");
    }
}
