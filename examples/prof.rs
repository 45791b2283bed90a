//! Runs extract + tag + evaluate on one body many times, for profilers that count
//! instructions (`valgrind --tool=callgrind`, repeatable on a noisy machine), and
//! reports the time per request and how much the resident set grew for one request.
//!
//!     cargo build --release --example prof
//!     target/release/examples/prof BODY.json [ITERATIONS]

use std::path::Path;
use std::time::Instant;

use customs::decide::Keep;
use customs::engine::{RequestView, evaluate_route};
use customs::geo::MaxMindGeo;

// The same allocator as the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let body_path = args.next().ok_or("usage: prof BODY.json [ITERATIONS]")?;
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("config/policy.toml"))?;
    let (policy, _) = customs::policy::load(&src).map_err(|_| "config/policy.toml is invalid")?;
    let geo = MaxMindGeo::open(&root.join("geoip/geo-whois-asn-country.mmdb"))?;
    let body = std::fs::read(&body_path)?;
    let uri: http::Uri = "/crm/v1/contacts".parse()?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_static("localhost"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let req = RequestView::new("POST", &uri, &headers, &body);
    // As the proxy runs it: the route matched once, only the violating records kept.
    let route = policy
        .match_route(req.host, req.path)
        .ok_or("no route for /crm/v1/contacts")?;
    let evaluate = |req: &RequestView<'_>| {
        evaluate_route(&policy, &geo, req, route, None, Keep::Violations).map_err(|e| e.to_string())
    };
    customs::geo::warm_up();
    let before = peak_rss_kib();
    let first = evaluate(&req)?;
    let grew = peak_rss_kib().saturating_sub(before);
    let records = first.decision.records;
    drop(first);
    let t = Instant::now();
    for _ in 0..n {
        let req = RequestView {
            body: std::hint::black_box(&body),
            ..req
        };
        let ev = evaluate(&req)?;
        std::hint::black_box(ev.decision.action);
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "{} bytes, {records} records: {:.2} us/request, {:.1} MiB/s over {n} requests; peak resident set grew {grew} KiB during the first",
        body.len(),
        el * 1e6 / n as f64,
        (body.len() * n) as f64 / el / 1048576.0,
    );
    Ok(())
}
