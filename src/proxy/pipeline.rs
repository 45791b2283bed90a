//! The request path, stage by stage: accept → route → read body (bounded) → decode →
//! extract → tag → decide → act → observe. Pure stages run through [`engine`]; this
//! module does the I/O around them, and [`respond`](super::respond) maps every ending
//! to a response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::budget::{Budget, Reservation};
use super::destination::{DestinationError, Destinations};
use super::respond::{Body, Failure, REQUEST_ID};
use super::upstream::{self, UpstreamClient};
use crate::audit;
use crate::decide::{Action, Decision};
use crate::engine::{self, Refusal, RequestView};
use crate::geo::GeoLookup;
use crate::metrics::Metrics;
use crate::policy::Policy;

/// The policy and GeoIP database a request is evaluated with. Swapped whole, so a
/// request in flight finishes on the pair it started with.
pub struct Runtime {
    pub policy: Policy,
    pub geo: Arc<dyn GeoLookup>,
}

/// State shared by every connection.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub client: UpstreamClient,
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    pub destinations: Destinations,
    /// Bytes every request in flight holds together.
    pub budget: Arc<Budget>,
    /// One permit per client connection the proxy listener may hold open
    /// (`limits.max_connections`, read at start).
    pub connection_permits: Arc<tokio::sync::Semaphore>,
    pub max_connections: usize,
}

impl Shared {
    pub fn new(runtime: Runtime, client: UpstreamClient, metrics: Arc<Metrics>) -> Self {
        crate::geo::warm_up();
        metrics.init_for(&runtime.policy);
        metrics
            .policy_info
            .with_label_values(&[&runtime.policy.hash])
            .set(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        metrics.policy_loaded_at.set(now);
        if let Some(b) = runtime.geo.build_epoch() {
            metrics.geoip_build_time.set(b as i64);
        }
        let destinations =
            Destinations::new(client.resolver.clone(), runtime.policy.server.dns_cache);
        Shared {
            budget: Budget::new(runtime.policy.admission.memory_budget),
            connection_permits: Arc::new(tokio::sync::Semaphore::new(
                runtime.policy.admission.max_connections,
            )),
            max_connections: runtime.policy.admission.max_connections,
            destinations,
            runtime: ArcSwap::from_pointee(runtime),
            client,
            metrics,
            ready: AtomicBool::new(true),
        }
    }
}

// Header names as `HeaderName`s: a `&str` is parsed and validated at every use.
pub const JURISDICTIONS_HEADER: HeaderName = HeaderName::from_static("customs-jurisdictions");
pub const DECISION_HEADER: HeaderName = HeaderName::from_static("customs-decision");
pub const REROUTED_HEADER: HeaderName = HeaderName::from_static("customs-rerouted-to");

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A request id: unique per process, unpredictable across processes.
fn request_id() -> String {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (u64::from(std::process::id()) << 32)
    });
    let mut z = seed.wrapping_add(
        NEXT_ID
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

/// Keeps a caller's request id only if it is a short token (it is echoed in logs).
fn incoming_request_id(h: &HeaderMap) -> Option<String> {
    let v = h.get(REQUEST_ID)?.to_str().ok()?;
    (!v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
    .then(|| v.to_string())
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none: one pass over the names says so without removals.
    let hop = |k: &HeaderName| {
        let k = k.as_str();
        HOP_BY_HOP.contains(&k) || k.starts_with("proxy-")
    };
    if !h.keys().any(hop) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    // every Proxy-* header is for this hop only
    let hops: Vec<HeaderName> = h.keys().filter(|k| hop(k)).cloned().collect();
    for n in hops {
        h.remove(n);
    }
}

/// Handles one request. Never panics; every ending is a response.
pub async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let id = incoming_request_id(req.headers()).unwrap_or_else(request_id);
    let rt = shared.runtime.load_full();
    let m = &shared.metrics;
    // (a standard method's clone allocates nothing)
    let method_owned = req.method().clone();
    let method = method_owned.as_str();
    if req.method() == http::Method::CONNECT {
        return super::egress::connect(req, &shared, &rt, &id).await;
    }
    // Absolute-form (`POST http://host:port/path`): customs is the client's HTTP proxy.
    // (HTTP/2 requests always carry :scheme and :authority: they are origin requests.)
    let absolute = if req.uri().scheme().is_some() && req.version() < http::Version::HTTP_2 {
        req.uri().authority().map(|a| a.as_str().to_string())
    } else {
        None
    };

    // route
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let mut matched = match &absolute {
        Some(a) => rt.policy.match_absolute(a, req.uri().path()),
        None => rt.policy.match_route(host.as_deref(), req.uri().path()),
    };
    // An absolute-form request for a host the policy does not declare: when the policy
    // allows it, the destination is located by GeoIP and becomes a one-off upstream.
    let mut located: Option<Policy> = None;
    if matched.is_none()
        && let Some(a) = &absolute
        && rt.policy.egress.locate_unknown
    {
        match super::egress::locate_unknown(&shared, &rt, a).await {
            Ok((p, route)) => {
                located = Some(p);
                matched = Some(route);
            }
            Err(e) => {
                return destination_refused(
                    &shared,
                    &id,
                    method,
                    "egress",
                    super::egress::UNKNOWN_UPSTREAM,
                    &e,
                    started,
                );
            }
        }
    }
    let policy: &Policy = located.as_ref().unwrap_or(&rt.policy);
    let Some(route_id) = matched else {
        return refuse(&shared, &id, method, "none", Failure::NoRoute, started);
    };
    let route = &policy.routes[route_id.min(policy.routes.len().saturating_sub(1))];
    let route_name = route.name.as_str();

    // one Host (RFC 9112 §3.2: a request with several is answered 400, and its
    // connection closed: which one names the destination is for an attacker to choose)
    if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
        return refuse(
            &shared,
            &id,
            method,
            route_name,
            Failure::DuplicateHost,
            started,
        );
    }

    // transfer-coding: exactly `chunked`, or none
    let te: Vec<&HeaderValue> = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .collect();
    let only_chunked = te.len() == 1
        && te[0]
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
    if !te.is_empty() && !only_chunked {
        return refuse(
            &shared,
            &id,
            method,
            route_name,
            Failure::TransferEncoding,
            started,
        );
    }

    // A length and a transfer-coding together (RFC 9112 §6.1, a request-smuggling
    // vector) never reach this point with both: hyper's HTTP/1 parser drops the
    // `Content-Length`, reads the body by its chunks, and closes the connection after the
    // response, so nothing after the body is read as another request. The body is then
    // forwarded with its own length. (`tests/proxy.rs` proves all three.)

    // read the body, bounded in size, in time and by the memory budget
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (parts, body) = req.into_parts();
    let mut held = shared.budget.reservation();
    let body = match admit_body(body, declared, policy, &mut held).await {
        Ok(b) => b,
        Err(f) => return refuse(&shared, &id, method, route_name, f, started),
    };
    // decode (content-encoding), within the budget too
    let content_encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let decoded = match decode_within(content_encoding, &body, policy, &mut held).await {
        Ok(d) => d,
        Err(Err(f)) => return refuse(&shared, &id, method, route_name, f, started),
        Err(Ok(e)) => {
            m.inspection_failures.with_label_values(&[e.reason()]).inc();
            return refuse(
                &shared,
                &id,
                method,
                route_name,
                Failure::Inspect(&e),
                started,
            );
        }
    };
    // the inspection's tree
    let profile = policy.profiles.get(route.profile);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let tree = profile.map_or(decoded.len(), |p| {
        crate::extract::tree_bytes(p, decoded.len(), content_type)
    });
    if held.grow(tree, policy.admission.wait).await.is_err() {
        return refuse(
            &shared,
            &id,
            method,
            route_name,
            Failure::Overloaded,
            started,
        );
    }

    // inspect and decide (pure)
    let view = RequestView {
        absolute_authority: absolute.as_deref(),
        headers: Some(&parts.headers),
        method: parts.method.as_str(),
        host: host.as_deref(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        content_type,
        // Decoded above: the engine reads the decoded bytes.
        content_encoding: None,
        body: &decoded,
    };
    // Where the route's upstream really is (for `verify` and `locate` upstreams).
    let region = match shared
        .destinations
        .region_of(policy, rt.geo.as_ref(), route.upstream)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let name = rt
                .policy
                .upstreams
                .get(route.upstream)
                .map(|u| u.name.as_str())
                .unwrap_or("");
            return destination_refused(&shared, &id, method, route_name, name, &e, started);
        }
    };
    let t0 = Instant::now();
    // The engine never panics by design; if it ever does, the request is refused (fail
    // closed) and the process keeps serving.
    let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The proxy reports only violating records (403 body, decision log, shadow
        // metrics); every record is still decided.
        engine::evaluate_route(
            policy,
            rt.geo.as_ref(),
            &view,
            route_id,
            Some(region),
            crate::decide::Keep::Violations,
        )
    }));
    let inspect_time = t0.elapsed();
    // The tree and the decoded copy are gone: only the body is held while it is sent.
    drop(decoded);
    held.shrink_to(body.len());
    m.inspection_duration.observe(inspect_time.as_secs_f64());
    m.inspected_bytes.inc_by(body.len() as u64);
    let decision = match evaluated {
        Err(_) => {
            return refuse(&shared, &id, method, route_name, Failure::Internal, started);
        }
        Ok(evaluated) => evaluated,
    };
    let decision = match decision {
        Ok(ev) => ev.decision,
        Err(Refusal::NoRoute) => {
            return refuse(&shared, &id, method, "none", Failure::NoRoute, started);
        }
        Err(Refusal::Inspect(e)) => {
            m.inspection_failures.with_label_values(&[e.reason()]).inc();
            return refuse(
                &shared,
                &id,
                method,
                route_name,
                Failure::Inspect(&e),
                started,
            );
        }
    };
    audit::decision(
        &audit::RequestInfo {
            request_id: &id,
            method,
            route: route_name,
            body_bytes: body.len(),
            inspect_us: inspect_time.as_micros() as u64,
        },
        &decision,
    );
    count_decision(m, policy, &decision);

    // act
    let target = match (decision.action, decision.target_id) {
        (Action::Block, _) => {
            let f = Failure::Blocked(&decision);
            let resp = f.response(&id);
            finish(
                m,
                route_name,
                "block",
                decision
                    .reasons
                    .first()
                    .map(String::as_str)
                    .unwrap_or("blocked"),
                started,
            );
            return resp;
        }
        (_, Some(t)) => t,
        (_, None) => {
            m.inspection_failures
                .with_label_values(&["internal_error"])
                .inc();
            return refuse(&shared, &id, method, route_name, Failure::Internal, started);
        }
    };
    let Some(up) = policy.upstreams.get(target) else {
        return refuse(&shared, &id, method, route_name, Failure::Internal, started);
    };
    // A reroute target is checked like the route's upstream before anything is sent.
    if target != route.upstream
        && let Err(e) = shared
            .destinations
            .region_of(policy, rt.geo.as_ref(), target)
            .await
    {
        return destination_refused(&shared, &id, method, route_name, &up.name, &e, started);
    }
    let uri = match upstream_uri(&up.url, &parts.uri) {
        Some(u) => u,
        None => {
            return refuse(&shared, &id, method, route_name, Failure::Internal, started);
        }
    };
    let mut out = Request::new(Full::new(body));
    *out.method_mut() = parts.method.clone();
    *out.uri_mut() = uri;
    *out.version_mut() = Version::HTTP_11;
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(JURISDICTIONS_HEADER);
    headers.remove(DECISION_HEADER);
    forwarded_headers(&mut headers, peer, host.as_deref());
    if let Ok(v) = HeaderValue::from_str(&decision.jurisdictions.join(", ")) {
        headers.insert(JURISDICTIONS_HEADER, v);
    }
    headers.insert(
        DECISION_HEADER,
        HeaderValue::from_static(decision.action.as_str()),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    *out.headers_mut() = headers;

    let timeout = policy.server.request_timeout;
    let action = decision.action.as_str();
    let reason = decision.reasons.first().map(String::as_str).unwrap_or("");
    let retries = &m.upstream_retries;
    let send = shared.client.send(up.idle_timeout, out, || {
        retries.with_label_values(&[&up.name]).inc();
        tracing::info!(target: "customs::upstream", request_id = %id, upstream = %up.name, "pooled connection closed by the upstream before the request was written: sending it on a fresh connection");
    });
    let result = tokio::time::timeout(timeout, send).await;
    let mut resp = match result {
        Ok(Ok(r)) => r.map(|b| b.boxed()),
        Ok(Err(e)) => {
            let kind = upstream::classify(&e);
            m.upstream_errors
                .with_label_values(&[&up.name, kind.as_str()])
                .inc();
            tracing::warn!(target: "customs::upstream", request_id = %id, upstream = %up.name, kind = kind.as_str(), "upstream failed");
            let f = Failure::Upstream {
                kind,
                upstream: &up.name,
            };
            finish(m, route_name, "error", f.reason(), started);
            return f.response(&id);
        }
        Err(_) => {
            let kind = upstream::UpstreamFailure::Timeout;
            m.upstream_errors
                .with_label_values(&[&up.name, kind.as_str()])
                .inc();
            let f = Failure::Upstream {
                kind,
                upstream: &up.name,
            };
            finish(m, route_name, "error", f.reason(), started);
            return f.response(&id);
        }
    };
    strip_hop_by_hop(resp.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp.headers_mut().insert(
        DECISION_HEADER,
        HeaderValue::from_static(decision.action.as_str()),
    );
    if decision.action == Action::Reroute
        && let Ok(v) = HeaderValue::from_str(&up.name)
    {
        resp.headers_mut().insert(REROUTED_HEADER, v);
    }
    finish(m, route_name, action, reason, started);
    resp
}

fn destination_refused(
    shared: &Shared,
    id: &str,
    method: &str,
    route: &str,
    upstream: &str,
    e: &DestinationError,
    started: Instant,
) -> Response<Body> {
    shared
        .metrics
        .destination_mismatches
        .with_label_values(&[upstream, e.reason()])
        .inc();
    tracing::warn!(target: "customs::decision", request_id = id, method, route, upstream, action = "block", reason = e.reason(), "destination check failed");
    let f = Failure::Destination {
        reason: e.reason(),
        upstream,
    };
    finish(&shared.metrics, route, "block", e.reason(), started);
    f.response(id)
}

fn finish(m: &Metrics, route: &str, action: &str, reason: &str, started: Instant) {
    m.requests.with_label_values(&[route, action, reason]).inc();
    m.request_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
}

fn refuse(
    shared: &Shared,
    id: &str,
    method: &str,
    route: &str,
    f: Failure<'_>,
    started: Instant,
) -> Response<Body> {
    let m = &shared.metrics;
    match &f {
        Failure::TooLarge { .. }
        | Failure::Overloaded
        | Failure::BodyRead
        | Failure::BodyTimeout
        | Failure::TransferEncoding
        | Failure::Trailers
        | Failure::DuplicateHost
        | Failure::Internal => {
            m.inspection_failures.with_label_values(&[f.reason()]).inc();
        }
        _ => {}
    }
    audit::refusal(id, method, route, f.reason(), f.status().as_u16());
    finish(m, route, "refuse", f.reason(), started);
    f.response(id)
}

fn count_decision(m: &Metrics, policy: &Policy, d: &Decision) {
    let action = d.action.as_str();
    for (kind, n) in &d.unreadable_signals {
        m.unreadable_signals
            .with_label_values(&[kind.as_str()])
            .inc_by(*n);
    }
    // Summed per jurisdiction by the decision: one counter lookup per jurisdiction.
    for (j, count) in &d.personal_per_jurisdiction {
        m.records.with_label_values(&[j, action]).inc_by(*count);
    }
    match d.action {
        Action::Block => {
            for r in &d.rules {
                m.blocked
                    .with_label_values(&[r, &d.destination_region])
                    .inc();
            }
        }
        Action::Reroute => {
            let target = d.target.as_deref().unwrap_or("");
            for r in &d.rules {
                m.rerouted.with_label_values(&[r, target]).inc();
            }
        }
        Action::Shadow | Action::Allow => {}
    }
    if let Some(would) = d.would {
        for r in &d.rules {
            m.shadow_violations
                .with_label_values(&[r, &d.destination_region, would.as_str()])
                .inc();
        }
    } else {
        // Shadowed rules beside enforced ones (per-jurisdiction shadow mode): once per
        // transfer, as above, however many of its records broke them.
        for r in &d.shadowed_rules {
            if let Some(j) = policy.jurisdictions.iter().find(|j| &j.name == r) {
                let would = match j.on_violation {
                    crate::policy::compile::OnViolation::Reroute => "reroute",
                    _ => "block",
                };
                m.shadow_violations
                    .with_label_values(&[r, &d.destination_region, would])
                    .inc();
            }
        }
    }
}

/// The upstream's base URL joined with the request's path and query.
fn upstream_uri(base: &Uri, req: &Uri) -> Option<Uri> {
    let base_path = base.path().trim_end_matches('/');
    let pq = match req.query() {
        Some(q) => format!("{base_path}{}?{q}", req.path()),
        None => format!("{base_path}{}", req.path()),
    };
    Uri::builder()
        .scheme(base.scheme_str().unwrap_or("http"))
        .authority(base.authority()?.as_str())
        .path_and_query(pq)
        .build()
        .ok()
}

fn forwarded_headers(h: &mut HeaderMap, peer: SocketAddr, host: Option<&str>) {
    use std::fmt::Write as _;
    // Built in place (this runs for every forwarded request).
    let ip = peer.ip().to_canonical();
    let mut ip_text = String::with_capacity(48);
    let _ = write!(ip_text, "{ip}");
    let mut xff = String::with_capacity(64);
    if let Some(prev) = h.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        xff.push_str(prev);
        xff.push_str(", ");
    }
    xff.push_str(&ip_text);
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR, v);
    }
    let mut fwd = String::with_capacity(96);
    if let Some(prev) = h.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        fwd.push_str(prev);
        fwd.push_str(", ");
    }
    fwd.push_str("for=");
    if ip.is_ipv6() {
        fwd.push_str("\"[");
        fwd.push_str(&ip_text);
        fwd.push_str("]\"");
    } else {
        fwd.push_str(&ip_text);
    }
    fwd.push_str(";proto=http");
    if let Some(host) = host
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b';' && b != b',')
    {
        fwd.push_str(";host=\"");
        fwd.push_str(host);
        fwd.push('"');
    }
    if let Ok(v) = HeaderValue::from_str(&fwd) {
        h.insert(header::FORWARDED, v);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The body read whole: at most `max_body_bytes` (declared or read), within
/// `body_timeout`, and only what the memory budget holds room for (reserved before it is
/// read: the declared length at once, an undeclared one as it arrives).
async fn admit_body(
    body: Incoming,
    declared: Option<u64>,
    policy: &Policy,
    held: &mut Reservation,
) -> Result<Bytes, Failure<'static>> {
    let limit = policy.server.max_body_bytes;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Failure::TooLarge { limit });
    }
    let wait = policy.admission.wait;
    let mut body = Limited::new(body, limit);
    if let Some(n) = declared.and_then(|n| usize::try_from(n).ok())
        && held.grow(n, wait).await.is_err()
    {
        discard(body, policy.server.body_timeout);
        return Err(Failure::Overloaded);
    }
    // Bounded in time too: a caller trickling its body would hold memory (up to the
    // limit) and a connection for as long as it liked.
    let read = tokio::time::timeout(
        policy.server.body_timeout,
        read_body(&mut body, limit, declared, held, wait),
    );
    match read.await {
        Err(_) => Err(Failure::BodyTimeout),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(ReadError::TooLarge)) => Err(Failure::TooLarge { limit }),
        Ok(Err(ReadError::Overloaded)) => {
            discard(body, policy.server.body_timeout);
            Err(Failure::Overloaded)
        }
        Ok(Err(ReadError::Broken)) => Err(Failure::BodyRead),
        Ok(Err(ReadError::Trailers)) => Err(Failure::Trailers),
    }
}

/// Reads the rest of a refused body and drops it, frame by frame (holding none of it),
/// for at most `within`: the caller is still sending it, and a connection closed on
/// unread bytes is reset, so the caller would see a reset instead of the `503`. (nginx's
/// lingering close does the same.) The response says `Connection: close`.
fn discard(mut body: Limited<Incoming>, within: std::time::Duration) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(within, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}

/// The body decoded (content-encoding), within the budget: room for the decoded size cap
/// (twice for stacked codings, whose steps briefly coexist) is reserved first, then all
/// but the decoded bytes given back. `Err(Ok)`: the body cannot be decoded.
async fn decode_within<'b>(
    content_encoding: Option<&str>,
    body: &'b [u8],
    policy: &Policy,
    held: &mut Reservation,
) -> Result<std::borrow::Cow<'b, [u8]>, Result<crate::extract::InspectError, Failure<'static>>> {
    let Some(ce) = content_encoding.filter(|ce| crate::extract::decode::codings(ce) > 0) else {
        return Ok(std::borrow::Cow::Borrowed(body));
    };
    let limit = policy.server.max_body_bytes;
    let steps = crate::extract::decode::codings(ce).min(2);
    let before = held.bytes();
    if held
        .grow(limit.saturating_mul(steps), policy.admission.wait)
        .await
        .is_err()
    {
        return Err(Err(Failure::Overloaded));
    }
    let decoded = crate::extract::decode::decode(Some(ce), body, limit).map_err(Ok)?;
    held.shrink_to(before + decoded.len());
    Ok(decoded)
}

/// Why a body could not be read whole.
enum ReadError {
    /// Over `max_body_bytes`.
    TooLarge,
    /// The memory budget had no room for the rest of it.
    Overloaded,
    /// The connection broke or the body was malformed.
    Broken,
    /// Trailer fields came after the body (HTTP/1.1 chunked trailers, HTTP/2 trailing
    /// HEADERS): customs does not inspect them, so it does not forward the request
    /// without them, nor with them.
    Trailers,
}

/// A body frame's data; `Err(Trailers)` for trailer fields (never dropped unread).
fn frame_data(frame: hyper::body::Frame<Bytes>) -> Result<Option<Bytes>, ReadError> {
    match frame.into_data() {
        Ok(data) => Ok(Some(data)),
        Err(f) if f.is_trailers() => Err(ReadError::Trailers),
        Err(_) => Ok(None),
    }
}

/// An undeclared body reserves its budget in steps of this many bytes as it arrives.
const RESERVE_STEP: usize = 64 * 1024;

/// Reads a whole request body, at most `limit` bytes. With a declared length the body
/// is copied into one buffer of that size as it arrives, so it is held once (collecting
/// the chunks and then joining them would hold it twice at the end). Without one the
/// chunks are collected and joined, and budget is reserved as they arrive (twice the
/// bytes read, for the join).
async fn read_body(
    body: &mut Limited<Incoming>,
    limit: usize,
    declared: Option<u64>,
    held: &mut Reservation,
    wait: std::time::Duration,
) -> Result<Bytes, ReadError> {
    let broken = |e: Box<dyn std::error::Error + Send + Sync>| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            ReadError::TooLarge
        } else {
            ReadError::Broken
        }
    };
    if let Some(len) = declared.and_then(|n| usize::try_from(n).ok()) {
        let mut buf = bytes::BytesMut::with_capacity(len.min(limit));
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame_data(frame.map_err(broken)?)? {
                buf.extend_from_slice(&data);
            }
        }
        return Ok(buf.freeze());
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let Some(data) = frame_data(frame.map_err(broken)?)? else {
            continue;
        };
        read += data.len();
        // The chunks, and their join at the end.
        while held.bytes() < 2 * read {
            held.grow(RESERVE_STEP, wait)
                .await
                .map_err(|_| ReadError::Overloaded)?;
        }
        chunks.push(data);
    }
    let joined = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = bytes::BytesMut::with_capacity(read);
            for c in chunks {
                buf.extend_from_slice(&c);
            }
            buf.freeze()
        }
    };
    held.shrink_to(joined.len());
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(peer: &str, host: Option<&str>, prior: &[(&str, &str)]) -> (String, String) {
        let mut h = HeaderMap::new();
        for (k, v) in prior {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        forwarded_headers(&mut h, peer.parse().unwrap(), host);
        let get = |k: &str| h.get(k).unwrap().to_str().unwrap().to_string();
        (get("x-forwarded-for"), get("forwarded"))
    }

    #[test]
    fn forwarded_headers_name_the_client() {
        assert_eq!(
            forwarded("10.1.2.3:5000", Some("api.example.org"), &[]),
            (
                "10.1.2.3".to_string(),
                r#"for=10.1.2.3;proto=http;host="api.example.org""#.to_string()
            )
        );
        // IPv6 peers are quoted and bracketed; IPv4-mapped ones are written as IPv4;
        // earlier hops are kept; a host that cannot be quoted safely is left out.
        assert_eq!(
            forwarded(
                "[2001:db8::7]:5000",
                Some("bad\"host"),
                &[
                    ("x-forwarded-for", "192.0.2.1"),
                    ("forwarded", "for=192.0.2.1")
                ]
            ),
            (
                "192.0.2.1, 2001:db8::7".to_string(),
                r#"for=192.0.2.1, for="[2001:db8::7]";proto=http"#.to_string()
            )
        );
        assert_eq!(
            forwarded("[::ffff:10.0.0.9]:1", None, &[]),
            (
                "10.0.0.9".to_string(),
                "for=10.0.0.9;proto=http".to_string()
            )
        );
    }
}
