//! Egress-proxy mode: apps that honour `HTTP_PROXY` point at customs. Absolute-form
//! `http://` requests are matched to a declared upstream by authority and inspected like
//! routed requests (the pipeline does that). `CONNECT` tunnels carry bytes customs cannot
//! read, so the policy decides per destination: by default a tunnel is allowed only to a
//! destination whose every address lies in a region that every jurisdiction allows.
//! Every tunnel is counted and logged.

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::destination::DestinationError;
use super::pipeline::{Runtime, Shared};
use super::respond::{Body, full};
use crate::policy::Policy;
use crate::policy::compile::normalise_authority;
use crate::policy::compile::{DestinationMode, Route, RouteId, Upstream};

fn refuse(
    shared: &Shared,
    id: &str,
    reason: &'static str,
    status: StatusCode,
    dest: &str,
) -> Response<Body> {
    shared
        .metrics
        .tunnels
        .with_label_values(&["refuse", reason])
        .inc();
    tracing::info!(target: "customs::decision", request_id = id, method = "CONNECT", destination = dest, action = "refuse", reason, "tunnel");
    let body = serde_json::json!({
        "type": format!("urn:customs:problem:{reason}"),
        "title": "Tunnel refused",
        "status": status.as_u16(),
        "detail": "a CONNECT tunnel cannot be inspected; the policy does not allow one to this destination",
        "reason": reason,
        "request_id": id,
    });
    let mut r = Response::new(full(serde_json::to_vec(&body).unwrap_or_default()));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(id) {
        r.headers_mut().insert(super::respond::REQUEST_ID, v);
    }
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/problem+json"),
    );
    r
}

pub async fn connect(
    req: Request<Incoming>,
    shared: &Shared,
    rt: &Runtime,
    id: &str,
) -> Response<Body> {
    let Some(auth) = req.uri().authority().cloned() else {
        return refuse(shared, id, "connect_malformed", StatusCode::BAD_REQUEST, "");
    };
    let target = normalise_authority(auth.as_str(), 443);
    let eg = &rt.policy.egress;
    let port = auth.port_u16().unwrap_or(443);
    let explicit_allow = eg.connect_allow.contains(&target);
    if eg.connect_refuse.contains(&target) {
        return refuse(
            shared,
            id,
            "connect_refused_by_policy",
            StatusCode::FORBIDDEN,
            &target,
        );
    }
    if !explicit_allow && !eg.connect_auto {
        return refuse(
            shared,
            id,
            "connect_disabled",
            StatusCode::FORBIDDEN,
            &target,
        );
    }
    // No region is open to everyone's data: no tunnel can be allowed, wherever it leads
    // (nothing to resolve).
    if !explicit_allow && rt.policy.universally_allowed() == crate::policy::compile::RegionMask(0) {
        return refuse(
            shared,
            id,
            "connect_outside_allowed_regions",
            StatusCode::FORBIDDEN,
            &target,
        );
    }
    // A destination that cannot be placed cannot be allowed: a refusal of the policy's
    // (403), not an upstream's failure.
    let located = match shared
        .destinations
        .locate_host(rt.geo.as_ref(), auth.host())
        .await
    {
        Ok(l) => l,
        Err(_) => {
            return refuse(
                shared,
                id,
                "connect_unresolvable",
                StatusCode::FORBIDDEN,
                &target,
            );
        }
    };
    let reason = if explicit_allow {
        "connect_allowed_by_policy"
    } else {
        let allowed = rt.policy.universally_allowed();
        let ok = !located.is_empty()
            && located.iter().all(|(_, c)| {
                c.is_some_and(|c| {
                    rt.policy
                        .regions
                        .iter()
                        .enumerate()
                        .any(|(i, r)| allowed.contains(i) && r.countries.contains_country(c))
                })
            });
        if !ok {
            return refuse(
                shared,
                id,
                "connect_outside_allowed_regions",
                StatusCode::FORBIDDEN,
                &target,
            );
        }
        "connect_in_allowed_region"
    };
    // Connect to the addresses that were checked, not to a fresh resolution.
    let addrs: Vec<SocketAddr> = located
        .iter()
        .map(|(ip, _)| SocketAddr::new(*ip, port))
        .collect();
    let upstream = match tokio::time::timeout(
        rt.policy.server.connect_timeout,
        tokio::net::TcpStream::connect(&addrs[..]),
    )
    .await
    {
        Ok(Ok(s)) => s,
        _ => {
            return refuse(
                shared,
                id,
                "connect_failed",
                StatusCode::BAD_GATEWAY,
                &target,
            );
        }
    };
    shared
        .metrics
        .tunnels
        .with_label_values(&["allow", reason])
        .inc();
    tracing::info!(target: "customs::decision", request_id = id, method = "CONNECT", destination = %target, action = "allow", reason, "tunnel");
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let mut client = TokioIo::new(upgraded);
            let mut upstream = upstream;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    let mut r = Response::new(full(bytes::Bytes::new()));
    *r.status_mut() = StatusCode::OK;
    r
}

/// The upstream name (a metric label) of destinations the policy does not declare.
pub const UNKNOWN_UPSTREAM: &str = "egress-unknown";

/// An absolute-form request for an undeclared host, when `[egress] unknown_destinations
/// = "locate"`: the host's addresses are located, the one region holding all of them is
/// its region, and the request is evaluated against a copy of the policy with this
/// destination as a one-off upstream (no alternatives). The checked addresses are
/// pinned for the connection.
pub async fn locate_unknown(
    shared: &Shared,
    rt: &Runtime,
    authority: &str,
) -> Result<(Policy, RouteId), DestinationError> {
    let auth: http::uri::Authority = authority
        .parse()
        .map_err(|_| DestinationError::Unresolvable)?;
    let located = shared
        .destinations
        .locate_host(rt.geo.as_ref(), auth.host())
        .await?;
    let mut countries = Vec::new();
    for (_, c) in &located {
        countries.push(c.ok_or(DestinationError::Unlocated)?);
    }
    let p = &rt.policy;
    let holding: Vec<usize> = (0..p.regions.len())
        .filter(|r| {
            countries
                .iter()
                .all(|c| p.regions[*r].countries.contains_country(*c))
        })
        .collect();
    let [region] = holding.as_slice() else {
        countries.sort();
        countries.dedup();
        return Err(DestinationError::Mismatch { countries });
    };
    let url: http::Uri = format!("http://{authority}")
        .parse()
        .map_err(|_| DestinationError::Unresolvable)?;
    let mut policy = p.clone();
    policy.upstreams.push(Upstream {
        name: UNKNOWN_UPSTREAM.into(),
        url,
        region: *region,
        alternatives: vec![],
        destination: DestinationMode::Trust,
        idle_timeout: p.server.upstream_idle_timeout,
    });
    policy.routes.push(Route {
        name: "egress".into(),
        host: None,
        path_prefix: None,
        upstream: policy.upstreams.len() - 1,
        profile: p.egress.profile,
        authority: Some(normalise_authority(authority, 80)),
    });
    shared
        .destinations
        .pin(auth.host(), located.iter().map(|(ip, _)| *ip).collect());
    let route = policy.routes.len() - 1;
    Ok((policy, route))
}
