//! Out-of-band one-time codes: the SMS or e-mail fallback.
//!
//! Invariant: a sent code exists in plaintext only in the delivery command's standard
//! input and in the user's hands; the record keeps a salted SHA-256 of it with its
//! expiry, and the locked update that accepts it removes it, so it works once. The
//! record also keeps the times of recent sends, so the rate limit holds across
//! processes. The code never reaches argv, the environment or the log.
//!
//! A code has only 6 to 10 digits, so its hash would fall to an offline search;
//! that is acceptable because the store is root-only and the code dies within
//! `oob.lifetime_seconds` anyway.

mod spawn;

use std::fmt;
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::config::OobConfig;
use crate::contact::Contact;
use crate::i18n::{self, Lang, Msg};
use crate::random::{Random, RandomError};
use crate::recovery;
use crate::secure_fs::{self, Trust};

/// A code that was sent and not used yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Hex salt.
    pub salt: String,
    /// Hex SHA-256 of `salt:code`.
    pub hash: String,
    /// Unix time after which the code is refused.
    pub expires: u64,
}

/// What a record keeps about out-of-band codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OobState {
    pub pending: Option<Pending>,
    /// Unix times of the sends inside the rate-limit window.
    pub sends: Vec<u64>,
}

/// A fresh code of `digits` digits, uniformly drawn, and its pending form.
pub fn new_code(
    digits: u8,
    lifetime: u32,
    now: u64,
    rng: &mut dyn Random,
) -> Result<(Zeroizing<String>, Pending), RandomError> {
    let mut code = Zeroizing::new(String::with_capacity(usize::from(digits)));
    let mut byte = [0u8; 1];
    while code.len() < usize::from(digits) {
        rng.fill(&mut byte)?;
        // 250 = 25 × 10: rejecting the rest keeps every digit equally likely.
        if byte[0] < 250 {
            code.push(char::from(b'0' + byte[0] % 10));
        }
    }
    let salt = recovery::new_salt(rng)?;
    let hash = recovery::digest(&salt, &code);
    Ok((
        code,
        Pending {
            salt,
            hash,
            expires: now.saturating_add(u64::from(lifetime)),
        },
    ))
}

/// Whether `typed` is the pending code and it has not expired. Spaces and dashes
/// in what was typed are ignored.
pub fn matches(pending: &Pending, typed: &str, now: u64) -> bool {
    if now > pending.expires {
        return false;
    }
    let digits: Zeroizing<String> = Zeroizing::new(
        typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
    );
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let hash = recovery::digest(&pending.salt, &digits);
    bool::from(hash.as_bytes().ct_eq(pending.hash.as_bytes()))
}

/// Records a send at `now` if the rate limit allows it; otherwise `Err` with the
/// unix time when the next send will be allowed. Sends older than the window are
/// forgotten.
pub fn allow_send(state: &mut OobState, cfg: &OobConfig, now: u64) -> Result<(), u64> {
    let since = now.saturating_sub(cfg.per_seconds);
    state.sends.retain(|&t| t > since && t <= now);
    if state.sends.len() >= cfg.max_sends as usize {
        let oldest = state.sends.iter().copied().min().unwrap_or(now);
        return Err(oldest.saturating_add(cfg.per_seconds));
    }
    state.sends.push(now);
    Ok(())
}

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
            self.contact.channel,
            self.contact.address,
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
        // The input goes through an anonymous memory file, not a pipe: a command
        // that exits without reading cannot make our write raise SIGPIPE in the
        // application (sshd, sudo) that loaded the module.
        let spawn_error = |e: std::io::Error| SendError::Spawn(path.to_owned(), e);
        let mut input = std::fs::File::from(
            nix::sys::memfd::memfd_create(c"pam_mfa-oob", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .map_err(|e| spawn_error(e.into()))?,
        );
        input
            .write_all(delivery.input().as_bytes())
            .and_then(|()| input.rewind())
            .map_err(spawn_error)?;
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
        let started = Instant::now();
        let mut status_pipe = std::fs::File::from(status_read);
        let mut raw = Vec::with_capacity(4);
        let mut buf = [0u8; 4];
        loop {
            match std::io::Read::read(&mut status_pipe, &mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if started.elapsed() >= timeout {
                        spawn::kill_group(child.id());
                        // Reaped here, or by the application if it ignores SIGCHLD.
                        let _ = child.wait();
                        return Err(SendError::Timeout(
                            path.to_owned(),
                            self.cfg.timeout_seconds,
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(spawn_error(e)),
            }
        }
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

#[cfg(test)]
mod tests;
