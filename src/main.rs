//! The `customs` binary: parse the command line, dispatch, exit with the command's code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived objects; measured in
/// the engine benchmark (see the README's benchmark section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A panic message may quote the data being processed: report only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "customs: internal error at {at} (details withheld: they may quote request data)"
        );
    }));
    let cli = customs::cli::Cli::parse();
    customs::cli::dispatch(cli).into()
}
