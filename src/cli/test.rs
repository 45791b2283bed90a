//! `customs test --config FILE [TESTS...]`: policy test cases, written in TOML next to
//! the policy, run through the same engine as the proxy.
//!
//! ```toml
//! [[case]]
//! name = "an EEA user's record to the CRM goes to crm-eu"
//! request.url = "http://localhost/crm/v1/contacts"
//! request.headers = { "content-type" = "application/json" }
//! request.body_file = "../../tests/fixtures/eea-user.json"   # relative to this file
//! expect.action = "reroute"
//! expect.target = "crm-eu"
//! expect.rules = ["EEA"]
//! expect.records = [{ pointer = "/user", jurisdictions = ["EEA"] }]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Exit, load_with_geo};
use crate::engine::{self, Refusal, RequestView};
use crate::geo::GeoLookup;
use crate::policy::Policy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(long, short = 'c', env = "CUSTOMS_CONFIG")]
    pub config: PathBuf,
    /// Test files or directories of them (default: `tests/` beside the policy file).
    pub tests: Vec<PathBuf>,
    /// The GeoIP database (default: the policy's `[geoip] database`).
    #[arg(long, env = "CUSTOMS_GEOIP")]
    pub geoip: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    request: Req,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Req {
    #[serde(default = "post")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_file: Option<String>,
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// `allow`, `block`, `reroute`, `shadow`, or `refuse` (no route, uninspectable body).
    action: String,
    /// For `shadow`: what enforcement would do.
    would: Option<String>,
    rules: Option<Vec<String>>,
    jurisdictions: Option<Vec<String>>,
    target: Option<String>,
    /// For `refuse`: the reason (`no_route`, `invalid_json`, ...).
    reason: Option<String>,
    records: Option<Vec<ExpectRecord>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectRecord {
    pointer: String,
    jurisdictions: Option<Vec<String>>,
    outcome: Option<String>,
}

pub fn main(args: Args) -> Exit {
    let (loaded, geo) = match load_with_geo(&args.config, args.geoip.as_deref()) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    let inputs = if args.tests.is_empty() {
        vec![args.config.parent().unwrap_or(Path::new(".")).join("tests")]
    } else {
        args.tests.clone()
    };
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            match std::fs::read_dir(&p) {
                Ok(rd) => {
                    let mut v: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    v.sort();
                    files.extend(v);
                }
                Err(e) => {
                    eprintln!("error: cannot read `{}`: {e}", p.display());
                    return Exit::Error;
                }
            }
        } else {
            files.push(p);
        }
    }
    if files.is_empty() {
        eprintln!("error: no test files found");
        return Exit::Error;
    }
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let src = match std::fs::read_to_string(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", f.display());
                return Exit::Error;
            }
        };
        let tf: TestFile = match toml::from_str(&src) {
            Ok(t) => t,
            Err(e) => {
                let at = e.span().map(|s| {
                    let line = src[..s.start.min(src.len())].matches('\n').count() + 1;
                    format!(":{line}")
                });
                eprintln!(
                    "error: `{}{}`: {}",
                    f.display(),
                    at.unwrap_or_default(),
                    e.message()
                );
                return Exit::Error;
            }
        };
        let fname = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in &tf.case {
            match run_case(&loaded.policy, &geo, f, case) {
                Ok(diffs) if diffs.is_empty() => {
                    passed += 1;
                    println!("PASS  {fname}: {}", case.name);
                }
                Ok(diffs) => {
                    failed += 1;
                    println!("FAIL  {fname}: {}", case.name);
                    for d in diffs {
                        println!("      {d}");
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!("FAIL  {fname}: {}", case.name);
                    println!("      {e}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 { Exit::Blocked } else { Exit::Ok }
}

fn run_case(
    policy: &Policy,
    geo: &dyn GeoLookup,
    file: &Path,
    case: &Case,
) -> Result<Vec<String>, String> {
    let body = match (&case.request.body, &case.request.body_file) {
        (Some(b), None) => b.clone().into_bytes(),
        (None, Some(p)) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(p);
            std::fs::read(&path)
                .map_err(|e| format!("cannot read body `{}`: {e}", path.display()))?
        }
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err("give `body` or `body_file`, not both".into()),
    };
    let uri: http::Uri = case
        .request
        .url
        .parse()
        .map_err(|e| format!("`request.url` is not a URL: {e}"))?;
    let mut headers = http::HeaderMap::new();
    for (k, v) in &case.request.headers {
        let k = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("`{k}` is not a header name"))?;
        let v = http::HeaderValue::from_str(v)
            .map_err(|_| format!("the value of header `{k}` is not valid"))?;
        headers.append(k, v);
    }
    let req = RequestView::new(&case.request.method, &uri, &headers, &body);
    let e = &case.expect;
    let mut diffs: Vec<String> = Vec::new();
    fn cmp(diffs: &mut Vec<String>, what: &str, want: &str, got: &str) {
        if want != got {
            diffs.push(format!("{what}: expected {want}, got {got}"));
        }
    }
    match engine::evaluate_request(policy, geo, &req) {
        Err(r) => {
            cmp(&mut diffs, "action", &e.action, "refuse");
            if let Some(reason) = &e.reason {
                cmp(&mut diffs, "reason", reason, r.reason());
            } else if e.action != "refuse" {
                diffs.push(format!("refused before a decision: {}", describe(&r)));
            }
        }
        Ok(ev) => {
            let d = &ev.decision;
            cmp(&mut diffs, "action", &e.action, d.action.as_str());
            if let Some(w) = &e.would {
                cmp(
                    &mut diffs,
                    "would",
                    w,
                    d.would.map(|a| a.as_str()).unwrap_or("-"),
                );
            }
            if let Some(rules) = &e.rules {
                cmp(&mut diffs, "rules", &list(rules), &list(&d.rules));
            }
            if let Some(j) = &e.jurisdictions {
                cmp(
                    &mut diffs,
                    "jurisdictions",
                    &list(j),
                    &list(&d.jurisdictions),
                );
            }
            if let Some(t) = &e.target {
                cmp(&mut diffs, "target", t, d.target.as_deref().unwrap_or("-"));
            }
            if let Some(records) = &e.records {
                for want in records {
                    match d.verdicts.iter().find(|v| v.pointer == want.pointer) {
                        None => {
                            let found: Vec<&str> =
                                d.verdicts.iter().map(|v| v.pointer.as_str()).collect();
                            diffs.push(format!(
                                "record `{}`: not found (records: {})",
                                want.pointer,
                                found.join(", ")
                            ));
                        }
                        Some(v) => {
                            if let Some(j) = &want.jurisdictions {
                                cmp(
                                    &mut diffs,
                                    &format!("record `{}` jurisdictions", want.pointer),
                                    &list(j),
                                    &list(&v.jurisdictions),
                                );
                            }
                            if let Some(o) = &want.outcome {
                                let got = match &v.outcome {
                                    crate::decide::Outcome::NotPersonal => "not_personal",
                                    crate::decide::Outcome::Allowed => "allowed",
                                    crate::decide::Outcome::Violation { .. } => "violation",
                                };
                                cmp(
                                    &mut diffs,
                                    &format!("record `{}` outcome", want.pointer),
                                    o,
                                    got,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(diffs)
}

fn list<S: AsRef<str>>(v: &[S]) -> String {
    let mut v: Vec<&str> = v.iter().map(AsRef::as_ref).collect();
    v.sort();
    format!("[{}]", v.join(", "))
}

fn describe(r: &Refusal) -> String {
    format!("{} ({r})", r.reason())
}
