//! `mfa-token`: enroll and manage pam_mfa second factors.
//!
//! Invariant: every change to a record goes through the library's locked
//! `Store::update`, the same path pam_mfad uses, so the CLI and logins racing
//! each other lose nothing; only root does that, everybody else goes through
//! pam_mfad (`self_service`). Messages come from the library's catalogue (English or
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
mod self_service;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

/// Runs the command line and returns the exit status.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = context::Context::new(&cli.config);
    // Root reaches the store itself; everybody else (and root when told to) asks
    // pam_mfad, for their own account.
    let result = match (&cli.socket, nix::unistd::geteuid().is_root()) {
        (None, true) => commands::run(&ctx, cli.command),
        (socket, _) => {
            let socket = socket
                .clone()
                .unwrap_or_else(|| mfa_proto::DEFAULT_SOCKET.into());
            self_service::run(ctx.lang, &socket, cli.command)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-token: {}", e.render(ctx.lang));
            ExitCode::FAILURE
        }
    }
}
