//! The `customs` binary: parse the command line, dispatch, exit with the command's code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = customs::cli::Cli::parse();
    customs::cli::dispatch(cli).into()
}
