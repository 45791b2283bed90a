//! `customs check --config FILE [--format json] [--against RUNNING]`: validate a policy,
//! say which countries its rules cover, and (with `--against`) what changes from the
//! policy in use, marking every change that weakens it.

use std::path::PathBuf;

use serde::Serialize;

use super::{Exit, Format, LoadError, load_policy};
use crate::policy::Policy;
use crate::policy::compile::Coverage;
use crate::policy::diag::{Located, locate, render};
use crate::policy::diff::{self, Change, diff};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(
        long,
        short = 'c',
        env = "CUSTOMS_CONFIG",
        required_unless_present = "policy"
    )]
    pub config: Option<PathBuf>,
    /// The policy file (instead of `--config`).
    #[arg(value_name = "POLICY", conflicts_with = "config")]
    pub policy: Option<PathBuf>,
    /// The policy in use: print what changes from it (and which changes weaken it).
    #[arg(long, value_name = "RUNNING")]
    pub against: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_hash: Option<&'a str>,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<Located>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<Coverage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<Change>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weakening: Option<usize>,
}

pub fn main(args: Args) -> Exit {
    let Some(path) = args.config.or(args.policy) else {
        eprintln!("error: name the policy file (`--config FILE` or `FILE`)");
        return Exit::Error;
    };
    let file = path.display().to_string();
    let (policy, source, diags) = match load_policy(&path) {
        Ok(l) => (Some(l.policy), l.source, l.warnings),
        Err(LoadError::Invalid { source, diags }) => (None, source, diags),
        Err(LoadError::Io(m)) => {
            eprintln!("error: {m}");
            return Exit::Error;
        }
    };
    let valid = policy.is_some();
    let hash = policy.as_ref().map(|p| p.hash.clone());
    let coverage = policy.as_ref().map(Policy::coverage);
    let changes = match (&args.against, &policy) {
        (Some(running), Some(new)) => match load_policy(running) {
            Ok(old) => Some(diff(&old.policy, new)),
            Err(LoadError::Io(m)) => {
                eprintln!("error: {m}");
                return Exit::Error;
            }
            Err(LoadError::Invalid { .. }) => {
                eprintln!(
                    "error: the running policy `{}` is itself invalid: check it first",
                    running.display()
                );
                return Exit::InvalidPolicy;
            }
        },
        _ => None,
    };
    let weakening = changes
        .as_ref()
        .map(|c| c.iter().filter(|c| c.weakens.is_some()).count());
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match args.format {
        Format::Json => {
            let report = Report {
                valid,
                file,
                policy_hash: hash.as_deref(),
                errors,
                warnings,
                diagnostics: diags.iter().map(|d| locate(&source, d)).collect(),
                coverage,
                changes,
                weakening,
            };
            match serde_json::to_string_pretty(&report) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Error;
                }
            }
        }
        Format::Human => {
            eprint!("{}", render(&file, &source, &diags));
            if valid {
                println!(
                    "ok: policy `{file}` is valid ({} warning{}, hash {})",
                    warnings,
                    if warnings == 1 { "" } else { "s" },
                    hash.unwrap_or_default()
                );
                if let Some(c) = &coverage {
                    println!("{}", coverage_line(c));
                }
                if let (Some(c), Some(running)) = (&changes, &args.against) {
                    print!("changes from `{}`: {}", running.display(), diff::render(c));
                }
            } else {
                eprintln!(
                    "error: policy `{file}` is invalid: {errors} error{}",
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if valid { Exit::Ok } else { Exit::InvalidPolicy }
}

/// `coverage: US 1 country, EEA 37, UK 1; 210 other countries follow [unassigned] `strictest``
pub fn coverage_line(c: &Coverage) -> String {
    let each: Vec<String> = c
        .jurisdictions
        .iter()
        .map(|(name, n)| {
            format!(
                "{name} {n} {}",
                if *n == 1 { "country" } else { "countries" }
            )
        })
        .collect();
    format!(
        "coverage: {}; {} other countries follow `[unassigned] treat_as = \"{}\"`; subjects of unknown jurisdiction follow `[unknown] treat_as = \"{}\"`",
        each.join(", "),
        c.unassigned,
        c.unassigned_treat_as,
        c.unknown_treat_as
    )
}
