//! One test per validation error kind: the message, the line:column it points at, and
//! the hint. Also: an invalid policy never half-loads, and every error is collected.

use customs::policy::diag::{DiagKind, Located, locate};
use customs::policy::{self, Severity};

const BASE: &str = r#"version = 1
[regions.us]
countries = ["US"]
[regions.eu]
include = ["EEA"]
[jurisdictions.US]
countries = ["US"]
allowed_regions = ["us"]
on_violation = "block"
[jurisdictions.EEA]
include = ["EEA"]
allowed_regions = ["eu"]
on_violation = "reroute"
[upstreams.crm-us]
url = "http://127.0.0.1:1"
region = "us"
alternatives = ["crm-eu"]
[upstreams.crm-eu]
url = "http://127.0.0.1:2"
region = "eu"
[[routes]]
name = "crm"
path_prefix = "/crm/"
upstream = "crm-us"
"#;

fn errors(src: &str) -> Vec<Located> {
    match policy::load(src) {
        Ok(_) => panic!("policy unexpectedly valid:\n{src}"),
        Err(d) => d
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| locate(src, d))
            .collect(),
    }
}

fn one(src: &str, kind: DiagKind) -> Located {
    let errs = errors(src);
    let found: Vec<&Located> = errs.iter().filter(|e| e.kind == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind:?} in {errs:#?}");
    found[0].clone()
}

fn line_col(src: &str, needle: &str) -> (usize, usize) {
    let at = src
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in source"));
    let line = src[..at].matches('\n').count() + 1;
    let col = at - src[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

#[test]
fn base_is_valid() {
    let (p, warnings) = policy::load(BASE).unwrap();
    assert_eq!(p.regions.len(), 2);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn syntax_error() {
    let src = BASE.replace(
        "countries = [\"US\"]\n[regions.eu]",
        "countries = [\"US\"\n[regions.eu]",
    );
    let e = one(&src, DiagKind::Syntax);
    // the unclosed array is reported where the parser gave up: the next line's `[`
    assert_eq!(e.line, 4, "{e:?}");
    assert!(!e.message.is_empty());
}

#[test]
fn unknown_key_with_hint() {
    let src = BASE.replace("on_violation = \"block\"", "on_violaton = \"block\"");
    let e = one(&src, DiagKind::UnknownKey);
    assert_eq!(e.message, "unknown key `on_violaton` in `jurisdictions.US`");
    assert_eq!((e.line, e.column), line_col(&src, "on_violaton"));
    assert_eq!(e.help.as_deref(), Some("did you mean `on_violation`?"));
}

#[test]
fn unknown_top_level_key() {
    let src = format!("{BASE}[regoins.cn]\ncountries = [\"CN\"]\n");
    let e = one(&src, DiagKind::UnknownKey);
    assert_eq!(e.message, "unknown key `regoins` at the top level");
    assert_eq!(e.help.as_deref(), Some("did you mean `regions`?"));
}

#[test]
fn wrong_type() {
    let src = BASE.replace(
        "countries = [\"US\"]\n[regions.eu]",
        "countries = \"US\"\n[regions.eu]",
    );
    let e = one(&src, DiagKind::WrongType);
    assert!(e.message.contains("invalid type"), "{e:?}");
    assert_eq!((e.line, e.column), line_col(&src, "\"US\"\n[regions.eu]"));
}

#[test]
fn unknown_region_with_hint() {
    let src = BASE.replace("allowed_regions = [\"eu\"]", "allowed_regions = [\"euu\"]");
    let e = one(&src, DiagKind::UnknownRegion);
    assert_eq!(e.message, "unknown region `euu` in jurisdiction `EEA`");
    assert_eq!((e.line, e.column), line_col(&src, "\"euu\""));
    assert_eq!(e.help.as_deref(), Some("did you mean `eu`?"));
    assert_eq!(e.source_line, "allowed_regions = [\"euu\"]");
    assert_eq!(e.caret_len, 5);
}

#[test]
fn unknown_jurisdiction_with_hint() {
    let src = format!("{BASE}[unknown]\ntreat_as = \"EAA\"\n");
    let e = one(&src, DiagKind::UnknownJurisdiction);
    assert_eq!(
        e.message,
        "unknown jurisdiction `EAA` in `unknown.treat_as`"
    );
    assert_eq!(e.help.as_deref(), Some("did you mean `EEA`?"));
    assert_eq!((e.line, e.column), line_col(&src, "\"EAA\""));
}

#[test]
fn route_to_unknown_upstream() {
    let src = BASE.replace("upstream = \"crm-us\"", "upstream = \"crm-uss\"");
    let e = one(&src, DiagKind::UnknownUpstream);
    assert_eq!(e.message, "unknown upstream `crm-uss` in route `crm`");
    assert_eq!(e.help.as_deref(), Some("did you mean `crm-us`?"));
    assert_eq!((e.line, e.column), line_col(&src, "\"crm-uss\""));
}

#[test]
fn unknown_alternative() {
    let src = BASE.replace("alternatives = [\"crm-eu\"]", "alternatives = [\"crm-ue\"]");
    let e = one(&src, DiagKind::UnknownUpstream);
    assert_eq!(
        e.message,
        "unknown upstream `crm-ue` in the alternatives of upstream `crm-us`"
    );
}

#[test]
fn unknown_profile() {
    let src = BASE.replace(
        "upstream = \"crm-us\"\n",
        "upstream = \"crm-us\"\nprofile = \"chatt\"\n",
    );
    let e = one(&src, DiagKind::UnknownProfile);
    assert_eq!(e.message, "unknown profile `chatt` in route `crm`");
    assert_eq!((e.line, e.column), line_col(&src, "\"chatt\""));
}

#[test]
fn unknown_country_with_hints() {
    let src = BASE.replace(
        "countries = [\"US\"]\nallowed",
        "countries = [\"USA\"]\nallowed",
    );
    let e = one(&src, DiagKind::UnknownCountry);
    assert_eq!(e.message, "unknown country code `USA` in jurisdiction `US`");
    assert_eq!(e.help.as_deref(), Some("did you mean `US`?"));
    let src = BASE.replace(
        "countries = [\"US\"]\n[regions.eu]",
        "countries = [\"EEA\"]\n[regions.eu]",
    );
    let e = one(&src, DiagKind::UnknownCountry);
    assert_eq!(
        e.help.as_deref(),
        Some("`EEA` is a built-in country group: write `include = [\"EEA\"]`")
    );
    let src = BASE.replace(
        "countries = [\"US\"]\n[regions.eu]",
        "countries = [\"us\"]\n[regions.eu]",
    );
    let e = one(&src, DiagKind::UnknownCountry);
    assert_eq!(
        e.message,
        "country codes are upper case: `us` in region `us`"
    );
}

#[test]
fn unknown_builtin_set() {
    let src = BASE.replace(
        "include = [\"EEA\"]\n[jurisdictions.US]",
        "include = [\"EEEA\"]\n[jurisdictions.US]",
    );
    let e = one(&src, DiagKind::UnknownSet);
    assert_eq!(e.message, "unknown country group `EEEA` in region `eu`");
    assert_eq!((e.line, e.column), line_col(&src, "\"EEEA\""));
    assert_eq!(e.help.as_deref(), Some("did you mean `EEA`?"));
}

#[test]
fn jurisdiction_without_allowed_region() {
    let src = BASE.replace("allowed_regions = [\"us\"]", "allowed_regions = []");
    let e = one(&src, DiagKind::NoAllowedRegion);
    assert_eq!(e.message, "jurisdiction `US` has no allowed region");
    assert_eq!((e.line, e.column), line_col(&src, "[]"));
    let src = BASE.replace("allowed_regions = [\"us\"]\n", "");
    let e = one(&src, DiagKind::NoAllowedRegion);
    assert_eq!((e.line, e.column), line_col(&src, "US]"));
}

#[test]
fn overlapping_jurisdictions() {
    let src = BASE.replace(
        "countries = [\"US\"]\nallowed",
        "countries = [\"US\", \"DE\"]\nallowed",
    );
    let e = one(&src, DiagKind::OverlappingJurisdictions);
    assert_eq!(
        e.message,
        "country `DE` is in both jurisdiction `EEA` and jurisdiction `US`"
    );
    assert_eq!(
        (e.line, e.column),
        line_col(&src, "US]\ncountries = [\"US\", \"DE\"]")
    );
}

#[test]
fn reroute_target_that_still_violates() {
    let src = BASE.replace(
        "url = \"http://127.0.0.1:2\"\nregion = \"eu\"",
        "url = \"http://127.0.0.1:2\"\nregion = \"us\"",
    );
    let e = one(&src, DiagKind::RerouteViolates);
    assert_eq!(
        e.message,
        "reroute target `crm-eu` is in region `us`, which jurisdiction `EEA` does not allow: rerouting `crm-us` would still violate it"
    );
    assert_eq!((e.line, e.column), line_col(&src, "\"crm-eu\"]"));
    assert_eq!(e.help.as_deref(), Some("allowed regions of `EEA`: `eu`"));
}

#[test]
fn invalid_enum_value_with_hint() {
    let src = BASE.replace("on_violation = \"block\"", "on_violation = \"blok\"");
    let e = one(&src, DiagKind::InvalidValue);
    assert_eq!(e.message, "invalid action `blok`");
    assert_eq!((e.line, e.column), line_col(&src, "\"blok\""));
    assert_eq!(e.help.as_deref(), Some("did you mean `block`?"));
}

#[test]
fn invalid_url() {
    let src = BASE.replace(
        "url = \"http://127.0.0.1:1\"",
        "url = \"ftp://127.0.0.1:1\"",
    );
    let e = one(&src, DiagKind::InvalidUrl);
    assert!(
        e.message
            .starts_with("the url of upstream `crm-us` is not an absolute"),
        "{e:?}"
    );
}

#[test]
fn invalid_selector() {
    let src = format!("{BASE}[profiles.p]\nrecords = [\"$.users[\"]\n");
    let e = one(&src, DiagKind::InvalidSelector);
    assert!(
        e.message
            .starts_with("invalid JSONPath selector in profile `p`"),
        "{e:?}"
    );
    assert_eq!((e.line, e.column), line_col(&src, "\"$.users[\""));
}

#[test]
fn a_selector_nesting_filters_too_deep_is_refused_with_its_place() {
    // serde_json_path's parser takes twice as long for each nested filter: 40 would take
    // days. The policy is refused at once, as invalid, and says why.
    let deep = format!("$[?{}@{}]", "@[?".repeat(39), "]".repeat(39));
    let src = format!("{BASE}[profiles.p]\nignore = [\"{deep}\"]\n");
    let e = one(&src, DiagKind::InvalidSelector);
    assert!(
        e.message
            .starts_with("invalid JSONPath selector in profile `p`")
            && e.message
                .contains("brackets nested 40 deep; at most 8 are allowed"),
        "{e:?}"
    );
    assert_eq!((e.line, e.column), line_col(&src, &format!("\"{deep}\"")));
}

#[test]
fn a_selector_ending_inside_a_quote_is_refused_not_a_panic() {
    // serde_json_path's parser panics on `$['\u` (the fuzzer found it): refused first.
    let src = format!("{BASE}[profiles.p]\nrecords = [\"$['\\\\u\"]\n");
    let e = one(&src, DiagKind::InvalidSelector);
    assert!(
        e.message.contains("a quoted name or string is not closed"),
        "{e:?}"
    );
}

#[test]
fn duplicate_route_name() {
    let src = format!(
        "{BASE}[[routes]]\nname = \"crm\"\npath_prefix = \"/crm2/\"\nupstream = \"crm-us\"\n"
    );
    let e = one(&src, DiagKind::DuplicateName);
    assert_eq!(e.message, "route name `crm` is used twice");
    // the second use is the one pointed at
    let second = src.rfind("\"crm\"").unwrap();
    assert_eq!(e.line, src[..second].matches('\n').count() + 1);
}

#[test]
fn missing_upstream_region() {
    let src = BASE.replace(
        "url = \"http://127.0.0.1:2\"\nregion = \"eu\"",
        "url = \"http://127.0.0.1:2\"",
    );
    let e = one(&src, DiagKind::MissingKey);
    assert_eq!(e.message, "upstream `crm-eu` has no `region`");
    assert_eq!((e.line, e.column), line_col(&src, "crm-eu]\nurl"));
}

#[test]
fn every_error_is_collected_and_nothing_loads() {
    let src = BASE
        .replace("allowed_regions = [\"eu\"]", "allowed_regions = [\"euu\"]")
        .replace("upstream = \"crm-us\"", "upstream = \"crm-uss\"")
        .replace("on_violation = \"block\"", "on_violaton = \"block\"");
    let errs = errors(&src);
    let kinds: Vec<&DiagKind> = errs.iter().map(|e| &e.kind).collect();
    assert!(kinds.contains(&&DiagKind::UnknownKey), "{kinds:?}");
    assert!(kinds.contains(&&DiagKind::UnknownRegion), "{kinds:?}");
    assert!(kinds.contains(&&DiagKind::UnknownUpstream), "{kinds:?}");
}

#[test]
fn warnings_do_not_stop_loading() {
    let src = format!("{BASE}[upstreams.spare]\nurl = \"http://127.0.0.1:3\"\nregion = \"us\"\n");
    let (_, warnings) = policy::load(&src).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].message,
        "upstream `spare` is not used by any route"
    );
}

#[test]
fn example_policy_is_valid() {
    let src = include_str!("../config/policy.toml");
    let (p, warnings) = policy::load(src).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(p.routes.iter().filter(|r| r.authority.is_none()).count(), 2);
    assert_eq!(
        p.routes.iter().filter(|r| r.authority.is_some()).count(),
        3,
        "one egress route per upstream"
    );
}

#[test]
fn overlapping_regions_warn() {
    let src = format!("{BASE}[regions.eu-core]\ncountries = [\"DE\", \"FR\"]\n");
    let (_, warnings) = policy::load(&src).unwrap();
    let w: Vec<_> = warnings
        .iter()
        .filter(|w| w.kind == DiagKind::OverlappingRegions)
        .map(|w| locate(&src, w))
        .collect();
    assert_eq!(w.len(), 1, "{warnings:?}");
    assert_eq!(w[0].message, "regions `eu` and `eu-core` overlap: DE, FR");
    assert_eq!((w[0].line, w[0].column), line_col(&src, "eu-core]"));
}

#[test]
fn unknown_country_position() {
    let src = BASE.replace(
        "countries = [\"US\"]\nallowed",
        "countries = [\"USA\"]\nallowed",
    );
    let e = one(&src, DiagKind::UnknownCountry);
    assert_eq!((e.line, e.column), line_col(&src, "\"USA\""));
}

#[test]
fn invalid_url_position() {
    let src = BASE.replace(
        "url = \"http://127.0.0.1:1\"",
        "url = \"ftp://127.0.0.1:1\"",
    );
    let e = one(&src, DiagKind::InvalidUrl);
    assert_eq!((e.line, e.column), line_col(&src, "\"ftp://"));
}

#[test]
fn request_head_limit_out_of_range() {
    for bad in ["4096", "2000000", "-1"] {
        let src = format!("{BASE}[server]\nmax_header_bytes = {bad}\n");
        let e = one(&src, DiagKind::InvalidValue);
        assert_eq!(
            e.message,
            format!(
                "`max_header_bytes` must be between 8192 and 1048576 (the HTTP/1 read buffer is at least 8 KiB), got `{bad}`"
            )
        );
        // The caret points at the value.
        let (line, col) = line_col(&src, &format!("= {bad}\n"));
        assert_eq!((e.line, e.column), (line, col + 2));
    }
    let (p, _) = policy::load(&format!("{BASE}[server]\nmax_header_bytes = 65536\n")).unwrap();
    assert_eq!(p.server.max_header_bytes, 65536);
    let (p, _) = policy::load(BASE).unwrap();
    assert_eq!(p.server.max_header_bytes, 8192);
}

#[test]
fn caller_timeouts_must_be_positive() {
    for key in ["header_timeout_ms", "body_timeout_ms"] {
        for bad in ["0", "-5"] {
            let src = format!("{BASE}[server]\n{key} = {bad}\n");
            let e = one(&src, DiagKind::InvalidValue);
            assert_eq!(e.message, format!("`{key}` must be positive, got `{bad}`"));
            let (line, col) = line_col(&src, &format!("= {bad}\n"));
            assert_eq!((e.line, e.column), (line, col + 2));
        }
    }
    let (p, _) = policy::load(&format!(
        "{BASE}[server]\nheader_timeout_ms = 1500\nbody_timeout_ms = 2500\n"
    ))
    .unwrap();
    assert_eq!(
        p.server.header_timeout,
        std::time::Duration::from_millis(1500)
    );
    assert_eq!(
        p.server.body_timeout,
        std::time::Duration::from_millis(2500)
    );
    // Unset: a minute each.
    let (p, _) = policy::load(BASE).unwrap();
    assert_eq!(p.server.header_timeout, std::time::Duration::from_secs(60));
    assert_eq!(p.server.body_timeout, std::time::Duration::from_secs(60));
}

/// A file that protects nobody or routes nothing is not a policy: an empty file (a
/// half-written one), `version = 1` alone, or one that lost its jurisdictions or routes.
#[test]
fn a_policy_must_protect_someone_and_route_something() {
    let no_version = "the policy has no `version`";
    let nobody = "the policy has no jurisdictions: it would protect nobody";
    let nothing = "the policy has no routes: every request would get 404";
    let only_jurisdictions = BASE.split("[[routes]]").next().unwrap().to_string();
    let without_jurisdictions = {
        let start = BASE.find("[jurisdictions.US]").unwrap();
        let end = BASE.find("[upstreams.crm-us]").unwrap();
        format!("{}{}", &BASE[..start], &BASE[end..])
    };
    for (src, want) in [
        ("", vec![no_version, nobody, nothing]),
        ("\n\n# only a comment\n", vec![no_version, nobody, nothing]),
        ("version = 1\n", vec![nobody, nothing]),
        (only_jurisdictions.as_str(), vec![nothing]),
        (without_jurisdictions.as_str(), vec![nobody]),
        (&BASE.replacen("version = 1\n", "", 1), vec![no_version]),
    ] {
        let errs = errors(src);
        let messages: Vec<&str> = errs
            .iter()
            .filter(|e| e.kind == DiagKind::MissingKey)
            .map(|e| e.message.as_str())
            .collect();
        assert_eq!(messages, want, "{src:?}: {errs:#?}");
        for e in errs.iter().filter(|e| e.kind == DiagKind::MissingKey) {
            // Pointed at the top of the file, with a hint that says what to add.
            assert_eq!((e.line, e.column), (1, 1), "{e:?}");
            assert!(e.help.as_deref().is_some_and(|h| h.contains('`')), "{e:?}");
        }
    }
}

#[test]
fn unassigned_countries_follow_their_setting() {
    // Default: strictest. `allow` and a jurisdiction's name are accepted; anything else
    // is an unknown jurisdiction with a hint.
    let (p, _) = policy::load(BASE).unwrap();
    assert_eq!(
        p.unassigned,
        customs::policy::compile::UnknownRule::Strictest
    );
    let c = p.coverage();
    assert_eq!(
        c.jurisdictions,
        [("EEA".to_string(), 37), ("US".to_string(), 1)]
    );
    assert_eq!(
        c.unassigned,
        249 - 38,
        "every assigned ISO code but the 38 named"
    );
    assert_eq!(c.unassigned_treat_as, "strictest");
    for (v, want) in [
        ("allow", "allow"),
        ("EEA", "EEA"),
        ("strictest", "strictest"),
    ] {
        let src = format!("{BASE}[unassigned]\ntreat_as = \"{v}\"\n");
        let (p, _) = policy::load(&src).unwrap();
        assert_eq!(p.coverage().unassigned_treat_as, want);
    }
    let src = format!("{BASE}[unassigned]\ntreat_as = \"EAA\"\n");
    let e = one(&src, DiagKind::UnknownJurisdiction);
    assert_eq!(
        e.message,
        "unknown jurisdiction `EAA` in `unassigned.treat_as`"
    );
    assert_eq!(e.help.as_deref(), Some("did you mean `EEA`?"));
    let src = format!("{BASE}[unassigned]\ntreat_az = \"allow\"\n");
    let e = one(&src, DiagKind::UnknownKey);
    assert_eq!(e.message, "unknown key `treat_az` in `unassigned`");
}

#[test]
fn the_memory_budget_must_hold_one_largest_request() {
    let src = format!(
        "{BASE}[server]\nmax_body_bytes = 1000000\n[limits]\nmemory_budget_bytes = 2999999\n"
    );
    let e = one(&src, DiagKind::InvalidValue);
    assert!(
        e.message
            .starts_with("`memory_budget_bytes` (2999999) cannot hold one request"),
        "{e:?}"
    );
    assert_eq!((e.line, e.column), line_col(&src, "2999999"));
    let ok = src.replace("2999999", "3000000");
    let (p, _) = policy::load(&ok).unwrap();
    assert_eq!(p.admission.memory_budget, 3_000_000);
    for bad in ["max_connections = 0", "admission_wait_ms = -1"] {
        let src = format!("{BASE}[limits]\n{bad}\n");
        one(&src, DiagKind::InvalidValue);
    }
}
