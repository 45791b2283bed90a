//! Test harness: recording upstreams on 127.0.0.1:0, the proxy started in-process on
//! 127.0.0.1:0 (it takes a bound listener and a shutdown future), and real HTTP clients.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use customs::geo::MaxMindGeo;
use customs::metrics::Metrics;
use customs::proxy::{Runtime, Shared, server, upstream};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures").join(name)).unwrap()
}

/// What an upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Recorded>>>,
    _stop: oneshot::Sender<()>,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        Self::start_with(name, Duration::ZERO).await
    }

    /// An upstream that records every request and answers `200 ok from NAME` after `delay`.
    pub async fn start_with(name: &'static str, delay: Duration) -> Self {
        Self::start_at("127.0.0.1:0", name, delay).await
    }

    /// As [`start_with`], bound on `bind` (e.g. `127.0.0.2:0`).
    pub async fn start_at(bind: &str, name: &'static str, delay: Duration) -> Self {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let (tx, mut rx) = oneshot::channel::<()>();
        let rec = received.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = &mut rx => break,
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let rec = rec.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            rec.lock().unwrap().push(Recorded {
                                method: parts.method.to_string(),
                                path_and_query: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body,
                            });
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            let mut r =
                                Response::new(Full::new(Bytes::from(format!("ok from {name}"))));
                            r.headers_mut()
                                .insert("x-upstream", http::HeaderValue::from_static(name));
                            r.headers_mut()
                                .insert("connection", http::HeaderValue::from_static("keep-alive"));
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            received,
            _stop: tx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// A loopback address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// The example policy with its upstream URLs pointed at the given servers.
pub fn example_policy(crm_us: &str, crm_eu: &str, chat: &str) -> String {
    let src = std::fs::read_to_string(root().join("config/policy.toml")).unwrap();
    src.replace("http://127.0.0.1:18081", crm_us)
        .replace("http://127.0.0.1:18082", crm_eu)
        .replace("http://127.0.0.1:18083", chat)
        .replace("../geoip/", &format!("{}/geoip/", root().display()))
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(policy_src: &str) -> Self {
        let (policy, _) = customs::policy::load(policy_src)
            .unwrap_or_else(|d| panic!("invalid test policy: {d:?}"));
        let geo = MaxMindGeo::open(&root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
        let client = upstream::build(policy.server.connect_timeout, None).unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let shared = Arc::new(Shared::new(
            Runtime {
                policy,
                geo: Arc::new(geo),
            },
            client,
            metrics,
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let (atx, arx) = tokio::sync::watch::channel(false);
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut arx2 = arx.clone();
            let admin_task = tokio::spawn(server::serve_admin(admin, s.clone(), async move {
                let _ = arx2.wait_for(|v| *v).await;
            }));
            server::serve(listener, s, async move {
                let _ = rx.await;
            })
            .await;
            let _ = atx.send(true);
            let _ = admin_task.await;
            drop(arx);
        });
        Proxy {
            addr,
            admin: admin_addr,
            shared,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn metrics(&self) -> String {
        let (s, _, b) = get(&format!("http://{}/metrics", self.admin)).await;
        assert_eq!(s, StatusCode::OK);
        String::from_utf8(b.to_vec()).unwrap()
    }

    /// Stops accepting and waits for connections in flight to drain.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

/// The value of one sample line of the Prometheus text, e.g.
/// `metric(&text, "customs_requests_total{route=\"crm\",action=\"allow\",reason=\"in_region\"}")`.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn http1() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn http2() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

pub async fn send(
    client: &TestClient,
    req: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Bytes) {
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

pub async fn post(
    url: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    let req = Request::post(url)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap();
    send(&http1(), req).await
}

pub async fn get(url: &str) -> (StatusCode, HeaderMap, Bytes) {
    send(
        &http1(),
        Request::get(url).body(Full::new(Bytes::new())).unwrap(),
    )
    .await
}

pub fn json(b: &Bytes) -> serde_json::Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

/// Three recording upstreams and the example policy's proxy in front of them.
pub struct Setup {
    pub crm_us: Upstream,
    pub crm_eu: Upstream,
    pub chat: Upstream,
    pub proxy: Proxy,
}

impl Setup {
    pub async fn new() -> Self {
        Self::with(|s| s).await
    }

    pub async fn with(edit: impl FnOnce(String) -> String) -> Self {
        let crm_us = Upstream::start("crm-us").await;
        let crm_eu = Upstream::start("crm-eu").await;
        let chat = Upstream::start("chat").await;
        let src = edit(example_policy(&crm_us.url(), &crm_eu.url(), &chat.url()));
        let proxy = Proxy::start(&src).await;
        Setup {
            crm_us,
            crm_eu,
            chat,
            proxy,
        }
    }

    pub fn total_received(&self) -> usize {
        self.crm_us.count() + self.crm_eu.count() + self.chat.count()
    }
}

// ---- the built binary, as users run it ----

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking `GET` over a fresh connection: (status, body).
pub fn get_blocking(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Starts `customs SUBCOMMAND --config CFG EXTRA...` on free ports, retrying if a port
/// was taken between choosing and binding it. Returns the child and the proxy and admin
/// addresses.
pub fn start_binary(
    sub: &str,
    cfg: &std::path::Path,
    extra: &[&str],
    capture_stdout: bool,
) -> (std::process::Child, String, String) {
    use std::process::{Command, Stdio};
    for _ in 0..5 {
        let listen = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_customs"))
            .current_dir(root())
            .args([
                sub,
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                &listen,
                "--admin-listen",
                &admin,
            ])
            .args(extra)
            .stdout(if capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        match wait_ready(&admin, &mut child) {
            Ok(()) => return (child, listen, admin),
            Err(e) if e.contains("cannot listen") || e.contains("Address already in use") => {
                continue;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no free ports");
}

pub fn wait_ready(admin: &str, child: &mut std::process::Child) -> Result<(), String> {
    use std::io::Read;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("customs exited early: {status}: {err}"));
        }
        if get_blocking(admin, "/readyz").is_some_and(|(s, _)| s == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    Err("customs did not become ready".into())
}

pub fn signal(child: &std::process::Child, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status();
}

/// Sends SIGTERM and waits (bounded) for the exit.
pub fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    signal(child, "TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("customs did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The loaded policy's hash, from /metrics.
pub fn loaded_hash(admin: &str) -> Option<String> {
    let (_, body) = get_blocking(admin, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix("customs_policy_info{hash=\""))
        .and_then(|r| r.split('"').next())
        .map(str::to_string)
}

/// Polls `f` every 50 ms until it holds or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The proxy in-process on `127.0.0.1:0` with the policy `src`, the GeoIP database at
/// `geo_file` (relative to the repository) and `resolver` for upstream names.
pub async fn serve_policy(
    src: &str,
    geo_file: &str,
    resolver: customs::proxy::destination::PinningResolver,
) -> (SocketAddr, Arc<Shared>) {
    let (policy, _) =
        customs::policy::load(src).unwrap_or_else(|d| panic!("invalid test policy: {d:?}"));
    let geo = MaxMindGeo::open(&root().join(geo_file)).unwrap();
    let client = upstream::build_with(policy.server.connect_timeout, None, None, resolver).unwrap();
    let shared = Arc::new(Shared::new(
        Runtime {
            policy,
            geo: Arc::new(geo),
        },
        client,
        Arc::new(Metrics::new().unwrap()),
    ));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(server::serve(l, shared.clone(), std::future::pending()));
    (addr, shared)
}

/// Writes `request` (raw bytes, as a client that does its own HTTP would) on a fresh
/// connection and reads until the peer closes or 3 s pass: the raw response, and whether
/// the peer closed the connection.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

// Content codings, for bodies sent with `Content-Encoding`.

pub fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
pub fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
pub fn raw_deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
pub fn br(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &b[..], &mut out, &Default::default()).unwrap();
    out
}
pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).unwrap()
}
