//! The command line: one file per subcommand. `main.rs` only parses and dispatches.

pub mod check;
pub mod explain;
mod logline;
pub mod run;
pub mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::geo::MaxMindGeo;
use crate::policy::{self, Diagnostic, Policy};

/// Exit codes, as Cedar's CLI uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Valid policy; request would be forwarded; all tests passed.
    Ok = 0,
    /// Any other error (unreadable file, bad arguments, no GeoIP database).
    Error = 1,
    /// The request would be blocked; a policy test failed.
    Blocked = 2,
    /// The policy is invalid.
    InvalidPolicy = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(name = "customs", version, about = "A data-residency enforcement proxy", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a policy file: exit 0 when valid, 3 when invalid.
    Check(check::Args),
    /// Show what the policy decides for one request, and why.
    Explain(explain::Args),
    /// Run policy test cases (TOML) through the engine: exit 0 when all pass, 2 when one fails.
    Test(test::Args),
    /// Run the proxy.
    Run(run::Args),
    /// Run the proxy with stand-in upstreams at the policy's loopback upstream URLs.
    Demo(run::DemoArgs),
}

pub fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Command::Check(a) => check::main(a),
        Command::Explain(a) => explain::main(a),
        Command::Test(a) => test::main(a),
        Command::Run(a) => run::main(a),
        Command::Demo(a) => run::demo(a),
    }
}

/// A policy file read and compiled, with its warnings.
pub struct Loaded {
    pub policy: Policy,
    pub warnings: Vec<Diagnostic>,
    pub source: String,
}

pub enum LoadError {
    Io(String),
    Invalid {
        source: String,
        diags: Vec<Diagnostic>,
    },
}

pub fn load_policy(path: &Path) -> Result<Loaded, LoadError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| LoadError::Io(format!("cannot read policy `{}`: {e}", path.display())))?;
    match policy::load(&source) {
        Ok((policy, warnings)) => Ok(Loaded {
            policy,
            warnings,
            source,
        }),
        Err(diags) => Err(LoadError::Invalid { source, diags }),
    }
}

/// Prints a load error the way `check` does and returns its exit code.
pub fn report_load_error(path: &Path, e: LoadError) -> Exit {
    match e {
        LoadError::Io(m) => {
            eprintln!("error: {m}");
            Exit::Error
        }
        LoadError::Invalid { source, diags } => {
            eprint!(
                "{}",
                policy::diag::render(&path.display().to_string(), &source, &diags)
            );
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "error: policy `{}` is invalid: {n} error{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            Exit::InvalidPolicy
        }
    }
}

/// The GeoIP database: the flag, else the policy's `[geoip] database` (relative to the
/// policy file), else the bundled file next to the working directory.
pub fn geoip_path(flag: Option<&Path>, policy: &Policy, config: &Path) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(db) = &policy.geoip_database {
        let p = Path::new(db);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        return config.parent().unwrap_or(Path::new(".")).join(p);
    }
    PathBuf::from("geoip/geo-whois-asn-country.mmdb")
}

/// The policy and its GeoIP database, or the exit code after reporting why not.
pub fn load_with_geo(config: &Path, geoip: Option<&Path>) -> Result<(Loaded, MaxMindGeo), Exit> {
    let loaded = load_policy(config).map_err(|e| report_load_error(config, e))?;
    let geo = load_geo(geoip, &loaded.policy, config).map_err(|e| {
        eprintln!("error: {e}");
        Exit::Error
    })?;
    Ok((loaded, geo))
}

pub fn load_geo(flag: Option<&Path>, policy: &Policy, config: &Path) -> Result<MaxMindGeo, String> {
    let path = geoip_path(flag, policy, config);
    // The country boundaries that place coordinates are loaded with the database, not
    // by the first request that carries a coordinate.
    crate::extract::signals::coords::preload();
    MaxMindGeo::open(&path).map_err(|e| e.to_string())
}
