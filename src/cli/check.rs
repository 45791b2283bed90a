//! `customs check --config FILE [--format json]`: validate a policy.

use std::path::PathBuf;

use serde::Serialize;

use super::{Exit, Format, LoadError, load_policy};
use crate::policy::diag::{Located, locate, render};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    #[arg(long, short = 'c', env = "CUSTOMS_CONFIG")]
    pub config: PathBuf,
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
}

pub fn main(args: Args) -> Exit {
    let file = args.config.display().to_string();
    let (valid, hash, source, diags) = match load_policy(&args.config) {
        Ok(l) => (true, Some(l.policy.hash.clone()), l.source, l.warnings),
        Err(LoadError::Invalid { source, diags }) => (false, None, source, diags),
        Err(LoadError::Io(m)) => {
            eprintln!("error: {m}");
            return Exit::Error;
        }
    };
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
