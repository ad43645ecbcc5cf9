//! The daemon's log: syslog (authpriv) through /dev/log, tagged `pam_mfad`.
//!
//! Invariant: every line is one [`Event`] or one fixed message of the daemon, with
//! the login's service, remote host and caller appended; never a secret or a code
//! (an `Event` cannot hold one). Names from outside are escaped.

use mfa_core::audit::{Audit, Escaped, Event, Level};
pub use mfa_core::syslog::{DEBUG, ERROR, INFO, NOTICE, WARNING};

/// Sends one line at `severity`, tagged `pam_mfad` (see [`mfa_core::syslog`]: it
/// never blocks a login for long; a line syslog does not take is counted, and
/// the count is reported with the next one).
pub fn line(severity: u8, text: &str) {
    let _ = mfa_core::syslog::send("pam_mfad", severity, text);
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
