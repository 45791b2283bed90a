//! customs: a data-residency enforcement proxy.
//!
//! It inspects every outbound API request, tags each person's record with the
//! jurisdictions it belongs to, and blocks, reroutes or (in shadow mode) reports any
//! transfer that would leave the regions a TOML policy allows.
//!
//! # Layout
//!
//! - [`policy`]: the policy file: serde mirror (`raw`), validation with every diagnostic
//!   and its line:column (`validate`, `diag`), the runtime form (`compile`), and what
//!   changed between two policies (`diff`: which changes weaken). No I/O.
//! - [`extract`]: from body bytes to records: content-type dispatch, a JSON tree that
//!   keeps duplicate keys, the record finder, free-text detectors, and tagging (every
//!   signal a country, nothing, or unreadable: `signals`).
//! - [`geo`]: GeoIP (MaxMind DB via `maxminddb`) and phone numbering plans.
//! - [`country`]: ISO 3166-1 codes, names, built-in groups (EU, EEA), bitsets.
//! - [`decide`]: `evaluate(&Policy, &Facts, Destination) -> Decision`, or a `Decider` fed
//!   one record at a time (as the engine does, while the body is walked); pure, never panics.
//! - [`engine`]: route → extract → decide for one request; shared by the proxy and CLI.
//! - [`cli`]: the subcommands (`check`, `explain`, `test`, `run`, `demo`).
//! - [`proxy`]: the sidecar: server (accept loops, drain, connection limit), pipeline
//!   (the request path), the memory budget, upstream client (idle timeouts, one retry of a
//!   request never read), destination checks, egress-proxy mode, listener TLS, hot reload
//!   of settled files, and `respond`, the one place outcomes become responses.
//! - [`metrics`]: every Prometheus metric, in one place.
//! - [`audit`]: the decision log line: ids, rules, jurisdictions, counts; never values.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod cli;
pub mod country;
pub mod decide;
pub mod engine;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod geo;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod tables;

/// `s.trim()`, without walking Unicode's whitespace tables for the usual value, which
/// starts and ends with a visible ASCII character and so has nothing to trim.
pub(crate) fn trim(s: &str) -> &str {
    let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
    if edge(s.as_bytes().first()) && edge(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_as_str_trim() {
        use proptest::prelude::*;
        let text = "[ \t\n\u{a0}\u{3000}\u{2028}a-z+0-9]{0,8}|\\PC{0,8}|\\s{0,3}";
        proptest!(ProptestConfig::with_cases(3000), |(s in text)| {
            prop_assert_eq!(super::trim(&s), s.trim(), "{:?}", s);
        });
    }
}
