//! The decision: `evaluate(&Policy, &Facts, Destination) -> Decision`, or the same built
//! one record at a time by a [`Decider`] (as the engine does while it walks a body). Pure,
//! total and panic-free: it returns a value for every input, and an internal
//! inconsistency blocks.

use std::fmt;

use compact_str::CompactString;
use serde::Serialize;

use crate::country::Country;
use crate::extract::{Facts, FieldKind, Record, SignalKind};
use crate::policy::Policy;
use crate::policy::compile::{
    JurId, Mode, OnViolation, RegionId, RegionMask, RouteId, UnknownRule, UpstreamId,
};

/// Where the request is going before any reroute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub route: RouteId,
    pub upstream: UpstreamId,
    /// The region established from the upstream's addresses (`verify`/`locate`);
    /// `None`: the upstream's declared region.
    pub region: Option<RegionId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Forward to the route's upstream.
    Allow,
    /// Refuse with 403.
    Block,
    /// Forward to the in-region alternative `Decision::target`.
    Reroute,
    /// Forward to the route's upstream, and report what enforcement would have done
    /// (`Decision::would`).
    Shadow,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Reroute => "reroute",
            Action::Shadow => "shadow",
        }
    }
    /// Whether the request is forwarded somewhere.
    pub fn forwards(self) -> bool {
        self != Action::Block
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// No personal data: restricts nothing.
    NotPersonal,
    /// Every rule that applies allows the destination region.
    Allowed,
    /// A rule does not allow the destination region.
    Violation { rules: Vec<String>, enforced: bool },
}

/// A verdict for each record of a batch is held until the request is decided, so its
/// lists hold small values, not a `String` each: names up to 24 bytes inline, countries
/// and evidence in a few bytes. They serialize as the same strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub pointer: crate::extract::Pointer,
    pub jurisdictions: Vec<CompactString>,
    pub countries: Vec<Country>,
    /// Which kinds of signal said which country, written e.g. `ip:GB`.
    pub evidence: Vec<Said>,
    /// Which kinds of signal could not be read (shown as `unreadable:<kind>`).
    pub unreadable: Vec<SignalKind>,
    /// Where signals outside the record came from: the pointers of the contexts (an
    /// ancestor's field, the query string's) that gave it signals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<crate::extract::Pointer>,
    pub personal: Vec<FieldKind>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Whether `pointer` lies within the record at `record` (the body's record `""` holds
/// the whole body, not the query string `?` or the headers `@header`).
fn within(record: &str, pointer: &str) -> bool {
    match pointer.strip_prefix(record) {
        Some(rest) if record.is_empty() => !rest.starts_with(['?', '@']),
        Some(rest) => rest.is_empty() || rest.starts_with(['/', '#']),
        None => false,
    }
}

impl Verdict {
    /// What the signals said, as `explain` writes it: `ip:GB`, ..., then
    /// `unreadable:<kind>` for each kind that could not be read.
    pub fn evidence_labels(&self) -> Vec<String> {
        self.evidence
            .iter()
            .map(ToString::to_string)
            .chain(
                self.unreadable
                    .iter()
                    .map(|k| format!("unreadable:{}", k.as_str())),
            )
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// For `shadow`: what enforcement would have done (`block` or `reroute`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Action>,
    pub route: String,
    pub upstream: String,
    /// The upstream the request goes to (the reroute target for `reroute`; the route's
    /// upstream for `allow` and `shadow`; none for `block`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip)]
    pub target_id: Option<UpstreamId>,
    pub destination_region: String,
    /// The ids of the rules that determined the action.
    pub rules: Vec<String>,
    /// Every jurisdiction found among the records with personal data.
    pub jurisdictions: Vec<String>,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
    pub records: usize,
    pub personal_records: usize,
    /// Records with personal data per jurisdiction (`none`: of no known jurisdiction),
    /// for the records counter; a record of two jurisdictions counts in both.
    #[serde(skip)]
    pub personal_per_jurisdiction: Vec<(String, u64)>,
    /// Signals that could not be read, per kind, for the metric (each made its record's
    /// jurisdiction `unknown`).
    #[serde(skip)]
    pub unreadable_signals: Vec<(SignalKind, u64)>,
    /// Rules broken but not enforced (a jurisdiction in shadow mode) when others were
    /// enforced, each once: what the proxy counts as shadowed beside its block or
    /// reroute.
    #[serde(skip)]
    pub shadowed_rules: Vec<String>,
    /// One per record, in order ([`Keep::All`]); none for [`Keep::Violations`].
    pub verdicts: Vec<Verdict>,
    /// The records that violate a rule, in order, whichever [`Keep`]: what the proxy
    /// reports.
    #[serde(skip)]
    pub violating: Violating,
}

impl Decision {
    /// Pointers of the records that violate a rule.
    pub fn violating_pointers(&self) -> Vec<&str> {
        self.violating.iter().map(|(p, ..)| p).collect()
    }
}

/// The records that violate a rule, in the order of their records: a pointer each and
/// the rules it broke. A blocked batch may hold thousands while its body is still being
/// walked, so each is a pointer (inline up to 24 bytes) and an index into the distinct
/// rule sets they broke (a batch's records mostly break the same ones).
#[derive(Debug, Clone, Default)]
pub struct Violating {
    records: Vec<(crate::extract::Pointer, usize)>,
    kinds: Vec<ViolationKind>,
}

/// Equal when they list the same records with the same rules (however the rule sets were
/// numbered: that depends on the order records were decided in).
impl PartialEq for Violating {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Violating {}

/// The rules one record broke, in the order its verdict lists them, and whether any of
/// them is enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ViolationKind {
    rules: Vec<String>,
    enforced: bool,
}

impl Violating {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Each violating record's pointer, the rules it broke, and whether any of them is
    /// enforced (as its verdict's [`Outcome::Violation`] says).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String], bool)> + '_ {
        self.records.iter().filter_map(|(p, k)| {
            self.kinds
                .get(*k)
                .map(|kind| (p.as_str(), kind.rules.as_slice(), kind.enforced))
        })
    }
}

/// One kind of signal and the country it said, written `kind:CC` (`ip:GB`). Ordered as
/// its written form is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Said {
    pub kind: SignalKind,
    pub country: Country,
}

impl Ord for Said {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // No kind's label is a prefix of another's, so this is the written form's order.
        (self.kind.as_str(), self.country).cmp(&(other.kind.as_str(), other.country))
    }
}

impl PartialOrd for Said {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.country.as_str())
    }
}

impl Serialize for Said {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The rule id (and jurisdiction label) for personal data of unknown jurisdiction: no
/// signal said where its subject belongs.
pub const UNKNOWN_RULE: &str = "unknown";

/// The rule id (and jurisdiction label) for personal data whose subject belongs to a
/// country no jurisdiction of the policy names.
pub const UNASSIGNED_RULE: &str = "unassigned";

/// Which of the policy's two settings for subjects outside its jurisdictions apply to a
/// record: `[unknown]` (no signal said anything) and `[unassigned]` (a signal named a
/// country no jurisdiction holds).
fn settings_applying(policy: &Policy, rec: &Record) -> (bool, bool) {
    // No signal said where, or one could not be read: what it would have said is unknown.
    let unknown = rec.evidence.is_empty() || !rec.unreadable.is_empty();
    let unassigned = rec
        .evidence
        .iter()
        .any(|e| policy.jurisdiction_of(e.country).is_none());
    (unknown, unassigned)
}

/// Where a personal record is counted: a jurisdiction, or one of the two settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Jur(JurId),
    Unknown,
    Unassigned,
}

/// A rule a record broke (rules are the policy's names: nothing allocated per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Violation<'p> {
    rule: &'p str,
    on_violation: OnViolation,
    enforced: bool,
}

pub fn evaluate(policy: &Policy, facts: &Facts, dest: Destination) -> Decision {
    let mut decider = Decider::new(policy, dest, Keep::All);
    let verdicts = facts
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| decider.record(i, r))
        .collect();
    decider.finish(verdicts)
}

/// Which verdicts a decision keeps. Every record is decided either way, and the decision
/// (action, rules, jurisdictions, counts) is the same; only the per-record report differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// A verdict for every record (`customs explain`, `customs test`).
    All,
    /// No verdicts: only the violating records' pointers and rules
    /// ([`Decision::violating`], kept either way), all the proxy reports (the pointers
    /// in its 403 and decision log, shadowed rules in its metrics). A large batch then
    /// holds no per-record report beyond a pointer for each violating record.
    Violations,
}

/// The decision built one record at a time: each record is decided as soon as it is
/// tagged (the engine does this while the body is still being walked, so no record
/// outlives its verdict), then the request's action from all of them.
pub struct Decider<'p> {
    policy: &'p Policy,
    dest: Destination,
    keep: Keep,
    /// The destination's upstream and region, or why they could not be found.
    place: Result<(&'p crate::policy::compile::Upstream, RegionId), &'static str>,
    /// Each distinct rule broken (with how it is enforced), once.
    violations: Vec<Violation<'p>>,
    /// Violating records as they are decided: (index, pointer, index into `kinds`).
    violating: Vec<(usize, crate::extract::Pointer, usize)>,
    kinds: Vec<ViolationKind>,
    /// Regions every personal record allows (for choosing a reroute target).
    need: RegionMask,
    all_jurs: Vec<JurId>,
    records: usize,
    personal_records: usize,
    /// Personal records per jurisdiction, and of unknown or unassigned ones.
    per_jurisdiction: Vec<(Bucket, u64)>,
    /// Whether a personal record was of unknown jurisdiction, or of a country no
    /// jurisdiction names.
    unknown_seen: bool,
    unassigned_seen: bool,
    unreadable: Vec<(SignalKind, u64)>,
    errors: Vec<String>,
}

impl<'p> Decider<'p> {
    pub fn new(policy: &'p Policy, dest: Destination, keep: Keep) -> Self {
        let place = match policy.upstreams.get(dest.upstream) {
            None => Err("internal: the route's upstream is not in the policy"),
            Some(up) => {
                let region_id = dest.region.unwrap_or(up.region);
                match policy.regions.get(region_id) {
                    Some(_) => Ok((up, region_id)),
                    None => Err("internal: the upstream's region is not in the policy"),
                }
            }
        };
        Decider {
            policy,
            dest,
            keep,
            place,
            violations: Vec::new(),
            violating: Vec::new(),
            kinds: Vec::new(),
            need: RegionMask::ALL,
            all_jurs: Vec::new(),
            records: 0,
            personal_records: 0,
            per_jurisdiction: Vec::new(),
            unknown_seen: false,
            unassigned_seen: false,
            unreadable: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Decides the record at `index` (its position among the request's records); its
    /// verdict, if the decision keeps verdicts (see [`Keep`]).
    pub fn record(&mut self, index: usize, rec: &Record) -> Option<Verdict> {
        self.records += 1;
        for u in &rec.unreadable {
            match self.unreadable.iter_mut().find(|(k, _)| *k == u.kind) {
                Some((_, n)) => *n += 1,
                None => self.unreadable.push((u.kind, 1)),
            }
        }
        let policy = self.policy;
        let mut jurs: Vec<JurId> = rec
            .evidence
            .iter()
            .filter_map(|e| policy.jurisdiction_of(e.country))
            .collect();
        jurs.sort_unstable();
        jurs.dedup();
        // None: not personal; Some(None): allowed; Some(Some(k)): broke `kinds[k]`.
        let personal = match self.place {
            Ok((_, region_id)) if rec.is_personal() => Some(self.personal(rec, &jurs, region_id)),
            _ => None,
        };
        if let Some(Some(k)) = personal {
            self.violating.push((index, rec.pointer.clone(), k));
        }
        if self.keep == Keep::Violations {
            return None;
        }
        let outcome = match personal {
            None => Outcome::NotPersonal,
            Some(None) => Outcome::Allowed,
            Some(Some(k)) => match self.kinds.get(k) {
                Some(kind) => Outcome::Violation {
                    rules: kind.rules.clone(),
                    enforced: kind.enforced,
                },
                None => {
                    self.errors
                        .push("internal: a violation kind is out of range".into());
                    Outcome::NotPersonal
                }
            },
        };
        let mut evidence: Vec<Said> = rec
            .evidence
            .iter()
            .map(|e| Said {
                kind: e.kind,
                country: e.country,
            })
            .collect();
        evidence.sort_unstable();
        evidence.dedup();
        let mut unreadable: Vec<SignalKind> = rec.unreadable.iter().map(|u| u.kind).collect();
        unreadable.sort_unstable();
        unreadable.dedup();
        let mut personal: Vec<FieldKind> = rec.personal.iter().map(|p| p.kind).collect();
        personal.sort();
        personal.dedup();
        let mut context: Vec<crate::extract::Pointer> = rec
            .evidence
            .iter()
            .map(|e| &e.pointer)
            .chain(rec.unreadable.iter().map(|u| &u.pointer))
            .filter(|p| !within(&rec.pointer, p))
            .cloned()
            .collect();
        context.sort_unstable();
        context.dedup();
        let mut jurisdictions: Vec<CompactString> = jurs
            .iter()
            .filter_map(|j| policy.jurisdictions.get(*j))
            .map(|j| CompactString::from(j.name.as_str()))
            .collect();
        if rec.is_personal() {
            let (unknown, unassigned) = settings_applying(policy, rec);
            for (applies, name) in [(unknown, UNKNOWN_RULE), (unassigned, UNASSIGNED_RULE)] {
                if applies {
                    jurisdictions.push(CompactString::from(name));
                }
            }
        }
        Some(Verdict {
            pointer: rec.pointer.clone(),
            jurisdictions,
            countries: rec.countries(),
            evidence,
            unreadable,
            context,
            personal,
            outcome,
        })
    }

    /// A personal record's outcome (`None`: allowed; else the index in `kinds` of the
    /// rules it broke), and what it adds to the request's decision.
    fn personal(&mut self, rec: &Record, jurs: &[JurId], region_id: RegionId) -> Option<usize> {
        let policy = self.policy;
        self.personal_records += 1;
        for j in jurs {
            if !self.all_jurs.contains(j) {
                self.all_jurs.push(*j);
            }
        }
        let (unknown, unassigned) = settings_applying(policy, rec);
        self.unknown_seen |= unknown;
        self.unassigned_seen |= unassigned;
        let mut count = |b: Bucket| match self.per_jurisdiction.iter_mut().find(|(k, _)| *k == b) {
            Some((_, n)) => *n += 1,
            None => self.per_jurisdiction.push((b, 1)),
        };
        for j in jurs {
            count(Bucket::Jur(*j));
        }
        if unknown {
            count(Bucket::Unknown);
        }
        if unassigned {
            count(Bucket::Unassigned);
        }
        let mut broken = Vec::new();
        // No signal said anything: the `[unknown]` setting decides. A country no
        // jurisdiction names: the `[unassigned]` setting.
        for (applies, rule, name) in [
            (unknown, policy.unknown, UNKNOWN_RULE),
            (unassigned, policy.unassigned, UNASSIGNED_RULE),
        ] {
            if !applies {
                continue;
            }
            let Some(mask) = policy.allowed_as(rule) else {
                continue;
            };
            self.need = self.need.and(mask);
            if !mask.contains(region_id) {
                let (on_violation, mode) = match rule {
                    UnknownRule::As(j) => policy
                        .jurisdictions
                        .get(j)
                        .map(|j| (j.on_violation, j.mode))
                        .unwrap_or((OnViolation::Block, policy.mode)),
                    _ => (OnViolation::Block, policy.mode),
                };
                broken.push(Violation {
                    rule: name,
                    on_violation,
                    enforced: mode == Mode::Enforce && on_violation != OnViolation::Shadow,
                });
            }
        }
        for j in jurs {
            let Some(jur) = policy.jurisdictions.get(*j) else {
                self.errors
                    .push("internal: a jurisdiction id is out of range".into());
                continue;
            };
            self.need = self.need.and(jur.allowed);
            if !jur.allowed.contains(region_id) {
                broken.push(Violation {
                    rule: &jur.name,
                    on_violation: jur.on_violation,
                    enforced: jur.mode == Mode::Enforce && jur.on_violation != OnViolation::Shadow,
                });
            }
        }
        if broken.is_empty() {
            return None;
        }
        let enforced = broken.iter().any(|b| b.enforced);
        let same = |k: &ViolationKind| {
            k.enforced == enforced
                && k.rules.len() == broken.len()
                && k.rules.iter().zip(&broken).all(|(a, b)| a == b.rule)
        };
        let kind = match self.kinds.iter().position(same) {
            Some(k) => k,
            None => {
                self.kinds.push(ViolationKind {
                    rules: broken.iter().map(|b| b.rule.to_string()).collect(),
                    enforced,
                });
                self.kinds.len() - 1
            }
        };
        for b in broken {
            if !self.violations.contains(&b) {
                self.violations.push(b);
            }
        }
        Some(kind)
    }

    /// The request's decision, with the verdicts [`Decider::record`] returned (in the
    /// order of their records).
    pub fn finish(self, verdicts: Vec<Verdict>) -> Decision {
        let policy = self.policy;
        let dest = self.dest;
        let mut d = Decision {
            action: Action::Block,
            would: None,
            route: policy
                .routes
                .get(dest.route)
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            upstream: String::new(),
            target: None,
            target_id: None,
            destination_region: String::new(),
            rules: vec![],
            jurisdictions: vec![],
            reasons: vec![],
            errors: self.errors,
            records: self.records,
            personal_records: 0,
            personal_per_jurisdiction: Vec::new(),
            unreadable_signals: self.unreadable,
            shadowed_rules: Vec::new(),
            verdicts: Vec::new(),
            violating: Violating::default(),
        };
        let (up, region_id) = match self.place {
            Ok(place) => place,
            Err(e) => {
                d.errors.push(e.into());
                d.reasons.push("internal_error".into());
                return d;
            }
        };
        d.verdicts = verdicts;
        let mut violating = self.violating;
        violating.sort_unstable_by_key(|(i, ..)| *i);
        d.violating = Violating {
            records: violating.into_iter().map(|(_, p, k)| (p, k)).collect(),
            kinds: self.kinds,
        };
        d.personal_records = self.personal_records;
        d.personal_per_jurisdiction = self
            .per_jurisdiction
            .iter()
            .filter_map(|(b, n)| match b {
                Bucket::Unknown => Some((UNKNOWN_RULE.to_string(), *n)),
                Bucket::Unassigned => Some((UNASSIGNED_RULE.to_string(), *n)),
                Bucket::Jur(j) => policy.jurisdictions.get(*j).map(|j| (j.name.clone(), *n)),
            })
            .collect();
        // By name: the same whatever order the records closed in.
        d.personal_per_jurisdiction.sort_unstable();
        d.upstream = up.name.clone();
        d.destination_region = policy
            .regions
            .get(region_id)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let need = self.need;
        let violations = self.violations;
        let mut all_jurs = self.all_jurs;
        all_jurs.sort_unstable();
        all_jurs.dedup();
        d.jurisdictions = all_jurs
            .iter()
            .filter_map(|j| policy.jurisdictions.get(*j))
            .map(|j| j.name.clone())
            .collect();
        for (seen, name) in [
            (self.unknown_seen, UNKNOWN_RULE),
            (self.unassigned_seen, UNASSIGNED_RULE),
        ] {
            if seen {
                d.jurisdictions.push(name.to_string());
            }
        }

        if !d.errors.is_empty() {
            d.reasons.push("internal_error".into());
            d.action = Action::Block;
            return d;
        }
        let mut rules: Vec<String> = violations.iter().map(|v| v.rule.to_string()).collect();
        rules.sort();
        rules.dedup();

        if violations.is_empty() {
            d.action = Action::Allow;
            d.target = Some(up.name.clone());
            d.target_id = Some(dest.upstream);
            d.rules = d.jurisdictions.clone();
            d.reasons.push(if d.personal_records == 0 {
                "no_personal_data".into()
            } else {
                "in_region".into()
            });
            return d;
        }

        // What enforcement does, given a set of violations.
        let enforce = |vs: &[&Violation<'_>]| -> (Action, Option<UpstreamId>, &'static str) {
            if vs.iter().all(|v| v.on_violation == OnViolation::Reroute) {
                match up.alternatives.iter().find(|a| {
                    policy
                        .upstreams
                        .get(**a)
                        .is_some_and(|t| need.contains(t.region))
                }) {
                    Some(a) => (Action::Reroute, Some(*a), "rerouted_in_region"),
                    None => (Action::Block, None, "no_in_region_alternative"),
                }
            } else {
                (Action::Block, None, "region_not_allowed")
            }
        };
        let enforced: Vec<&Violation<'_>> = violations.iter().filter(|v| v.enforced).collect();
        if !enforced.is_empty() {
            let (action, target, reason) = enforce(&enforced);
            d.action = action;
            d.rules = enforced.iter().map(|v| v.rule.to_string()).collect();
            d.rules.sort();
            d.rules.dedup();
            d.reasons.push(reason.into());
            if let Some(t) = target {
                d.target = policy.upstreams.get(t).map(|u| u.name.clone());
                d.target_id = Some(t);
            }
            d.shadowed_rules = violations
                .iter()
                .filter(|v| !v.enforced)
                .map(|v| v.rule.to_string())
                .collect();
            d.shadowed_rules.sort();
            d.shadowed_rules.dedup();
            if !d.shadowed_rules.is_empty() {
                d.reasons.push("shadow_violations_reported".into());
            }
            return d;
        }
        // Only shadowed violations: forward as is, report what enforcement would do.
        let all: Vec<&Violation<'_>> = violations.iter().collect();
        let (would, _, reason) = enforce(&all);
        d.action = Action::Shadow;
        d.would = Some(would);
        d.rules = rules;
        d.target = Some(up.name.clone());
        d.target_id = Some(dest.upstream);
        d.reasons.push(format!("shadow:{reason}"));
        d
    }
}

/// A signal kind's label, re-exported for the CLI's trace.
pub fn signal_label(k: SignalKind) -> &'static str {
    k.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::Country;
    use crate::extract::{Evidence, PersonalField, Record};

    #[test]
    fn evidence_labels_are_sorted_and_unique() {
        let (policy, _) = crate::policy::load(include_str!("../config/policy.toml")).unwrap();
        let c = |s: &str| Country::from_alpha2(s).unwrap();
        let ev = |kind, country: &str| Evidence {
            kind,
            country: c(country),
            pointer: "/p".into(),
        };
        let facts = Facts {
            records: vec![Record {
                pointer: Default::default(),
                personal: vec![PersonalField {
                    kind: FieldKind::Phone,
                    pointer: "/p".into(),
                }],
                evidence: vec![
                    ev(SignalKind::TextPhone, "GB"),
                    ev(SignalKind::Phone, "GB"),
                    ev(SignalKind::Locale, "US"),
                    ev(SignalKind::CountryField, "GB"),
                    ev(SignalKind::Ip, "US"),
                    ev(SignalKind::Phone, "GB"),
                    ev(SignalKind::Ip, "DE"),
                ],
                unreadable: vec![],
            }],
            body_bytes: 0,
            format: "json",
        };
        let route = 0;
        let d = evaluate(
            &policy,
            &facts,
            Destination {
                route,
                upstream: policy.routes[route].upstream,
                region: None,
            },
        );
        let v = &d.verdicts[0];
        let evidence: Vec<String> = v.evidence.iter().map(ToString::to_string).collect();
        assert_eq!(
            evidence,
            [
                "country_field:GB",
                "ip:DE",
                "ip:US",
                "locale:US",
                "phone:GB",
                "text_phone:GB"
            ]
        );
        let countries: Vec<&str> = v.countries.iter().map(|c| c.as_str()).collect();
        assert_eq!(countries, ["DE", "GB", "US"]);
        // Written as strings, as before.
        let json = serde_json::to_value(v).unwrap();
        assert_eq!(json["evidence"][1], "ip:DE");
        assert_eq!(json["countries"], serde_json::json!(["DE", "GB", "US"]));
        assert!(
            json["jurisdictions"][0]
                .as_str()
                .is_some_and(|j| !j.is_empty())
        );
    }
}
