//! Delivery of out-of-band one-time codes (the SMS or e-mail fallback): running
//! the configured command. The code's state in the record is in `sent_code`.
//!
//! Invariant: a code reaches the delivery command only on its standard input, never
//! argv, the environment or the log; the command runs with a clean environment, as
//! `oob.run_as`, and is killed with its process group after the timeout.

mod spawn;

use std::fmt;
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::config::OobConfig;
use crate::contact::Contact;
use crate::i18n::{self, Lang, Msg};
use crate::secure_fs::{self, Trust};

/// One code to deliver.
pub struct Delivery<'a> {
    pub user: &'a str,
    pub contact: &'a Contact,
    pub code: &'a str,
    /// Seconds the code stays valid.
    pub lifetime: u32,
    /// The language of the message line.
    pub lang: Lang,
    /// The host the code is for (shown in the message).
    pub host: &'a str,
}

impl Delivery<'_> {
    /// What the delivery command reads on standard input: `key=value` lines, the
    /// last one a ready-made message. Values never contain a newline.
    pub fn input(&self) -> Zeroizing<String> {
        let minutes = self.lifetime.div_ceil(60);
        let message = i18n::format(
            self.lang,
            Msg::OobMessage,
            &[&self.code, &self.host, &minutes],
        );
        Zeroizing::new(format!(
            "user={}\nchannel={}\nto={}\ncode={}\nexpires_in={}\nlang={}\nmessage={}\n",
            self.user,
            self.contact.channel(),
            self.contact.address(),
            self.code,
            self.lifetime,
            self.lang.code(),
            message.replace('\n', " ")
        ))
    }
}

/// Why a code could not be delivered.
#[derive(Debug)]
pub enum SendError {
    /// No `oob.command` configured.
    NotConfigured,
    /// The command file, or a directory on its way, is missing or insecure.
    Command(secure_fs::FileError),
    /// `oob.run_as` names no account.
    NoSuchAccount(String),
    /// The command could not be started or fed.
    Spawn(PathBuf, std::io::Error),
    /// The command ran past `oob.timeout_seconds` and was killed.
    Timeout(PathBuf, u32),
    /// The command reported failure.
    Failed(PathBuf, ExitStatus),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConfigured => f.write_str("no oob.command is configured"),
            SendError::Command(e) => write!(f, "delivery command {e}"),
            SendError::NoSuchAccount(a) => write!(f, "oob.run_as: no such account {a:?}"),
            SendError::Spawn(p, e) => write!(f, "cannot run {}: {e}", p.display()),
            SendError::Timeout(p, s) => {
                write!(
                    f,
                    "{} did not finish within {s} s and was killed",
                    p.display()
                )
            }
            SendError::Failed(p, status) => write!(f, "{} failed: {status}", p.display()),
        }
    }
}

impl std::error::Error for SendError {}

/// Hands codes to whoever delivers them.
pub trait Courier {
    fn send(&mut self, delivery: &Delivery<'_>) -> Result<(), SendError>;
}

/// No delivery at all (out-of-band codes off).
pub struct NoCourier;

impl Courier for NoCourier {
    fn send(&mut self, _: &Delivery<'_>) -> Result<(), SendError> {
        Err(SendError::NotConfigured)
    }
}

/// Runs `oob.command` as `oob.run_as` with the delivery on standard input, an empty
/// environment (but `PATH`), `/` as working directory, no inherited descriptors but
/// 0–2, in its own process group, killed with the group after the timeout.
pub struct CommandCourier<'a> {
    pub cfg: &'a OobConfig,
    /// The owner the command file must have (root; tests use their own uid).
    pub owner: u32,
}

/// The PATH the command gets.
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Courier for CommandCourier<'_> {
    fn send(&mut self, delivery: &Delivery<'_>) -> Result<(), SendError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let path = self
            .cfg
            .command
            .as_deref()
            .ok_or(SendError::NotConfigured)?;
        // The file checked is the file run: opened once through trusted directories,
        // then executed by its descriptor.
        let program =
            secure_fs::open_executable(path, Trust::ROOT_NOT_WRITABLE.owned_by(self.owner))
                .map_err(SendError::Command)?;
        let account = nix::unistd::User::from_name(&self.cfg.run_as)
            .ok()
            .flatten()
            .ok_or_else(|| SendError::NoSuchAccount(self.cfg.run_as.clone()))?;
        let spawn_error = |e: std::io::Error| SendError::Spawn(path.to_owned(), e);
        let input = input_file(delivery).map_err(spawn_error)?;
        // The exit status comes back through a pipe from a watcher process (see
        // spawn.rs), not from waitpid: the application may ignore SIGCHLD.
        let (status_read, status_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|e| spawn_error(e.into()))?;
        let mut cmd = Command::new(spawn::PROGRAM);
        cmd.arg0(path)
            .env_clear()
            .env("PATH", SAFE_PATH)
            .current_dir("/")
            .stdin(Stdio::from(input))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if account.uid.as_raw() != nix::unistd::geteuid().as_raw() {
            // std drops the supplementary groups (setgroups(0)) before setuid.
            cmd.uid(account.uid.as_raw()).gid(account.gid.as_raw());
        }
        spawn::run_through_watcher(&mut cmd, program.as_raw_fd(), status_write.as_raw_fd());
        let mut child = cmd.spawn().map_err(spawn_error)?;
        // Our copies of the input, the program and the pipe's write end: closed, so
        // the pipe ends when the watcher is done.
        drop((cmd, program, status_write));
        let timeout = Duration::from_secs(u64::from(self.cfg.timeout_seconds));
        let raw = match read_status(std::fs::File::from(status_read), timeout) {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                spawn::kill_group(child.id());
                // Reaped here, or by the application if it ignores SIGCHLD.
                let _ = child.wait();
                return Err(SendError::Timeout(
                    path.to_owned(),
                    self.cfg.timeout_seconds,
                ));
            }
            Err(e) => return Err(spawn_error(e)),
        };
        // The watcher exits right after writing; reap it (ECHILD where the
        // application ignores SIGCHLD: the kernel reaped it).
        let _ = child.wait();
        let raw: [u8; 4] = raw.try_into().map_err(|_| {
            spawn_error(std::io::Error::other(
                "the command's exit status was lost (its watcher was killed)",
            ))
        })?;
        let status = ExitStatus::from_raw(i32::from_ne_bytes(raw));
        if !status.success() {
            return Err(SendError::Failed(path.to_owned(), status));
        }
        Ok(())
    }
}

/// The delivery's input in an anonymous memory file, not a pipe: a command that
/// exits without reading cannot make our write raise SIGPIPE in the application
/// (sshd, sudo) that loaded the module.
fn input_file(delivery: &Delivery<'_>) -> std::io::Result<std::fs::File> {
    let mut input = std::fs::File::from(nix::sys::memfd::memfd_create(
        c"pam_mfa-oob",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )?);
    input.write_all(delivery.input().as_bytes())?;
    input.rewind()?;
    Ok(input)
}

/// Reads what the watcher writes to the non-blocking `pipe` (the 4-byte exit
/// status) until it closes. `None`: it did not close within `timeout`.
fn read_status(mut pipe: std::fs::File, timeout: Duration) -> std::io::Result<Option<Vec<u8>>> {
    let started = Instant::now();
    let mut raw = Vec::with_capacity(4);
    let mut buf = [0u8; 4];
    loop {
        match std::io::Read::read(&mut pipe, &mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() >= timeout {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(raw))
}

#[cfg(test)]
mod tests;
