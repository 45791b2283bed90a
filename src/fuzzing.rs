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
/// type, byte 1 the content encoding, byte 2 the route; the rest is the body. Returns
/// whether the request would be forwarded.
pub fn inspect(data: &[u8]) -> Option<bool> {
    let (policy, geo) = setup()?;
    if data.len() < 3 {
        return None;
    }
    let ct = CONTENT_TYPES[data[0] as usize % CONTENT_TYPES.len()];
    let ce = ENCODINGS[data[1] as usize % ENCODINGS.len()];
    let uri: http::Uri = PATHS[data[2] as usize % PATHS.len()].parse().ok()?;
    let body = &data[3..];
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
    match evaluate_request(policy, geo.as_ref(), &req) {
        Ok(ev) => {
            let d = &ev.decision;
            // Invariants: a block names its rules; a forward has a target; records with
            // personal data are counted among the records.
            assert!(d.personal_records <= d.records);
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
