//! One request through the pure stages: route → extract → tag → decide. The proxy,
//! `customs explain` and `customs test` all call [`evaluate_request`].

use crate::decide::{Decider, Decision, Destination, Verdict};
use crate::extract::{self, BodyMeta, InspectError};
use crate::geo::GeoLookup;
use crate::policy::Policy;

/// What the engine needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// For an absolute-form request (`POST http://host:port/path`, as sent by clients
    /// that use customs as their HTTP proxy): the authority it names.
    pub absolute_authority: Option<&'a str>,
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    /// Request headers, for the headers and cookies a profile inspects.
    pub headers: Option<&'a http::HeaderMap>,
    pub body: &'a [u8],
}

impl<'a> RequestView<'a> {
    /// An origin-form request as `explain` and `test` describe one: the host is the
    /// `Host` header, else the URL's authority; content type and encoding come from the
    /// headers.
    pub fn new(
        method: &'a str,
        uri: &'a http::Uri,
        headers: &'a http::HeaderMap,
        body: &'a [u8],
    ) -> Self {
        let header =
            |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        RequestView {
            absolute_authority: None,
            method,
            host: header(http::header::HOST).or_else(|| uri.authority().map(|a| a.as_str())),
            path: uri.path(),
            query: uri.query(),
            content_type: header(http::header::CONTENT_TYPE),
            content_encoding: header(http::header::CONTENT_ENCODING),
            headers: Some(headers),
            body,
        }
    }
}

/// Why a request was refused before a decision could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no route matches this request")]
    NoRoute,
    #[error("{0}")]
    Inspect(#[from] InspectError),
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoRoute => "no_route",
            Refusal::Inspect(e) => e.reason(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Evaluation {
    /// How the body was read: `json`, `ndjson`, `form`, `text`, `multipart`, ...
    pub format: &'static str,
    pub body_bytes: usize,
    pub decision: Decision,
}

pub fn evaluate_request(
    policy: &Policy,
    geo: &dyn GeoLookup,
    req: &RequestView<'_>,
) -> Result<Evaluation, Refusal> {
    evaluate_request_at(policy, geo, req, None)
}

/// As [`evaluate_request`], with the destination region established by the proxy (from
/// the upstream's resolved addresses) instead of the declared one.
pub fn evaluate_request_at(
    policy: &Policy,
    geo: &dyn GeoLookup,
    req: &RequestView<'_>,
    region: Option<crate::policy::compile::RegionId>,
) -> Result<Evaluation, Refusal> {
    let route_id = match req.absolute_authority {
        Some(authority) => policy.match_absolute(authority, req.path),
        None => policy.match_route(req.host, req.path),
    }
    .ok_or(Refusal::NoRoute)?;
    evaluate_route(policy, geo, req, route_id, region)
}

/// Extract, tag and decide for a request already matched to `route_id` (the proxy
/// matches once, before reading the body).
pub fn evaluate_route(
    policy: &Policy,
    geo: &dyn GeoLookup,
    req: &RequestView<'_>,
    route_id: crate::policy::compile::RouteId,
    region: Option<crate::policy::compile::RegionId>,
) -> Result<Evaluation, Refusal> {
    let route = policy.routes.get(route_id).ok_or(Refusal::NoRoute)?;
    let profile = policy.profiles.get(route.profile).ok_or(Refusal::NoRoute)?;
    // Each record is decided as soon as the walk completes it, and only its verdict is
    // kept: a batch's records are never all held at once.
    let mut decider = Decider::new(
        policy,
        Destination {
            route: route_id,
            upstream: route.upstream,
            region,
        },
    );
    // Each verdict goes to its record's place: records close innermost first, so their
    // indexes arrive out of order, but every index below the count arrives once.
    let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(16);
    let (format, found) = extract::extract_each(
        policy,
        profile,
        geo,
        BodyMeta {
            content_type: req.content_type,
            content_encoding: req.content_encoding,
            query: req.query,
            headers: req.headers,
            max_body_bytes: policy.server.max_body_bytes,
        },
        req.body,
        &mut |i, record| {
            if verdicts.len() <= i {
                verdicts.resize_with(i + 1, || None);
            }
            verdicts[i] = Some(decider.record(&record));
        },
    )?;
    // Every record found has its verdict, or the request is refused: never expected, but
    // a record nobody decided must not be forwarded undecided.
    let verdicts = verdicts
        .into_iter()
        .collect::<Option<Vec<Verdict>>>()
        .filter(|v| v.len() == found)
        .ok_or(InspectError::Internal("a record was found but not decided"))?;
    let decision = decider.finish(verdicts);
    Ok(Evaluation {
        format,
        body_bytes: req.body.len(),
        decision,
    })
}
