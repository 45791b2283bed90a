//! Every Prometheus metric customs exports, in one place. One prefix (`customs_`), base
//! units, `_total` on counters. Label values come only from bounded sets the policy
//! defines (route, upstream, jurisdiction and region names) or from fixed reason and
//! action names: never a host, path, IP address or any value from a body.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    /// Requests by route, action (allow, block, reroute, shadow, refuse, error) and reason.
    pub requests: IntCounterVec,
    /// Records by jurisdiction (`unknown` for records whose signals say nothing,
    /// `unassigned` for a country no jurisdiction names) and action.
    pub records: IntCounterVec,
    /// Blocked transfers by jurisdiction and destination region.
    pub blocked: IntCounterVec,
    /// Transfers shadow mode let through that enforcement would have stopped, by
    /// jurisdiction, destination region and what enforcement would have done.
    pub shadow_violations: IntCounterVec,
    /// Reroutes by jurisdiction and the target upstream.
    pub rerouted: IntCounterVec,
    /// Bodies that could not be inspected, by reason. None of them was forwarded.
    pub inspection_failures: IntCounterVec,
    /// Upstream failures by upstream and kind (connect, timeout, reset, protocol).
    pub upstream_errors: IntCounterVec,
    pub request_duration: HistogramVec,
    pub inspection_duration: Histogram,
    pub inspected_bytes: IntCounter,
    /// 1 for the loaded policy, labelled with its hash.
    pub policy_info: IntGaugeVec,
    pub policy_loaded_at: IntGauge,
    pub geoip_build_time: IntGauge,
    /// Destination checks that failed, by upstream and reason.
    pub destination_mismatches: IntCounterVec,
    /// CONNECT tunnels by decision (`allow`, `refuse`) and reason.
    pub tunnels: IntCounterVec,
    /// Policy and GeoIP reloads by result (`success`, `error`).
    pub reloads: IntCounterVec,
    /// Reloads that weakened the policy, by how (`policy::diff::Weakening`).
    pub policy_weakened: IntCounterVec,
    /// 1 while the proxy is shutting down (not ready).
    pub draining: IntGauge,
    /// The memory budget: bytes held by requests in flight now, the most ever held at
    /// once, and the budget (set when scraped).
    pub memory_in_flight: IntGauge,
    pub memory_in_flight_peak: IntGauge,
    pub memory_budget: IntGauge,
    /// Client connections open now (set when scraped), and how often the listener
    /// stopped accepting because `limits.max_connections` were open.
    pub connections: IntGauge,
    pub connection_limit_reached: IntCounter,
    /// Signals in records that could not be read, by kind (each made its record's
    /// jurisdiction `unknown`).
    pub unreadable_signals: IntCounterVec,
    /// Failed accepts (out of file descriptors and the like).
    pub accept_errors: IntCounter,
    /// Requests sent again on a fresh connection after a pooled one failed before any
    /// of the request was written, by upstream.
    pub upstream_retries: IntCounterVec,
    /// Connections closed because no whole request head arrived in time (slow callers
    /// and idle keep-alive connections alike: the HTTP layer does not tell them apart).
    pub header_timeouts: IntCounter,
}

fn counter(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    reg.register(Box::new(c.clone()))?;
    Ok(c)
}

/// Every (decision, reason) a CONNECT tunnel can get.
pub const TUNNEL_REASONS: &[(&str, &str)] = &[
    ("allow", "connect_in_allowed_region"),
    ("allow", "connect_allowed_by_policy"),
    ("refuse", "connect_outside_allowed_regions"),
    ("refuse", "connect_refused_by_policy"),
    ("refuse", "connect_disabled"),
    ("refuse", "connect_unresolvable"),
    ("refuse", "connect_failed"),
    ("refuse", "connect_malformed"),
];

/// Every reason a request can be refused without a decision.
pub const INSPECTION_REASONS: &[&str] = &[
    "body_too_large",
    "body_read_error",
    "body_timeout",
    "unsupported_transfer_encoding",
    "trailers_not_inspected",
    "duplicate_host",
    "invalid_json",
    "nesting_too_deep",
    "embedding_too_deep",
    "invalid_utf8",
    "unsupported_content_type",
    "unsupported_content_encoding",
    "unsupported_charset",
    "invalid_content_encoding",
    "decoded_too_large",
    "invalid_multipart",
    "invalid_csv",
    "invalid_xml",
    "invalid_yaml",
    "invalid_graphql",
    "xml_dtd_refused",
    "yaml_alias_expansion",
    "too_many_records",
    "string_too_long",
    "too_many_form_fields",
    "too_many_multipart_parts",
    "selector_failed",
    "internal_error",
    "header_too_large",
    "overloaded",
];

const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let r = Registry::new();
        let requests = counter(
            &r,
            "customs_requests_total",
            "Requests handled, by route, action and reason",
            &["route", "action", "reason"],
        )?;
        let records = counter(
            &r,
            "customs_records_total",
            "Records inspected, by jurisdiction and the request's action",
            &["jurisdiction", "action"],
        )?;
        let blocked = counter(
            &r,
            "customs_blocked_transfers_total",
            "Blocked transfers, by jurisdiction and destination region",
            &["jurisdiction", "region"],
        )?;
        let shadow_violations = counter(
            &r,
            "customs_shadow_violations_total",
            "Transfers forwarded in shadow mode that enforcement would have stopped, by jurisdiction, destination region and the enforced action",
            &["jurisdiction", "region", "would"],
        )?;
        let rerouted = counter(
            &r,
            "customs_rerouted_transfers_total",
            "Rerouted transfers, by jurisdiction and target upstream",
            &["jurisdiction", "upstream"],
        )?;
        let inspection_failures = counter(
            &r,
            "customs_inspection_failures_total",
            "Bodies that could not be inspected (never forwarded), by reason",
            &["reason"],
        )?;
        let upstream_errors = counter(
            &r,
            "customs_upstream_errors_total",
            "Upstream failures, by upstream and kind",
            &["upstream", "kind"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "customs_request_duration_seconds",
                "Time from request head to response head, by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        r.register(Box::new(request_duration.clone()))?;
        let inspection_duration = Histogram::with_opts(
            HistogramOpts::new(
                "customs_inspection_duration_seconds",
                "Time spent extracting, tagging and deciding",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        r.register(Box::new(inspection_duration.clone()))?;
        let inspected_bytes = IntCounter::new(
            "customs_inspected_body_bytes_total",
            "Request body bytes inspected",
        )?;
        r.register(Box::new(inspected_bytes.clone()))?;
        let policy_info = IntGaugeVec::new(
            Opts::new(
                "customs_policy_info",
                "The loaded policy, labelled with its hash",
            ),
            &["hash"],
        )?;
        r.register(Box::new(policy_info.clone()))?;
        let policy_loaded_at = IntGauge::new(
            "customs_policy_loaded_timestamp_seconds",
            "When the loaded policy was loaded (Unix time)",
        )?;
        r.register(Box::new(policy_loaded_at.clone()))?;
        let geoip_build_time = IntGauge::new(
            "customs_geoip_build_timestamp_seconds",
            "When the loaded GeoIP database was built (Unix time)",
        )?;
        r.register(Box::new(geoip_build_time.clone()))?;
        let destination_mismatches = counter(
            &r,
            "customs_destination_mismatches_total",
            "Transfers blocked because an upstream's addresses are outside its region (or cannot be located), by upstream and reason",
            &["upstream", "reason"],
        )?;
        let tunnels = counter(
            &r,
            "customs_tunnels_total",
            "CONNECT tunnels (uninspectable), by decision and reason",
            &["decision", "reason"],
        )?;
        let reloads = counter(
            &r,
            "customs_reloads_total",
            "Policy and GeoIP reloads, by result",
            &["result"],
        )?;
        let policy_weakened = counter(
            &r,
            "customs_policy_weakened_total",
            "Reloaded policies weaker than the one they replaced, by change (jurisdiction_removed, enforcement_relaxed, ...)",
            &["change"],
        )?;
        let draining = IntGauge::new(
            "customs_draining",
            "1 while shutting down: not accepting new connections",
        )?;
        r.register(Box::new(draining.clone()))?;
        let header_timeouts = IntCounter::new(
            "customs_header_timeouts_total",
            "Connections closed because no whole request head arrived within server.header_timeout_ms (idle keep-alive connections included)",
        )?;
        r.register(Box::new(header_timeouts.clone()))?;
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            r.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let memory_in_flight = gauge(
            "customs_memory_in_flight_bytes",
            "Bytes held by requests in flight (bodies, decoded bodies, inspection trees), as reserved from the memory budget",
        )?;
        let memory_in_flight_peak = gauge(
            "customs_memory_in_flight_peak_bytes",
            "The most bytes requests in flight have held at once since start",
        )?;
        let memory_budget = gauge(
            "customs_memory_budget_bytes",
            "The memory budget for requests in flight (limits.memory_budget_bytes)",
        )?;
        let connections = gauge(
            "customs_connections",
            "Client connections open on the proxy listener",
        )?;
        let connection_limit_reached = IntCounter::new(
            "customs_connection_limit_reached_total",
            "Times the proxy listener stopped accepting because limits.max_connections connections were open",
        )?;
        r.register(Box::new(connection_limit_reached.clone()))?;
        let accept_errors = IntCounter::new(
            "customs_accept_errors_total",
            "Failed accepts on the proxy listener (out of file descriptors and the like)",
        )?;
        r.register(Box::new(accept_errors.clone()))?;
        let upstream_retries = counter(
            &r,
            "customs_upstream_retries_total",
            "Requests sent again on a fresh connection because a pooled one was found closed before any of the request was written, by upstream",
            &["upstream"],
        )?;
        let unreadable_signals = counter(
            &r,
            "customs_unreadable_signals_total",
            "Signals that could not be read (each made its record's jurisdiction unknown), by kind",
            &["kind"],
        )?;
        Ok(Metrics {
            unreadable_signals,
            memory_in_flight,
            memory_in_flight_peak,
            memory_budget,
            connections,
            connection_limit_reached,
            accept_errors,
            upstream_retries,
            header_timeouts,
            tunnels,
            destination_mismatches,
            reloads,
            policy_weakened,
            draining,
            registry: r,
            requests,
            records,
            blocked,
            shadow_violations,
            rerouted,
            inspection_failures,
            upstream_errors,
            request_duration,
            inspection_duration,
            inspected_bytes,
            policy_info,
            policy_loaded_at,
            geoip_build_time,
        })
    }

    /// Creates every labelled series the policy makes possible at 0, so dashboards and
    /// alerts see a series before its first event (bounded: names come from the policy).
    pub fn init_for(&self, policy: &crate::policy::Policy) {
        for reason in INSPECTION_REASONS {
            self.inspection_failures.with_label_values(&[reason]);
        }
        for (decision, reason) in TUNNEL_REASONS {
            self.tunnels.with_label_values(&[decision, reason]);
        }
        for result in ["success", "error"] {
            self.reloads.with_label_values(&[result]);
        }
        for k in crate::extract::SignalKind::ALL {
            self.unreadable_signals.with_label_values(&[k.as_str()]);
        }
        for w in crate::policy::diff::Weakening::ALL {
            self.policy_weakened.with_label_values(&[w.as_str()]);
        }
        for u in &policy.upstreams {
            self.upstream_retries.with_label_values(&[&u.name]);
            for kind in ["connect", "timeout", "reset"] {
                self.upstream_errors.with_label_values(&[&u.name, kind]);
            }
            for reason in [
                "destination_region_mismatch",
                "destination_unlocated",
                "destination_unresolvable",
            ] {
                self.destination_mismatches
                    .with_label_values(&[&u.name, reason]);
            }
        }
        let mut jurs: Vec<&str> = policy
            .jurisdictions
            .iter()
            .map(|j| j.name.as_str())
            .collect();
        jurs.push(crate::decide::UNKNOWN_RULE);
        jurs.push(crate::decide::UNASSIGNED_RULE);
        for j in &jurs {
            for r in &policy.regions {
                self.blocked.with_label_values(&[*j, r.name.as_str()]);
                for would in ["block", "reroute"] {
                    self.shadow_violations
                        .with_label_values(&[*j, r.name.as_str(), would]);
                }
            }
            for u in &policy.upstreams {
                self.rerouted.with_label_values(&[*j, u.name.as_str()]);
            }
        }
        for r in &policy.routes {
            self.request_duration.with_label_values(&[&r.name]);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
