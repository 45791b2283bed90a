//! The decision log: one JSON line per inspected request (through `tracing`, formatted as
//! JSON by `tracing-subscriber`). Ids, names, kinds, counts and JSON pointers only: never
//! the value of a personal field.

use crate::decide::{Action, Decision};

/// What the proxy knows about a request besides the decision.
pub struct RequestInfo<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub body_bytes: usize,
    pub inspect_us: u64,
}

/// Logs a decision event at target `customs::decision`.
pub fn decision(info: &RequestInfo<'_>, d: &Decision) {
    // The fields below are built only for a log that will write them. They are given as
    // `&str`, not `%`: a `Display` field is formatted into a `String` of its own first.
    if !tracing::enabled!(target: "customs::decision", tracing::Level::INFO) {
        return;
    }
    let violating: Vec<&str> = d.violating_pointers();
    let shadowed = d
        .violating
        .iter()
        .filter(|(_, _, enforced)| !enforced)
        .count();
    tracing::info!(
        target: "customs::decision",
        request_id = info.request_id,
        method = info.method,
        route = info.route,
        upstream = d.upstream.as_str(),
        forwarded_to = d.target.as_deref().unwrap_or(""),
        action = d.action.as_str(),
        would = d.would.map(Action::as_str).unwrap_or(""),
        rules = d.rules.join(",").as_str(),
        jurisdictions = d.jurisdictions.join(",").as_str(),
        destination_region = d.destination_region.as_str(),
        records = d.records,
        personal_records = d.personal_records,
        violating_records = violating.len(),
        shadowed_records = shadowed,
        violating_pointers = serde_json::to_string(&violating)
            .unwrap_or_default()
            .as_str(),
        reasons = d.reasons.join(",").as_str(),
        body_bytes = info.body_bytes,
        inspect_us = info.inspect_us,
        "decision"
    );
}

/// Logs a request refused before a decision (no route, uninspectable body).
pub fn refusal(request_id: &str, method: &str, route: &str, reason: &str, status: u16) {
    tracing::info!(
        target: "customs::decision",
        request_id,
        method,
        route,
        action = "refuse",
        reason,
        status,
        "refused"
    );
}
