//! Entry points shared by the `fuzz/` targets and the test that replays their seed
//! corpora (so the corpora run in every `cargo test`, without libFuzzer). Each must
//! return without panicking for every input; what they return is checked for the
//! invariants that must always hold.

use std::sync::{Arc, OnceLock};

use crate::engine::{RequestView, evaluate_request};
use crate::geo::{GeoLookup, MaxMindGeo};
use crate::policy::Policy;

const POLICY: &str = include_str!("../config/policy.toml");

fn setup() -> Option<&'static (Policy, Arc<dyn GeoLookup>)> {
    static S: OnceLock<Option<(Policy, Arc<dyn GeoLookup>)>> = OnceLock::new();
    S.get_or_init(|| {
        let (mut policy, _) = crate::policy::load(POLICY).ok()?;
        // Small limits so that the fuzzer reaches them.
        policy.server.max_body_bytes = 64 * 1024;
        policy.limits.max_records = 64;
        policy.limits.max_string_bytes = 8 * 1024;
        let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("geoip/geo-whois-asn-country.mmdb");
        let geo: Arc<dyn GeoLookup> = Arc::new(MaxMindGeo::open(&db).ok()?);
        Some((policy, geo))
    })
    .as_ref()
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/x-ndjson",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=B",
    "text/plain",
    "application/octet-stream",
    "",
    "image/png",
    // the structured formats (appended, so older seeds keep their content types)
    "text/csv",
    "text/tab-separated-values",
    "application/xml",
    "application/yaml",
    "application/graphql",
    "application/json-seq",
    "text/plain; charset=utf-16",
    "multipart/form-data",
    "application/soap+xml; charset=windows-1252",
];
const ENCODINGS: &[&str] = &[
    "", "gzip", "deflate", "br", "zstd", "gzip, br", "identity", "compress",
];
const PATHS: &[&str] = &[
    "/chat/im/v1/messages",
    "/crm/v1/contacts",
    "/crm/v1/contacts?phone=%2B44%2020%207946%200321&q=1",
];

/// The body inspector across content types and encodings: byte 0 picks the content
/// type, byte 1 the content encoding, byte 2 the route; the rest is the body (also read
/// as JSON by the scan and by serde_json, which must agree). Returns whether the request
/// would be forwarded.
pub fn inspect(data: &[u8]) -> Option<bool> {
    let (policy, geo) = setup()?;
    if data.len() < 3 {
        return None;
    }
    let ct = CONTENT_TYPES[data[0] as usize % CONTENT_TYPES.len()];
    let ce = ENCODINGS[data[1] as usize % ENCODINGS.len()];
    let uri: http::Uri = PATHS[data[2] as usize % PATHS.len()].parse().ok()?;
    let body = &data[3..];
    // The JSON scan reads every body exactly as serde_json alone does (or leaves it).
    crate::extract::json::check_scan(body);
    // The walk without the tree is the walk on it (profiles without selectors).
    crate::extract::records::check_walks(
        &policy.fields,
        &crate::policy::compile::Profile::named("fuzz"),
        policy.limits,
        body,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        http::HeaderValue::from_static("phone=+44 20 7946 0321"),
    );
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: uri.path(),
        query: uri.query(),
        content_type: (!ct.is_empty()).then_some(ct),
        content_encoding: (!ce.is_empty()).then_some(ce),
        headers: Some(&headers),
        body,
    };
    let all = evaluate_request(policy, geo.as_ref(), &req);
    // The proxy's mode (no verdicts, only the violating records) decides exactly the same.
    if let Some(route) = policy.match_route(req.host, req.path) {
        let proxy = crate::engine::evaluate_route(
            policy,
            geo.as_ref(),
            &req,
            route,
            None,
            crate::decide::Keep::Violations,
        );
        match (&all, proxy) {
            (Ok(a), Ok(p)) => {
                let mut want = a.decision.clone();
                want.verdicts.clear();
                assert_eq!(p.decision, want, "the proxy's mode decided otherwise");
            }
            (Err(a), Err(p)) => assert_eq!(*a, p, "the proxy's mode refused otherwise"),
            _ => panic!("the proxy's mode and the full mode disagree on refusing"),
        }
    }
    match all {
        Ok(ev) => {
            let d = &ev.decision;
            // Invariants: a block names its rules; a forward has a target; records with
            // personal data are counted among the records, each with its verdict.
            assert!(d.personal_records <= d.records);
            assert!(d.errors.is_empty() || !d.action.forwards());
            assert!(d.verdicts.len() == d.records || !d.errors.is_empty());
            assert!(
                d.violating.iter().eq(violations_in_verdicts(d)) || !d.errors.is_empty(),
                "the violating records differ from the verdicts' violations"
            );
            if d.action.forwards() {
                assert!(
                    d.target_id.is_some(),
                    "a forwarding decision without a target"
                );
            } else {
                assert!(
                    !d.rules.is_empty() || !d.errors.is_empty(),
                    "a block without a rule"
                );
            }
            Some(d.action.forwards())
        }
        Err(_) => Some(false),
    }
}

/// The structured text readers on their own: byte 0 picks CSV, TSV, XML, YAML or
/// GraphQL, the rest is the text. Every JSON text a reader hands on must be one JSON
/// document (serde_json reads it), or the walker would refuse what the client sent;
/// and a reader either reads or refuses by a named reason. Returns whether it read.
pub fn formats(data: &[u8]) -> Option<bool> {
    use crate::extract::formats::{csv, graphql, xml, yaml};
    let (&pick, body) = data.split_first()?;
    // (CSV reads bytes, and refuses those that are not UTF-8; the others read text)
    let text = std::str::from_utf8(body).ok();
    if pick % 5 >= 2 && text.is_none() {
        return None;
    }
    let text = text.unwrap_or_default();
    let mut texts: Vec<String> = Vec::new();
    let mut each = |_: usize, j: &[u8]| {
        texts.push(String::from_utf8(j.to_vec()).unwrap_or_default());
        Ok(())
    };
    let read = match pick % 5 {
        0 => csv::rows(body, b',', &mut each),
        1 => csv::rows(body, b'\t', &mut each),
        2 => xml::to_json(text, 64).map(|j| texts.push(j)),
        3 => yaml::documents(text, 64, &mut each),
        _ => graphql::to_json(text, 64).map(|j| texts.extend(j)),
    };
    for t in &texts {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(t) {
            panic!("a reader wrote invalid JSON ({e})");
        }
    }
    match read {
        Ok(()) => Some(true),
        Err(e) => {
            assert!(!e.reason().is_empty());
            Some(false)
        }
    }
}

/// The violating records as a decision's verdicts ([`crate::decide::Keep::All`]) tell
/// them: pointer, rules broken, whether any is enforced. [`Decision::violating`] must say
/// the same.
///
/// [`Decision::violating`]: crate::decide::Decision::violating
pub fn violations_in_verdicts(
    d: &crate::decide::Decision,
) -> impl Iterator<Item = (&str, &[String], bool)> + '_ {
    d.verdicts.iter().filter_map(|v| match &v.outcome {
        crate::decide::Outcome::Violation { rules, enforced } => {
            Some((v.pointer.as_str(), rules.as_slice(), *enforced))
        }
        _ => None,
    })
}

/// A profile's selector, evaluated on customs' own tree as `serde_json_path` evaluates
/// it on serde_json's `Value`: the input is the selector, a line feed, and the JSON
/// document. When both accept them, the two must select the same pointers. Returns
/// whether the selector ran on the tree (`None`: not a valid selector and document).
pub fn selector(data: &[u8]) -> Option<bool> {
    use std::collections::HashSet;
    let at = data.iter().position(|&b| b == b'\n')?;
    let path = std::str::from_utf8(&data[..at]).ok()?;
    let body = &data[at + 1..];
    let sel = crate::extract::select::Selector::parse(path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let doc = crate::extract::json::parse(body).ok()?;
    let mut ours = HashSet::new();
    if !sel.locate(&doc, "", &mut ours) {
        return Some(false);
    }
    let mut theirs = HashSet::new();
    sel.locate_value(&value, "", &mut theirs);
    assert_eq!(ours, theirs, "`{path}` selected otherwise on the tree");
    Some(true)
}

/// The policy loader: any text either loads or yields diagnostics that all carry a
/// message, and rendering them never panics.
pub fn policy(data: &[u8]) -> bool {
    let Ok(src) = std::str::from_utf8(data) else {
        return false;
    };
    match crate::policy::load(src) {
        Ok((p, _)) => !p.hash.is_empty(),
        Err(diags) => {
            assert!(!diags.is_empty(), "an invalid policy without a diagnostic");
            assert!(
                diags.iter().any(|d| d.is_error()),
                "an invalid policy without an error"
            );
            let _ = crate::policy::diag::render("fuzz.toml", src, &diags);
            false
        }
    }
}
