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
    let mut verdicts = Verdicts { chunks: Vec::new() };
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
        &mut |i, record| verdicts.put(i, decider.record(&record)),
    )?;
    // Every record found has its verdict, or the request is refused: never expected, but
    // a record nobody decided must not be forwarded undecided.
    let verdicts = verdicts
        .into_list(found)
        .ok_or(InspectError::Internal("a record was found but not decided"))?;
    let decision = decider.finish(verdicts);
    Ok(Evaluation {
        format,
        body_bytes: req.body.len(),
        decision,
    })
}

/// Verdicts by record index, kept in chunks while the walk goes on: a large batch's
/// list never doubles (briefly holding the old and the new copy, and up to twice the
/// room it needs) while the body's tree is still held. Records close innermost first, so
/// their indexes arrive out of order, but every index below the count arrives once.
struct Verdicts {
    chunks: Vec<Vec<Option<Verdict>>>,
}

const VERDICT_CHUNK: usize = 256;

impl Verdicts {
    fn put(&mut self, i: usize, v: Verdict) {
        let (c, at) = (i / VERDICT_CHUNK, i % VERDICT_CHUNK);
        while self.chunks.len() <= c {
            // The first chunk starts small: most requests carry a few records.
            let room = if self.chunks.is_empty() {
                16
            } else {
                VERDICT_CHUNK
            };
            self.chunks.push(Vec::with_capacity(room));
        }
        let chunk = &mut self.chunks[c];
        if chunk.len() <= at {
            chunk.resize_with(at + 1, || None);
        }
        chunk[at] = Some(v);
    }

    /// All `found` verdicts in order, or `None` if one is missing.
    fn into_list(self, found: usize) -> Option<Vec<Verdict>> {
        if self.chunks.len() == 1 {
            // One chunk (up to 256 records): collected in place.
            return self
                .chunks
                .into_iter()
                .flatten()
                .collect::<Option<Vec<Verdict>>>()
                .filter(|v| v.len() == found);
        }
        let mut all = Vec::with_capacity(found);
        for chunk in self.chunks {
            for v in chunk {
                all.push(v?);
            }
        }
        (all.len() == found).then_some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Outcome;

    fn verdict(i: usize) -> Verdict {
        Verdict {
            pointer: format!("/{i}").into(),
            jurisdictions: vec![],
            countries: vec![],
            evidence: vec![],
            personal: vec![],
            outcome: Outcome::NotPersonal,
        }
    }

    /// Verdicts arriving out of order, across chunks, come back in index order; one
    /// missing (inside or at the end) and there is no list.
    #[test]
    fn verdicts_are_put_back_in_order_or_not_at_all() {
        for n in [0usize, 1, 5, 255, 256, 257, 700] {
            // Innermost first: each pair arrives child (odd) then parent (even).
            let order: Vec<usize> = (0..n.div_ceil(2))
                .flat_map(|p| [2 * p + 1, 2 * p])
                .filter(|i| *i < n)
                .collect();
            let mut v = Verdicts { chunks: Vec::new() };
            for &i in &order {
                v.put(i, verdict(i));
            }
            let list = v.into_list(n).unwrap();
            let got: Vec<String> = list.iter().map(|v| v.pointer.to_string()).collect();
            let want: Vec<String> = (0..n).map(|i| format!("/{i}")).collect();
            assert_eq!(got, want, "n = {n}");
            if n > 0 {
                for missing in [0, n / 2, n - 1] {
                    let mut v = Verdicts { chunks: Vec::new() };
                    for i in (0..n).filter(|i| *i != missing) {
                        v.put(i, verdict(i));
                    }
                    assert!(v.into_list(n).is_none(), "n = {n}, {missing} missing");
                }
            }
        }
    }
}
