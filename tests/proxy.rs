//! The proxy over real loopback sockets: what the client saw and what each recording
//! upstream actually received.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JSON: &str = "application/json";

#[tokio::test]
async fn allowed_record_is_forwarded_byte_for_byte_with_tags() {
    let s = Setup::new().await;
    let body = fixture("us-user.json");
    let req = Request::post(s.proxy.url("/crm/v1/contacts?sync=1"))
        .header("content-type", JSON)
        .header("connection", "keep-alive, x-secret-hop")
        .header("x-secret-hop", "must not pass")
        .header("authorization", "Bearer end-to-end")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let (status, headers, resp) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resp, "ok from crm-us");
    assert_eq!(headers["customs-decision"], "allow");
    let got = s.crm_us.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path_and_query, "/crm/v1/contacts?sync=1");
    assert_eq!(r.body.as_ref(), body.as_slice());
    assert_eq!(r.headers["customs-jurisdictions"], "US");
    assert_eq!(r.headers["customs-decision"], "allow");
    assert_eq!(r.headers["x-request-id"], headers["x-request-id"]);
    assert_eq!(r.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        r.headers["forwarded"].to_str().unwrap(),
        format!("for=127.0.0.1;proto=http;host=\"{}\"", s.proxy.addr)
    );
    assert_eq!(r.headers["authorization"], "Bearer end-to-end");
    assert_eq!(r.headers["content-type"], JSON);
    assert!(
        r.headers.get("x-secret-hop").is_none(),
        "a header named in Connection was forwarded"
    );
    assert_eq!(
        r.headers["host"].to_str().unwrap(),
        s.crm_us.addr.to_string()
    );
    assert_eq!(s.crm_eu.count() + s.chat.count(), 0);
}

#[tokio::test]
async fn blocked_transfer_reaches_nobody_and_names_rule_and_pointers() {
    let s = Setup::new().await;
    let (status, headers, body) = post(
        &s.proxy.url("/chat/im/v1/messages"),
        JSON,
        fixture("chat-message.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/problem+json");
    let p = json(&body);
    assert_eq!(p["status"], 403);
    assert_eq!(p["rules"], serde_json::json!(["UK"]));
    assert_eq!(p["jurisdictions"], serde_json::json!(["UK"]));
    assert_eq!(p["destination_region"], "cn");
    assert_eq!(p["violating_records"], serde_json::json!(["/content"]));
    assert_eq!(p["request_id"], headers["x-request-id"].to_str().unwrap());
    let text = String::from_utf8_lossy(&body);
    for v in ["amelia", "7946 0321", "2079460321", "81.2.69.142", "Hart"] {
        assert!(!text.contains(v), "problem body leaks `{v}`: {text}");
    }
    assert_eq!(
        s.total_received(),
        0,
        "a blocked transfer reached an upstream"
    );
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_blocked_transfers_total{jurisdiction="UK",region="cn"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"customs_requests_total{action="block",reason="no_in_region_alternative",route="chat"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn eea_record_is_rerouted_to_the_in_region_upstream() {
    let s = Setup::new().await;
    let body = fixture("support-ticket.json");
    let (status, headers, resp) = post(&s.proxy.url("/crm/v2/tickets"), JSON, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resp, "ok from crm-eu");
    assert_eq!(headers["customs-rerouted-to"], "crm-eu");
    assert_eq!(headers["customs-decision"], "reroute");
    assert_eq!(
        s.crm_us.count(),
        0,
        "the out-of-region upstream received the transfer"
    );
    let got = s.crm_eu.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_ref(), body.as_slice());
    assert_eq!(got[0].path_and_query, "/crm/v2/tickets");
    assert_eq!(got[0].headers["customs-jurisdictions"], "EEA");
    assert_eq!(got[0].headers["customs-decision"], "reroute");
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_rerouted_transfers_total{jurisdiction="EEA",upstream="crm-eu"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn shadow_mode_forwards_and_counts_what_enforce_would_do() {
    let s = Setup::with(|p| p.replace("mode = \"enforce\"", "mode = \"shadow\"")).await;
    let body = fixture("chat-message.json");
    let (status, headers, _) = post(&s.proxy.url("/chat/im/v1/messages"), JSON, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["customs-decision"], "shadow");
    let got = s.chat.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_ref(), body.as_slice());
    assert_eq!(got[0].headers["customs-jurisdictions"], "UK");
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_shadow_violations_total{jurisdiction="UK",region="cn",would="block"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"customs_blocked_transfers_total{jurisdiction="UK",region="cn"}"#
        ),
        0.0
    );
}

#[tokio::test]
async fn per_jurisdiction_shadow_beside_enforced_rules() {
    // UK in shadow, the rest enforced: a UK record to chat is forwarded and reported.
    let s = Setup::with(|p| {
        p.replace(
            "allowed_regions = [\"uk\", \"eu\"]",
            "allowed_regions = [\"uk\", \"eu\"]\nmode = \"shadow\"",
        )
    })
    .await;
    let (status, _, _) = post(
        &s.proxy.url("/chat/im/v1/messages"),
        JSON,
        fixture("chat-message.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.chat.count(), 1);
    // A US record to chat is still blocked.
    let (status, _, _) = post(
        &s.proxy.url("/chat/im/v1/messages"),
        JSON,
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.chat.count(), 1);
    // Two UK records beside a US one: blocked for the US record, and the shadowed UK
    // rule is counted once for the transfer, not once per record.
    let batch = r#"{"users":[{"email":"a@example.org","country":"GB"},{"email":"b@example.org","country":"GB"},{"email":"c@example.org","country":"US"}]}"#;
    let (status, _, resp) = post(&s.proxy.url("/chat/im/v1/messages"), JSON, batch).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.chat.count(), 1, "the blocked batch reached the upstream");
    let problem: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(problem["rules"], serde_json::json!(["US"]));
    assert_eq!(
        problem["violating_records"],
        serde_json::json!(["/users/0", "/users/1", "/users/2"])
    );
    assert_eq!(
        problem["reasons"],
        serde_json::json!(["region_not_allowed", "shadow_violations_reported"])
    );
    let m = s.proxy.metrics().await;
    // The first request (shadowed alone) counts what enforcing it would have done (no
    // in-region alternative for chat: block); the batch, once, the rule's `on_violation`.
    for (series, want) in [
        (
            r#"customs_shadow_violations_total{jurisdiction="UK",region="cn",would="block"}"#,
            1.0,
        ),
        (
            r#"customs_shadow_violations_total{jurisdiction="UK",region="cn",would="reroute"}"#,
            1.0,
        ),
        (
            r#"customs_blocked_transfers_total{jurisdiction="US",region="cn"}"#,
            2.0,
        ),
    ] {
        assert_eq!(metric(&m, series), want, "{series}");
    }
}

#[tokio::test]
async fn aggregate_statistics_pass_unchanged() {
    let s = Setup::new().await;
    let body = fixture("aggregate-stats.json");
    let (status, _, _) = post(&s.proxy.url("/chat/im/v1/messages"), JSON, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let got = s.chat.received();
    assert_eq!(got[0].body.as_ref(), body.as_slice());
    assert_eq!(got[0].headers["customs-jurisdictions"], "");
}

#[tokio::test]
async fn no_route_is_404_and_forwards_nothing() {
    let s = Setup::new().await;
    for path in ["/", "/elsewhere/crm/", "/CRM/x", "http://evil.example/crm/"] {
        let url = if path.starts_with("http") {
            s.proxy.url("/nothing")
        } else {
            s.proxy.url(path)
        };
        let (status, headers, body) = post(&url, JSON, fixture("us-user.json")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(json(&body)["reason"], "no_route");
    }
    // An absolute-form request for another host is not an open proxy either.
    let mut stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    stream
        .write_all(
            b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(s.total_received(), 0);
}

#[tokio::test]
async fn body_at_the_limit_passes_and_over_it_is_413() {
    let s = Setup::with(|p| p.replace("max_body_bytes = 8388608", "max_body_bytes = 2048")).await;
    let pad = |n: usize| {
        let head = br#"{"note":""#;
        let tail = br#""}"#;
        let mut v = head.to_vec();
        v.extend(std::iter::repeat_n(b'a', n - head.len() - tail.len()));
        v.extend(tail);
        assert_eq!(v.len(), n);
        v
    };
    let (status, _, _) = post(&s.proxy.url("/crm/a"), JSON, pad(2048)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.received()[0].body.len(), 2048);
    let (status, _, body) = post(&s.proxy.url("/crm/a"), JSON, pad(2049)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(&body)["reason"], "body_too_large");
    // Chunked, with no declared length: refused once the limit is crossed.
    let chunks: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = (0..5)
        .map(|_| Ok(hyper::body::Frame::data(Bytes::from(vec![b' '; 1000]))))
        .collect();
    let stream_body = http_body_util::StreamBody::new(futures_util_stream(chunks));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = Request::post(s.proxy.url("/crm/a"))
        .header("content-type", JSON)
        .body(stream_body)
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        s.crm_us.count(),
        1,
        "nothing over the limit may be forwarded"
    );
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="body_too_large"}"#
        ),
        2.0
    );
}

/// The first line of the answer on `c`.
async fn status_line(c: &mut tokio::net::TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Sends one raw HTTP/1.1 request with a header of `pad` bytes; returns the status line.
async fn head_of_size(addr: std::net::SocketAddr, pad: usize) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = fixture("us-user.json");
    let req = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-pad: {}\r\ncontent-length: {}\r\n\r\n",
        "a".repeat(pad),
        body.len()
    );
    c.write_all(req.as_bytes()).await.unwrap();
    c.write_all(&body).await.unwrap();
    status_line(&mut c).await
}

#[tokio::test]
async fn request_head_over_the_limit_is_431_and_forwards_nothing() {
    // Default limit: 8 KiB for the request line and headers.
    let s = Setup::new().await;
    assert!(head_of_size(s.proxy.addr, 6000).await.contains(" 200 "));
    assert_eq!(s.crm_us.count(), 1);
    assert!(head_of_size(s.proxy.addr, 9000).await.contains(" 431 "));
    assert_eq!(s.total_received(), 1, "a head over the limit was forwarded");
    // The process keeps serving, and the refusal is counted.
    assert!(head_of_size(s.proxy.addr, 100).await.contains(" 200 "));
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="header_too_large"}"#
        ),
        1.0
    );
    // The same limit over HTTP/2.
    let h2 = http2();
    let h2_post = |pad: usize| {
        Request::post(s.proxy.url("/crm/v1/contacts"))
            .header("content-type", JSON)
            .header("x-pad", "a".repeat(pad))
            .body(Full::new(Bytes::from(fixture("us-user.json"))))
            .unwrap()
    };
    let (status, _, _) = send(&h2, h2_post(6000)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.total_received(), 3);
    let (status, _, _) = send(&h2, h2_post(9000)).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        s.total_received(),
        3,
        "an HTTP/2 head over the limit was forwarded"
    );
    // A policy may allow larger heads.
    let s = Setup::with(|p| p.replace("max_header_bytes = 8192", "max_header_bytes = 32768")).await;
    assert!(head_of_size(s.proxy.addr, 20_000).await.contains(" 200 "));
    assert!(head_of_size(s.proxy.addr, 40_000).await.contains(" 431 "));
    assert_eq!(s.total_received(), 1);
}

/// Sends `head` and then `pieces` one write at a time, with a pause between them, and
/// returns the status line of the answer.
async fn post_in_pieces(addr: std::net::SocketAddr, head: String, pieces: Vec<Vec<u8>>) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(head.as_bytes()).await.unwrap();
    for p in pieces {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(&p).await.unwrap();
    }
    status_line(&mut c).await
}

#[tokio::test]
async fn bodies_arriving_in_pieces_are_inspected_and_forwarded_whole() {
    // A declared length is read into one buffer of that size; a chunked body is
    // collected. Either way the upstream gets exactly the bytes the client sent.
    let s = Setup::new().await;
    let body = fixture("us-user.json");
    let thirds: Vec<Vec<u8>> = body
        .chunks(body.len() / 3 + 1)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(thirds.len(), 3);
    let head = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let status = post_in_pieces(s.proxy.addr, head, thirds.clone()).await;
    assert!(status.contains(" 200 "), "{status}");
    let chunked: Vec<Vec<u8>> = thirds
        .iter()
        .map(|t| {
            [
                format!("{:x}\r\n", t.len()).into_bytes(),
                t.clone(),
                b"\r\n".to_vec(),
            ]
            .concat()
        })
        .chain([b"0\r\n\r\n".to_vec()])
        .collect();
    let head = "POST /crm/v1/contacts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_string();
    let status = post_in_pieces(s.proxy.addr, head, chunked).await;
    assert!(status.contains(" 200 "), "{status}");
    let got = s.crm_us.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].body.as_ref(),
        body.as_slice(),
        "declared length: not whole"
    );
    assert_eq!(got[1].body.as_ref(), body.as_slice(), "chunked: not whole");
    // An EEA record arriving in pieces is still inspected: rerouted, not sent to the US.
    let eea = fixture("eea-user.json");
    let head = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        eea.len()
    );
    let halves: Vec<Vec<u8>> = eea.chunks(eea.len() / 2 + 1).map(<[u8]>::to_vec).collect();
    let status = post_in_pieces(s.proxy.addr, head, halves).await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(s.crm_us.count(), 2, "an EEA record reached the US upstream");
    let eu = s.crm_eu.received();
    assert_eq!(eu.len(), 1);
    assert_eq!(eu[0].body.as_ref(), eea.as_slice());
}

/// A stream that yields the items in order.
fn futures_util_stream<T: Unpin>(items: Vec<T>) -> IterStream<T> {
    IterStream(items.into())
}

struct IterStream<T>(std::collections::VecDeque<T>);

impl<T: Unpin> futures_core::Stream for IterStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

/// The chat route's profile has a JSONPath selector, which is applied before the body's
/// own tree is built: a body that is not JSON, or nests too deep, is still refused for
/// that reason (not as a failed selector), and nothing reaches the upstream.
#[tokio::test]
async fn invalid_json_on_a_selector_route_is_400_and_forwards_nothing() {
    let s = Setup::new().await;
    let deep = format!("{{\"content\":{}{}}}", "[".repeat(200), "]".repeat(200));
    for (body, reason) in [
        (
            br#"{"content": "{\"text\": \"a@example.org\"}""#.to_vec(),
            "invalid_json",
        ),
        (deep.into_bytes(), "nesting_too_deep"),
    ] {
        let (status, _, answer) = post(&s.proxy.url("/chat/im/v1/messages"), JSON, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json(&answer)["reason"], reason);
        assert!(!String::from_utf8_lossy(&answer).contains("example.org"));
    }
    assert_eq!(s.chat.count(), 0);
    assert_eq!(s.total_received(), 0);
    let m = s.proxy.metrics().await;
    for reason in ["invalid_json", "nesting_too_deep"] {
        assert_eq!(
            metric(
                &m,
                &format!(r#"customs_inspection_failures_total{{reason="{reason}"}}"#)
            ),
            1.0,
            "{reason}"
        );
    }
}

#[tokio::test]
async fn bodies_of_tiny_values_are_inspected_without_a_tree_and_fail_closed() {
    // ~300 KB of zeros: its tree would outgrow the text, so customs reads it as a stream.
    let zeros = "0,".repeat(150_000);
    let s = Setup::new().await;
    // An EEA subject hidden among the zeros is found: rerouted, never sent to crm-us.
    let user = String::from_utf8(fixture("eea-user.json")).unwrap();
    let hidden = format!("[{zeros}{user},{zeros}0]");
    let (status, headers, _) = post(&s.proxy.url("/crm/a"), JSON, hidden.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["customs-rerouted-to"], "crm-eu");
    assert_eq!(s.crm_us.count(), 0, "the hidden subject reached crm-us");
    assert_eq!(s.crm_eu.received()[0].body.as_ref(), hidden.as_bytes());
    // Broken after the zeros (where the tree was already given up): refused, nothing sent.
    let broken = format!("[{zeros}{user},{zeros}0");
    let (status, _, body) = post(&s.proxy.url("/crm/a"), JSON, broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["reason"], "invalid_json");
    assert!(!String::from_utf8_lossy(&body).contains("lukas"));
    // Nested past the depth limit inside the zeros: refused, nothing sent.
    let deep = format!("[{zeros}{}0{}]", "[".repeat(100), "]".repeat(100));
    let (status, _, body) = post(&s.proxy.url("/crm/a"), JSON, deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["reason"], "nesting_too_deep");
    assert_eq!(s.total_received(), 1, "a refused body was forwarded");
}

#[tokio::test]
async fn invalid_json_is_400_and_forwards_nothing() {
    let s = Setup::new().await;
    let (status, _, body) = post(
        &s.proxy.url("/crm/a"),
        JSON,
        &b"{\"email\": \"a@example.org\""[..],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["reason"], "invalid_json");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let (status, _, body) = post(&s.proxy.url("/crm/a"), JSON, deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["reason"], "nesting_too_deep");
    let (status, _, body) = post(
        &s.proxy.url("/crm/a"),
        "application/octet-stream",
        vec![0u8, 159, 146, 150, 1, 2],
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(json(&body)["reason"], "unsupported_content_type");
    let req = Request::post(s.proxy.url("/crm/a"))
        .header("content-type", JSON)
        .header("content-encoding", "compress")
        .body(Full::new(Bytes::from_static(b"\x1f\x9d\x90")))
        .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.total_received(), 0);
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="invalid_json"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="nesting_too_deep"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn transfer_coding_other_than_chunked_is_refused() {
    let s = Setup::new().await;
    let mut stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let body = "{\"note\":\"x\"}";
    let req = format!(
        "POST /crm/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(s.total_received(), 0);
}

#[tokio::test]
async fn upstream_down_is_502() {
    let dead = closed_port().await;
    let crm_eu = Upstream::start("crm-eu").await;
    let chat = Upstream::start("chat").await;
    let proxy = Proxy::start(&example_policy(
        &format!("http://{dead}"),
        &crm_eu.url(),
        &chat.url(),
    ))
    .await;
    let (status, headers, body) = post(&proxy.url("/crm/a"), JSON, fixture("us-user.json")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(json(&body)["reason"], "upstream_unreachable");
    let m = proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_upstream_errors_total{kind="connect",upstream="crm-us"}"#
        ),
        1.0
    );
    assert_eq!(crm_eu.count() + chat.count(), 0);
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let slow = Upstream::start_with("crm-us", Duration::from_secs(3)).await;
    let crm_eu = Upstream::start("crm-eu").await;
    let chat = Upstream::start("chat").await;
    let src = example_policy(&slow.url(), &crm_eu.url(), &chat.url())
        .replace("request_timeout_ms = 30000", "request_timeout_ms = 300");
    let proxy = Proxy::start(&src).await;
    let (status, _, body) = post(&proxy.url("/crm/a"), JSON, fixture("us-user.json")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(json(&body)["reason"], "upstream_timeout");
    assert_eq!(
        slow.count(),
        1,
        "the upstream did receive the allowed request"
    );
    let m = proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_upstream_errors_total{kind="timeout",upstream="crm-us"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn http2_cleartext_clients_are_served() {
    let s = Setup::new().await;
    let body = fixture("eea-user.json");
    let req = Request::post(s.proxy.url("/crm/a"))
        .header("content-type", JSON)
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let client = http2();
    let (status, headers, _) = send(&client, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["customs-rerouted-to"], "crm-eu");
    assert_eq!(s.crm_eu.received()[0].body.as_ref(), body.as_slice());
    let req = Request::post(s.proxy.url("/chat/x"))
        .header("content-type", JSON)
        .body(Full::new(Bytes::from(fixture("chat-message.json"))))
        .unwrap();
    let (status, _, _) = send(&client, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.chat.count(), 0);
}

#[tokio::test]
async fn keep_alive_connection_serves_several_requests() {
    let s = Setup::new().await;
    let mut stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let us = fixture("us-user.json");
    let chat = fixture("chat-message.json");
    let mut statuses = Vec::new();
    for (path, body) in [("/crm/1", &us), ("/chat/2", &chat), ("/crm/3", &us)] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        // Read one response: headers, then content-length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.unwrap();
        statuses.push(head[9..12].to_string());
    }
    assert_eq!(statuses, ["200", "403", "200"]);
    assert_eq!(s.crm_us.count(), 2);
    assert_eq!(s.chat.count(), 0);
}

#[tokio::test]
async fn many_concurrent_clients() {
    let s = Setup::new().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (path, fixture_name) = match i % 3 {
            0 => ("/crm/a", "us-user.json"),
            1 => ("/crm/b", "eea-user.json"),
            _ => ("/chat/c", "chat-message.json"),
        };
        let url = s.proxy.url(path);
        tasks.push(tokio::spawn(async move {
            post(&url, JSON, fixture(fixture_name)).await.0
        }));
    }
    let mut ok = 0;
    let mut forbidden = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::FORBIDDEN => forbidden += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, forbidden), (40, 20));
    assert_eq!(s.crm_us.count(), 20);
    assert_eq!(s.crm_eu.count(), 20);
    assert_eq!(s.chat.count(), 0);
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_records_total{action="reroute",jurisdiction="EEA"}"#
        ),
        20.0
    );
}

#[tokio::test]
async fn records_are_counted_per_jurisdiction_within_one_request() {
    // One batch: a US, a UK and two EEA subjects, a Canadian (a country no jurisdiction
    // names: `unassigned`) and one whose region nothing says (`unknown`). Blocked as a
    // whole; every record is counted.
    let s = Setup::new().await;
    let (status, _, _) = post(&s.proxy.url("/crm/a"), JSON, fixture("batch-users.json")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.total_received(), 0);
    let m = s.proxy.metrics().await;
    for (jurisdiction, n) in [
        ("US", 1.0),
        ("EEA", 2.0),
        ("UK", 1.0),
        ("unassigned", 1.0),
        ("unknown", 1.0),
    ] {
        assert_eq!(
            metric(
                &m,
                &format!(
                    r#"customs_records_total{{action="block",jurisdiction="{jurisdiction}"}}"#
                )
            ),
            n,
            "{jurisdiction}"
        );
    }
}

#[tokio::test]
async fn admin_endpoints() {
    let s = Setup::new().await;
    let (status, _, body) = get(&format!("http://{}/healthz", s.proxy.admin)).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, &b"ok\n"[..]));
    let (status, headers, body) = get(&format!("http://{}/readyz", s.proxy.admin)).await;
    assert_eq!(status, StatusCode::OK);
    let m = s.proxy.metrics().await;
    let hash = customs::policy::hash(&example_policy(
        &s.crm_us.url(),
        &s.crm_eu.url(),
        &s.chat.url(),
    ));
    // Readiness names the policy in force and when it was loaded.
    assert_eq!(headers["content-type"], "application/json");
    let ready = json(&body);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["policy_hash"], hash.as_str());
    assert_eq!(
        ready["policy_loaded_at"].as_f64(),
        Some(metric(&m, "customs_policy_loaded_timestamp_seconds"))
    );
    assert!(ready["policy_loaded_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        metric(&m, &format!("customs_policy_info{{hash=\"{hash}\"}}")),
        1.0
    );
    assert!(metric(&m, "customs_geoip_build_timestamp_seconds") > 1.7e9);
    // Metrics carry no host, path, IP or body value.
    post(
        &s.proxy.url("/crm/secret-path"),
        JSON,
        fixture("us-user.json"),
    )
    .await;
    let m = s.proxy.metrics().await;
    for v in [
        "secret-path",
        "127.0.0.1",
        "olivia",
        "8.8.8.8",
        "415 555",
        "4155550112",
    ] {
        assert!(!m.contains(v), "metrics contain `{v}`");
    }
    assert!(metric(&m, "customs_inspected_body_bytes_total") > 100.0);
    assert_eq!(
        metric(&m, "customs_request_duration_seconds_count{route=\"crm\"}"),
        1.0
    );
    s.proxy.shutdown().await;
}

#[tokio::test]
async fn body_cut_short_is_400_and_forwards_nothing() {
    let s = Setup::new().await;
    let mut stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let body = fixture("us-user.json");
    let head = format!(
        "POST /crm/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len() + 500
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    stream.shutdown().await.unwrap(); // the client stops sending half-way
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("body_read_error"), "{text}");
    assert_eq!(s.total_received(), 0, "a prefix of the body was forwarded");
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="body_read_error"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn body_too_slow_is_408_and_forwards_nothing() {
    let s = Setup::with(|p| p.replace("body_timeout_ms = 60000", "body_timeout_ms = 300")).await;
    let mut stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let body = fixture("us-user.json");
    let head = format!(
        "POST /crm/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Half the body, then nothing: the connection stays open (a trickling caller).
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("customs neither answered nor closed the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"reason\":\"body_timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(
        !text.contains("Olivia"),
        "a body value in the error: {text}"
    );
    assert_eq!(s.total_received(), 0, "a prefix of the body was forwarded");
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="body_timeout"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"customs_requests_total{action="refuse",reason="body_timeout",route="crm"}"#
        ),
        1.0
    );
    // The process keeps serving: the same body, sent whole, goes through.
    let (status, _, _) = post(&s.proxy.url("/crm/a"), JSON, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.count(), 1);
    s.proxy.shutdown().await;
}

#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_closed_and_counted() {
    let s =
        Setup::with(|p| p.replace("header_timeout_ms = 60000", "header_timeout_ms = 300")).await;
    // A caller that sends part of a head and then nothing (slowloris).
    let mut slow = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    slow.write_all(b"POST /crm/a HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    // A keep-alive connection that carried one request and then stays idle.
    let mut idle = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    idle.write_all(b"GET /healthz-not-a-route HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A caller that connects and sends nothing, and one that sends the start of the
    // HTTP/2 preface: the protocol is not known yet, so hyper's HTTP/1 timer has not
    // started for either.
    let mut silent = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let mut preface = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for (name, conn) in [
        ("slow", &mut slow),
        ("idle", &mut idle),
        ("silent", &mut silent),
        ("preface", &mut preface),
    ] {
        let mut rest = Vec::new();
        // Closed without an answer: the read ends (EOF or reset) well before 10 s.
        let ended =
            tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "the {name} connection was not closed");
        assert!(
            rest.is_empty(),
            "the {name} connection got: {}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert_eq!(
        s.total_received(),
        0,
        "the partial head reached an upstream"
    );
    let m = s.proxy.metrics().await;
    assert_eq!(metric(&m, "customs_header_timeouts_total"), 4.0);
    // A caller that sends its head in time is served as before.
    let (status, _, _) = post(&s.proxy.url("/crm/a"), JSON, fixture("us-user.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.count(), 1);
    s.proxy.shutdown().await;
}

/// A request body sent a frame at a time, as the test hands the frames over.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test]
async fn idle_http2_connections_are_shut_down_but_requests_in_flight_are_not() {
    let s =
        Setup::with(|p| p.replace("header_timeout_ms = 60000", "header_timeout_ms = 300")).await;
    let stream = tokio::net::TcpStream::connect(s.proxy.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    // A request whose body takes three header timeouts to arrive (well within the body
    // timeout): in flight all that time, so the connection is not idle.
    let body = fixture("us-user.json");
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let (first, second) = body.split_at(body.len() / 2);
    let (first, second) = (
        Bytes::copy_from_slice(first),
        Bytes::copy_from_slice(second),
    );
    let feeder = tokio::spawn(async move {
        tx.send(first).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        tx.send(second).await.unwrap();
    });
    let req = Request::post(s.proxy.url("/crm/a"))
        .header("content-type", JSON)
        .body(ChannelBody(rx))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    feeder.await.unwrap();
    assert_eq!(s.crm_us.received()[0].body.as_ref(), body.as_slice());
    // Then nothing: shut down (GOAWAY) and closed, where before it was held for ever.
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection was not closed");
    assert!(sender.is_closed());
    let m = s.proxy.metrics().await;
    assert_eq!(metric(&m, "customs_header_timeouts_total"), 1.0);
    assert_eq!(s.total_received(), 1);
    s.proxy.shutdown().await;
}

#[tokio::test]
async fn redirects_are_returned_to_the_client_not_followed() {
    // A redirect could send the inspected body to a place the policy never checked, so
    // customs hands every 3xx back unchanged.
    let elsewhere = Upstream::start("elsewhere").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let location = format!("{}/stolen", elsewhere.url());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let location = location.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        let location = location.clone();
                        async move {
                            let mut r = http::Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                            r.headers_mut()
                                .insert("location", location.parse().unwrap());
                            Ok::<_, std::convert::Infallible>(r)
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
    let chat = Upstream::start("chat").await;
    let crm_eu = Upstream::start("crm-eu").await;
    let proxy = Proxy::start(&example_policy(
        &format!("http://{addr}"),
        &crm_eu.url(),
        &chat.url(),
    ))
    .await;
    let (status, headers, _) = post(&proxy.url("/crm/a"), JSON, fixture("us-user.json")).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("{}/stolen", elsewhere.url())
    );
    assert_eq!(elsewhere.count(), 0, "the proxy followed the redirect");
}

#[tokio::test]
async fn a_profile_may_forward_bodies_it_cannot_inspect() {
    // Default: refused (415). With `binary = "forward"` on the route's profile: forwarded
    // byte for byte (a file-upload API, say, whose owner accepted that).
    let png = vec![0x89, b'P', b'N', b'G', 0, 0, 0xff, 0xfe, 0x00, 0x01];
    let s = Setup::new().await;
    let (status, _, _) = post(&s.proxy.url("/crm/upload"), "image/png", png.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.crm_us.count(), 0);
    let s = Setup::with(|p| {
        p.replace(
            "upstream = \"crm-us\"\n",
            "upstream = \"crm-us\"\nprofile = \"uploads\"\n",
        ) + "\n[profiles.uploads]\nbinary = \"forward\"\n"
    })
    .await;
    let (status, headers, _) = post(&s.proxy.url("/crm/upload"), "image/png", png.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["customs-decision"], "allow");
    assert_eq!(s.crm_us.received()[0].body.as_ref(), png.as_slice());
    // ... and still inspects what it can read.
    let (status, _, _) = post(&s.proxy.url("/crm/upload"), JSON, fixture("eea-user.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.crm_eu.count(),
        1,
        "an EEA record on the uploads route is still rerouted"
    );
}

/// Ambiguous framing (RFC 9112 §6.1: `Content-Length` with `Transfer-Encoding`) is a
/// request-smuggling vector. The RFC lets a server reject it or read it by its chunks
/// alone, closing the connection either way. hyper's parser does the second before
/// customs sees the request (the length is gone by then): the body is read by its
/// chunks and forwarded once with its own length, the connection is closed after the
/// response, and the bytes after the body are never read as another request.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_by_its_chunks_and_the_connection_closed() {
    let s = Setup::new().await;
    let body = fixture("us-user.json");
    for lengths_first in [true, false] {
        let (cl, te) = (
            format!("Content-Length: {}\r\n", body.len() + 40),
            "Transfer-Encoding: chunked\r\n".to_string(),
        );
        let framing = if lengths_first { cl + &te } else { te + &cl };
        let mut req = format!(
            "POST /crm/v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        req.extend_from_slice(
            b"\r\n0\r\n\r\nPOST /crm/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        );
        let before = s.crm_us.count();
        let (resp, closed) = raw_exchange(s.proxy.addr, &req).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("connection: close"),
            "{resp}"
        );
        assert!(closed, "the connection stayed open: {resp}");
        assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
        let got = s.crm_us.received();
        assert_eq!(got.len(), before + 1, "exactly one request was forwarded");
        let last = got.last().unwrap();
        assert_eq!(last.path_and_query, "/crm/v1/contacts");
        assert_eq!(last.body, body, "the body, whole, once");
        assert_eq!(
            last.headers["content-length"],
            body.len().to_string().as_str(),
            "forwarded with its own length"
        );
        assert!(!last.headers.contains_key("transfer-encoding"));
    }
}

/// What the HTTP layer answers itself (a request line it cannot parse), and what the
/// admin listener answers for a path it does not serve.
#[tokio::test]
async fn garbage_request_lines_and_admin_404s() {
    let s = Setup::new().await;
    // A request line hyper cannot parse: hyper answers `400` with no body and closes the
    // connection; customs never sees the request (README: "what the HTTP layer answers").
    let (resp, closed) = raw_exchange(s.proxy.addr, b"\x16\x03\x01 hello there\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(resp.contains("content-length: 0\r\n"), "{resp}");
    assert!(closed);
    let (resp, _) = raw_exchange(
        s.proxy.admin,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.contains("application/problem+json"), "{resp}");
    assert!(resp.contains("\"reason\":\"not_found\""), "{resp}");
    assert_eq!(s.total_received(), 0);
}

/// Sends `raw` on a new connection and reads until the proxy closes it.
async fn exchange_until_closed(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .expect("the proxy closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn two_host_headers_are_400_and_the_connection_closed() {
    let s = Setup::new().await;
    let body = r#"{"email":"lukas.weber@example.org","nationality":"DE"}"#;
    // A second request pipelined behind the first must not be read.
    let raw = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nHost: localhost\r\nHost: crm-us.internal\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}\
         POST /crm/v1/contacts HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        body.len()
    );
    let out = exchange_until_closed(s.proxy.addr, raw.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("duplicate_host"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
    assert_eq!(s.total_received(), 0);
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="duplicate_host"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn trailers_are_refused_not_dropped() {
    let s = Setup::new().await;
    let body = r#"{"email":"olivia.carter@example.org","last_login_ip":"8.8.8.8"}"#;
    let raw = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-User-Nationality\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\nX-User-Nationality: DE\r\n\r\n",
        body.len()
    );
    let out = exchange_until_closed(s.proxy.addr, raw.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("trailers_not_inspected"), "{out}");
    assert_eq!(
        s.total_received(),
        0,
        "the body went on without its trailers"
    );
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_inspection_failures_total{reason="trailers_not_inspected"}"#
        ),
        1.0
    );
    // The same body without trailers is forwarded.
    let raw = format!(
        "POST /crm/v1/contacts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let out = exchange_until_closed(s.proxy.addr, raw.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(s.crm_us.received()[0].body, body.as_bytes());
}

#[tokio::test]
async fn http2_trailing_headers_are_refused_not_dropped() {
    let s = Setup::new().await;
    let body = r#"{"email":"olivia.carter@example.org","last_login_ip":"8.8.8.8"}"#;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-user-nationality", http::HeaderValue::from_static("DE"));
    let frames: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = vec![
        Ok(hyper::body::Frame::data(Bytes::from(body))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = Request::post(s.proxy.url("/crm/v1/contacts"))
        .header("content-type", JSON)
        .body(http_body_util::StreamBody::new(futures_util_stream(frames)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let b = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(json(&b)["reason"], "trailers_not_inspected");
    assert_eq!(s.total_received(), 0);
}

#[tokio::test]
async fn the_path_and_the_authorization_header_are_inspected() {
    use base64::Engine as _;
    let s = Setup::new().await;
    let us = r#"{"email":"olivia.carter@example.org","last_login_ip":"8.8.8.8"}"#;
    // A German phone number in the path: refused, nothing forwarded.
    let (status, _, b) = post(
        &s.proxy
            .url("/crm/v1/contacts/by-phone/%2B49%2030%201234567"),
        JSON,
        us,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(s.total_received(), 0);
    // A bearer token whose claims are a German subject's: rerouted to the EU CRM, as the
    // same claims in the body would be.
    let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
    let token = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256"}"#),
        b64(r#"{"email":"lukas.weber@example.org","nationality":"DE"}"#)
    );
    let req = Request::post(s.proxy.url("/crm/v1/contacts"))
        .header("content-type", JSON)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(r#"{"note":"hello"}"#)))
        .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.count(), 0);
    let got = s.crm_eu.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].headers["authorization"],
        format!("Bearer {token}").as_str()
    );
    // The same token as a cookie (an ID token kept by the browser): read as credentials
    // are, though the profile names no cookie; other cookies are left alone.
    let req = Request::post(s.proxy.url("/crm/v1/contacts"))
        .header("content-type", JSON)
        .header("cookie", format!("theme=dark; id_token={token}; n=1"))
        .body(Full::new(Bytes::from(r#"{"note":"hello"}"#)))
        .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.count(), 0);
    let got = s.crm_eu.received();
    assert_eq!(got.len(), 2);
    assert!(got[1].headers["cookie"].to_str().unwrap().contains(&token));
    // A Basic user id that is an email with nothing to place it: unknown, refused.
    let basic = base64::engine::general_purpose::STANDARD.encode("lukas.weber@example.org:pw");
    let req = Request::post(s.proxy.url("/crm/v1/contacts"))
        .header("content-type", JSON)
        .header("authorization", format!("Basic {basic}"))
        .body(Full::new(Bytes::from(us)))
        .unwrap();
    let (status, _, b) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!String::from_utf8_lossy(&b).contains("lukas"));
    assert_eq!(s.crm_us.count(), 0);
    // Ordinary paths and a service token without personal claims pass.
    let service = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256"}"#),
        b64(r#"{"iss":"auth","scope":"crm.write"}"#)
    );
    let req = Request::post(s.proxy.url("/crm/v1/contacts/u12345/notes"))
        .header("content-type", JSON)
        .header("authorization", format!("Bearer {service}"))
        .body(Full::new(Bytes::from(us)))
        .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.received()[0].body, us.as_bytes());
    // and the service token as a cookie
    let req = Request::post(s.proxy.url("/crm/v1/contacts"))
        .header("content-type", JSON)
        .header("cookie", format!("session={service}"))
        .body(Full::new(Bytes::from(us)))
        .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.received()[1].body, us.as_bytes());
}

#[tokio::test]
async fn a_profile_can_leave_the_path_and_the_credentials_alone() {
    use base64::Engine as _;
    let s =
        Setup::with(|p| p + "\n[profiles.default]\npath = false\nauthorization = false\n").await;
    let us = r#"{"email":"olivia.carter@example.org","last_login_ip":"8.8.8.8"}"#;
    let basic = base64::engine::general_purpose::STANDARD.encode("lukas.weber@example.org:pw");
    let req = Request::post(
        s.proxy
            .url("/crm/v1/contacts/by-phone/%2B49%2030%201234567"),
    )
    .header("content-type", JSON)
    .header("authorization", format!("Basic {basic}"))
    .body(Full::new(Bytes::from(us)))
    .unwrap();
    let (status, _, _) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.received()[0].body, us.as_bytes());
}
