//! Destination verification over real sockets, with no internet: a GeoIP fixture places
//! 127.0.0.2 in Germany, 127.0.0.3 in the US and 127.0.0.4 in China; upstreams listen on
//! those addresses; the proxy's resolver is given a table (not the machine's hosts file).

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use customs::proxy::Shared;
use customs::proxy::destination::{PinningResolver, StaticLookup};
use http::StatusCode;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The proxy with the loopback GeoIP fixture and `dns` as its resolver.
async fn proxy(
    policy_src: &str,
    dns: HashMap<String, Vec<Vec<IpAddr>>>,
) -> (std::net::SocketAddr, Arc<Shared>) {
    let resolver = PinningResolver::new(Arc::new(StaticLookup::new(dns)));
    serve_policy(policy_src, "tests/fixtures/loopback-geo.mmdb", resolver).await
}

fn policy(crm_us: &str, mode: &str, chat: &str, chat_mode: &str) -> String {
    example_policy(crm_us, "http://127.0.0.1:9", chat)
        .replace(
            "region = \"us\"\nalternatives = [\"crm-eu\"]",
            &format!("region = \"us\"\nalternatives = [\"crm-eu\"]\ndestination = \"{mode}\""),
        )
        .replace(
            "region = \"cn\"",
            &format!("region = \"cn\"\ndestination = \"{chat_mode}\""),
        )
}

#[tokio::test]
async fn verify_forwards_in_region_and_blocks_out_of_region() {
    let us = Upstream::start_at("127.0.0.3:0", "crm-us", Duration::ZERO).await;
    let de = Upstream::start_at("127.0.0.2:0", "crm-us-moved", Duration::ZERO).await;
    // Same port on both addresses is not guaranteed; give each its own name.
    let src = policy(
        &format!("http://crm.test:{}", us.addr.port()),
        "verify",
        "http://127.0.0.4:9",
        "trust",
    );
    let (addr, _) = proxy(
        &src,
        HashMap::from([("crm.test".to_string(), vec![vec![ip("127.0.0.3")]])]),
    )
    .await;
    let (status, _, _) = post(
        &format!("http://{addr}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(us.count(), 1);

    // The host now resolves to Germany: the declared region (us) is a lie.
    let src = policy(
        &format!("http://crm.test:{}", de.addr.port()),
        "verify",
        "http://127.0.0.4:9",
        "trust",
    );
    let (addr, shared) = proxy(
        &src,
        HashMap::from([("crm.test".to_string(), vec![vec![ip("127.0.0.2")]])]),
    )
    .await;
    let (status, _, body) = post(
        &format!("http://{addr}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["reason"], "destination_region_mismatch");
    assert_eq!(
        de.count(),
        0,
        "an upstream outside its declared region received data"
    );
    assert_eq!(
        shared
            .metrics
            .destination_mismatches
            .with_label_values(&["crm-us", "destination_region_mismatch"])
            .get(),
        1
    );
}

#[tokio::test]
async fn trust_takes_the_declaration() {
    let de = Upstream::start_at("127.0.0.2:0", "crm-us", Duration::ZERO).await;
    let src = policy(
        &format!("http://crm.test:{}", de.addr.port()),
        "trust",
        "http://127.0.0.4:9",
        "trust",
    );
    let (addr, _) = proxy(
        &src,
        HashMap::from([("crm.test".to_string(), vec![vec![ip("127.0.0.2")]])]),
    )
    .await;
    let (status, _, _) = post(
        &format!("http://{addr}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "trust mode does not check addresses"
    );
    assert_eq!(de.count(), 1);
}

#[tokio::test]
async fn locate_takes_the_region_from_the_addresses() {
    // `chat` is declared in cn, but its addresses are in Germany (region eu): a UK
    // complainant (UK allows eu) may go there.
    let chat_de = Upstream::start_at("127.0.0.2:0", "chat", Duration::ZERO).await;
    let src = policy(
        "http://127.0.0.3:9",
        "trust",
        &format!("http://chat.test:{}", chat_de.addr.port()),
        "locate",
    );
    let (addr, _) = proxy(
        &src,
        HashMap::from([("chat.test".to_string(), vec![vec![ip("127.0.0.2")]])]),
    )
    .await;
    let (status, _, _) = post(
        &format!("http://{addr}/chat/m"),
        "application/json",
        fixture("chat-message.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chat_de.count(), 1);

    let chat_cn = Upstream::start_at("127.0.0.4:0", "chat", Duration::ZERO).await;
    let src = policy(
        "http://127.0.0.3:9",
        "trust",
        &format!("http://chat.test:{}", chat_cn.addr.port()),
        "locate",
    );
    let (addr, _) = proxy(
        &src,
        HashMap::from([("chat.test".to_string(), vec![vec![ip("127.0.0.4")]])]),
    )
    .await;
    let (status, _, body) = post(
        &format!("http://{addr}/chat/m"),
        "application/json",
        fixture("chat-message.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["destination_region"], "cn");
    assert_eq!(chat_cn.count(), 0);
}

#[tokio::test]
async fn the_connection_goes_to_the_checked_address_even_if_dns_changes() {
    // The first answer (US) is checked; every later lookup says Germany. A client that
    // resolved again at connect time would send the data to Germany.
    let us = Upstream::start_at("127.0.0.3:0", "crm-us", Duration::ZERO).await;
    let port = us.addr.port();
    let de = match tokio::net::TcpListener::bind(format!("127.0.0.2:{port}")).await {
        Ok(l) => {
            drop(l);
            Upstream::start_at(&format!("127.0.0.2:{port}"), "crm-de", Duration::ZERO).await
        }
        Err(_) => return, // the port is taken on 127.0.0.2: nothing to prove here
    };
    let src = policy(
        &format!("http://crm.test:{port}"),
        "verify",
        "http://127.0.0.4:9",
        "trust",
    );
    let (addr, _) = proxy(
        &src,
        HashMap::from([(
            "crm.test".to_string(),
            vec![vec![ip("127.0.0.3")], vec![ip("127.0.0.2")]],
        )]),
    )
    .await;
    for _ in 0..3 {
        let (status, _, _) = post(
            &format!("http://{addr}/crm/a"),
            "application/json",
            fixture("us-user.json"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(us.count(), 3);
    assert_eq!(
        de.count(),
        0,
        "a DNS change between check and connect moved the traffic"
    );
}

#[tokio::test]
async fn unresolvable_and_unlocated_destinations_fail_closed() {
    let src = policy("http://crm.test:9", "verify", "http://127.0.0.4:9", "trust");
    let (addr, _) = proxy(&src, HashMap::new()).await;
    let (status, _, body) = post(
        &format!("http://{addr}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["reason"], "destination_unresolvable");
    let (addr, _) = proxy(
        &src,
        HashMap::from([("crm.test".to_string(), vec![vec![ip("127.0.0.9")]])]),
    )
    .await;
    let (status, _, body) = post(
        &format!("http://{addr}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["reason"], "destination_unlocated");
}
