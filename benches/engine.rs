//! extract + tag + evaluate on a ~4 KB batch of 10 user records with real signals, on a
//! ~1 MB batch of the same records, and on ~4 KB of JSON with no personal data.
//! Throughput is reported in bytes of request body per second. Measured as the proxy
//! runs it: the route matched once, and only the violating records kept (no verdicts).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use customs::decide::Keep;
use customs::engine::{RequestView, evaluate_route};
use customs::extract::json;
use customs::geo::MaxMindGeo;

const USERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Olivia Carter",
        "olivia.carter@example.org",
        "+1 415 555 0112",
        "US",
        "8.8.8.8",
    ),
    (
        "Lukas Weber",
        "lukas.weber@example.org",
        "+49 30 901820",
        "DE",
        "85.214.132.117",
    ),
    (
        "Chloé Martin",
        "chloe.martin@example.org",
        "+33 1 09 75 83 51",
        "FR",
        "193.252.117.20",
    ),
    (
        "Harry Evans",
        "harry.evans@example.org",
        "+44 20 7946 0555",
        "GB",
        "81.2.69.142",
    ),
    (
        "Ana Souza",
        "ana.souza@example.org",
        "+55 11 5555-0101",
        "BR",
        "200.160.2.3",
    ),
    (
        "Liam Tremblay",
        "liam.tremblay@example.org",
        "+1 416 555 0199",
        "CA",
        "8.8.4.4",
    ),
    (
        "Sven Lindqvist",
        "sven.lindqvist@example.org",
        "+46 8 123 456 78",
        "SE",
        "89.160.20.112",
    ),
    (
        "Marta Rossi",
        "marta.rossi@example.org",
        "+39 06 1234 5678",
        "IT",
        "151.1.1.1",
    ),
    (
        "Jan Kowalski",
        "jan.kowalski@example.org",
        "+48 22 123 45 67",
        "PL",
        "212.77.98.9",
    ),
    (
        "Emma Jansen",
        "emma.jansen@example.org",
        "+31 20 123 4567",
        "NL",
        "145.97.39.155",
    ),
];

/// A batch of `n` user records, ~400 bytes each.
pub fn batch(n: usize) -> String {
    let mut s = String::from(
        "{\"source\":\"trust-and-safety-sync\",\"batch_id\":\"b-20261120-07\",\"users\":[",
    );
    for i in 0..n {
        let (name, email, phone, country, ip) = USERS[i % USERS.len()];
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"user_id\":\"u{i}\",\"display_name\":\"{name}\",\"email\":\"{email}\",\"phone_number\":\"{phone}\",\"country_code\":\"{country}\",\"last_login_ip\":\"{ip}\",\"locale\":\"en-{country}\",\"created_at\":\"2026-11-20T21:14:03Z\",\"plan\":\"premium\",\"flags\":{{\"verified\":true,\"marketing_opt_in\":false}},\"note\":\"account in good standing since 2019\"}}"
        ));
    }
    s.push_str("]}");
    s
}

fn no_personal(target: usize) -> String {
    let mut s = String::from("{\"report\":\"daily_active_users\",\"rows\":[");
    let mut i = 0;
    while s.len() < target {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{{\"day\":\"2026-11-{:02}\",\"metric\":\"dau\",\"value\":{},\"segment\":\"organic\",\"ok\":true}}", i % 28 + 1, 1_000_000 + i * 37));
        i += 1;
    }
    s.push_str("]}");
    s
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("config/policy.toml")).unwrap();
    let (policy, _) = customs::policy::load(&src).unwrap();
    let geo = MaxMindGeo::open(&root.join("geoip/geo-whois-asn-country.mmdb")).unwrap();
    let small = batch(10);
    let large = batch(2600);
    let plain = no_personal(4096);
    // Tiny values: walked without a tree (its tree would be ~6x the body).
    let zeros = format!("[{}0]", "0,".repeat(512 * 1024));
    let route = policy
        .match_route(Some("localhost"), "/crm/v1/contacts")
        .unwrap();
    let mut g = c.benchmark_group("engine");
    for (name, body) in [
        ("batch_10_records", &small),
        ("batch_1mb", &large),
        ("no_personal_4kb", &plain),
        ("zeros_1mb", &zeros),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 100_000 {
            g.sample_size(10);
        } else {
            g.sample_size(50);
        }
        g.bench_function(format!("{name}_{}B", body.len()), |b| {
            b.iter(|| {
                let req = RequestView {
                    absolute_authority: None,
                    headers: None,
                    method: "POST",
                    host: Some("localhost"),
                    path: "/crm/v1/contacts",
                    query: None,
                    content_type: Some("application/json"),
                    content_encoding: None,
                    body: black_box(body.as_bytes()),
                };
                let ev =
                    evaluate_route(&policy, &geo, &req, route, None, Keep::Violations).unwrap();
                assert!(
                    ev.decision.personal_records > 0
                        || name.starts_with("no_personal")
                        || name.starts_with("zeros")
                );
                black_box(ev.decision.action)
            })
        });
    }
    g.finish();
    // The JSON reading alone, what every inspection pays before the walk: the tree, and
    // the tokens without a tree (the floor of any walk of this scan).
    let mut j = c.benchmark_group("json");
    for (name, body) in [("batch_10_records", &small), ("no_personal_4kb", &plain)] {
        j.throughput(Throughput::Bytes(body.len() as u64));
        j.sample_size(50);
        j.bench_function(format!("tree_{name}_{}B", body.len()), |b| {
            b.iter(|| black_box(json::parse(black_box(body.as_bytes())).is_ok()))
        });
        j.bench_function(format!("tokens_{name}_{}B", body.len()), |b| {
            b.iter(|| black_box(json::scans(black_box(body.as_bytes()))))
        });
    }
    j.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

// The same allocator as the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
