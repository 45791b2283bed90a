//! The fault suite: what an SRE or an attacker does to a running customs, over real
//! sockets, with an oracle for each.
//!
//! - a policy rewritten in small writes (and paused mid-file) while traffic flows:
//!   every decision is the old complete policy's or the new complete policy's;
//! - a policy truncated at every TOML table boundary, written in place: never loaded;
//! - ConfigMap-style symlink swaps under traffic: the same oracle;
//! - concurrent large uploads against the memory budget: each forwarded whole or refused
//!   `503 overloaded`, nothing half-forwarded, the budget never exceeded;
//! - upstreams that close idle connections silently (right after each response, after a
//!   short idle time): no request fails for it;
//! - file-descriptor exhaustion (`ulimit -n`): customs keeps serving once descriptors
//!   free up, and logs the failures at most once a second;
//! - slow and resetting upstreams: 504 and 502, and the next request is served;
//! - SIGTERM mid-request: a drain cut short by its timeout exits non-zero.
//!
//! Each runs short by default (the whole file in well under a minute). With
//! `CUSTOMS_FAULTS=long` they run at the sizes `RELIABILITY.md` reports (10,000 requests
//! against closing upstreams, 400 uploads of 8 MiB).

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use customs::proxy::reload::{Overrides, Reloader};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn long() -> bool {
    std::env::var("CUSTOMS_FAULTS").is_ok_and(|v| v == "long")
}

/// `short` normally, `long` with `CUSTOMS_FAULTS=long`.
fn scale(short: usize, long_: usize) -> usize {
    if long() { long_ } else { short }
}

// ---- upstreams that close connections silently ----

/// How a [`Closer`] ends its connections: never with `Connection: close`.
#[derive(Clone, Copy, Debug)]
enum Closing {
    /// Right after each response.
    AfterEachResponse,
    /// After the connection has been idle this long (as Node.js does after 5 s).
    AfterIdle(Duration),
}

/// An HTTP/1.1 upstream written by hand (hyper would not misbehave on purpose): it
/// answers `200` with `Content-Length` and keep-alive semantics, then closes as `how`
/// says, without a word. Counts requests and bodies received whole.
struct Closer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Closer {
    async fn start(how: Closing) -> Closer {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let n = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let n = n.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let read = match how {
                            Closing::AfterIdle(d) => {
                                match tokio::time::timeout(d, read_request(&mut s, &mut buf)).await
                                {
                                    Ok(r) => r,
                                    Err(_) => return, // idle too long: dropped, silently
                                }
                            }
                            Closing::AfterEachResponse => read_request(&mut s, &mut buf).await,
                        };
                        if !read {
                            return;
                        }
                        n.fetch_add(1, Ordering::SeqCst);
                        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(r).await.is_err() {
                            return;
                        }
                        if let Closing::AfterEachResponse = how {
                            return;
                        }
                    }
                });
            }
        });
        Closer { addr, requests }
    }
}

/// Reads one request (head, then a `Content-Length` body) from `s`, keeping what follows
/// in `buf`. `false` at the end of the stream.
async fn read_request(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = req.parse(buf) {
            let len: usize = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= head + len {
                buf.drain(..head + len);
                return true;
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// The example policy with every upstream at `url`, each with `idle` (if set).
fn policy_at(url: &str, idle_ms: Option<u64>) -> String {
    let src = example_policy(url, url, url);
    match idle_ms {
        Some(ms) => src.replace(
            "region = \"us\"\nalternatives",
            &format!("region = \"us\"\nidle_timeout_ms = {ms}\nalternatives"),
        ),
        None => src,
    }
}

/// Gaps between requests, in milliseconds: drawn from `short`, and one in `every` from
/// `long` (around the upstream's idle timeout).
struct Gaps<'a> {
    short: &'a [u64],
    long: &'a [u64],
    every: u64,
}

/// `n` US records to the CRM through one keep-alive client, with random gaps. Returns
/// the statuses that were not 200.
async fn send_with_gaps(proxy: &Proxy, n: usize, gaps: Gaps<'_>, seed: u64) -> Vec<String> {
    let client = http1();
    let body = Bytes::from(fixture("us-user.json"));
    let mut rng = seed;
    let mut failures = Vec::new();
    for _ in 0..n {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = rng >> 33;
        let gap = if pick % gaps.every == 0 && !gaps.long.is_empty() {
            gaps.long[(pick / gaps.every) as usize % gaps.long.len()]
        } else {
            gaps.short[pick as usize % gaps.short.len()]
        };
        if gap > 0 {
            tokio::time::sleep(Duration::from_millis(gap)).await;
        }
        let req = http::Request::post(proxy.url("/crm/v1/contacts"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(body.clone()))
            .unwrap();
        match client.request(req).await {
            Ok(r) if r.status() == StatusCode::OK => {}
            Ok(r) => failures.push(r.status().to_string()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_after_each_response_costs_no_request() {
    // Right after each response: every pooled connection is dead when reused.
    let up = Closer::start(Closing::AfterEachResponse).await;
    let proxy = Proxy::start(&policy_at(&format!("http://{}", up.addr), None)).await;
    let n = scale(400, 10_000);
    let gaps = Gaps {
        short: &[0, 0, 0, 1, 2],
        long: &[],
        every: 1,
    };
    let failures = send_with_gaps(&proxy, n, gaps, 1).await;
    assert_eq!(
        failures,
        Vec::<String>::new(),
        "closing after each response"
    );
    assert_eq!(
        up.requests.load(Ordering::SeqCst),
        n,
        "each request reached it once"
    );
    let m = proxy.metrics().await;
    eprintln!(
        "after each response: {n} requests, 0 errors, {} sent again on a fresh connection",
        metric(&m, r#"customs_upstream_retries_total{upstream="crm-us"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_after_300_ms_idle_costs_no_request() {
    // After 300 ms idle, with gaps around that (and the policy's idle timeout below it).
    let up = Closer::start(Closing::AfterIdle(Duration::from_millis(300))).await;
    let proxy = Proxy::start(&policy_at(&format!("http://{}", up.addr), Some(200))).await;
    let n = scale(60, 10_000);
    let gaps = Gaps {
        short: &[0, 0, 0, 1, 2, 5],
        long: &[150, 199, 200, 201, 250, 290, 299, 300, 301, 310],
        every: if long() { 10 } else { 3 },
    };
    let failures = send_with_gaps(&proxy, n, gaps, 2).await;
    assert_eq!(failures, Vec::<String>::new(), "closing after 300 ms idle");
    assert_eq!(up.requests.load(Ordering::SeqCst), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: CUSTOMS_FAULTS=long cargo test --test faults -- --ignored"]
async fn upstreams_that_close_after_five_seconds_idle_cost_no_request() {
    // Node.js's default: 5 s. The default upstream idle timeout (4 s) lets go first.
    let up = Closer::start(Closing::AfterIdle(Duration::from_secs(5))).await;
    let proxy = Proxy::start(&policy_at(&format!("http://{}", up.addr), None)).await;
    let n = scale(100, 10_000);
    let gaps = Gaps {
        short: &[0, 0, 0, 1, 2, 5, 10, 100],
        long: &[3_900, 4_000, 4_100, 4_990, 5_000, 5_010],
        every: if long() { 100 } else { 10 },
    };
    let failures = send_with_gaps(&proxy, n, gaps, 3).await;
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(up.requests.load(Ordering::SeqCst), n);
}

// ---- the memory budget ----

/// An upstream that reads each body whole and counts the bytes (it keeps none).
struct Sink {
    addr: SocketAddr,
    bodies: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl Sink {
    async fn start() -> Sink {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let bodies: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
        let b = bodies.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let b = b.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let b = b.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let mut body = req.into_body();
                                let mut n = 0;
                                while let Some(Ok(f)) = body.frame().await {
                                    n += f.data_ref().map_or(0, |d| d.len());
                                }
                                b.lock().unwrap().push(n);
                                Ok::<_, std::convert::Infallible>(http::Response::new(
                                    http_body_util::Full::new(Bytes::from_static(b"ok")),
                                ))
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
                });
            }
        });
        Sink { addr, bodies }
    }
}

/// A JSON body of `size` bytes: one US user and a long note.
fn big_body(size: usize) -> Bytes {
    let head = br#"{"email":"olivia.carter@example.org","country":"US","note":""#;
    let tail = br#""}"#;
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(head);
    v.resize(size - tail.len(), b'a');
    v.extend_from_slice(tail);
    Bytes::from(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_uploads_stay_within_the_memory_budget() {
    let sink = Sink::start().await;
    let url = format!("http://{}", sink.addr);
    let budget = 64 * 1024 * 1024;
    let src = example_policy(&url, &url, &url)
        .replace(
            "memory_budget_bytes = 134217728",
            &format!("memory_budget_bytes = {budget}"),
        )
        .replace("admission_wait_ms = 500", "admission_wait_ms = 200")
        .replace("max_string_bytes = 1048576", "max_string_bytes = 8388608");
    let proxy = Arc::new(Proxy::start(&src).await);
    let size = 8 * 1024 * 1024 - 1024;
    let body = big_body(size);
    let n = scale(48, 400);
    let mut tasks = Vec::new();
    for i in 0..n {
        let (proxy, body) = (proxy.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            // Half declare their length, half are sent chunked.
            let req = http::Request::post(proxy.url("/crm/v1/import"))
                .header("content-type", "application/json");
            if i % 2 == 0 {
                post(&proxy.url("/crm/v1/import"), "application/json", body).await
            } else {
                let stream = http_body_util::StreamBody::new(futures_stream(body));
                let req = req.body(stream).unwrap();
                let client = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
                let r = client.request(req).await.unwrap();
                let (parts, b) = r.into_parts();
                use http_body_util::BodyExt;
                (
                    parts.status,
                    parts.headers,
                    b.collect().await.unwrap().to_bytes(),
                )
            }
        }));
    }
    let (mut ok, mut overloaded) = (0, 0);
    for t in tasks {
        let (status, headers, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                overloaded += 1;
                assert_eq!(headers["retry-after"], "1");
                assert_eq!(headers["content-type"], "application/problem+json");
                assert_eq!(json(&body)["reason"], "overloaded");
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    let received = sink.bodies.lock().unwrap().clone();
    assert_eq!(received.len(), ok, "every 200 was forwarded, no 503 was");
    assert!(
        received.iter().all(|n| *n == size),
        "forwarded whole: {received:?}"
    );
    let peak = proxy.shared.budget.peak();
    assert!(peak <= budget, "peak {peak} over the budget {budget}");
    assert!(ok > 0 && overloaded > 0, "ok {ok}, overloaded {overloaded}");
    assert_eq!(
        proxy.shared.budget.used(),
        0,
        "every reservation was given back"
    );
    let m = proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="overloaded"}"#
        ),
        overloaded as f64
    );
    eprintln!(
        "{n} uploads of {size} B: {ok} forwarded whole, {overloaded} refused 503; peak held {peak} of {budget}"
    );
}

/// A body as a stream of 64 KiB frames, without a length.
fn futures_stream(
    body: Bytes,
) -> impl futures_core::Stream<Item = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> {
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(64 * 1024)
        .map(|i| body.slice(i..(i + 64 * 1024).min(body.len())))
        .collect();
    Frames(chunks.into_iter())
}

struct Frames(std::vec::IntoIter<Bytes>);

impl futures_core::Stream for Frames {
    type Item = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.next().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

// ---- policies rewritten while traffic flows ----

/// The example policy with the UK rule moved to the end of the file and subjects of
/// unassigned countries allowed: cut before its last table, this policy is still valid
/// but no longer protects UK subjects, the half-written file of the incident.
fn uk_last(policy: &str) -> String {
    let start = policy.find("[jurisdictions.UK]").unwrap();
    let end = policy.find("# Upstreams: where requests go.").unwrap();
    let uk = &policy[start..end];
    let without = format!("{}{}", &policy[..start], &policy[end..]);
    format!("{without}\n{uk}").replace(
        "[unassigned]\ntreat_as = \"strictest\"",
        "[unassigned]\ntreat_as = \"allow\"",
    )
}

/// The old and the new complete policy: the new one blocks EEA subjects' records that
/// the old one reroutes. Both block a UK complainant's chat message; a truncation of
/// either before its last table forwards it.
fn old_and_new(upstreams: (&str, &str, &str)) -> (String, String) {
    let old = uk_last(&example_policy(upstreams.0, upstreams.1, upstreams.2));
    let new = old.replacen(
        "include = [\"EEA\"]\nallowed_regions = [\"eu\"]\non_violation = \"reroute\"",
        "include = [\"EEA\"]\nallowed_regions = [\"eu\"]\non_violation = \"block\"",
        1,
    );
    assert_ne!(old, new);
    (old, new)
}

/// Writes `text` over `path` in place, as editors, `cp` and config management do: one
/// open (truncating), `chunk`-byte writes `gap` apart, and a pause of `pause` (with the
/// file still open) once `pause_at` bytes are written.
fn write_in_place(
    path: &Path,
    text: &str,
    chunk: usize,
    gap: Duration,
    pause_at: usize,
    pause: Duration,
) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let b = text.as_bytes();
    let mut at = 0;
    while at < b.len() {
        let mut end = (at + chunk).min(b.len());
        if at < pause_at && end >= pause_at {
            end = pause_at;
        }
        f.write_all(&b[at..end]).unwrap();
        f.flush().unwrap();
        at = end;
        if at == pause_at {
            std::thread::sleep(pause);
        } else if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
}

struct Watched {
    proxy: Proxy,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

/// A proxy started on `old`, its policy file at `dir/policy.toml`, and a reloader running
/// every trigger (watch and/or a 100 ms poll) with `settle`.
async fn watched(old: &str, watch: bool, settle: Duration) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, old).unwrap();
    let proxy = Proxy::start(old).await;
    let db = root().join("geoip/geo-whois-asn-country.mmdb");
    let reloader = Reloader::new(
        path.clone(),
        Overrides {
            geoip: Some(db.clone()),
            max_body_bytes: None,
            reload_settle: Some(settle),
        },
        proxy.shared.clone(),
        db,
    );
    reloader.loaded(old);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    // Ready once the reloader's triggers are in place (as `customs run` reports it).
    proxy.shared.ready.store(false, Ordering::SeqCst);
    tokio::spawn(
        reloader.run(Some(Duration::from_millis(100)), watch, async move {
            let _ = rx.await;
        }),
    );
    while !proxy.shared.ready.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Watched {
        proxy,
        stop,
        _dir: dir,
        path,
    }
}

/// What a response says was decided: `block`, `reroute:crm-eu`, `allow:crm-us`...
async fn decided(client: &TestClient, url: &str, body: &'static [u8]) -> String {
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(body)))
        .unwrap();
    match client.request(req).await {
        Ok(r) if r.status() == StatusCode::FORBIDDEN => "block".into(),
        Ok(r) if r.status() == StatusCode::OK => format!(
            "{}:{}",
            r.headers()
                .get("customs-decision")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?"),
            r.headers()
                .get("x-upstream")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
        ),
        Ok(r) => format!("status {}", r.status()),
        Err(e) => format!("error {e}"),
    }
}

/// Traffic until `stop`: a UK complainant's chat message, an EEA user's record and a US
/// user's record, over and over; every decision seen for each.
fn traffic(proxy: &Proxy, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<(usize, String)>> {
    let base = proxy.url("");
    tokio::spawn(async move {
        let client = http1();
        let chat: &'static [u8] = include_bytes!("fixtures/chat-message.json");
        let eea: &'static [u8] = include_bytes!("fixtures/eea-user.json");
        let us: &'static [u8] = include_bytes!("fixtures/us-user.json");
        let mut seen = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            for (kind, path, body) in [
                (0, "/chat/im/v1/messages", chat),
                (1, "/crm/v1/contacts", eea),
                (2, "/crm/v1/contacts", us),
            ] {
                seen.push((kind, decided(&client, &format!("{base}{path}"), body).await));
            }
        }
        seen
    })
}

/// Every decision is the old complete policy's or the new one's: a UK message blocked
/// (both), an EEA record rerouted to crm-eu (old) or blocked (new), a US record allowed.
fn assert_old_or_new(seen: &[(usize, String)]) {
    let allowed: [&[&str]; 3] = [&["block"], &["reroute:crm-eu", "block"], &["allow:crm-us"]];
    let wrong: Vec<&(usize, String)> = seen
        .iter()
        .filter(|(k, d)| !allowed[*k].contains(&d.as_str()))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} decisions were neither the old policy's nor the new one's: {:?}",
        wrong.len(),
        seen.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_rewritten_in_small_writes_under_traffic_is_old_or_new_never_half() {
    let chat = Upstream::start("chat").await;
    let crm_us = Upstream::start("crm-us").await;
    let crm_eu = Upstream::start("crm-eu").await;
    let (old, new) = old_and_new((&crm_us.url(), &crm_eu.url(), &chat.url()));
    // The writer pauses longer than the settle time: the unclosed write holds the reload.
    let w = watched(&old, true, Duration::from_millis(600)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let t = traffic(&w.proxy, stop.clone());
    let uk_at = new.find("[jurisdictions.UK]").unwrap();
    let rounds = scale(2, 10);
    for round in 0..rounds {
        let text = if round % 2 == 0 { &new } else { &old };
        let path = w.path.clone();
        let text = text.clone();
        // 64-byte writes 1 ms apart, and a pause of 1 s just before the UK rule.
        tokio::task::spawn_blocking(move || {
            write_in_place(
                &path,
                &text,
                64,
                Duration::from_millis(1),
                uk_at,
                Duration::from_secs(1),
            )
        })
        .await
        .unwrap();
        let want = customs::policy::hash(if round % 2 == 0 { &new } else { &old });
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.proxy.shared.runtime.load().policy.hash != want {
            assert!(
                Instant::now() < deadline,
                "round {round}: the complete file was not loaded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let seen = t.await.unwrap();
    assert_old_or_new(&seen);
    assert_eq!(
        chat.count(),
        0,
        "a UK complainant's message reached the chat service"
    );
    let m = w.proxy.metrics().await;
    assert_eq!(
        metric(&m, r#"customs_reloads_total{result="success"}"#),
        rounds as f64,
        "one reload per change"
    );
    // Not asserted: `customs_reloads_total{result="error"}`. On a loaded machine (the
    // whole suite in parallel) a reload has once read a file mid-write and had it refused
    // by validation, which keeps the old policy: the oracle above is what must hold.
    eprintln!(
        "{} decisions while the policy was rewritten {rounds} times: all old or new",
        seen.len()
    );
    let _ = w.stop.send(());
}

/// Every prefix of the new policy that ends at a table's header, written in place with
/// the writer pausing there: never loaded, with the watcher (the pause outlasts the
/// settle time: the unclosed write holds it) and without (the settle time outlasts the
/// pause). The oracle is the policy in force, sampled every 10 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncations_at_every_table_boundary_are_never_loaded() {
    let (old, new) = old_and_new((
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    ));
    let boundaries: Vec<usize> = new.match_indices("\n[").map(|(i, _)| i + 1).collect();
    assert!(boundaries.len() >= 20, "{}", boundaries.len());
    // Valid prefixes are the dangerous ones: they would load if nothing waited.
    let valid = boundaries
        .iter()
        .filter(|b| customs::policy::load(&new[..**b]).is_ok())
        .count();
    assert!(valid >= 3, "only {valid} prefixes are valid policies");
    let (old_hash, new_hash) = (customs::policy::hash(&old), customs::policy::hash(&new));
    let mut runs = Vec::new();
    for (watch, settle, pause) in [
        (true, Duration::from_millis(150), Duration::from_millis(600)),
        (
            false,
            Duration::from_millis(600),
            Duration::from_millis(300),
        ),
    ] {
        for &b in &boundaries {
            let (old, new) = (old.clone(), new.clone());
            let (old_hash, new_hash) = (old_hash.clone(), new_hash.clone());
            runs.push(tokio::spawn(async move {
                let w = watched(&old, watch, settle).await;
                let path = w.path.clone();
                let text = new.clone();
                let writer = tokio::task::spawn_blocking(move || {
                    write_in_place(&path, &text, 4096, Duration::ZERO, b, pause)
                });
                let mut seen = HashSet::new();
                let deadline = Instant::now() + Duration::from_secs(8);
                loop {
                    let h = w.proxy.shared.runtime.load().policy.hash.clone();
                    seen.insert(h.clone());
                    if (h == new_hash && writer.is_finished()) || Instant::now() > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                writer.await.unwrap();
                let _ = w.stop.send(());
                seen.remove(&old_hash);
                let loaded_new = seen.remove(&new_hash);
                (watch, b, loaded_new, seen)
            }));
        }
    }
    for r in runs {
        let (watch, b, loaded_new, others) = r.await.unwrap();
        assert!(
            others.is_empty(),
            "watch {watch}: the prefix ending at byte {b} was loaded"
        );
        assert!(
            loaded_new,
            "watch {watch}, boundary {b}: the complete file was never loaded"
        );
    }
}

/// A Kubernetes ConfigMap update swaps the `..data` symlink to a new directory, atomically;
/// swapped back and forth under traffic, every decision is one of the two policies'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_symlink_swaps_under_traffic_are_old_or_new() {
    let chat = Upstream::start("chat").await;
    let crm_us = Upstream::start("crm-us").await;
    let crm_eu = Upstream::start("crm-eu").await;
    let (old, new) = old_and_new((&crm_us.url(), &crm_eu.url(), &chat.url()));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, text) in [("..v0", &old), ("..v1", &new)] {
        std::fs::create_dir(d.join(name)).unwrap();
        std::fs::write(d.join(name).join("policy.toml"), text).unwrap();
    }
    std::os::unix::fs::symlink("..v0", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/policy.toml", d.join("policy.toml")).unwrap();
    let proxy = Proxy::start(&old).await;
    let db = root().join("geoip/geo-whois-asn-country.mmdb");
    let reloader = Reloader::new(
        d.join("policy.toml"),
        Overrides {
            geoip: Some(db.clone()),
            max_body_bytes: None,
            reload_settle: Some(Duration::from_millis(100)),
        },
        proxy.shared.clone(),
        db,
    );
    reloader.loaded(&old);
    let (stop_reload, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        reloader.run(Some(Duration::from_millis(100)), true, async move {
            let _ = rx.await;
        }),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let t = traffic(&proxy, stop.clone());
    let swaps = scale(6, 30);
    for i in 0..swaps {
        let target = if i % 2 == 0 { "..v1" } else { "..v0" };
        std::os::unix::fs::symlink(target, d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        let want = customs::policy::hash(if i % 2 == 0 { &new } else { &old });
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.shared.runtime.load().policy.hash != want {
            assert!(Instant::now() < deadline, "swap {i} was not picked up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let seen = t.await.unwrap();
    assert_old_or_new(&seen);
    assert_eq!(chat.count(), 0);
    let m = proxy.metrics().await;
    assert_eq!(
        metric(&m, r#"customs_reloads_total{result="success"}"#),
        swaps as f64,
        "one reload per swap"
    );
    let _ = stop_reload.send(());
}

// ---- the built binary under faults ----

/// `customs run` with `extra` flags under `sh -c 'ulimit -n FDS; exec customs ...'`, its
/// log lines collected as they come.
struct Binary {
    child: std::process::Child,
    listen: String,
    admin: String,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Binary {
    fn start(cfg: &Path, fds: Option<u32>, extra: &[&str]) -> Binary {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let listen = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let mut cmd = format!(
            "exec '{}' run --config '{}' --listen {listen} --admin-listen {admin}",
            env!("CARGO_BIN_EXE_customs"),
            cfg.display()
        );
        for e in extra {
            cmd.push(' ');
            cmd.push_str(e);
        }
        if let Some(n) = fds {
            cmd = format!("ulimit -n {n} && {cmd}");
        }
        let mut child = Command::new("sh")
            .args(["-c", &cmd])
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let out = child.stdout.take().unwrap();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        wait_ready(&admin, &mut child).unwrap();
        Binary {
            child,
            listen,
            admin,
            lines,
        }
    }

    fn count(&self, message: &str) -> usize {
        let want = format!("\"message\":\"{message}\"");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&want))
            .count()
    }

    /// Peak resident memory (`VmHWM`), in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    }
}

#[test]
fn file_descriptor_exhaustion_is_survived_and_logged_at_most_once_a_second() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(Upstream::start("crm-us"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, example_policy(&up.url(), &up.url(), &up.url())).unwrap();
    let mut b = Binary::start(&cfg, Some(64), &["--reload-poll-seconds", "1"]);
    // More idle connections than descriptors: accepts fail with EMFILE for 3 s, and the
    // reloads that poll meanwhile cannot open the policy file.
    let exhausted = Instant::now();
    let hogs: Vec<std::net::TcpStream> = (0..120)
        .filter_map(|_| std::net::TcpStream::connect(&b.listen).ok())
        .collect();
    assert!(hogs.len() > 64, "{} connections", hogs.len());
    std::thread::sleep(Duration::from_secs(3));
    signal(&b.child, "HUP");
    std::thread::sleep(Duration::from_millis(500));
    drop(hogs);
    let secs = exhausted.elapsed().as_secs() as usize + 1;
    // Serving again once descriptors are free.
    let url = format!("http://{}/crm/v1/contacts", b.listen);
    assert!(
        eventually(10, || {
            rt.block_on(post(&url, "application/json", fixture("us-user.json")))
                .0
                == StatusCode::OK
        }),
        "not serving after the descriptors came back"
    );
    let (_, m) = get_blocking(&b.admin, "/metrics").unwrap();
    assert!(
        metric(&m, "customs_accept_errors_total") > 0.0,
        "no accept failed"
    );
    let accept_logs = b.count("accept failed: backing off");
    assert!(
        (1..=secs + 1).contains(&accept_logs),
        "{accept_logs} accept-failure lines in {secs} s"
    );
    let reload_logs = b.count("reload failed: keeping the policy and database in use");
    assert!(reload_logs <= 2, "{reload_logs} reload-failure lines");
    eprintln!(
        "descriptor exhaustion: {} failed accepts, {accept_logs} lines for them, {reload_logs} for reloads",
        metric(&m, "customs_accept_errors_total")
    );
    assert!(terminate(&mut b.child).success());
}

#[test]
fn a_drain_cut_short_by_its_timeout_exits_non_zero_and_says_how_many() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = rt.block_on(Upstream::start_with("crm-us", Duration::from_secs(5)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, example_policy(&slow.url(), &slow.url(), &slow.url())).unwrap();
    let mut b = Binary::start(&cfg, None, &["--drain-timeout-ms", "300"]);
    let url = format!("http://{}/crm/v1/contacts", b.listen);
    let inflight: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            rt.spawn(async move {
                let req = http::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(Bytes::from(fixture(
                        "us-user.json",
                    ))))
                    .unwrap();
                http1().request(req).await.map(|r| r.status())
            })
        })
        .collect();
    assert!(eventually(5, || slow.count() == 2));
    signal(&b.child, "TERM");
    let status = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = b.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(status.code(), Some(1), "{status}");
    std::thread::sleep(Duration::from_millis(100));
    let lines = b.lines.lock().unwrap().clone();
    let cut = lines
        .iter()
        .find(|l| l.contains("drain timeout"))
        .unwrap_or_else(|| panic!("no drain-timeout line in {lines:#?}"));
    assert!(cut.contains("\"requests_cut\":2"), "{cut}");
    for t in inflight {
        // Cut: the callers got no response.
        assert!(rt.block_on(t).unwrap().is_err());
    }
}

/// The memory budget as the kernel sees it: the binary's peak resident memory while
/// many large uploads arrive at once stays under the budget plus its resident memory
/// when idle plus a stated cost per open connection (`RELIABILITY.md`). Every upload is
/// forwarded whole or refused with a clean `503` (the refused body is read and dropped,
/// so the caller sees the response, not a reset).
#[test]
fn large_uploads_to_the_binary_stay_within_budget_plus_baseline() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(Sink::start());
    let url = format!("http://{}", sink.addr);
    let budget: u64 = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    let src = example_policy(&url, &url, &url)
        .replace(
            "memory_budget_bytes = 134217728",
            &format!("memory_budget_bytes = {budget}"),
        )
        .replace("max_string_bytes = 1048576", "max_string_bytes = 8388608");
    std::fs::write(&cfg, src).unwrap();
    let b = Binary::start(&cfg, None, &[]);
    let baseline = b.peak_rss();
    let size = 8 * 1024 * 1024 - 1024;
    let body = big_body(size);
    let n = scale(48, 400);
    let url = format!("http://{}/crm/v1/import", b.listen);
    let statuses: Vec<StatusCode> = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (url, body) = (url.clone(), body.clone());
                tokio::spawn(async move { post(&url, "application/json", body).await.0 })
            })
            .collect();
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await.unwrap());
        }
        v
    });
    let peak = b.peak_rss();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(ok + refused, n, "{statuses:?}");
    let received = sink.bodies.lock().unwrap().clone();
    assert_eq!(received.len(), ok);
    assert!(received.iter().all(|r| *r == size));
    // What each open connection costs beside its body (hyper's buffers, the task, the
    // allocator's slack): ~85 KiB measured with 400; 100 KiB allowed, and 16 MiB.
    let margin = 16 * 1024 * 1024 + n as u64 * 100 * 1024;
    eprintln!(
        "{n} uploads of {size} B to the binary: {ok} forwarded, {refused} refused 503; peak RSS {} MiB (idle {} MiB, budget {} MiB)",
        peak >> 20,
        baseline >> 20,
        budget >> 20
    );
    assert!(
        peak <= baseline + budget + margin,
        "peak RSS {} MiB over idle {} MiB + budget {} MiB + {} MiB",
        peak >> 20,
        baseline >> 20,
        budget >> 20,
        margin >> 20
    );
    let mut child = b.child;
    assert!(terminate(&mut child).success());
}

/// At `limits.max_connections` open connections customs stops accepting: the next caller
/// waits in the backlog and is served as soon as a connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_callers_wait_for_a_free_connection() {
    let up = Upstream::start("crm-us").await;
    let src = example_policy(&up.url(), &up.url(), &up.url())
        .replace("max_connections = 4096", "max_connections = 2");
    let proxy = Proxy::start(&src).await;
    let idle: Vec<tokio::net::TcpStream> = vec![
        tokio::net::TcpStream::connect(proxy.addr).await.unwrap(),
        tokio::net::TcpStream::connect(proxy.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = proxy.url("/crm/v1/contacts");
    let waiting = tokio::spawn(async move {
        post(&url, "application/json", fixture("us-user.json"))
            .await
            .0
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past the connection limit");
    assert_eq!(up.count(), 0);
    drop(idle);
    assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    assert_eq!(up.count(), 1);
    let m = proxy.metrics().await;
    assert!(metric(&m, "customs_connection_limit_reached_total") >= 1.0);
}
