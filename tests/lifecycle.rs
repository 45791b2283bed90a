//! Running it like production: hot reload (under load, bad versions, SIGHUP, directory
//! watch with a Kubernetes ConfigMap `..data` symlink swap, polling) and graceful
//! shutdown with requests in flight.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use customs::proxy::reload::{Overrides, Reloader};
use http::StatusCode;

fn write(p: &Path, s: &str) {
    // write-then-rename, as editors and config management do
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(&tmp, p).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_every_response_matches_one_of_the_two_policies() {
    let crm_us = Upstream::start("crm-us").await;
    let crm_eu = Upstream::start("crm-eu").await;
    let chat = Upstream::start("chat").await;
    let enforce = example_policy(&crm_us.url(), &crm_eu.url(), &chat.url());
    let shadow = enforce.replace("mode = \"enforce\"", "mode = \"shadow\"");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    write(&path, &enforce);
    let proxy = Proxy::start(&enforce).await;
    let db = root().join("geoip/geo-whois-asn-country.mmdb");
    let reloader = Reloader::new(
        path.clone(),
        Overrides {
            geoip: Some(db.clone()),
            max_body_bytes: None,
            reload_settle: Some(Duration::from_millis(20)),
        },
        proxy.shared.clone(),
        db,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (blocked, shadowed, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, blocked, shadowed, other) = (
            stop.clone(),
            blocked.clone(),
            shadowed.clone(),
            other.clone(),
        );
        let url = proxy.url("/chat/im/v1/messages");
        clients.push(tokio::spawn(async move {
            let client = http1();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 5000 {
                n += 1;
                let req = http::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(fixture(
                        "chat-message.json",
                    ))))
                    .unwrap();
                match client.request(req).await {
                    Ok(r) if r.status() == StatusCode::FORBIDDEN => {
                        blocked.fetch_add(1, Ordering::SeqCst)
                    }
                    Ok(r)
                        if r.status() == StatusCode::OK
                            && r.headers()["customs-decision"] == "shadow" =>
                    {
                        shadowed.fetch_add(1, Ordering::SeqCst)
                    }
                    _ => other.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    for i in 0..20 {
        write(&path, if i % 2 == 0 { &shadow } else { &enforce });
        let r = reloader.clone();
        assert!(
            tokio::task::spawn_blocking(move || r.reload("test"))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let (b, s, o) = (
        blocked.load(Ordering::SeqCst),
        shadowed.load(Ordering::SeqCst),
        other.load(Ordering::SeqCst),
    );
    assert_eq!(
        o, 0,
        "{o} responses matched neither policy (blocked {b}, shadowed {s})"
    );
    assert!(
        b > 0 && s > 0,
        "both policies answered: blocked {b}, shadowed {s}"
    );
    assert_eq!(
        chat.count(),
        s,
        "the upstream received exactly the shadowed requests"
    );
    let m = proxy.metrics().await;
    assert_eq!(
        metric(&m, r#"customs_reloads_total{result="success"}"#),
        20.0
    );
}

#[tokio::test]
async fn a_bad_reload_keeps_the_old_policy_and_is_counted() {
    let s = Setup::new().await;
    let good = example_policy(&s.crm_us.url(), &s.crm_eu.url(), &s.chat.url());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    write(
        &path,
        &good.replace("allowed_regions = [\"eu\"]", "allowed_regions = [\"euu\"]"),
    );
    let db = root().join("geoip/geo-whois-asn-country.mmdb");
    let reloader = Reloader::new(
        path.clone(),
        Overrides {
            geoip: Some(db.clone()),
            max_body_bytes: None,
            reload_settle: Some(Duration::from_millis(20)),
        },
        s.proxy.shared.clone(),
        db,
    );
    assert!(!reloader.reload("test"));
    // a database that is not one
    write(&path, &good);
    let bad_db = dir.path().join("bad.mmdb");
    std::fs::write(&bad_db, b"garbage").unwrap();
    let r2 = Reloader::new(
        path.clone(),
        Overrides {
            geoip: Some(bad_db.clone()),
            max_body_bytes: None,
            reload_settle: Some(Duration::from_millis(20)),
        },
        s.proxy.shared.clone(),
        bad_db,
    );
    assert!(!r2.reload("test"));
    let m = s.proxy.metrics().await;
    assert_eq!(metric(&m, r#"customs_reloads_total{result="error"}"#), 2.0);
    let hash = customs::policy::hash(&good);
    assert_eq!(
        metric(&m, &format!("customs_policy_info{{hash=\"{hash}\"}}")),
        1.0,
        "the old policy is still loaded"
    );
    let (status, _, _) = post(
        &s.proxy.url("/crm/a"),
        "application/json",
        fixture("eea-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_eu.count(), 1, "still decided by the old policy");
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = rt.block_on(Upstream::start_with("crm-us", Duration::from_millis(1500)));
    let crm_eu = rt.block_on(Upstream::start("crm-eu"));
    let chat = rt.block_on(Upstream::start("chat"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(
        &cfg,
        example_policy(&slow.url(), &crm_eu.url(), &chat.url()),
    )
    .unwrap();
    let (mut child, listen, admin) =
        start_binary("run", &cfg, &["--shutdown-delay-ms", "300"], false);
    let url = format!("http://{listen}/crm/v1/contacts");
    let inflight: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            rt.spawn(async move {
                post(&url, "application/json", fixture("us-user.json"))
                    .await
                    .0
            })
        })
        .collect();
    assert!(
        eventually(5, || slow.count() == 5),
        "requests did not reach the upstream"
    );
    signal(&child, "TERM");
    // Not ready while shutting down.
    assert!(
        eventually(2, || get_blocking(&admin, "/readyz")
            .is_some_and(|(s, _)| s == 503)),
        "/readyz did not turn 503"
    );
    for t in inflight {
        assert_eq!(
            rt.block_on(t).unwrap(),
            StatusCode::OK,
            "a request accepted before shutdown did not get its response"
        );
    }
    let status = terminate(&mut child);
    assert!(status.success(), "{status}");
    // and it no longer listens
    assert!(std::net::TcpStream::connect(&listen).is_err());
}

#[test]
fn configmap_symlink_swap_is_picked_up_by_the_directory_watch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v1 = example_policy(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    );
    let v2 = v1.replace("mode = \"enforce\"", "mode = \"shadow\"");
    // What the kubelet lays out: policy.toml -> ..data/policy.toml, ..data -> ..2026_1
    std::fs::create_dir(d.join("..2026_1")).unwrap();
    std::fs::write(d.join("..2026_1/policy.toml"), &v1).unwrap();
    std::os::unix::fs::symlink("..2026_1", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/policy.toml", d.join("policy.toml")).unwrap();
    let (mut child, _listen, admin) = start_binary(
        "run",
        &d.join("policy.toml"),
        &["--reload-poll-seconds", "0"],
        false,
    );
    assert_eq!(loaded_hash(&admin), Some(customs::policy::hash(&v1)));
    // The update: a new timestamped directory, then an atomic rename of a new `..data`.
    std::fs::create_dir(d.join("..2026_2")).unwrap();
    std::fs::write(d.join("..2026_2/policy.toml"), &v2).unwrap();
    std::os::unix::fs::symlink("..2026_2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    let want = customs::policy::hash(&v2);
    assert!(
        eventually(10, || loaded_hash(&admin).as_deref() == Some(want.as_str())),
        "the swap was not picked up"
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn sighup_and_polling_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    let v1 = example_policy(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    );
    let v2 = v1.replace("mode = \"enforce\"", "mode = \"shadow\"");
    std::fs::write(&cfg, &v1).unwrap();
    // SIGHUP only: no watch, no poll
    let (mut child, _, admin) = start_binary(
        "run",
        &cfg,
        &["--no-watch", "--reload-poll-seconds", "0"],
        false,
    );
    write(&cfg, &v2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        loaded_hash(&admin),
        Some(customs::policy::hash(&v1)),
        "reloaded without a trigger"
    );
    signal(&child, "HUP");
    assert!(
        eventually(5, || loaded_hash(&admin)
            == Some(customs::policy::hash(&v2))),
        "SIGHUP did not reload"
    );
    // an invalid version on SIGHUP: kept, counted
    write(&cfg, "this is not toml [");
    signal(&child, "HUP");
    assert!(eventually(5, || get_blocking(&admin, "/metrics")
        .is_some_and(|(_, m)| metric(
            &m,
            r#"customs_reloads_total{result="error"}"#
        ) == 1.0)));
    assert_eq!(loaded_hash(&admin), Some(customs::policy::hash(&v2)));
    assert!(terminate(&mut child).success());

    // polling only
    std::fs::write(&cfg, &v1).unwrap();
    let (mut child, _, admin) = start_binary(
        "run",
        &cfg,
        &["--no-watch", "--reload-poll-seconds", "1"],
        false,
    );
    write(&cfg, &v2);
    assert!(
        eventually(6, || loaded_hash(&admin)
            == Some(customs::policy::hash(&v2))),
        "polling did not reload"
    );
    assert!(terminate(&mut child).success());
}

/// A change seen by the watcher and signalled by SIGHUP is one reload; a setting read
/// only at start is named in a warning; a reload that weakens the policy is logged at
/// warn and counted by how.
#[test]
fn one_reload_per_change_and_what_changed_is_said() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    let v1 = example_policy(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    );
    std::fs::write(&cfg, &v1).unwrap();
    let (mut child, _listen, admin) = start_binary(
        "run",
        &cfg,
        &["--reload-poll-seconds", "1", "--reload-settle-ms", "100"],
        true,
    );
    let out = child.stdout.take().unwrap();
    let lines: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    // EEA enforcement turned into shadow, and the listen address changed.
    let v2 = v1
        .replacen(
            "allowed_regions = [\"eu\"]\non_violation = \"reroute\"",
            "allowed_regions = [\"eu\"]\non_violation = \"shadow\"",
            1,
        )
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8099\"");
    write(&cfg, &v2);
    signal(&child, "HUP");
    let want = customs::policy::hash(&v2);
    assert!(eventually(10, || loaded_hash(&admin).as_deref() == Some(want.as_str())));
    // Let the watcher's event and the poll come in too.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, m) = get_blocking(&admin, "/metrics").unwrap();
    assert_eq!(
        metric(&m, r#"customs_reloads_total{result="success"}"#),
        1.0,
        "SIGHUP, the watch and the poll saw one change"
    );
    assert_eq!(
        metric(
            &m,
            r#"customs_policy_weakened_total{change="enforcement_relaxed"}"#
        ),
        1.0
    );
    let lines = lines.lock().unwrap().clone();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {lines:#?}"))
            .clone()
    };
    let weaker = find("the reloaded policy is weaker");
    assert!(weaker.contains("\"level\":\"WARN\""), "{weaker}");
    assert!(weaker.contains("jurisdiction `EEA`"), "{weaker}");
    let start_only = find("a setting read only at start changed");
    assert!(
        start_only.contains("\"setting\":\"server.listen\""),
        "{start_only}"
    );
    let summary = find("reloaded policy and GeoIP database");
    assert!(summary.contains("\"changes\":2"), "{summary}");
    assert!(terminate(&mut child).success());
}

/// A policy that cannot be loaded at start: customs exits 3 (invalid policy) and never
/// answers ready.
#[test]
fn an_invalid_policy_at_start_exits_3_and_is_never_ready() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, "version = 1\n").unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_customs"))
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--admin-listen",
            &admin,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the policy has no jurisdictions"), "{err}");
    assert!(get_blocking(&admin, "/readyz").is_none());
}
