//! Egress-proxy mode with a real client's proxy setting (curl `-x`, and `-p` for
//! CONNECT): absolute-form requests are inspected like routed ones; CONNECT tunnels are
//! allowed only to destinations in a region every jurisdiction allows.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use customs::proxy::Shared;

async fn proxy_with(src: &str, geo_file: &str) -> (String, Arc<Shared>) {
    let (addr, shared) = serve_policy(
        src,
        geo_file,
        customs::proxy::destination::PinningResolver::system(),
    )
    .await;
    (addr.to_string(), shared)
}

/// curl through the proxy; returns (stdout, exit code).
async fn curl(args: Vec<String>) -> (String, i32) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_requests_are_inspected_like_routed_ones() {
    let st = Setup::new().await;
    let (p, _) = proxy_with(
        &example_policy(&st.crm_us.url(), &st.crm_eu.url(), &st.chat.url()),
        "geoip/geo-whois-asn-country.mmdb",
    )
    .await;
    let proxy = format!("http://{p}");
    // allowed: a US record to the US CRM, asked for by its address
    let (out, code) = curl(s(&[
        "-x",
        &proxy,
        "-U",
        "app:secret",
        "-i",
        &format!("{}/v1/contacts", st.crm_us.url()),
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@tests/fixtures/us-user.json",
    ]))
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let got = st.crm_us.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path_and_query, "/v1/contacts");
    assert_eq!(got[0].body.as_ref(), fixture("us-user.json").as_slice());
    assert!(
        got[0].headers.get("proxy-authorization").is_none(),
        "a Proxy-* header was forwarded"
    );
    assert_eq!(got[0].headers["customs-jurisdictions"], "US");
    // blocked: a UK complainant to the chat service
    let (out, _) = curl(s(&[
        "-x",
        &proxy,
        &format!("{}/im/v1/messages", st.chat.url()),
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@tests/fixtures/chat-message.json",
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 403);
    assert_eq!(st.chat.count(), 0);
    // rerouted: an EEA record sent to the US CRM's address goes to crm-eu
    let (out, _) = curl(s(&[
        "-x",
        &proxy,
        "-i",
        &format!("{}/v1/contacts", st.crm_us.url()),
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@tests/fixtures/eea-user.json",
    ]))
    .await;
    assert!(out.contains("customs-rerouted-to: crm-eu"), "{out}");
    assert_eq!(st.crm_eu.count(), 1);
    // not a declared upstream: not an open proxy
    let stranger = Upstream::start("stranger").await;
    let (out, _) = curl(s(&[
        "-x",
        &proxy,
        &format!("{}/crm/v1/contacts", stranger.url()),
        "--data-binary",
        "@tests/fixtures/aggregate-stats.json",
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reason"], "no_route");
    assert_eq!(stranger.count(), 0);
    assert_eq!(
        st.crm_us.count(),
        1,
        "a path-only route must not catch another host's request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_tunnels_only_to_universally_allowed_regions() {
    // Every jurisdiction allows `eu` here, so a tunnel to Germany (127.0.0.2 in the
    // fixture database) may open; one to China (127.0.0.4) may not.
    let src = example_policy(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )
    .replace(
        "allowed_regions = [\"us\"]",
        "allowed_regions = [\"us\", \"eu\"]",
    )
    .replace("treat_as = \"strictest\"", "treat_as = \"allow\"");
    let (p, shared) = proxy_with(&src, "tests/fixtures/loopback-geo.mmdb").await;
    let proxy = format!("http://{p}");
    let de = Upstream::start_at("127.0.0.2:0", "de", Duration::ZERO).await;
    let (out, code) = curl(s(&[
        "-p",
        "-x",
        &proxy,
        &format!("http://127.0.0.2:{}/tunnelled", de.addr.port()),
        "--data-binary",
        "@tests/fixtures/us-user.json",
    ]))
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "ok from de");
    assert_eq!(de.count(), 1, "the tunnel carried the request");
    let cn = Upstream::start_at("127.0.0.4:0", "cn", Duration::ZERO).await;
    let (out, code) = curl(s(&[
        "-p",
        "-x",
        &proxy,
        "-w",
        "%{http_connect}",
        &format!("http://127.0.0.4:{}/x", cn.addr.port()),
        "--data-binary",
        "@tests/fixtures/us-user.json",
    ]))
    .await;
    assert_ne!(code, 0);
    assert!(out.ends_with("403"), "{out}");
    assert_eq!(cn.count(), 0);
    assert_eq!(
        shared
            .metrics
            .tunnels
            .with_label_values(&["allow", "connect_in_allowed_region"])
            .get(),
        1
    );
    assert_eq!(
        shared
            .metrics
            .tunnels
            .with_label_values(&["refuse", "connect_outside_allowed_regions"])
            .get(),
        1
    );

    // The example policy allows no region to everyone: every tunnel is refused, unless
    // listed in `connect_allow`.
    let src = example_policy(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    let (p, _) = proxy_with(&src, "tests/fixtures/loopback-geo.mmdb").await;
    let (_, code) = curl(s(&[
        "-p",
        "-x",
        &format!("http://{p}"),
        &format!("http://127.0.0.2:{}/x", de.addr.port()),
    ]))
    .await;
    assert_ne!(code, 0);
    let listed = src.replace(
        "connect_allow = []",
        &format!("connect_allow = [\"127.0.0.4:{}\"]", cn.addr.port()),
    );
    let (p, _) = proxy_with(&listed, "tests/fixtures/loopback-geo.mmdb").await;
    let (out, code) = curl(s(&[
        "-p",
        "-x",
        &format!("http://{p}"),
        &format!("http://127.0.0.4:{}/x", cn.addr.port()),
    ]))
    .await;
    assert_eq!((out.as_str(), code), ("ok from cn", 0));
    assert_eq!(de.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_destinations_are_located_when_the_policy_allows() {
    // 127.0.0.2 is in Germany (region eu) in the fixture database, 127.0.0.3 in the US.
    let src = example_policy(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )
    .replace(
        "unknown_destinations = \"refuse\"",
        "unknown_destinations = \"locate\"",
    );
    let (p, shared) = proxy_with(&src, "tests/fixtures/loopback-geo.mmdb").await;
    let proxy = format!("http://{p}");
    let de = Upstream::start_at("127.0.0.2:0", "de", Duration::ZERO).await;
    let us = Upstream::start_at("127.0.0.3:0", "us", Duration::ZERO).await;
    // A German user's record to a host in Germany: allowed.
    let (out, code) = curl(s(&[
        "-x",
        &proxy,
        &format!("http://127.0.0.2:{}/import", de.addr.port()),
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@tests/fixtures/eea-user.json",
    ]))
    .await;
    assert_eq!((out.as_str(), code), ("ok from de", 0));
    assert_eq!(de.received()[0].headers["customs-jurisdictions"], "EEA");
    // The same record to a host in the US: blocked, nothing sent.
    let (out, _) = curl(s(&[
        "-x",
        &proxy,
        &format!("http://127.0.0.3:{}/import", us.addr.port()),
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@tests/fixtures/eea-user.json",
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 403);
    assert_eq!(v["destination_region"], "us");
    assert_eq!(us.count(), 0);
    // A host the database cannot place: refused.
    let (out, _) = curl(s(&[
        "-x",
        &proxy,
        "http://127.0.0.9:9/x",
        "--data-binary",
        "@tests/fixtures/aggregate-stats.json",
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reason"], "destination_unlocated");
    assert_eq!(
        shared
            .metrics
            .destination_mismatches
            .with_label_values(&["egress-unknown", "destination_unlocated"])
            .get(),
        1
    );
}

/// A refused tunnel is the policy's refusal: 403 problem+json naming the reason, never
/// 502 (which says an upstream failed), whether no region is open to everyone's data or
/// the destination cannot be placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_is_403_problem_json() {
    let example = example_policy(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    let open_eu = example
        .replace(
            "allowed_regions = [\"us\"]",
            "allowed_regions = [\"us\", \"eu\"]",
        )
        .replace("treat_as = \"strictest\"", "treat_as = \"allow\"");
    for (src, target, reason) in [
        (&example, "127.0.0.2:443", "connect_outside_allowed_regions"),
        (&open_eu, "no-such-host.invalid:443", "connect_unresolvable"),
        (&open_eu, "127.0.0.9:443", "connect_outside_allowed_regions"),
    ] {
        // A table of no names: every name is unresolvable, at once.
        let none = customs::proxy::destination::StaticLookup::new(Default::default());
        let (addr, shared) = serve_policy(
            src,
            "tests/fixtures/loopback-geo.mmdb",
            customs::proxy::destination::PinningResolver::new(Arc::new(none)),
        )
        .await;
        let req =
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
        let (resp, _) = raw_exchange(addr, req.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 403"), "{target}: {resp}");
        assert!(resp.contains("application/problem+json"), "{resp}");
        assert!(
            resp.contains(&format!("\"reason\":\"{reason}\"")),
            "{target}: {resp}"
        );
        assert_eq!(
            shared
                .metrics
                .tunnels
                .with_label_values(&["refuse", reason])
                .get(),
            1
        );
    }
}
