//! The serde mirror of the policy TOML. Every value a diagnostic may point at is
//! `Spanned`; enum-like values stay strings so that validation can collect every
//! mistake (with a "did you mean") instead of stopping at serde's first.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
pub struct RawPolicy {
    pub version: Option<S<i64>>,
    pub mode: Option<S<String>>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub geoip: RawGeoip,
    #[serde(default)]
    pub unknown: RawUnknown,
    #[serde(default)]
    pub unassigned: RawUnknown,
    #[serde(default)]
    pub regions: BTreeMap<S<String>, RawRegion>,
    #[serde(default)]
    pub jurisdictions: BTreeMap<S<String>, RawJurisdiction>,
    #[serde(default)]
    pub upstreams: BTreeMap<S<String>, RawUpstream>,
    #[serde(default)]
    pub routes: Vec<S<RawRoute>>,
    #[serde(default)]
    pub detection: RawDetection,
    #[serde(default)]
    pub profiles: BTreeMap<S<String>, RawProfile>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub egress: RawEgress,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawEgress {
    pub enabled: Option<bool>,
    pub profile: Option<S<String>>,
    pub connect: Option<S<String>>,
    #[serde(default)]
    pub connect_allow: Vec<S<String>>,
    #[serde(default)]
    pub connect_refuse: Vec<S<String>>,
    pub unknown_destinations: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawLimits {
    pub max_depth: Option<S<i64>>,
    pub max_records: Option<S<i64>>,
    pub max_string_bytes: Option<S<i64>>,
    pub max_form_fields: Option<S<i64>>,
    pub max_multipart_parts: Option<S<i64>>,
    pub memory_budget_bytes: Option<S<i64>>,
    pub admission_wait_ms: Option<S<i64>>,
    pub max_connections: Option<S<i64>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawServer {
    pub listen: Option<S<String>>,
    pub admin_listen: Option<S<String>>,
    pub max_body_bytes: Option<S<i64>>,
    pub max_header_bytes: Option<S<i64>>,
    pub connect_timeout_ms: Option<S<i64>>,
    pub request_timeout_ms: Option<S<i64>>,
    pub header_timeout_ms: Option<S<i64>>,
    pub body_timeout_ms: Option<S<i64>>,
    pub ca_bundle: Option<S<String>>,
    pub shutdown_delay_ms: Option<S<i64>>,
    pub drain_timeout_ms: Option<S<i64>>,
    pub reload_poll_seconds: Option<S<i64>>,
    pub reload_settle_ms: Option<S<i64>>,
    pub tls_cert: Option<S<String>>,
    pub tls_key: Option<S<String>>,
    pub client_cert: Option<S<String>>,
    pub client_key: Option<S<String>>,
    pub dns_cache_seconds: Option<S<i64>>,
    pub upstream_idle_timeout_ms: Option<S<i64>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawGeoip {
    pub database: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawUnknown {
    pub treat_as: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawRegion {
    #[serde(default)]
    pub countries: Vec<S<String>>,
    #[serde(default)]
    pub include: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawJurisdiction {
    #[serde(default)]
    pub countries: Vec<S<String>>,
    #[serde(default)]
    pub include: Vec<S<String>>,
    pub allowed_regions: Option<S<Vec<S<String>>>>,
    pub on_violation: Option<S<String>>,
    pub mode: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawUpstream {
    pub url: Option<S<String>>,
    pub region: Option<S<String>>,
    #[serde(default)]
    pub alternatives: Vec<S<String>>,
    pub destination: Option<S<String>>,
    pub idle_timeout_ms: Option<S<i64>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawRoute {
    pub name: Option<S<String>>,
    pub path_prefix: Option<S<String>>,
    pub host: Option<S<String>>,
    pub upstream: Option<S<String>>,
    pub profile: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawDetection {
    pub use_defaults: Option<bool>,
    #[serde(default)]
    pub country: Vec<S<String>>,
    #[serde(default)]
    pub ip: Vec<S<String>>,
    #[serde(default)]
    pub phone: Vec<S<String>>,
    #[serde(default)]
    pub locale: Vec<S<String>>,
    #[serde(default)]
    pub email: Vec<S<String>>,
    #[serde(default)]
    pub name: Vec<S<String>>,
    #[serde(default)]
    pub address: Vec<S<String>>,
    #[serde(default)]
    pub device_id: Vec<S<String>>,
    #[serde(default)]
    pub time_zone: Vec<S<String>>,
    #[serde(default)]
    pub calling_code: Vec<S<String>>,
    #[serde(default)]
    pub document_number: Vec<S<String>>,
    #[serde(default)]
    pub payment_card: Vec<S<String>>,
    #[serde(default)]
    pub location: Vec<S<String>>,
    #[serde(default)]
    pub birth_date: Vec<S<String>>,
    #[serde(default)]
    pub user_id: Vec<S<String>>,
    #[serde(default)]
    pub not_personal: Vec<S<String>>,
    #[serde(default)]
    pub placeholders: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawProfile {
    #[serde(default)]
    pub records: Vec<S<String>>,
    #[serde(default)]
    pub ignore: Vec<S<String>>,
    pub binary: Option<S<String>>,
    pub query: Option<bool>,
    pub path: Option<bool>,
    pub authorization: Option<bool>,
    #[serde(default)]
    pub headers: Vec<S<String>>,
    #[serde(default)]
    pub cookies: Vec<S<String>>,
}

/// The keys each table accepts, for the unknown-key check (which walks the spanned
/// document before serde sees it, so that every unknown key is reported).
pub mod schema {
    pub const ROOT: &[&str] = &[
        "version",
        "mode",
        "server",
        "geoip",
        "unknown",
        "unassigned",
        "regions",
        "jurisdictions",
        "upstreams",
        "routes",
        "detection",
        "profiles",
        "limits",
        "egress",
    ];
    pub const EGRESS: &[&str] = &[
        "enabled",
        "profile",
        "connect",
        "connect_allow",
        "connect_refuse",
        "unknown_destinations",
    ];
    pub const LIMITS: &[&str] = &[
        "max_depth",
        "max_records",
        "max_string_bytes",
        "max_form_fields",
        "max_multipart_parts",
        "memory_budget_bytes",
        "admission_wait_ms",
        "max_connections",
    ];
    pub const SERVER: &[&str] = &[
        "listen",
        "admin_listen",
        "max_body_bytes",
        "max_header_bytes",
        "connect_timeout_ms",
        "request_timeout_ms",
        "header_timeout_ms",
        "body_timeout_ms",
        "ca_bundle",
        "shutdown_delay_ms",
        "drain_timeout_ms",
        "reload_poll_seconds",
        "reload_settle_ms",
        "tls_cert",
        "tls_key",
        "client_cert",
        "client_key",
        "dns_cache_seconds",
        "upstream_idle_timeout_ms",
    ];
    pub const GEOIP: &[&str] = &["database"];
    pub const UNKNOWN: &[&str] = &["treat_as"];
    pub const REGION: &[&str] = &["countries", "include"];
    pub const JURISDICTION: &[&str] = &[
        "countries",
        "include",
        "allowed_regions",
        "on_violation",
        "mode",
    ];
    pub const UPSTREAM: &[&str] = &[
        "url",
        "region",
        "alternatives",
        "destination",
        "idle_timeout_ms",
    ];
    pub const ROUTE: &[&str] = &["name", "path_prefix", "host", "upstream", "profile"];
    pub const DETECTION: &[&str] = &[
        "use_defaults",
        "country",
        "ip",
        "phone",
        "locale",
        "email",
        "name",
        "address",
        "device_id",
        "time_zone",
        "calling_code",
        "document_number",
        "payment_card",
        "location",
        "birth_date",
        "user_id",
        "not_personal",
        "placeholders",
    ];
    pub const PROFILE: &[&str] = &[
        "records",
        "ignore",
        "binary",
        "query",
        "path",
        "authorization",
        "headers",
        "cookies",
    ];
}
