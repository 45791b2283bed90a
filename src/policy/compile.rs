//! The runtime form of a policy: interned ids, country bitsets, region bitmasks, a
//! prebuilt field table and parsed selectors. Built only by `validate` from a policy
//! with no errors, so every id here is in range.

use std::time::Duration;

use crate::extract::select::Selector;

use crate::country::{Country, CountrySet};
use crate::extract::fields::FieldTable;

pub type RegionId = usize;
pub type JurId = usize;
pub type UpstreamId = usize;
pub type RouteId = usize;
pub type ProfileId = usize;

/// A set of regions (a policy has at most 64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionMask(pub u64);

impl RegionMask {
    pub const ALL: RegionMask = RegionMask(u64::MAX);
    pub fn contains(self, r: RegionId) -> bool {
        r < 64 && self.0 & (1 << r) != 0
    }
    pub fn with(self, r: RegionId) -> Self {
        if r < 64 {
            RegionMask(self.0 | (1 << r))
        } else {
            self
        }
    }
    pub fn and(self, o: RegionMask) -> Self {
        RegionMask(self.0 & o.0)
    }
    pub fn iter(self) -> impl Iterator<Item = RegionId> {
        (0..64).filter(move |r| self.contains(*r))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Shadow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnViolation {
    Block,
    Reroute,
    /// Forward, but report what a block would have done.
    Shadow,
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub countries: CountrySet,
}

#[derive(Debug, Clone)]
pub struct Jurisdiction {
    pub name: String,
    pub countries: CountrySet,
    pub allowed: RegionMask,
    pub on_violation: OnViolation,
    pub mode: Mode,
}

/// What personal data with no determinable jurisdiction is treated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRule {
    /// As every jurisdiction at once: only regions that all of them allow; blocked otherwise.
    Strictest,
    /// Not restricted.
    Allow,
    /// As this jurisdiction.
    As(JurId),
}

/// How an upstream's region is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationMode {
    /// The declared region is taken as given.
    Trust,
    /// Every resolved address must lie in the declared region.
    Verify,
    /// The region is the one holding every resolved address.
    Locate,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub url: http::Uri,
    pub region: RegionId,
    pub alternatives: Vec<UpstreamId>,
    pub destination: DestinationMode,
    /// How long an idle pooled connection to it is kept: below the upstream's own
    /// keep-alive timeout, so customs closes first and never reuses a connection the
    /// upstream is closing.
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub upstream: UpstreamId,
    pub profile: ProfileId,
    /// An egress route: matches absolute-form requests (customs as an HTTP proxy) for
    /// this `host:port`, and nothing else.
    pub authority: Option<String>,
}

/// Egress-proxy settings: apps that honour `HTTP_PROXY` point at customs.
#[derive(Debug, Clone)]
pub struct Egress {
    /// Accept absolute-form requests for declared upstreams (inspected like routed ones).
    pub enabled: bool,
    /// `CONNECT` tunnels cannot be inspected: `auto` allows one only to a destination in
    /// a region every jurisdiction allows; `refuse` refuses all.
    pub connect_auto: bool,
    /// `host:port` destinations always allowed or refused a tunnel (after `refuse`).
    pub connect_allow: Vec<String>,
    pub connect_refuse: Vec<String>,
    /// Absolute-form requests for hosts no upstream declares: located by GeoIP and
    /// inspected (`locate`), or refused with 404 (default).
    pub locate_unknown: bool,
    /// The inspection profile of egress requests.
    pub profile: ProfileId,
}

impl Default for Egress {
    fn default() -> Self {
        Egress {
            enabled: true,
            connect_auto: true,
            connect_allow: vec![],
            connect_refuse: vec![],
            locate_unknown: false,
            profile: 0,
        }
    }
}

/// `host:port` in lower case, with the scheme's default port filled in.
pub fn normalise_authority(authority: &str, default_port: u16) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let has_port = match a.rfind(']') {
        Some(close) => a[close..].contains(':'),
        None => a.contains(':'),
    };
    if has_port {
        a
    } else {
        format!("{a}:{default_port}")
    }
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// Selectors whose matches are records (each match is one subject).
    pub records: Vec<Selector>,
    /// Selectors whose matches are not inspected.
    pub ignore: Vec<Selector>,
    /// Forward bodies that are neither text nor a known structured type (default: refuse
    /// them with 415, since they cannot be inspected).
    pub forward_binary: bool,
    /// Inspect the query string (default true).
    pub query: bool,
    /// Inspect the URL path's segments, percent-decoded (default true).
    pub path: bool,
    /// Inspect the `Authorization` header: a Basic user id, a bearer token's claims
    /// (default true). Credentials are never logged; a password is never read.
    pub authorization: bool,
    /// Request headers to inspect (lower case).
    pub headers: Vec<String>,
    /// Cookies to inspect by name; `*` inspects every cookie.
    pub cookies: Vec<String>,
}

impl Profile {
    pub fn named(name: &str) -> Self {
        Profile {
            name: name.into(),
            records: vec![],
            ignore: vec![],
            forward_binary: false,
            query: true,
            path: true,
            authorization: true,
            headers: vec![],
            cookies: vec![],
        }
    }
}

/// Bounds on what one request may make the inspector do. Hitting one is a named reason
/// with a metric and a 4xx; nothing is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of arrays and objects, counting documents embedded in strings (at most
    /// 128, serde_json's own limit).
    pub max_depth: usize,
    pub max_records: usize,
    pub max_string_bytes: usize,
    pub max_form_fields: usize,
    pub max_multipart_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_records: 100_000,
            max_string_bytes: 1024 * 1024,
            max_form_fields: 10_000,
            max_multipart_parts: 256,
        }
    }
}

/// hyper's smallest read buffer, and the default request-head limit: 8 KiB per caller
/// connection, as nginx's default header buffer. Larger limits let hyper grow each
/// connection's read buffer (to 16 KiB and beyond), which 1,000 idle keep-alive
/// connections pay for in memory.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8192;
/// The largest `max_header_bytes` accepted.
pub const MAX_MAX_HEADER_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    pub admin_listen: String,
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers) read from a caller; also
    /// the size of each keep-alive connection's read buffer.
    pub max_header_bytes: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How long a caller has to send a whole request head: a new connection's first,
    /// then each HTTP/1 head counted from the last response (so it is also how long an
    /// idle HTTP/1 keep-alive connection is kept). Read at start only.
    pub header_timeout: Duration,
    /// How long a caller has to send a whole request body, counted from its head.
    pub body_timeout: Duration,
    pub ca_bundle: Option<String>,
    /// After SIGTERM: how long to keep accepting (while /readyz says 503) so load
    /// balancers stop sending first.
    pub shutdown_delay: Duration,
    /// After accepting stops: how long requests in flight may take to finish.
    pub drain_timeout: Duration,
    /// How often to compare the policy and database files with what is loaded (None: never).
    pub reload_poll: Option<Duration>,
    /// How long the policy file must stay unchanged before a reload loads it.
    pub reload_settle: Duration,
    /// Certificate and key (PEM) for TLS on the listener.
    pub tls: Option<(String, String)>,
    /// Client certificate and key (PEM) for upstreams that require mutual TLS.
    pub client_auth: Option<(String, String)>,
    /// How long a resolution checked by `verify`/`locate` is reused.
    pub dns_cache: Duration,
    /// How long idle pooled upstream connections are kept, unless an upstream sets its own.
    pub upstream_idle_timeout: Duration,
}

/// The default upstream idle timeout: below the 5 s keep-alive timeout of Node.js (and
/// Apache), the shortest common default, so customs closes an idle connection before the
/// upstream does.
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// What the proxy admits at once, across all requests (Envoy's overload manager and
/// buffer watermarks are the model): bytes held in flight and client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Bytes every request in flight may hold together: bodies as read, decoded, and
    /// their inspection trees. A request that would exceed what is left waits up to
    /// `wait`, then gets 503 `overloaded`.
    pub memory_budget: usize,
    pub wait: Duration,
    /// Client connections open at once; the listener stops accepting at this many.
    pub max_connections: usize,
}

/// 128 MiB: with the process's own ~30 MiB and `max_connections` idle connections
/// (~15 KiB each), a 256 MiB sidecar is not OOM-killed.
pub const DEFAULT_MEMORY_BUDGET: usize = 128 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for Admission {
    fn default() -> Self {
        Admission {
            memory_budget: DEFAULT_MEMORY_BUDGET,
            wait: Duration::from_millis(500),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            max_body_bytes: 8 * 1024 * 1024,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            ca_bundle: None,
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(30),
            reload_poll: Some(Duration::from_secs(30)),
            reload_settle: Duration::from_secs(2),
            tls: None,
            client_auth: None,
            dns_cache: Duration::from_secs(30),
            upstream_idle_timeout: DEFAULT_UPSTREAM_IDLE_TIMEOUT,
        }
    }
}

/// Which countries a policy's rules cover.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Each jurisdiction with the number of countries it names.
    pub jurisdictions: Vec<(String, usize)>,
    /// Assigned ISO 3166-1 countries that no jurisdiction names.
    pub unassigned: usize,
    pub unassigned_treat_as: String,
    pub unknown_treat_as: String,
}

/// A validated, compiled policy. Immutable; the proxy swaps whole policies.
#[derive(Debug, Clone)]
pub struct Policy {
    /// SHA-256 of the source text (hex, first 16 characters), for metrics and logs.
    pub hash: String,
    pub mode: Mode,
    pub server: ServerSettings,
    pub geoip_database: Option<String>,
    pub unknown: UnknownRule,
    /// What subjects of a country no jurisdiction names (a Brazilian, a Japanese user)
    /// are treated as: `[unassigned] treat_as`.
    pub unassigned: UnknownRule,
    pub regions: Vec<Region>,
    pub jurisdictions: Vec<Jurisdiction>,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
    pub profiles: Vec<Profile>,
    pub fields: FieldTable,
    /// Values of signal fields that are not signals (`N/A`, `unknown`, `-`...).
    pub placeholders: crate::extract::signals::placeholder::Placeholders,
    pub limits: Limits,
    pub admission: Admission,
    pub egress: Egress,
    pub(crate) jur_of_country: Vec<Option<JurId>>,
}

impl Policy {
    /// The jurisdiction a country belongs to (countries belong to at most one).
    pub fn jurisdiction_of(&self, c: Country) -> Option<JurId> {
        self.jur_of_country.get(c.index()).copied().flatten()
    }

    /// The regions personal data of unknown jurisdiction may go to, or `None` when it
    /// is not restricted.
    pub fn unknown_allowed(&self) -> Option<RegionMask> {
        self.allowed_as(self.unknown)
    }

    /// The regions subjects of countries no jurisdiction names may go to, or `None` when
    /// they are not restricted.
    pub fn unassigned_allowed(&self) -> Option<RegionMask> {
        self.allowed_as(self.unassigned)
    }

    /// What a `treat_as` setting allows (`None`: unrestricted).
    pub fn allowed_as(&self, rule: UnknownRule) -> Option<RegionMask> {
        match rule {
            UnknownRule::Allow => None,
            UnknownRule::As(j) => self.jurisdictions.get(j).map(|j| j.allowed),
            UnknownRule::Strictest => Some(
                self.jurisdictions
                    .iter()
                    .fold(RegionMask::ALL, |m, j| m.and(j.allowed)),
            ),
        }
    }

    /// The first route (in file order) whose host and path prefix both match. Hosts
    /// compare case-insensitively and without a port.
    pub fn match_route(&self, host: Option<&str>, path: &str) -> Option<RouteId> {
        let host = host.map(strip_port);
        self.routes.iter().position(|r| {
            if r.authority.is_some() {
                return false;
            }
            let host_ok = match (&r.host, host) {
                (None, _) => true,
                (Some(want), Some(h)) => want.eq_ignore_ascii_case(h),
                (Some(_), None) => false,
            };
            let path_ok = match &r.path_prefix {
                None => true,
                Some(p) => path.starts_with(p.as_str()) || path == p.trim_end_matches('/'),
            };
            host_ok && path_ok
        })
    }

    /// An absolute-form request (`http://host:port/path`): the egress route for that
    /// authority, else a route whose `host` names it. Path-only routes do not match: the
    /// client asked for another host, and customs sends nothing where it was not asked.
    pub fn match_absolute(&self, authority: &str, path: &str) -> Option<RouteId> {
        if !self.egress.enabled {
            return None;
        }
        let want = normalise_authority(authority, 80);
        if let Some(i) = self
            .routes
            .iter()
            .position(|r| r.authority.as_deref() == Some(want.as_str()))
        {
            return Some(i);
        }
        let host = strip_port(authority);
        self.routes.iter().position(|r| {
            r.authority.is_none()
                && r.host
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(host))
                && r.path_prefix
                    .as_deref()
                    .is_none_or(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
        })
    }

    /// The regions every jurisdiction (and the unknown setting) allows: where data of
    /// anyone may go, so where an uninspectable tunnel may lead.
    pub fn universally_allowed(&self) -> RegionMask {
        let all = self
            .jurisdictions
            .iter()
            .fold(RegionMask::ALL, |m, j| m.and(j.allowed));
        [self.unknown_allowed(), self.unassigned_allowed()]
            .into_iter()
            .flatten()
            .fold(all, RegionMask::and)
    }

    /// How many countries each jurisdiction names, and how many no jurisdiction names
    /// (their subjects follow `[unassigned]`), for `customs check`.
    pub fn coverage(&self) -> Coverage {
        let named: CountrySet = self
            .jurisdictions
            .iter()
            .fold(CountrySet::new(), |mut s, j| {
                s.union_with(&j.countries);
                s
            });
        Coverage {
            jurisdictions: self
                .jurisdictions
                .iter()
                .map(|j| (j.name.clone(), j.countries.len()))
                .collect(),
            unassigned: Country::all()
                .filter(|c| !named.contains_country(*c))
                .count(),
            unassigned_treat_as: self.rule_name(self.unassigned),
            unknown_treat_as: self.rule_name(self.unknown),
        }
    }

    /// A `treat_as` setting as the policy writes it.
    pub fn rule_name(&self, rule: UnknownRule) -> String {
        match rule {
            UnknownRule::Strictest => "strictest".into(),
            UnknownRule::Allow => "allow".into(),
            UnknownRule::As(j) => self
                .jurisdictions
                .get(j)
                .map(|j| j.name.clone())
                .unwrap_or_default(),
        }
    }

    pub fn region_name(&self, r: RegionId) -> &str {
        self.regions.get(r).map(|r| r.name.as_str()).unwrap_or("?")
    }

    pub fn upstream_by_name(&self, name: &str) -> Option<UpstreamId> {
        self.upstreams.iter().position(|u| u.name == name)
    }

    pub fn region_names(&self, m: RegionMask) -> Vec<String> {
        m.iter()
            .filter(|r| *r < self.regions.len())
            .map(|r| self.regions[r].name.clone())
            .collect()
    }
}

fn strip_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    }
}
