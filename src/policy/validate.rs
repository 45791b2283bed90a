//! Validation: parse → check the spanned document for unknown keys → deserialize into the
//! raw form → check every reference and rule, collecting all diagnostics → build the
//! runtime form only if there were no errors. An invalid policy never half-loads.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::compile::*;
use super::diag::{DiagKind, Diagnostic, did_you_mean};
use super::raw::{RawPolicy, S, schema};
use crate::country::{BUILTIN_SETS, Country, CountrySet, builtin_set};
use crate::extract::fields::{FieldKind, FieldTable};
use crate::extract::select::Selector;

/// Validates and compiles a policy. `Ok` carries the policy and its warnings; `Err`
/// every diagnostic, errors first.
pub fn load(src: &str) -> Result<(Policy, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut diags = Vec::new();
    match DeTable::parse(src) {
        Ok(doc) => check_keys(doc.get_ref(), schema::ROOT, "", &mut diags),
        Err(e) => {
            diags.push(Diagnostic::error(
                DiagKind::Syntax,
                toml_message(&e),
                e.span(),
            ));
            return Err(diags);
        }
    }
    let raw: RawPolicy = match toml::from_str(src) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::error(
                DiagKind::WrongType,
                toml_message(&e),
                e.span(),
            ));
            return Err(sorted(diags));
        }
    };
    let mut v = Validator { diags, src };
    let policy = v.policy(&raw);
    let diags = sorted(v.diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    match policy {
        Some(mut p) => {
            p.hash = hash(src);
            Ok((p, diags))
        }
        None => Err(diags),
    }
}

/// SHA-256 of the policy source, hex, first 16 characters.
pub fn hash(src: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(src.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn sorted(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    d.sort_by_key(|x| (!x.is_error(), x.span.as_ref().map(|s| s.start).unwrap_or(0)));
    d
}

fn toml_message(e: &toml::de::Error) -> String {
    let m = e.message().trim().trim_end_matches('.').to_string();
    let mut chars = m.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "invalid toml".into(),
    }
}

fn check_keys(table: &DeTable<'_>, allowed: &[&str], ctx: &str, diags: &mut Vec<Diagnostic>) {
    for (k, v) in table.iter() {
        let key: &str = k.get_ref();
        if !allowed.contains(&key) {
            let where_ = if ctx.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{ctx}`")
            };
            diags.push(
                Diagnostic::error(
                    DiagKind::UnknownKey,
                    format!("unknown key `{key}` {where_}"),
                    Some(k.span()),
                )
                .with_help(did_you_mean(key, allowed.iter().copied())),
            );
            continue;
        }
        let child_ctx = if ctx.is_empty() {
            key.to_string()
        } else {
            format!("{ctx}.{key}")
        };
        let sub: Option<&[&str]> = match (ctx, key) {
            ("", "server") => Some(schema::SERVER),
            ("", "geoip") => Some(schema::GEOIP),
            ("", "unknown") | ("", "unassigned") => Some(schema::UNKNOWN),
            ("", "detection") => Some(schema::DETECTION),
            ("", "limits") => Some(schema::LIMITS),
            ("", "egress") => Some(schema::EGRESS),
            _ => None,
        };
        if let Some(keys) = sub {
            if let DeValue::Table(t) = v.get_ref() {
                check_keys(t, keys, &child_ctx, diags);
            }
            continue;
        }
        let named: Option<&[&str]> = match (ctx, key) {
            ("", "regions") => Some(schema::REGION),
            ("", "jurisdictions") => Some(schema::JURISDICTION),
            ("", "upstreams") => Some(schema::UPSTREAM),
            ("", "profiles") => Some(schema::PROFILE),
            _ => None,
        };
        if let Some(keys) = named {
            if let DeValue::Table(t) = v.get_ref() {
                for (name, entry) in t.iter() {
                    if let DeValue::Table(et) = entry.get_ref() {
                        check_keys(et, keys, &format!("{child_ctx}.{}", name.get_ref()), diags);
                    }
                }
            }
            continue;
        }
        if ctx.is_empty()
            && key == "routes"
            && let DeValue::Array(items) = v.get_ref()
        {
            for (i, item) in items.iter().enumerate() {
                if let DeValue::Table(t) = item.get_ref() {
                    check_keys(t, schema::ROUTE, &format!("routes[{i}]"), diags);
                }
            }
        }
    }
}

struct Validator<'s> {
    diags: Vec<Diagnostic>,
    #[allow(dead_code)]
    src: &'s str,
}

fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

impl Validator<'_> {
    fn err(&mut self, kind: DiagKind, msg: String, sp: Option<Range<usize>>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(kind, msg, sp));
        let n = self.diags.len() - 1;
        &mut self.diags[n]
    }
    fn warn(&mut self, kind: DiagKind, msg: String, sp: Option<Range<usize>>) {
        self.diags.push(Diagnostic::warning(kind, msg, sp));
    }

    fn enum_value<T: Copy>(
        &mut self,
        v: &Option<S<String>>,
        what: &str,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(v) = v else { return default };
        if let Some((_, t)) = options.iter().find(|(n, _)| *n == v.get_ref()) {
            return *t;
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let help = did_you_mean(v.get_ref(), names.iter().copied())
            .or_else(|| Some(format!("expected one of {}", backticked(names.iter()))));
        self.err(
            DiagKind::InvalidValue,
            format!("invalid {what} `{}`", v.get_ref()),
            span(v),
        )
        .help = help;
        default
    }

    fn countries(&mut self, list: &[S<String>], include: &[S<String>], owner: &str) -> CountrySet {
        let mut set = CountrySet::new();
        for c in list {
            match Country::from_alpha2(c.get_ref()) {
                Some(cc) if c.get_ref().bytes().all(|b| b.is_ascii_uppercase()) => {
                    set.insert(cc);
                }
                Some(cc) => {
                    self.err(
                        DiagKind::UnknownCountry,
                        format!("country codes are upper case: `{}` in {owner}", c.get_ref()),
                        span(c),
                    )
                    .help = Some(format!("write `{cc}`"));
                }
                None => {
                    let help = if let Some(b) =
                        BUILTIN_SETS.iter().find(|b| **b == c.get_ref().as_str())
                    {
                        Some(format!(
                            "`{b}` is a built-in country group: write `include = [\"{b}\"]`"
                        ))
                    } else if let Some(cc) = Country::parse_loose(c.get_ref()) {
                        Some(format!("did you mean `{cc}`?"))
                    } else {
                        let all: Vec<String> = Country::all().map(|c| c.to_string()).collect();
                        did_you_mean(c.get_ref(), all.iter().map(String::as_str))
                    };
                    self.err(
                        DiagKind::UnknownCountry,
                        format!("unknown country code `{}` in {owner}", c.get_ref()),
                        span(c),
                    )
                    .help = help;
                }
            }
        }
        for inc in include {
            match builtin_set(inc.get_ref()) {
                Some(s) => set.union_with(&s),
                None => {
                    self.err(
                        DiagKind::UnknownSet,
                        format!("unknown country group `{}` in {owner}", inc.get_ref()),
                        span(inc),
                    )
                    .help =
                        did_you_mean(inc.get_ref(), BUILTIN_SETS.iter().copied()).or_else(|| {
                            Some(format!("built-in groups are {}", BUILTIN_SETS.join(", ")))
                        });
                }
            }
        }
        set
    }

    fn lookup(
        &mut self,
        kind: DiagKind,
        what: &str,
        name: &S<String>,
        names: &[String],
        ctx: &str,
    ) -> Option<usize> {
        if let Some(i) = names.iter().position(|n| n == name.get_ref()) {
            return Some(i);
        }
        let help = did_you_mean(name.get_ref(), names.iter().map(String::as_str)).or_else(|| {
            if names.is_empty() {
                Some(format!("no {what} is defined"))
            } else {
                Some(format!("defined {what}s: {}", backticked(names.iter())))
            }
        });
        self.err(
            kind,
            format!("unknown {what} `{}` {ctx}", name.get_ref()),
            span(name),
        )
        .help = help;
        None
    }

    fn positive(&mut self, v: &Option<S<i64>>, what: &str, default: u64) -> u64 {
        match v {
            None => default,
            Some(x) if *x.get_ref() > 0 => *x.get_ref() as u64,
            Some(x) => {
                self.err(
                    DiagKind::InvalidValue,
                    format!("`{what}` must be positive, got `{}`", x.get_ref()),
                    span(x),
                );
                default
            }
        }
    }

    fn pair(
        &mut self,
        a: &Option<S<String>>,
        b: &Option<S<String>>,
        an: &str,
        bn: &str,
    ) -> Option<(String, String)> {
        match (a, b) {
            (Some(a), Some(b)) => Some((a.get_ref().clone(), b.get_ref().clone())),
            (None, None) => None,
            (Some(x), None) | (None, Some(x)) => {
                self.err(
                    DiagKind::MissingKey,
                    format!("`{an}` and `{bn}` go together: give both or neither"),
                    span(x),
                );
                None
            }
        }
    }

    fn non_negative(&mut self, v: &Option<S<i64>>, what: &str, default: u64) -> u64 {
        match v {
            None => default,
            Some(x) if *x.get_ref() >= 0 => *x.get_ref() as u64,
            Some(x) => {
                self.err(
                    DiagKind::InvalidValue,
                    format!("`{what}` must not be negative, got `{}`", x.get_ref()),
                    span(x),
                );
                default
            }
        }
    }

    fn policy(&mut self, raw: &RawPolicy) -> Option<Policy> {
        if let Some(v) = &raw.version
            && *v.get_ref() != 1
        {
            self.err(
                DiagKind::InvalidValue,
                format!("unsupported policy version `{}`", v.get_ref()),
                span(v),
            )
            .help = Some("this customs reads version `1`".into());
        }
        let modes = [("enforce", Mode::Enforce), ("shadow", Mode::Shadow)];
        let mode = self.enum_value(&raw.mode, "mode", &modes, Mode::Enforce);

        // server
        let mut server = ServerSettings::default();
        if let Some(l) = &raw.server.listen {
            self.socket_addr(l, "server.listen");
            server.listen = l.get_ref().clone();
        }
        if let Some(l) = &raw.server.admin_listen {
            self.socket_addr(l, "server.admin_listen");
            server.admin_listen = l.get_ref().clone();
        }
        server.max_body_bytes = self.positive(
            &raw.server.max_body_bytes,
            "max_body_bytes",
            server.max_body_bytes as u64,
        ) as usize;
        if let Some(v) = &raw.server.max_header_bytes {
            let n = *v.get_ref();
            if (DEFAULT_MAX_HEADER_BYTES as i64..=MAX_MAX_HEADER_BYTES as i64).contains(&n) {
                server.max_header_bytes = n as usize;
            } else {
                self.err(
                    DiagKind::InvalidValue,
                    format!(
                        "`max_header_bytes` must be between {DEFAULT_MAX_HEADER_BYTES} and \
                         {MAX_MAX_HEADER_BYTES} (the HTTP/1 read buffer is at least 8 KiB), got `{n}`"
                    ),
                    span(v),
                );
            }
        }
        server.connect_timeout = Duration::from_millis(self.positive(
            &raw.server.connect_timeout_ms,
            "connect_timeout_ms",
            2000,
        ));
        server.request_timeout = Duration::from_millis(self.positive(
            &raw.server.request_timeout_ms,
            "request_timeout_ms",
            30_000,
        ));
        server.header_timeout = Duration::from_millis(self.positive(
            &raw.server.header_timeout_ms,
            "header_timeout_ms",
            60_000,
        ));
        server.body_timeout = Duration::from_millis(self.positive(
            &raw.server.body_timeout_ms,
            "body_timeout_ms",
            60_000,
        ));
        server.ca_bundle = raw.server.ca_bundle.as_ref().map(|s| s.get_ref().clone());
        server.shutdown_delay = Duration::from_millis(self.non_negative(
            &raw.server.shutdown_delay_ms,
            "shutdown_delay_ms",
            0,
        ));
        server.drain_timeout = Duration::from_millis(self.positive(
            &raw.server.drain_timeout_ms,
            "drain_timeout_ms",
            30_000,
        ));
        let poll = self.non_negative(&raw.server.reload_poll_seconds, "reload_poll_seconds", 30);
        server.reload_poll = (poll > 0).then(|| Duration::from_secs(poll));
        server.reload_settle = Duration::from_millis(self.non_negative(
            &raw.server.reload_settle_ms,
            "reload_settle_ms",
            server.reload_settle.as_millis() as u64,
        ));
        server.dns_cache = Duration::from_secs(self.non_negative(
            &raw.server.dns_cache_seconds,
            "dns_cache_seconds",
            30,
        ));
        server.upstream_idle_timeout = Duration::from_millis(self.positive(
            &raw.server.upstream_idle_timeout_ms,
            "upstream_idle_timeout_ms",
            DEFAULT_UPSTREAM_IDLE_TIMEOUT.as_millis() as u64,
        ));
        server.tls = self.pair(
            &raw.server.tls_cert,
            &raw.server.tls_key,
            "tls_cert",
            "tls_key",
        );
        server.client_auth = self.pair(
            &raw.server.client_cert,
            &raw.server.client_key,
            "client_cert",
            "client_key",
        );

        // regions
        let region_names: Vec<String> = raw.regions.keys().map(|k| k.get_ref().clone()).collect();
        if region_names.len() > 64 {
            self.err(
                DiagKind::InvalidValue,
                "a policy may define at most 64 regions".into(),
                None,
            );
        }
        let mut regions = Vec::new();
        for (name, r) in &raw.regions {
            let countries = self.countries(
                &r.countries,
                &r.include,
                &format!("region `{}`", name.get_ref()),
            );
            if countries.is_empty() && r.countries.is_empty() && r.include.is_empty() {
                self.err(
                    DiagKind::InvalidValue,
                    format!("region `{}` has no countries", name.get_ref()),
                    span(name),
                )
                .help = Some("add `countries = [\"..\"]` or `include = [\"EEA\"]`".into());
            }
            regions.push(Region {
                name: name.get_ref().clone(),
                countries,
            });
        }
        for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                let both = regions[i].countries.intersection(&regions[j].countries);
                if !both.is_empty() {
                    let names: Vec<String> = both.iter().take(5).map(|c| c.to_string()).collect();
                    let key = raw.regions.keys().nth(j).and_then(span);
                    self.warn(
                        DiagKind::OverlappingRegions,
                        format!(
                            "regions `{}` and `{}` overlap: {}",
                            regions[i].name,
                            regions[j].name,
                            names.join(", ")
                        ),
                        key,
                    );
                }
            }
        }

        // jurisdictions
        let jur_names: Vec<String> = raw
            .jurisdictions
            .keys()
            .map(|k| k.get_ref().clone())
            .collect();
        let actions = [
            ("block", OnViolation::Block),
            ("reroute", OnViolation::Reroute),
            ("shadow", OnViolation::Shadow),
        ];
        let mut jurisdictions = Vec::new();
        let mut jur_spans = Vec::new();
        let mut jur_incomplete = Vec::new();
        for (name, j) in &raw.jurisdictions {
            let before = self.diags.iter().filter(|d| d.is_error()).count();
            let owner = format!("jurisdiction `{}`", name.get_ref());
            let countries = self.countries(&j.countries, &j.include, &owner);
            if j.countries.is_empty() && j.include.is_empty() {
                self.err(
                    DiagKind::InvalidValue,
                    format!("{owner} has no countries"),
                    span(name),
                );
            }
            let mut allowed = RegionMask::default();
            match &j.allowed_regions {
                None => {
                    self.err(DiagKind::NoAllowedRegion, format!("{owner} has no allowed region"), span(name)).help =
                        Some("add `allowed_regions = [\"..\"]`: every jurisdiction must allow at least one region".into());
                }
                Some(list) if list.get_ref().is_empty() => {
                    self.err(DiagKind::NoAllowedRegion, format!("{owner} has no allowed region"), span(list)).help =
                        Some("list at least one region: personal data that may go nowhere is better blocked at its source".into());
                }
                Some(list) => {
                    for r in list.get_ref() {
                        if let Some(i) = self.lookup(
                            DiagKind::UnknownRegion,
                            "region",
                            r,
                            &region_names,
                            &format!("in {owner}"),
                        ) {
                            allowed = allowed.with(i);
                        }
                    }
                }
            }
            let on_violation =
                self.enum_value(&j.on_violation, "action", &actions, OnViolation::Block);
            let jmode = self.enum_value(&j.mode, "mode", &modes, mode);
            jurisdictions.push(Jurisdiction {
                name: name.get_ref().clone(),
                countries,
                allowed,
                on_violation,
                mode: if mode == Mode::Shadow {
                    Mode::Shadow
                } else {
                    jmode
                },
            });
            jur_spans.push(name.span());
            jur_incomplete.push(self.diags.iter().filter(|d| d.is_error()).count() > before);
        }
        let mut jur_of_country: Vec<Option<JurId>> = vec![None; 26 * 26];
        for (ji, j) in jurisdictions.iter().enumerate() {
            for c in j.countries.iter() {
                if let Some(prev) = jur_of_country[c.index()] {
                    let other = jurisdictions[prev].name.clone();
                    self.err(
                        DiagKind::OverlappingJurisdictions,
                        format!("country `{c}` is in both jurisdiction `{other}` and jurisdiction `{}`", j.name),
                        Some(jur_spans[ji].clone()),
                    )
                    .help = Some("a country belongs to one jurisdiction: a subject with signals in several is tagged with each of them".into());
                } else {
                    jur_of_country[c.index()] = Some(ji);
                }
            }
        }

        // subjects of no known jurisdiction, and of countries no jurisdiction names
        let unknown = self.treat_as(&raw.unknown.treat_as, "unknown", &jur_names);
        let unassigned = self.treat_as(&raw.unassigned.treat_as, "unassigned", &jur_names);

        // upstreams
        let up_names: Vec<String> = raw.upstreams.keys().map(|k| k.get_ref().clone()).collect();
        let mut upstreams = Vec::new();
        for (name, u) in &raw.upstreams {
            let owner = format!("upstream `{}`", name.get_ref());
            let url = match &u.url {
                None => {
                    self.err(
                        DiagKind::MissingKey,
                        format!("{owner} has no `url`"),
                        span(name),
                    );
                    None
                }
                Some(s) => self.url(s, &owner),
            };
            let region = match &u.region {
                None => {
                    self.err(
                        DiagKind::MissingKey,
                        format!("{owner} has no `region`"),
                        span(name),
                    )
                    .help = Some("declare where the upstream is: `region = \"..\"`".into());
                    None
                }
                Some(r) => self.lookup(
                    DiagKind::UnknownRegion,
                    "region",
                    r,
                    &region_names,
                    &format!("in {owner}"),
                ),
            };
            let mut alternatives = Vec::new();
            for a in &u.alternatives {
                if a.get_ref() == name.get_ref() {
                    self.err(
                        DiagKind::InvalidValue,
                        format!("{owner} lists itself as an alternative"),
                        span(a),
                    );
                } else if let Some(i) = self.lookup(
                    DiagKind::UnknownUpstream,
                    "upstream",
                    a,
                    &up_names,
                    &format!("in the alternatives of {owner}"),
                ) {
                    alternatives.push(i);
                }
            }
            let destination = self.enum_value(
                &u.destination,
                "destination mode",
                &[
                    ("trust", DestinationMode::Trust),
                    ("verify", DestinationMode::Verify),
                    ("locate", DestinationMode::Locate),
                ],
                DestinationMode::Trust,
            );
            let idle_timeout = Duration::from_millis(self.positive(
                &u.idle_timeout_ms,
                "idle_timeout_ms",
                server.upstream_idle_timeout.as_millis() as u64,
            ));
            upstreams.push(Upstream {
                idle_timeout,
                name: name.get_ref().clone(),
                url: url.unwrap_or_else(|| http::Uri::from_static("http://invalid.invalid")),
                region: region.unwrap_or(usize::MAX),
                alternatives,
                destination,
            });
        }
        // A reroute target that still violates the rule it is meant to satisfy.
        let alt_spans: Vec<Vec<Range<usize>>> = raw
            .upstreams
            .values()
            .map(|u| u.alternatives.iter().map(|a| a.span()).collect())
            .collect();
        for (ui, u) in upstreams.iter().enumerate() {
            if u.region == usize::MAX {
                continue;
            }
            for (ji, j) in jurisdictions.iter().enumerate() {
                // A jurisdiction with its own errors would only add noise here.
                if jur_incomplete.get(ji).copied().unwrap_or(true) {
                    continue;
                }
                if j.on_violation != OnViolation::Reroute
                    || j.allowed.contains(u.region)
                    || u.alternatives.is_empty()
                {
                    continue;
                }
                let ok = u.alternatives.iter().any(|a| {
                    upstreams
                        .get(*a)
                        .is_some_and(|t| j.allowed.contains(t.region))
                });
                if !ok {
                    let t = u.alternatives[0];
                    let tname = upstreams.get(t).map(|t| t.name.clone()).unwrap_or_default();
                    let treg = upstreams.get(t).map(|t| t.region).unwrap_or(usize::MAX);
                    let rname = regions
                        .get(treg)
                        .map(|r| r.name.clone())
                        .unwrap_or_default();
                    self.err(
                        DiagKind::RerouteViolates,
                        format!(
                            "reroute target `{tname}` is in region `{rname}`, which jurisdiction `{}` does not allow: rerouting `{}` would still violate it",
                            j.name, u.name
                        ),
                        alt_spans.get(ui).and_then(|v| v.first().cloned()),
                    )
                    .help = Some(format!("allowed regions of `{}`: {}", j.name, names_of(&regions, j.allowed).join(", ")));
                }
            }
        }

        // profiles
        let mut profile_names: Vec<String> = vec!["default".into()];
        let mut profiles = vec![Profile::named("default")];
        for (name, p) in &raw.profiles {
            let mut prof = Profile::named(name.get_ref());
            prof.records = self.selectors(&p.records, name.get_ref());
            prof.ignore = self.selectors(&p.ignore, name.get_ref());
            prof.forward_binary = self.enum_value(
                &p.binary,
                "binary setting",
                &[("refuse", false), ("forward", true)],
                false,
            );
            prof.query = p.query.unwrap_or(true);
            prof.path = p.path.unwrap_or(true);
            prof.authorization = p.authorization.unwrap_or(true);
            prof.headers = p
                .headers
                .iter()
                .map(|h| h.get_ref().to_ascii_lowercase())
                .collect();
            for h in &p.headers {
                if http::HeaderName::from_bytes(h.get_ref().as_bytes()).is_err() {
                    self.err(
                        DiagKind::InvalidValue,
                        format!("`{}` is not a header name", h.get_ref()),
                        span(h),
                    );
                }
            }
            prof.cookies = p.cookies.iter().map(|c| c.get_ref().clone()).collect();
            if name.get_ref() == "default" {
                profiles[0] = prof;
            } else {
                profile_names.push(name.get_ref().clone());
                profiles.push(prof);
            }
        }

        // routes
        let mut routes = Vec::new();
        let mut route_names: HashMap<String, Range<usize>> = HashMap::new();
        let mut used_upstreams = HashSet::new();
        for (i, r) in raw.routes.iter().enumerate() {
            let rs = r.span();
            let r = r.get_ref();
            let name = r
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_else(|| format!("route-{}", i + 1));
            if let Some(n) = &r.name {
                if route_names.contains_key(n.get_ref()) {
                    self.err(
                        DiagKind::DuplicateName,
                        format!("route name `{}` is used twice", n.get_ref()),
                        span(n),
                    )
                    .help = Some("route names label metrics and logs: make them unique".into());
                }
                route_names.insert(n.get_ref().clone(), n.span());
            }
            let ctx = format!("in route `{name}`");
            if let Some(p) = &r.path_prefix
                && !p.get_ref().starts_with('/')
            {
                self.err(
                    DiagKind::InvalidValue,
                    format!("path prefix `{}` does not start with `/`", p.get_ref()),
                    span(p),
                );
            }
            if r.path_prefix.is_none() && r.host.is_none() {
                self.warn(DiagKind::InvalidValue, format!("route `{name}` has neither `path_prefix` nor `host`: it matches every request"), Some(rs.clone()));
            }
            let upstream = match &r.upstream {
                None => {
                    self.err(
                        DiagKind::MissingKey,
                        format!("route `{name}` has no `upstream`"),
                        Some(rs.clone()),
                    );
                    None
                }
                Some(u) => self.lookup(DiagKind::UnknownUpstream, "upstream", u, &up_names, &ctx),
            };
            let profile = match &r.profile {
                None => Some(0),
                Some(p) => {
                    self.lookup(DiagKind::UnknownProfile, "profile", p, &profile_names, &ctx)
                }
            };
            if let Some(u) = upstream {
                used_upstreams.insert(u);
                if let Some(up) = upstreams.get(u) {
                    used_upstreams.extend(up.alternatives.iter().copied());
                }
            }
            routes.push(Route {
                name,
                host: r.host.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
                path_prefix: r.path_prefix.as_ref().map(|p| p.get_ref().clone()),
                upstream: upstream.unwrap_or(usize::MAX),
                profile: profile.unwrap_or(0),
                authority: None,
            });
        }
        // egress: absolute-form requests for a declared upstream's authority
        let e = &raw.egress;
        let egress_profile = match &e.profile {
            None => 0,
            Some(p) => self
                .lookup(
                    DiagKind::UnknownProfile,
                    "profile",
                    p,
                    &profile_names,
                    "in `egress.profile`",
                )
                .unwrap_or(0),
        };
        let egress = Egress {
            enabled: e.enabled.unwrap_or(true),
            connect_auto: self.enum_value(
                &e.connect,
                "connect setting",
                &[("auto", true), ("refuse", false)],
                true,
            ),
            connect_allow: e
                .connect_allow
                .iter()
                .map(|a| normalise_authority(a.get_ref(), 443))
                .collect(),
            connect_refuse: e
                .connect_refuse
                .iter()
                .map(|a| normalise_authority(a.get_ref(), 443))
                .collect(),
            locate_unknown: self.enum_value(
                &e.unknown_destinations,
                "unknown_destinations setting",
                &[("refuse", false), ("locate", true)],
                false,
            ),
            profile: egress_profile,
        };
        if egress.enabled {
            for (i, u) in upstreams.iter().enumerate() {
                let Some(auth) = u.url.authority() else {
                    continue;
                };
                let port = u
                    .url
                    .port_u16()
                    .unwrap_or(if u.url.scheme_str() == Some("https") {
                        443
                    } else {
                        80
                    });
                let authority = normalise_authority(&format!("{}:{port}", auth.host()), port);
                routes.push(Route {
                    name: "egress".into(),
                    host: None,
                    path_prefix: None,
                    upstream: i,
                    profile: egress_profile,
                    authority: Some(authority),
                });
            }
        }
        for (i, name) in raw.upstreams.keys().enumerate() {
            if !used_upstreams.contains(&i) {
                self.warn(
                    DiagKind::Unused,
                    format!("upstream `{}` is not used by any route", name.get_ref()),
                    span(name),
                );
            }
        }

        // detection
        let d = &raw.detection;
        let mut fields = FieldTable::with_defaults(d.use_defaults.unwrap_or(true));
        let lists: [(&[S<String>], FieldKind); 16] = [
            (&d.country, FieldKind::Country),
            (&d.ip, FieldKind::Ip),
            (&d.phone, FieldKind::Phone),
            (&d.locale, FieldKind::Locale),
            (&d.email, FieldKind::Email),
            (&d.name, FieldKind::Name),
            (&d.address, FieldKind::Address),
            (&d.device_id, FieldKind::DeviceId),
            (&d.time_zone, FieldKind::TimeZone),
            (&d.calling_code, FieldKind::CallingCode),
            (&d.document_number, FieldKind::DocumentNumber),
            (&d.payment_card, FieldKind::PaymentCard),
            (&d.location, FieldKind::Location),
            (&d.birth_date, FieldKind::BirthDate),
            (&d.user_id, FieldKind::UserId),
            (&d.not_personal, FieldKind::NotPersonal),
        ];
        for (list, kind) in lists {
            for n in list {
                if crate::extract::fields::normalise_key(n.get_ref()).is_empty() {
                    self.err(
                        DiagKind::InvalidValue,
                        format!("field name `{}` has no letters or digits", n.get_ref()),
                        span(n),
                    );
                }
                fields.insert(n.get_ref(), kind);
            }
        }

        let placeholders = crate::extract::signals::placeholder::Placeholders::new(
            d.use_defaults.unwrap_or(true),
            d.placeholders.iter().map(|p| p.get_ref().clone()),
        );

        // limits
        let l = &raw.limits;
        let d = Limits::default();
        let limits = Limits {
            max_depth: self.positive(&l.max_depth, "max_depth", d.max_depth as u64) as usize,
            max_records: self.positive(&l.max_records, "max_records", d.max_records as u64)
                as usize,
            max_string_bytes: self.positive(
                &l.max_string_bytes,
                "max_string_bytes",
                d.max_string_bytes as u64,
            ) as usize,
            max_form_fields: self.positive(
                &l.max_form_fields,
                "max_form_fields",
                d.max_form_fields as u64,
            ) as usize,
            max_multipart_parts: self.positive(
                &l.max_multipart_parts,
                "max_multipart_parts",
                d.max_multipart_parts as u64,
            ) as usize,
        };
        if let Some(v) = &l.max_depth
            && *v.get_ref() > 128
        {
            self.err(
                DiagKind::InvalidValue,
                format!("`max_depth` is at most 128, got `{}`", v.get_ref()),
                span(v),
            )
            .help = Some("the JSON parser refuses deeper documents in any case".into());
        }

        self.protects_and_routes(raw);
        let admission = self.admission(&raw.limits, server.max_body_bytes);

        Some(Policy {
            hash: String::new(),
            egress,
            limits,
            admission,
            mode,
            server,
            geoip_database: raw.geoip.database.as_ref().map(|s| s.get_ref().clone()),
            unknown,
            unassigned,
            regions,
            jurisdictions,
            upstreams,
            routes,
            profiles,
            fields,
            placeholders,
            jur_of_country,
        })
    }

    /// `treat_as` of the `[unknown]` or `[unassigned]` table: `strictest` (the default:
    /// only where every jurisdiction allows), `allow`, or a jurisdiction's name.
    fn treat_as(
        &mut self,
        v: &Option<S<String>>,
        table: &str,
        jur_names: &[String],
    ) -> UnknownRule {
        match v {
            None => UnknownRule::Strictest,
            Some(s) if s.get_ref() == "strictest" => UnknownRule::Strictest,
            Some(s) if s.get_ref() == "allow" => UnknownRule::Allow,
            Some(s) => {
                let mut names = jur_names.to_vec();
                names.extend(["strictest".to_string(), "allow".to_string()]);
                match self.lookup(
                    DiagKind::UnknownJurisdiction,
                    "jurisdiction",
                    s,
                    &names,
                    &format!("in `{table}.treat_as`"),
                ) {
                    Some(i) if i < jur_names.len() => UnknownRule::As(i),
                    _ => UnknownRule::Strictest,
                }
            }
        }
    }

    /// `[limits]`' admission settings: the memory budget must hold at least one request
    /// of the largest body (read, decoded and its tree: three times the body).
    fn admission(&mut self, l: &super::raw::RawLimits, max_body: usize) -> Admission {
        let d = Admission::default();
        let a = Admission {
            memory_budget: self.positive(
                &l.memory_budget_bytes,
                "memory_budget_bytes",
                d.memory_budget as u64,
            ) as usize,
            wait: Duration::from_millis(self.non_negative(
                &l.admission_wait_ms,
                "admission_wait_ms",
                d.wait.as_millis() as u64,
            )),
            max_connections: self.positive(
                &l.max_connections,
                "max_connections",
                d.max_connections as u64,
            ) as usize,
        };
        if a.memory_budget < max_body.saturating_mul(3) {
            let at = l.memory_budget_bytes.as_ref().and_then(span);
            self.err(
                DiagKind::InvalidValue,
                format!(
                    "`memory_budget_bytes` ({}) cannot hold one request of `max_body_bytes` ({max_body}): it needs at least three times that",
                    a.memory_budget
                ),
                at,
            )
            .help = Some(format!("raise it to {} or more, or lower `server.max_body_bytes`", max_body.saturating_mul(3)));
        }
        a
    }

    /// A policy must say which format it is in, protect someone (a jurisdiction) and route
    /// something: an empty or truncated file, or one that lost its rules, is not a policy
    /// that forwards everything or nothing, it is an error.
    fn protects_and_routes(&mut self, raw: &RawPolicy) {
        let top = Some(0..0);
        if raw.version.is_none() {
            self.err(
                DiagKind::MissingKey,
                "the policy has no `version`".into(),
                top.clone(),
            )
            .help = Some("start the file with `version = 1`".into());
        }
        if raw.jurisdictions.is_empty() {
            self.err(
                DiagKind::MissingKey,
                "the policy has no jurisdictions: it would protect nobody".into(),
                top.clone(),
            )
            .help = Some(
                "add a `[jurisdictions.NAME]` table with `countries` and `allowed_regions`".into(),
            );
        }
        if raw.routes.is_empty() {
            self.err(
                DiagKind::MissingKey,
                "the policy has no routes: every request would get 404".into(),
                top,
            )
            .help = Some("add a `[[routes]]` entry with `path_prefix` and `upstream`".into());
        }
    }

    fn socket_addr(&mut self, s: &S<String>, what: &str) {
        if s.get_ref().parse::<std::net::SocketAddr>().is_err() {
            self.err(
                DiagKind::InvalidValue,
                format!("`{what}` is not an address and port: `{}`", s.get_ref()),
                span(s),
            )
            .help = Some("write it as `127.0.0.1:8080` or `[::1]:8080`".into());
        }
    }

    fn url(&mut self, s: &S<String>, owner: &str) -> Option<http::Uri> {
        match s.get_ref().parse::<http::Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http") | Some("https"))
                    && u.authority().is_some() =>
            {
                if u.query().is_some() {
                    self.err(
                        DiagKind::InvalidUrl,
                        format!("the url of {owner} has a query string"),
                        span(s),
                    );
                    return None;
                }
                Some(u)
            }
            Ok(_) => {
                self.err(
                    DiagKind::InvalidUrl,
                    format!(
                        "the url of {owner} is not an absolute `http://` or `https://` url: `{}`",
                        s.get_ref()
                    ),
                    span(s),
                );
                None
            }
            Err(e) => {
                self.err(
                    DiagKind::InvalidUrl,
                    format!(
                        "the url of {owner} is not a valid url: `{}`: {e}",
                        s.get_ref()
                    ),
                    span(s),
                );
                None
            }
        }
    }

    fn selectors(&mut self, list: &[S<String>], profile: &str) -> Vec<Selector> {
        let mut out = Vec::new();
        for s in list {
            match Selector::parse(s.get_ref()) {
                Ok(p) => out.push(p),
                Err(e) => {
                    self.err(
                        DiagKind::InvalidSelector,
                        format!("invalid JSONPath selector in profile `{profile}`: {e}"),
                        span(s),
                    )
                    .help = Some("selectors follow RFC 9535, e.g. `$.users[*]`".into());
                }
            }
        }
        out
    }
}

/// `a`, `b`, `c`
fn backticked<T: std::fmt::Display>(names: impl Iterator<Item = T>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names_of(regions: &[Region], m: RegionMask) -> Vec<String> {
    m.iter()
        .filter_map(|i| regions.get(i))
        .map(|r| format!("`{}`", r.name))
        .collect()
}
