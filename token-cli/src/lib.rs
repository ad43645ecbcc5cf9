//! `mfa-token`: enroll and manage pam_mfa second factors.
//!
//! Invariant: every change to a record goes through the library's locked
//! `Store::update`, the same path the PAM module uses, so the CLI and logins racing
//! each other lose nothing. Messages come from the library's catalogue (English or
//! Dutch); data meant for scripts goes to stdout, everything else to stderr.
//!
//! A library so that the man page generator (packaging/mangen) renders the same
//! command definition the binary parses.

#![forbid(unsafe_code)]

mod audit;
pub mod cli;
mod commands;
mod context;
mod error;
mod qr_files;
mod reprovision;
mod secret_file;
mod secret_input;
mod time;

use std::process::ExitCode;

use clap::Parser;

/// Runs the command line and returns the exit status.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = context::Context::new(&cli.config);
    match commands::run(&ctx, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-token: {}", e.render(ctx.lang));
            ExitCode::FAILURE
        }
    }
}
