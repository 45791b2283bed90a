//! What changed between two policies, by name, and which changes weaken protection: a
//! jurisdiction or a route removed, countries taken out of a jurisdiction, regions added
//! to what one allows, enforcement turned into shadow, a `treat_as` setting loosened,
//! countries added to a region, an upstream moved to another region or trusted instead of
//! verified, field names or inspected parts taken away, tunnels opened. The reloader logs
//! and counts these; `customs check --against` prints the same summary before a rollout.

use std::fmt;

use super::compile::{
    DestinationMode, Jurisdiction, Mode, OnViolation, Policy, Profile, RegionMask,
};
use crate::country::CountrySet;

/// How a change weakens the policy (the label of `customs_policy_weakened_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weakening {
    JurisdictionRemoved,
    CountriesRemoved,
    RegionsWidened,
    EnforcementRelaxed,
    UnknownRelaxed,
    RouteRemoved,
    RegionWidened,
    UpstreamMoved,
    DetectionReduced,
    InspectionReduced,
    EgressOpened,
}

impl Weakening {
    pub const ALL: &[Weakening] = &[
        Weakening::JurisdictionRemoved,
        Weakening::CountriesRemoved,
        Weakening::RegionsWidened,
        Weakening::EnforcementRelaxed,
        Weakening::UnknownRelaxed,
        Weakening::RouteRemoved,
        Weakening::RegionWidened,
        Weakening::UpstreamMoved,
        Weakening::DetectionReduced,
        Weakening::InspectionReduced,
        Weakening::EgressOpened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Weakening::JurisdictionRemoved => "jurisdiction_removed",
            Weakening::CountriesRemoved => "countries_removed",
            Weakening::RegionsWidened => "regions_widened",
            Weakening::EnforcementRelaxed => "enforcement_relaxed",
            Weakening::UnknownRelaxed => "unknown_relaxed",
            Weakening::RouteRemoved => "route_removed",
            Weakening::RegionWidened => "region_widened",
            Weakening::UpstreamMoved => "upstream_moved",
            Weakening::DetectionReduced => "detection_reduced",
            Weakening::InspectionReduced => "inspection_reduced",
            Weakening::EgressOpened => "egress_opened",
        }
    }
}

/// One change: what (`jurisdiction`, `route`, ...), its name, how, and whether it weakens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub what: &'static str,
    pub name: String,
    pub how: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weakens: Option<Weakening>,
    /// A setting read only at start: the running process keeps its old value.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub start_only: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {}", self.what, self.name, self.how)?;
        if let Some(w) = self.weakens {
            write!(f, " [weakens: {}]", w.as_str())?;
        }
        if self.start_only {
            write!(f, " [read at start only: restart to apply]")?;
        }
        Ok(())
    }
}

struct Diff<'p> {
    old: &'p Policy,
    new: &'p Policy,
    out: Vec<Change>,
}

impl Diff<'_> {
    fn push(&mut self, what: &'static str, name: &str, how: String, weakens: Option<Weakening>) {
        self.out.push(Change {
            what,
            name: name.to_string(),
            how,
            weakens,
            start_only: false,
        });
    }
}

/// Every change from `old` to `new`, in a stable order (by kind of thing, then name).
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut d = Diff {
        old,
        new,
        out: Vec::new(),
    };
    d.mode();
    d.settings();
    d.jurisdictions();
    d.regions();
    d.upstreams();
    d.routes();
    d.profiles();
    d.detection();
    d.egress();
    d.server();
    d.out
}

/// The changes that weaken, one label each.
pub fn weakenings(changes: &[Change]) -> Vec<Weakening> {
    changes.iter().filter_map(|c| c.weakens).collect()
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

fn action_name(a: OnViolation) -> &'static str {
    match a {
        OnViolation::Block => "block",
        OnViolation::Reroute => "reroute",
        OnViolation::Shadow => "shadow",
    }
}

/// Whether a rule stops being enforced: its mode becomes shadow or its action shadow.
fn enforces(mode: Mode, action: OnViolation) -> bool {
    mode == Mode::Enforce && action != OnViolation::Shadow
}

fn countries(set: &CountrySet) -> String {
    let v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    if v.len() > 12 {
        format!("{} and {} more", v[..12].join(", "), v.len() - 12)
    } else {
        v.join(", ")
    }
}

fn minus(a: &CountrySet, b: &CountrySet) -> CountrySet {
    a.iter().filter(|c| !b.contains_country(*c)).collect()
}

impl Diff<'_> {
    fn region_names(p: &Policy, m: RegionMask) -> Vec<String> {
        let mut v = p.region_names(m);
        v.sort();
        v
    }

    fn mode(&mut self) {
        let (o, n) = (self.old.mode, self.new.mode);
        if o != n {
            let w = (o == Mode::Enforce).then_some(Weakening::EnforcementRelaxed);
            self.push(
                "setting",
                "mode",
                format!("`{}` → `{}`", mode_name(o), mode_name(n)),
                w,
            );
        }
    }

    fn settings(&mut self) {
        for (table, o, n) in [
            ("unknown", self.old.unknown, self.new.unknown),
            ("unassigned", self.old.unassigned, self.new.unassigned),
        ] {
            let (on, nn) = (self.old.rule_name(o), self.new.rule_name(n));
            let (om, nm) = (self.old.allowed_as(o), self.new.allowed_as(n));
            let same_regions = match (om, nm) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    Self::region_names(self.old, a) == Self::region_names(self.new, b)
                }
                _ => false,
            };
            if on == nn && same_regions {
                continue;
            }
            // Looser when the new setting allows a region the old did not.
            let looser = match (om, nm) {
                (Some(_), None) => true,
                (None, _) => false,
                (Some(a), Some(b)) => {
                    let old = Self::region_names(self.old, a);
                    Self::region_names(self.new, b)
                        .iter()
                        .any(|r| !old.contains(r))
                }
            };
            let w = looser.then_some(Weakening::UnknownRelaxed);
            self.push(
                "setting",
                &format!("{table}.treat_as"),
                format!("`{on}` → `{nn}`"),
                w,
            );
        }
    }

    fn jurisdictions(&mut self) {
        let (old, new) = (self.old, self.new);
        for j in &old.jurisdictions {
            match new.jurisdictions.iter().find(|n| n.name == j.name) {
                None => self.push(
                    "jurisdiction",
                    &j.name,
                    format!(
                        "removed: its {} now follow `[unassigned]` (`{}`)",
                        plural(j.countries.len(), "country", "countries"),
                        new.rule_name(new.unassigned)
                    ),
                    Some(Weakening::JurisdictionRemoved),
                ),
                Some(n) => self.jurisdiction(j, n),
            }
        }
        for n in &new.jurisdictions {
            if !old.jurisdictions.iter().any(|j| j.name == n.name) {
                self.push(
                    "jurisdiction",
                    &n.name,
                    format!(
                        "added: {}, allowed regions {}",
                        plural(n.countries.len(), "country", "countries"),
                        Self::region_names(new, n.allowed).join(", ")
                    ),
                    None,
                );
            }
        }
    }

    fn jurisdiction(&mut self, o: &Jurisdiction, n: &Jurisdiction) {
        let gone = minus(&o.countries, &n.countries);
        if !gone.is_empty() {
            self.push(
                "jurisdiction",
                &o.name,
                format!("countries removed: {}", countries(&gone)),
                Some(Weakening::CountriesRemoved),
            );
        }
        let added = minus(&n.countries, &o.countries);
        if !added.is_empty() {
            self.push(
                "jurisdiction",
                &o.name,
                format!("countries added: {}", countries(&added)),
                None,
            );
        }
        let (or, nr) = (
            Self::region_names(self.old, o.allowed),
            Self::region_names(self.new, n.allowed),
        );
        if or != nr {
            let wider = nr.iter().any(|r| !or.contains(r));
            self.push(
                "jurisdiction",
                &o.name,
                format!("allowed regions {} → {}", or.join(", "), nr.join(", ")),
                wider.then_some(Weakening::RegionsWidened),
            );
        }
        if o.on_violation != n.on_violation || o.mode != n.mode {
            let relaxed = enforces(o.mode, o.on_violation) && !enforces(n.mode, n.on_violation);
            self.push(
                "jurisdiction",
                &o.name,
                format!(
                    "on violation `{}` ({}) → `{}` ({})",
                    action_name(o.on_violation),
                    mode_name(o.mode),
                    action_name(n.on_violation),
                    mode_name(n.mode)
                ),
                relaxed.then_some(Weakening::EnforcementRelaxed),
            );
        }
    }

    fn regions(&mut self) {
        let (old, new) = (self.old, self.new);
        for r in &old.regions {
            match new.regions.iter().find(|n| n.name == r.name) {
                None => self.push("region", &r.name, "removed".into(), None),
                Some(n) => {
                    let added = minus(&n.countries, &r.countries);
                    if !added.is_empty() {
                        self.push(
                            "region",
                            &r.name,
                            format!("countries added: {}", countries(&added)),
                            Some(Weakening::RegionWidened),
                        );
                    }
                    let gone = minus(&r.countries, &n.countries);
                    if !gone.is_empty() {
                        self.push(
                            "region",
                            &r.name,
                            format!("countries removed: {}", countries(&gone)),
                            None,
                        );
                    }
                }
            }
        }
        for n in &new.regions {
            if !old.regions.iter().any(|r| r.name == n.name) {
                self.push(
                    "region",
                    &n.name,
                    format!("added: {}", countries(&n.countries)),
                    None,
                );
            }
        }
    }

    fn upstreams(&mut self) {
        let (old, new) = (self.old, self.new);
        for u in &old.upstreams {
            let Some(n) = new.upstreams.iter().find(|n| n.name == u.name) else {
                self.push("upstream", &u.name, "removed".into(), None);
                continue;
            };
            let (or, nr) = (old.region_name(u.region), new.region_name(n.region));
            if or != nr {
                self.push(
                    "upstream",
                    &u.name,
                    format!("region `{or}` → `{nr}`"),
                    Some(Weakening::UpstreamMoved),
                );
            }
            if u.url != n.url {
                self.push(
                    "upstream",
                    &u.name,
                    format!("url `{}` → `{}`", u.url, n.url),
                    None,
                );
            }
            if u.destination != n.destination {
                let looser = matches!(
                    (u.destination, n.destination),
                    (
                        DestinationMode::Verify | DestinationMode::Locate,
                        DestinationMode::Trust
                    )
                );
                self.push(
                    "upstream",
                    &u.name,
                    format!(
                        "destination `{}` → `{}`",
                        destination_name(u.destination),
                        destination_name(n.destination)
                    ),
                    looser.then_some(Weakening::UpstreamMoved),
                );
            }
            let names = |p: &Policy, v: &[usize]| -> Vec<String> {
                v.iter()
                    .filter_map(|i| p.upstreams.get(*i))
                    .map(|u| u.name.clone())
                    .collect()
            };
            let (oa, na) = (names(old, &u.alternatives), names(new, &n.alternatives));
            if oa != na {
                self.push(
                    "upstream",
                    &u.name,
                    format!("alternatives [{}] → [{}]", oa.join(", "), na.join(", ")),
                    None,
                );
            }
            if u.idle_timeout != n.idle_timeout {
                self.push(
                    "upstream",
                    &u.name,
                    format!(
                        "idle timeout {} ms → {} ms",
                        u.idle_timeout.as_millis(),
                        n.idle_timeout.as_millis()
                    ),
                    None,
                );
            }
        }
        for n in &new.upstreams {
            if !old.upstreams.iter().any(|u| u.name == n.name) {
                self.push(
                    "upstream",
                    &n.name,
                    format!(
                        "added: `{}` in region `{}`",
                        n.url,
                        new.region_name(n.region)
                    ),
                    None,
                );
            }
        }
    }

    fn routes(&mut self) {
        let (old, new) = (self.old, self.new);
        let routed = |p: &'_ Policy| -> Vec<(String, String)> {
            p.routes
                .iter()
                .filter(|r| r.authority.is_none())
                .map(|r| {
                    let up = p.upstreams.get(r.upstream).map(|u| u.name.as_str());
                    let profile = p.profiles.get(r.profile).map(|p| p.name.as_str());
                    (
                        r.name.clone(),
                        format!(
                            "host {}, path {}, upstream `{}`, profile `{}`",
                            r.host.as_deref().unwrap_or("*"),
                            r.path_prefix.as_deref().unwrap_or("*"),
                            up.unwrap_or("?"),
                            profile.unwrap_or("?")
                        ),
                    )
                })
                .collect()
        };
        let (o, n) = (routed(old), routed(new));
        for (name, what) in &o {
            match n.iter().find(|(m, _)| m == name) {
                None => self.push(
                    "route",
                    name,
                    format!("removed ({what})"),
                    Some(Weakening::RouteRemoved),
                ),
                Some((_, w)) if w != what => {
                    self.push("route", name, format!("{what} → {w}"), None);
                }
                Some(_) => {}
            }
        }
        for (name, what) in &n {
            if !o.iter().any(|(m, _)| m == name) {
                self.push("route", name, format!("added ({what})"), None);
            }
        }
    }

    fn profiles(&mut self) {
        let (old, new) = (self.old, self.new);
        for p in &old.profiles {
            let Some(n) = new.profiles.iter().find(|n| n.name == p.name) else {
                self.push("profile", &p.name, "removed".into(), None);
                continue;
            };
            self.profile(p, n);
        }
        for n in &new.profiles {
            if !old.profiles.iter().any(|p| p.name == n.name) {
                self.push("profile", &n.name, "added".into(), None);
            }
        }
    }

    fn profile(&mut self, o: &Profile, n: &Profile) {
        let sel = |v: &[crate::extract::select::Selector]| -> Vec<String> {
            v.iter().map(|s| s.path.to_string()).collect()
        };
        let (oi, ni) = (sel(&o.ignore), sel(&n.ignore));
        if oi != ni {
            let more = ni.iter().any(|s| !oi.contains(s));
            self.push(
                "profile",
                &o.name,
                format!("ignore [{}] → [{}]", oi.join(", "), ni.join(", ")),
                more.then_some(Weakening::InspectionReduced),
            );
        }
        let (or, nr) = (sel(&o.records), sel(&n.records));
        if or != nr {
            self.push(
                "profile",
                &o.name,
                format!("records [{}] → [{}]", or.join(", "), nr.join(", ")),
                None,
            );
        }
        let flags = [
            ("query", o.query, n.query, true),
            ("binary forward", o.forward_binary, n.forward_binary, false),
        ];
        for (what, a, b, on_is_safe) in flags {
            if a != b {
                let weaker = if on_is_safe { a && !b } else { !a && b };
                self.push(
                    "profile",
                    &o.name,
                    format!("{what} {a} → {b}"),
                    weaker.then_some(Weakening::InspectionReduced),
                );
            }
        }
        let fewer = |a: &[String], b: &[String]| a.iter().any(|x| !b.contains(x));
        for (what, a, b) in [
            ("headers", &o.headers, &n.headers),
            ("cookies", &o.cookies, &n.cookies),
        ] {
            if a != b {
                let all_before = a.iter().any(|c| c == "*");
                let all_after = b.iter().any(|c| c == "*");
                let weaker = (all_before && !all_after) || (!all_before && fewer(a, b));
                self.push(
                    "profile",
                    &o.name,
                    format!("{what} [{}] → [{}]", a.join(", "), b.join(", ")),
                    weaker.then_some(Weakening::InspectionReduced),
                );
            }
        }
    }

    fn detection(&mut self) {
        let (o, n) = (self.old.fields.entries(), self.new.fields.entries());
        let removed: Vec<String> = o
            .iter()
            .filter(|e| !n.contains(e))
            .map(|(k, kind)| format!("{k} ({})", kind.as_str()))
            .collect();
        let added: Vec<&(String, crate::extract::FieldKind)> =
            n.iter().filter(|e| !o.contains(e)).collect();
        let not_personal: Vec<String> = added
            .iter()
            .filter(|(_, k)| *k == crate::extract::FieldKind::NotPersonal)
            .map(|(k, _)| k.clone())
            .collect();
        if !removed.is_empty() {
            self.push(
                "detection",
                "field names",
                format!("{} removed: {}", removed.len(), short_list(&removed)),
                Some(Weakening::DetectionReduced),
            );
        }
        if !not_personal.is_empty() {
            self.push(
                "detection",
                "not_personal",
                format!("added: {}", short_list(&not_personal)),
                Some(Weakening::DetectionReduced),
            );
        }
        let others = added.len() - not_personal.len();
        if others > 0 {
            self.push("detection", "field names", format!("{others} added"), None);
        }
    }

    fn egress(&mut self) {
        let (o, n) = (&self.old.egress, &self.new.egress);
        let opened: Vec<&String> = n
            .connect_allow
            .iter()
            .filter(|a| !o.connect_allow.contains(a))
            .collect();
        if !opened.is_empty() {
            let names: Vec<String> = opened.iter().map(|s| s.to_string()).collect();
            self.push(
                "egress",
                "connect_allow",
                format!("added: {}", names.join(", ")),
                Some(Weakening::EgressOpened),
            );
        }
        let unrefused: Vec<String> = o
            .connect_refuse
            .iter()
            .filter(|a| !n.connect_refuse.contains(a))
            .cloned()
            .collect();
        if !unrefused.is_empty() {
            self.push(
                "egress",
                "connect_refuse",
                format!("removed: {}", unrefused.join(", ")),
                Some(Weakening::EgressOpened),
            );
        }
        for (what, a, b) in [
            ("enabled", o.enabled, n.enabled),
            ("connect auto", o.connect_auto, n.connect_auto),
            (
                "unknown_destinations locate",
                o.locate_unknown,
                n.locate_unknown,
            ),
        ] {
            if a != b {
                // Egress on is no weaker (routes are inspected the same); tunnels and
                // located unknown hosts reach places the policy did not name.
                let weaker = !a && b && what != "enabled";
                self.push(
                    "egress",
                    what,
                    format!("{a} → {b}"),
                    weaker.then_some(Weakening::EgressOpened),
                );
            }
        }
    }

    /// Server settings: the ones read only at start are marked so, with both values
    /// (addresses, sizes and times: nothing personal).
    fn server(&mut self) {
        let (o, n) = (&self.old.server, &self.new.server);
        let ms = |d: std::time::Duration| format!("{} ms", d.as_millis());
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
        let pair = |s: &Option<(String, String)>| {
            s.as_ref()
                .map(|(a, b)| format!("{a}, {b}"))
                .unwrap_or_else(|| "(none)".into())
        };
        let (oa, na) = (&self.old.admission, &self.new.admission);
        let rows: Vec<(&str, String, String, bool)> = vec![
            ("server.listen", o.listen.clone(), n.listen.clone(), true),
            (
                "server.admin_listen",
                o.admin_listen.clone(),
                n.admin_listen.clone(),
                true,
            ),
            (
                "server.max_header_bytes",
                o.max_header_bytes.to_string(),
                n.max_header_bytes.to_string(),
                true,
            ),
            (
                "server.header_timeout_ms",
                ms(o.header_timeout),
                ms(n.header_timeout),
                true,
            ),
            (
                "server.connect_timeout_ms",
                ms(o.connect_timeout),
                ms(n.connect_timeout),
                true,
            ),
            (
                "server.shutdown_delay_ms",
                ms(o.shutdown_delay),
                ms(n.shutdown_delay),
                true,
            ),
            (
                "server.drain_timeout_ms",
                ms(o.drain_timeout),
                ms(n.drain_timeout),
                true,
            ),
            (
                "server.reload_poll_seconds",
                o.reload_poll.map(|d| d.as_secs()).unwrap_or(0).to_string(),
                n.reload_poll.map(|d| d.as_secs()).unwrap_or(0).to_string(),
                true,
            ),
            (
                "server.dns_cache_seconds",
                o.dns_cache.as_secs().to_string(),
                n.dns_cache.as_secs().to_string(),
                true,
            ),
            (
                "server.ca_bundle",
                opt(&o.ca_bundle),
                opt(&n.ca_bundle),
                true,
            ),
            ("server.tls_cert", pair(&o.tls), pair(&n.tls), true),
            (
                "server.client_cert",
                pair(&o.client_auth),
                pair(&n.client_auth),
                true,
            ),
            (
                "limits.max_connections",
                oa.max_connections.to_string(),
                na.max_connections.to_string(),
                true,
            ),
            (
                "limits.memory_budget_bytes",
                oa.memory_budget.to_string(),
                na.memory_budget.to_string(),
                false,
            ),
            ("limits.admission_wait_ms", ms(oa.wait), ms(na.wait), false),
            (
                "server.upstream_idle_timeout_ms",
                ms(o.upstream_idle_timeout),
                ms(n.upstream_idle_timeout),
                false,
            ),
            (
                "server.max_body_bytes",
                o.max_body_bytes.to_string(),
                n.max_body_bytes.to_string(),
                false,
            ),
            (
                "server.request_timeout_ms",
                ms(o.request_timeout),
                ms(n.request_timeout),
                false,
            ),
            (
                "server.body_timeout_ms",
                ms(o.body_timeout),
                ms(n.body_timeout),
                false,
            ),
        ];
        for (key, a, b, start_only) in rows {
            if a != b {
                self.out.push(Change {
                    what: "setting",
                    name: key.to_string(),
                    how: format!("`{a}` → `{b}`"),
                    weakens: None,
                    start_only,
                });
            }
        }
        let (ol, nl) = (&self.old.limits, &self.new.limits);
        if ol != nl {
            self.push("setting", "limits", "changed".into(), None);
        }
    }
}

fn destination_name(d: DestinationMode) -> &'static str {
    match d {
        DestinationMode::Trust => "trust",
        DestinationMode::Verify => "verify",
        DestinationMode::Locate => "locate",
    }
}

fn short_list(v: &[String]) -> String {
    if v.len() > 8 {
        format!("{} and {} more", v[..8].join(", "), v.len() - 8)
    } else {
        v.join(", ")
    }
}

/// The summary `check --against` prints and a reload logs: one line per change.
pub fn render(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no changes\n".into();
    }
    let weak = changes.iter().filter(|c| c.weakens.is_some()).count();
    let mut s = format!(
        "{} change{}, {weak} weakening:\n",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    );
    for c in changes {
        s.push_str(&format!("  {c}\n"));
    }
    s
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/policy.toml");

    fn changes(edit: impl Fn(&str) -> String) -> Vec<Change> {
        let (old, _) = crate::policy::load(EXAMPLE).unwrap();
        let src = edit(EXAMPLE);
        assert_ne!(src, EXAMPLE, "the edit changed nothing");
        let (new, _) = crate::policy::load(&src).unwrap_or_else(|d| panic!("{d:?}"));
        diff(&old, &new)
    }

    fn weak(edit: impl Fn(&str) -> String) -> Vec<Weakening> {
        weakenings(&changes(edit))
    }

    #[test]
    fn the_same_policy_has_no_changes() {
        let (a, _) = crate::policy::load(EXAMPLE).unwrap();
        let (b, _) = crate::policy::load(&format!("{EXAMPLE}\n# a comment\n")).unwrap();
        assert_eq!(diff(&a, &b), vec![]);
        assert_eq!(render(&[]), "no changes\n");
    }

    #[test]
    fn each_weakening_is_named() {
        use Weakening::*;
        let uk = |s: &str| {
            let start = s.find("[jurisdictions.UK]").unwrap();
            let end = s.find("# Upstreams: where requests go.").unwrap();
            format!("{}{}", &s[..start], &s[end..])
        };
        assert_eq!(weak(uk), [JurisdictionRemoved]);
        // The global mode, and with it each of the three jurisdictions.
        assert_eq!(
            weak(|s| s.replace("mode = \"enforce\"", "mode = \"shadow\"")),
            [EnforcementRelaxed; 4]
        );
        assert_eq!(
            weak(|s| s.replacen("on_violation = \"block\"", "on_violation = \"shadow\"", 1)),
            [EnforcementRelaxed]
        );
        assert_eq!(
            weak(|s| s.replace(
                "countries = [\"US\"]\nallowed_regions = [\"us\"]",
                "countries = [\"US\"]\nallowed_regions = [\"us\", \"cn\"]"
            )),
            [RegionsWidened]
        );
        assert_eq!(
            weak(|s| s.replace(
                "[regions.cn]\ncountries = [\"CN\"]",
                "[regions.cn]\ncountries = [\"CN\", \"HK\"]"
            )),
            [RegionWidened]
        );
        assert_eq!(
            weak(|s| s.replace(
                "[unassigned]\ntreat_as = \"strictest\"",
                "[unassigned]\ntreat_as = \"allow\""
            )),
            [UnknownRelaxed]
        );
        assert_eq!(
            weak(|s| s.replace(
                "[upstreams.chat]\nurl = \"http://127.0.0.1:18083\"\nregion = \"cn\"",
                "[upstreams.chat]\nurl = \"http://127.0.0.1:18083\"\nregion = \"eu\""
            )),
            [UpstreamMoved]
        );
        assert_eq!(
            weak(|s| s.replace("country = [\"residence\"]", "country = []")),
            [DetectionReduced]
        );
        assert_eq!(
            weak(|s| s.replace(
                "# not_personal = [\"internal_ticket_ref\"]",
                "not_personal = [\"internal_ticket_ref\"]"
            )),
            [DetectionReduced]
        );
        assert_eq!(
            weak(|s| s.replace("cookies = [\"*\"]", "cookies = [\"session\"]")),
            [InspectionReduced]
        );
        assert_eq!(
            weak(|s| s.replace(
                "connect_allow = []",
                "connect_allow = [\"example.org:443\"]"
            )),
            [EgressOpened]
        );
    }

    #[test]
    fn a_removed_route_weakens_and_added_things_do_not() {
        let c = changes(|s| {
            let start = s.find("[[routes]]\nname = \"chat\"").unwrap();
            let end = s.find("# Record detection").unwrap();
            let without = format!("{}{}", &s[..start], &s[end..]);
            // The chat upstream and profile are now unused; add a jurisdiction too.
            without.replace(
                "# Upstreams: where requests go.",
                "[jurisdictions.CH]\ncountries = [\"CH\"]\nallowed_regions = [\"eu\"]\n\n# Upstreams: where requests go.",
            )
        });
        let lines: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert!(
            lines.contains(&"route `chat`: removed (host *, path /chat/, upstream `chat`, profile `chat`) [weakens: route_removed]".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"jurisdiction `CH`: added: 1 country, allowed regions eu".to_string()),
            "{lines:#?}"
        );
        assert_eq!(weakenings(&c), [Weakening::RouteRemoved]);
    }

    #[test]
    fn start_only_settings_are_marked() {
        let c = changes(|s| {
            s.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8081\"")
                .replace("max_body_bytes = 8388608", "max_body_bytes = 4194304")
        });
        let lines: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "setting `server.listen`: `127.0.0.1:8080` → `127.0.0.1:8081` [read at start only: restart to apply]",
                "setting `server.max_body_bytes`: `8388608` → `4194304`",
            ]
        );
        assert!(weakenings(&c).is_empty());
    }
}
