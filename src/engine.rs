//! One request through the pure stages: route → extract → tag → decide. `customs
//! explain` and `customs test` call [`evaluate_request`]; the proxy, which has matched
//! the route before reading the body, calls [`evaluate_route`] and keeps no verdicts,
//! only the violating records' pointers and rules.

use crate::decide::{Decider, Decision, Destination, Keep, Verdict};
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
    /// What extraction needs to know about this request besides its body.
    pub fn body_meta(&self, policy: &Policy) -> BodyMeta<'a> {
        BodyMeta {
            content_type: self.content_type,
            content_encoding: self.content_encoding,
            query: self.query,
            path: Some(self.path),
            headers: self.headers,
            max_body_bytes: policy.server.max_body_bytes,
        }
    }

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
    evaluate_route(policy, geo, req, route_id, region, Keep::All)
}

/// Extract, tag and decide for a request already matched to `route_id` (the proxy
/// matches once, before reading the body), keeping the verdicts `keep` asks for.
pub fn evaluate_route(
    policy: &Policy,
    geo: &dyn GeoLookup,
    req: &RequestView<'_>,
    route_id: crate::policy::compile::RouteId,
    region: Option<crate::policy::compile::RegionId>,
    keep: Keep,
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
        keep,
    );
    let mut verdicts = Verdicts {
        chunks: Vec::new(),
        count: 0,
    };
    let mut decided = 0;
    let (format, found) = extract::extract_each(
        policy,
        profile,
        geo,
        req.body_meta(policy),
        req.body,
        &mut |i, record| {
            decided += 1;
            if let Some(v) = decider.record(i, &record) {
                verdicts.put(i, v);
            }
        },
    )?;
    // Every record found has its verdict, or the request is refused: never expected, but
    // a record nobody decided must not be forwarded undecided.
    if decided != found || (keep == Keep::All && verdicts.count != found) {
        return Err(InspectError::Internal("a record was found but not decided").into());
    }
    let verdicts = verdicts.into_list();
    let decision = decider.finish(verdicts);
    Ok(Evaluation {
        format,
        body_bytes: req.body.len(),
        decision,
    })
}

/// The verdicts kept while the walk goes on, in the order they arrive (records close
/// innermost first, so out of index order), in chunks: a large batch's list never
/// doubles (briefly holding the old and the new copy, and up to twice the room it needs)
/// while the body's tree is still held.
struct Verdicts {
    chunks: Vec<Vec<(usize, Verdict)>>,
    count: usize,
}

const VERDICT_CHUNK: usize = 256;

impl Verdicts {
    fn put(&mut self, i: usize, v: Verdict) {
        let full = self.chunks.last().is_none_or(|c| c.len() == c.capacity());
        if full {
            // The first chunk starts small: most requests carry a few records.
            let room = if self.chunks.is_empty() {
                16
            } else {
                VERDICT_CHUNK
            };
            self.chunks.push(Vec::with_capacity(room));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push((i, v));
            self.count += 1;
        }
    }

    /// The verdicts in the order of their records.
    fn into_list(mut self) -> Vec<Verdict> {
        let mut all = if self.chunks.len() == 1 {
            self.chunks.pop().unwrap_or_default()
        } else {
            let mut all = Vec::with_capacity(self.count);
            for chunk in self.chunks {
                all.extend(chunk);
            }
            all
        };
        all.sort_unstable_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, v)| v).collect()
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
            unreadable: vec![],
            context: vec![],
            personal: vec![],
            outcome: Outcome::NotPersonal,
        }
    }

    /// Verdicts arriving out of order, across chunks, come back in index order, and
    /// with gaps (records whose verdicts were not kept) closed up.
    #[test]
    fn verdicts_are_put_back_in_order() {
        for n in [0usize, 1, 5, 16, 17, 255, 256, 257, 700] {
            // Innermost first: each pair arrives child (odd) then parent (even).
            let order: Vec<usize> = (0..n.div_ceil(2))
                .flat_map(|p| [2 * p + 1, 2 * p])
                .filter(|i| *i < n)
                .collect();
            for step in [1, 3] {
                let mut v = Verdicts {
                    chunks: Vec::new(),
                    count: 0,
                };
                for &i in order.iter().filter(|i| *i % step == 0) {
                    v.put(i, verdict(i));
                }
                let got: Vec<String> = v
                    .into_list()
                    .iter()
                    .map(|v| v.pointer.to_string())
                    .collect();
                let want: Vec<String> = (0..n).step_by(step).map(|i| format!("/{i}")).collect();
                assert_eq!(got, want, "n = {n}, every {step}");
            }
        }
    }
}
