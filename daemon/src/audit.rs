//! The daemon's log: syslog (authpriv) through /dev/log, tagged `pam_mfad`.
//!
//! Invariant: every line is one [`Event`] or one fixed message of the daemon, with
//! the login's service, remote host and caller appended; never a secret or a code
//! (an `Event` cannot hold one). Names from outside are escaped.

use std::os::unix::net::UnixDatagram;

use pam_mfa::audit::{Audit, Escaped, Event, Level};

/// syslog(3)'s socket.
const SOCKET: &str = "/dev/log";
/// LOG_AUTHPRIV.
const FACILITY: u8 = 10 << 3;
pub const ERROR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// Sends one line at `severity`. A missing syslog is not an error of the login.
pub fn line(severity: u8, text: &str) {
    let message = format!(
        "<{}>pam_mfad[{}]: {text}",
        FACILITY | severity,
        std::process::id()
    );
    if let Ok(socket) = UnixDatagram::unbound() {
        let _ = socket.send_to(message.as_bytes(), SOCKET);
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
        let severity = match event.level() {
            Level::Debug if !self.debug => return,
            Level::Debug => DEBUG,
            Level::Info => INFO,
            Level::Notice => NOTICE,
            Level::Warning => WARNING,
            Level::Error => ERROR,
        };
        line(severity, &format!("{event}{}", self.context));
    }
}
