//! `customs explain`: what the policy decides for one request, with its trace. Runs the
//! same engine the proxy runs.

use std::path::PathBuf;

use serde_json::json;

use super::{Exit, Format, load_with_geo};
use crate::decide::{Action, Decision, Outcome};
use crate::engine::{self, Evaluation, Refusal, RequestView};
use crate::policy::Policy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(long, short = 'c', env = "CUSTOMS_CONFIG")]
    pub config: PathBuf,
    /// The URL the application would call through the proxy, e.g.
    /// `http://localhost/chat/im/v1/messages`. Matched against the routes as the proxy
    /// matches requests.
    #[arg(long)]
    pub url: String,
    /// The HTTP method.
    #[arg(long, short = 'X', default_value = "POST")]
    pub method: String,
    /// A request header, `Name: value` (repeatable). `Content-Type` and
    /// `Content-Encoding` affect inspection; `Host` overrides the URL's host.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The file holding the request body (`-` for standard input).
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// The GeoIP database (default: the policy's `[geoip] database`).
    #[arg(long, env = "CUSTOMS_GEOIP")]
    pub geoip: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn main(args: Args) -> Exit {
    let (loaded, geo) = match load_with_geo(&args.config, args.geoip.as_deref()) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    let uri: http::Uri = match args.url.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: `--url` is not a valid URL: {e}");
            return Exit::Error;
        }
    };
    let body = match &args.body {
        None => Vec::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut v = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut v) {
                eprintln!("error: cannot read the body from standard input: {e}");
                return Exit::Error;
            }
            v
        }
        Some(p) => match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read body `{}`: {e}", p.display());
                return Exit::Error;
            }
        },
    };
    let mut header_map = http::HeaderMap::new();
    for h in &args.headers {
        let parsed = h.split_once(':').and_then(|(k, v)| {
            Some((
                http::HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
                http::HeaderValue::from_str(v.trim()).ok()?,
            ))
        });
        let Some((k, v)) = parsed else {
            eprintln!("error: header `{h}` is not `Name: value`");
            return Exit::Error;
        };
        header_map.append(k, v);
    }
    let req = RequestView::new(&args.method, &uri, &header_map, &body);
    let policy = &loaded.policy;
    match engine::evaluate_request(policy, &geo, &req) {
        Ok(ev) => {
            match args.format {
                Format::Json => {
                    let mut v = serde_json::to_value(&ev.decision)
                        .unwrap_or_else(|_| json!({"action": "block"}));
                    if let Some(o) = v.as_object_mut() {
                        o.insert("policy_hash".into(), json!(policy.hash));
                        o.insert("body_format".into(), json!(ev.format));
                    }
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
                Format::Human => print!("{}", human(policy, &ev, &ev.decision)),
            }
            if ev.decision.action.forwards() {
                Exit::Ok
            } else {
                Exit::Blocked
            }
        }
        Err(refusal) => {
            let status = match &refusal {
                Refusal::NoRoute => 404,
                Refusal::Inspect(e) => crate::proxy::respond::status_for_inspect(e),
            };
            match args.format {
                Format::Json => {
                    let v = json!({
                        "action": "block",
                        "reasons": [refusal.reason()],
                        "status": status,
                        "error": refusal.to_string(),
                        "policy_hash": policy.hash,
                    });
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
                Format::Human => {
                    println!(
                        "decision: BLOCK (refused before inspection: {})",
                        refusal.reason()
                    );
                    println!("  {refusal}");
                    println!("  the proxy answers {status} and forwards nothing");
                }
            }
            Exit::Blocked
        }
    }
}

fn human(policy: &Policy, ev: &Evaluation, d: &Decision) -> String {
    let mut o = String::new();
    let action = match (d.action, d.would) {
        (Action::Shadow, Some(w)) => format!("SHADOW (forwarded; enforce would {})", w.as_str()),
        (a, _) => a.as_str().to_uppercase(),
    };
    o.push_str(&format!("decision: {action}\n"));
    o.push_str(&format!(
        "  route        `{}` → upstream `{}` in region `{}`\n",
        d.route, d.upstream, d.destination_region
    ));
    if let (Action::Reroute, Some(t)) = (d.action, &d.target) {
        let region = policy
            .upstream_by_name(t)
            .and_then(|u| policy.upstreams.get(u))
            .map(|u| policy.region_name(u.region))
            .unwrap_or("?");
        o.push_str(&format!("  rerouted to  `{t}` in region `{region}`\n"));
    }
    if !d.rules.is_empty() {
        o.push_str(&format!("  rules        {}\n", d.rules.join(", ")));
    }
    for r in &d.rules {
        if let Some(j) = policy.jurisdictions.iter().find(|j| &j.name == r) {
            o.push_str(&format!(
                "               {}: personal data of {} subjects may go to {}\n",
                j.name,
                j.name,
                policy
                    .region_names(j.allowed)
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if r == crate::decide::UNKNOWN_RULE {
            let allowed = policy
                .unknown_allowed()
                .map(|m| policy.region_names(m))
                .unwrap_or_default();
            o.push_str(&format!(
                "               unknown: personal data with no determinable jurisdiction may go to {}\n",
                if allowed.is_empty() { "no region".to_string() } else { allowed.join(", ") }
            ));
        }
    }
    o.push_str(&format!("  reasons      {}\n", d.reasons.join(", ")));
    o.push_str(&format!(
        "records: {} found in {} body of {} bytes, {} with personal data\n",
        d.records, ev.format, ev.body_bytes, d.personal_records
    ));
    for v in &d.verdicts {
        let ptr = if v.pointer.is_empty() {
            "(body)"
        } else {
            v.pointer.as_str()
        };
        let outcome = match &v.outcome {
            Outcome::NotPersonal => "no personal data".to_string(),
            Outcome::Allowed => "allowed".to_string(),
            Outcome::Violation { rules, enforced } => {
                format!(
                    "violates {}{}",
                    rules.join(", "),
                    if *enforced { "" } else { " (shadow)" }
                )
            }
        };
        o.push_str(&format!("  {ptr}\n"));
        o.push_str(&format!(
            "      jurisdictions {}   countries {}\n",
            if v.jurisdictions.is_empty() {
                "-".into()
            } else {
                v.jurisdictions.join(", ")
            },
            if v.countries.is_empty() {
                "-".into()
            } else {
                v.countries
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        let evidence = v.evidence_labels();
        if !evidence.is_empty() {
            o.push_str(&format!("      evidence      {}\n", evidence.join(", ")));
        }
        if !v.context.is_empty() {
            let from: Vec<&str> = v.context.iter().map(|p| p.as_str()).collect();
            o.push_str(&format!("      context from  {}\n", from.join(", ")));
        }
        if !v.personal.is_empty() {
            let kinds: Vec<&str> = v.personal.iter().map(|k| k.as_str()).collect();
            o.push_str(&format!("      personal      {}\n", kinds.join(", ")));
        }
        o.push_str(&format!("      verdict       {outcome}\n"));
    }
    o
}
