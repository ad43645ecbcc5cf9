//! The daemon's log: syslog (authpriv) through /dev/log, tagged `pam_mfad`.
//!
//! Invariant: every line is one [`Event`] or one fixed message of the daemon, with
//! the login's service, remote host and caller appended; never a secret or a code
//! (an `Event` cannot hold one). Names from outside are escaped.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mfa_core::audit::{Audit, Escaped, Event, Level};

/// syslog(3)'s socket.
const SOCKET: &str = "/dev/log";
/// LOG_AUTHPRIV.
const FACILITY: u8 = 10 << 3;
pub const ERROR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// How long a line may wait for a syslog that does not keep up.
const SEND_FOR: Duration = Duration::from_millis(200);

/// Lines dropped because syslog did not take them in time.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Sends one line at `severity`. A syslog that is missing or does not keep up
/// costs a login at most [`SEND_FOR`], never a hang; dropped lines are counted and
/// the count is reported with the next line that gets through.
pub fn line(severity: u8, text: &str) {
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    let note = if dropped > 0 {
        format!(" ({dropped} earlier lines dropped: syslog did not keep up)")
    } else {
        String::new()
    };
    let message = format!(
        "<{}>pam_mfad[{}]: {text}{note}",
        FACILITY | severity,
        std::process::id()
    );
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    if socket.set_nonblocking(true).is_err() {
        return;
    }
    let started = Instant::now();
    loop {
        match socket.send_to(message.as_bytes(), SOCKET) {
            Ok(_) => return,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock && started.elapsed() < SEND_FOR =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => {
                DROPPED.fetch_add(1 + dropped, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The audit sink of one login.
pub struct LoginLog {
    /// ` service=... rhost=... caller=uid N`, appended to every line.
    pub context: String,
    pub debug: bool,
}

impl LoginLog {
    pub fn new(service: &str, rhost: &str, uid: u32, debug: bool) -> LoginLog {
        let mut context = format!(" service={}", Escaped(service.as_bytes()));
        if !rhost.is_empty() {
            context.push_str(&format!(" rhost={}", Escaped(rhost.as_bytes())));
        }
        context.push_str(&format!(" caller_uid={uid}"));
        LoginLog { context, debug }
    }
}

impl Audit for LoginLog {
    fn log(&mut self, event: &Event<'_>) {
        if event.level() == Level::Debug && !self.debug {
            return;
        }
        line(severity(event.level()), &format!("{event}{}", self.context));
    }
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Debug => DEBUG,
        Level::Info => INFO,
        Level::Notice => NOTICE,
        Level::Warning => WARNING,
        Level::Error => ERROR,
    }
}

/// Where the store reports the start and the end of a database outage.
pub fn store_notify() -> mfa_core::store::postgres::Notify {
    std::sync::Arc::new(|level, text| line(severity(level), text))
}
