//! pam_mfad: the service that owns pam_mfa's configuration, store, security keys,
//! delivery command and audit log; `pam_mfa.so` (and `mfa-token` run by users)
//! reach it over a Unix socket.
//!
//! Invariant: the only process that reads the store's secrets besides root's
//! mfa-token. Logins are served concurrently, one thread each; the only
//! serialisation between them is the store's per-user lock. Every wait on a client
//! has a bound, and no client can take more than its share of connections.
//!
//! Usage: `pam_mfad [--config PATH] [--socket PATH]`, in the foreground; ready
//! when the socket accepts. Under systemd socket activation (LISTEN_FDS) the socket
//! comes from systemd. SIGHUP reloads the configuration (an invalid one is logged
//! and the old one kept); SIGTERM stops accepting, finishes the logins in flight
//! and exits.

#![deny(unsafe_code)]

mod audit;
mod conversation;
mod listen;
mod manage;
mod server;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};

use mfa_core::config::{Config, DEFAULT_PATH};

const USAGE: &str = "usage: pam_mfad [--config PATH] [--socket PATH]";

fn main() -> ExitCode {
    let (config, socket) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(paths)) => paths,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pam_mfad: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Before any thread exists: every thread inherits the mask, and only the
    // signal thread waits for these.
    let signals = {
        let mut set = SigSet::empty();
        for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
            set.add(s);
        }
        set
    };
    if let Err(e) = signals.thread_block() {
        eprintln!("pam_mfad: cannot block signals: {e}");
        return ExitCode::FAILURE;
    }
    let loaded = match Config::load(&config) {
        Ok(cfg) => match server::Loaded::new(cfg) {
            Ok(loaded) => loaded,
            Err(e) => return refuse_to_start(&e),
        },
        Err(e) => return refuse_to_start(&e),
    };
    let listener = match listen::open(&socket) {
        Ok(l) => l,
        Err(e) => return refuse_to_start(&e),
    };
    let shared = Arc::new(server::Shared::new(config, loaded));
    server::spawn_signal_thread(Arc::clone(&shared), signals, &listener);
    audit::line(
        audit::INFO,
        &format!("listening on {}", listener.describe()),
    );
    server::serve(&shared, &listener);
    shared.wait_idle();
    listener.remove();
    audit::line(audit::INFO, "stopped");
    ExitCode::SUCCESS
}

/// Says why on stderr (the admin starting it) and in the log (systemd's start).
fn refuse_to_start(why: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("pam_mfad: {why}");
    audit::line(audit::ERROR, &format!("refusing to start: {why}"));
    ExitCode::FAILURE
}

/// `--config PATH` and `--socket PATH`; `None` for `--help`.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<(PathBuf, PathBuf)>, String> {
    let mut config = None;
    let mut socket = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--config" => &mut config,
            "--socket" => &mut socket,
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = args
            .next()
            .filter(|v| v.starts_with('/'))
            .ok_or_else(|| format!("{arg} needs an absolute path"))?;
        if slot.replace(PathBuf::from(value)).is_some() {
            return Err(format!("{arg} given twice"));
        }
    }
    Ok(Some((
        config.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
        socket.unwrap_or_else(|| PathBuf::from(mfa_proto::DEFAULT_SOCKET)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<(PathBuf, PathBuf)>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&[]).unwrap(),
            Some((
                PathBuf::from("/etc/pam_mfa/config.toml"),
                PathBuf::from("/run/pam_mfa/socket")
            ))
        );
        assert_eq!(
            parse(&["--socket", "/tmp/s", "--config", "/c.toml"]).unwrap(),
            Some((PathBuf::from("/c.toml"), PathBuf::from("/tmp/s")))
        );
        assert_eq!(parse(&["--help"]).unwrap(), None);
        for bad in [
            &["--socket"][..],
            &["--socket", "relative"],
            &["--config", "/a", "--config", "/b"],
            &["--verbose"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
