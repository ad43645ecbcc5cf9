//! What the module writes to the system log (authpriv).
//!
//! Invariant: an [`Event`] carries no secret and no code, typed or expected, by
//! construction: its fields are user names, counts, times and error descriptions.
//! Names that failed validation are logged escaped and truncated, so a hostile name
//! cannot forge log lines.

use std::fmt;

use crate::config::ConfigError;
use crate::store::StoreError;
use crate::username::UserName;

/// Which factor passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Factor {
    /// An authenticator app, by its entry's name.
    Totp { name: String },
    /// A security key, by the name it was registered under.
    Key { name: String },
    Recovery {
        /// Unused codes left after this one.
        remaining: usize,
    },
    /// A code sent out of band (SMS, e-mail).
    Oob,
    /// An HOTP token, by its name.
    Hotp { name: String },
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The code matched nothing.
    WrongCode,
    /// A TOTP code for a step that was already used.
    Replay,
    /// A security key's assertion failed verification (logged with its reason).
    KeyRejected,
    /// The user's only factor was recovery codes, and every one is used.
    Spent,
    /// An HOTP code whose counter value was used already (or skipped over).
    HotpUsed,
}

/// Where a user set up an authenticator app themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journey {
    /// Inside a login (`policy.unenrolled = "enroll"`).
    AtLogin,
    /// `mfa-token enroll totp` run by the user, through pam_mfad.
    SelfService,
}

impl Journey {
    /// The words for an enrollment refused on this journey.
    fn refused(self) -> &'static str {
        match self {
            Journey::AtLogin => "no second factor enrolled, enrollment at login not offered",
            Journey::SelfService => {
                "authenticator app enrollment by the user (self-service) refused"
            }
        }
    }

    /// The enrollment this journey is, as a noun.
    fn enrollment(self) -> &'static str {
        match self {
            Journey::AtLogin => "enrollment at login",
            Journey::SelfService => "enrollment by the user (self-service)",
        }
    }
}

impl fmt::Display for Journey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Journey::AtLogin => "at login",
            Journey::SelfService => "by the user (self-service)",
        })
    }
}

/// How a user's own enrollment changed their apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    /// Their first factor.
    First,
    /// An app next to the ones they have, after a current second factor.
    Added,
    /// Over their app of the same name, after a current second factor.
    Replaced,
}

/// Something worth a log line.
#[derive(Debug)]
pub enum Event<'a> {
    /// The second factor passed.
    Success { user: &'a UserName, factor: Factor },
    /// The grace period: the user passed a second factor from this address
    /// `age` seconds ago and is not asked again.
    Remembered {
        user: &'a UserName,
        ip: std::net::IpAddr,
        age: u64,
    },
    /// A wrong or replayed code.
    Failed {
        user: &'a UserName,
        why: Failure,
        failures: u32,
    },
    /// This failure locked the user.
    LockedOut { user: &'a UserName, until: u64 },
    /// An attempt while locked; the code was not checked.
    WhileLocked { user: &'a UserName, until: u64 },
    /// A user without any factor.
    Unenrolled { user: &'a UserName, ignored: bool },
    /// The config says this login needs no second factor (`[policy]` exemptions,
    /// `require_groups`): `reason` names the key that says so.
    Exempt { user: &'a UserName, reason: String },
    /// The user's groups could not be looked up for the `[policy]` group lists;
    /// the second factor is required.
    GroupsUnknown { user: &'a UserName, error: String },
    /// An account whose name the store cannot hold.
    InvalidUser { raw: &'a [u8], ignored: bool },
    /// A name the user database does not know (or could not look up: `error`).
    UnknownUser {
        raw: &'a [u8],
        error: Option<&'a str>,
    },
    /// A service needs a security key and none passed.
    KeyRequired {
        user: &'a UserName,
        service: &'a str,
    },
    /// No answer from a security key; the code prompt follows.
    KeyUnavailable { user: &'a UserName, reason: String },
    /// A security key answered, and the answer failed verification.
    KeyRejected {
        user: &'a UserName,
        reason: &'a crate::fido2::verify::Rejection,
    },
    /// An enrollment by the user, or at login.
    Enroll(EnrollEvent<'a>),
    /// An out-of-band code went to the delivery command (never the code itself).
    OobSent {
        user: &'a UserName,
        channel: crate::contact::Channel,
        to: String,
    },
    /// An out-of-band code was asked for and not sent.
    OobRefused { user: &'a UserName, reason: String },
    /// The delivery command failed.
    OobFailed { user: &'a UserName, error: String },
    /// The configuration was refused.
    Config(&'a ConfigError),
    /// The store failed for this user.
    Store {
        user: Option<&'a UserName>,
        error: &'a StoreError,
    },
    /// The conversation with the application failed (the name as passed by it).
    Conversation { user: &'a [u8] },
    /// Detail for `debug`.
    Debug(String),
}

/// What happened to a user's own enrollment (self-service or at login).
#[derive(Debug)]
pub enum EnrollEvent<'a> {
    /// A user was not offered to set up an authenticator app themselves.
    Refused {
        user: &'a UserName,
        journey: Journey,
        reason: String,
    },
    /// A user set up an authenticator app themselves, the entry `name`, with a
    /// new set of `recovery_codes` (`None`: the set they had was kept).
    Done {
        user: &'a UserName,
        journey: Journey,
        name: &'a str,
        how: Enrollment,
        recovery_codes: Option<usize>,
    },
    /// A user's own enrollment ended without a valid code; nothing was saved.
    Abandoned {
        user: &'a UserName,
        journey: Journey,
        tries: u32,
    },
    /// A user made a new set of recovery codes (self-service); the old set is void.
    RecoveryRenewed { user: &'a UserName, codes: usize },
    /// A user registered a security key themselves (self-service).
    KeyRegistered {
        user: &'a UserName,
        name: &'a str,
        algorithm: &'static str,
        rp_id: &'a str,
    },
}

/// How bad an event is, mapped to syslog priorities by the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl Event<'_> {
    /// The event's severity.
    pub fn level(&self) -> Level {
        match self {
            Event::Debug(_) => Level::Debug,
            Event::Success { .. } | Event::Remembered { .. } => Level::Info,
            Event::Failed { .. }
            | Event::Unenrolled { .. }
            | Event::Exempt { .. }
            | Event::GroupsUnknown { .. }
            | Event::InvalidUser { .. }
            | Event::UnknownUser { .. }
            | Event::KeyRequired { .. }
            | Event::KeyUnavailable { .. }
            | Event::Enroll(EnrollEvent::Refused { .. } | EnrollEvent::Abandoned { .. })
            | Event::OobRefused { .. } => Level::Notice,
            Event::Enroll(_) | Event::OobSent { .. } => Level::Info,
            Event::OobFailed { .. } => Level::Error,
            Event::KeyRejected { .. } => Level::Warning,
            Event::LockedOut { .. } | Event::WhileLocked { .. } | Event::Conversation { .. } => {
                Level::Warning
            }
            // The store logged the outage when it began; every login it fails need
            // not say it again.
            Event::Store { error, .. } if error.is_outage() => Level::Debug,
            Event::Config(_) | Event::Store { .. } => Level::Error,
        }
    }
}

/// Bytes from outside (a refused user name, a remote host), made safe for one log
/// line: printable ASCII kept, everything else as `\xNN`, truncated.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        for &b in self.0.iter().take(MAX) {
            if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.0.len() > MAX {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Success { user, factor } => accepted(f, user, factor),
            Event::Remembered { user, ip, age } => write!(
                f,
                "user={user}: second factor skipped (remembered from {ip}, {age} s ago)"
            ),
            Event::Failed {
                user,
                why,
                failures,
            } => write!(
                f,
                "user={user}: {} ({failures} consecutive failures)",
                refusal(*why)
            ),
            Event::LockedOut { user, until } => write!(
                f,
                "user={user}: locked out until {until} (unix time) after repeated failures"
            ),
            Event::WhileLocked { user, until } => write!(
                f,
                "user={user}: attempt while locked out (until {until}), code not checked"
            ),
            Event::Unenrolled { user, ignored } => write!(
                f,
                "user={user}: no second factor enrolled, {}",
                let_through(*ignored)
            ),
            Event::Exempt { user, reason } => {
                write!(f, "user={user}: second factor not required ({reason})")
            }
            Event::GroupsUnknown { user, error } => write!(
                f,
                "user={user}: groups unknown ({error}): no group exemption, second factor required"
            ),
            Event::InvalidUser { raw, ignored } => write!(
                f,
                "user name \"{}\" is not valid for the store, {}",
                Escaped(raw),
                let_through(*ignored)
            ),
            Event::UnknownUser { raw, error } => unknown_user(f, raw, *error),
            Event::KeyRequired { user, service } => write!(
                f,
                "user={user}: service {service} requires a security key and none passed"
            ),
            Event::KeyUnavailable { user, reason } => {
                write!(f, "user={user}: security key not used: {reason}")
            }
            Event::KeyRejected { user, reason } => {
                write!(f, "user={user}: security key assertion rejected: {reason}")
            }
            Event::Enroll(event) => event.fmt(f),
            Event::OobSent { user, channel, to } => {
                write!(f, "user={user}: one-time code sent by {channel} to {to}")
            }
            Event::OobRefused { user, reason } => {
                write!(f, "user={user}: one-time code not sent: {reason}")
            }
            Event::OobFailed { user, error } => {
                write!(f, "user={user}: one-time code not delivered: {error}")
            }
            Event::Config(e) => write!(f, "refusing to run: {e}"),
            Event::Store { user, error } => match user {
                Some(user) => write!(f, "user={user}: {error}"),
                None => write!(f, "{error}"),
            },
            Event::Conversation { user } => write!(
                f,
                "user \"{}\": conversation with the application failed",
                Escaped(user)
            ),
            Event::Debug(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for EnrollEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
        EnrollEvent::Refused {
            user,
            journey,
            reason,
        } => write!(f, "user={user}: {}: {reason}", journey.refused()),
        EnrollEvent::Done {
            user,
            journey,
            name,
            how,
            recovery_codes,
        } => enrolled(f, user, *journey, name, *how, *recovery_codes),
        EnrollEvent::Abandoned {
            user,
            journey,
            tries,
        } => write!(
            f,
            "user={user}: {} abandoned after {tries} wrong codes, nothing saved",
            journey.enrollment()
        ),
        EnrollEvent::KeyRegistered {
            user,
            name,
            algorithm,
            rp_id,
        } => write!(
            f,
            "user={user}: security key {name:?} registered by the user ({algorithm}, RP ID {rp_id}; self-service, after a current second factor or as the first)"
        ),
        EnrollEvent::RecoveryRenewed { user, codes } => write!(
            f,
            "user={user}: {codes} new recovery codes made by the user (self-service, after a current second factor), earlier ones revoked"
        ),
        }
    }
}

/// How a login the user's name or enrollment decides ends, in its line.
fn let_through(ignored: bool) -> &'static str {
    if ignored {
        "ignored by policy"
    } else {
        "denied"
    }
}

/// The line of a name the user database does not know or could not look up.
fn unknown_user(f: &mut fmt::Formatter<'_>, raw: &[u8], error: Option<&str>) -> fmt::Result {
    match error {
        None => write!(
            f,
            "user \"{}\" unknown to the user database, denied",
            Escaped(raw)
        ),
        Some(e) => write!(
            f,
            "user \"{}\" could not be looked up ({e}), denied",
            Escaped(raw)
        ),
    }
}

/// The line of an app a user set up themselves.
fn enrolled(
    f: &mut fmt::Formatter<'_>,
    user: &UserName,
    journey: Journey,
    name: &str,
    how: Enrollment,
    recovery_codes: Option<usize>,
) -> fmt::Result {
    let how = match how {
        Enrollment::First => "",
        Enrollment::Added => ", added after a current second factor",
        Enrollment::Replaced => {
            ", replacing the earlier one of that name after a current second factor"
        }
    };
    write!(
        f,
        "user={user}: authenticator app {name:?} enrolled {journey} (confirmed with a code{how}), "
    )?;
    match recovery_codes {
        Some(n) => write!(f, "{n} recovery codes"),
        None => f.write_str("recovery codes kept"),
    }
}

/// The line of a second factor that passed.
fn accepted(f: &mut fmt::Formatter<'_>, user: &UserName, factor: &Factor) -> fmt::Result {
    match factor {
        Factor::Key { name } => write!(
            f,
            "user={user}: second factor accepted (security key {name:?})"
        ),
        // The default app as before several apps existed: log searches that
        // match this line keep working.
        Factor::Totp { name } if name == crate::totp::DEFAULT_NAME => {
            write!(f, "user={user}: second factor accepted (totp)")
        }
        Factor::Totp { name } => {
            write!(f, "user={user}: second factor accepted (totp {name:?})")
        }
        Factor::Recovery { remaining } => write!(
            f,
            "user={user}: second factor accepted (recovery code, {remaining} left)"
        ),
        Factor::Hotp { name } => write!(
            f,
            "user={user}: second factor accepted (hotp token {name:?})"
        ),
        Factor::Oob => write!(
            f,
            "user={user}: second factor accepted (code sent out of band)"
        ),
    }
}

/// What a failed attempt was, as its line says it.
fn refusal(why: Failure) -> &'static str {
    match why {
        Failure::WrongCode => "wrong code",
        Failure::KeyRejected => "security key refused",
        Failure::Spent => {
            "refused: every recovery code is used and no other factor is enrolled; enroll a new one with mfa-token"
        }
        Failure::Replay => "replayed totp code refused",
        Failure::HotpUsed => "used hotp code refused",
    }
}

/// Where events go: pam_syslog in the module, a vector in tests.
pub trait Audit {
    /// Records one event.
    fn log(&mut self, event: &Event<'_>);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Collects the rendered events.
    #[derive(Default)]
    pub(crate) struct Recorder(pub Vec<(Level, String)>);

    impl Audit for Recorder {
        fn log(&mut self, event: &Event<'_>) {
            self.0.push((event.level(), event.to_string()));
        }
    }

    #[test]
    fn hostile_names_are_escaped() {
        let line = Event::InvalidUser {
            raw: b"evil\nJan 1 sshd: Accepted\"\\",
            ignored: false,
        }
        .to_string();
        assert!(!line.contains('\n'));
        assert!(
            line.contains(r#""evil\x0aJan\x201\x20sshd:\x20Accepted\x22\x5c""#),
            "{line}"
        );
        let long = Event::InvalidUser {
            raw: &[b'a'; 300],
            ignored: true,
        }
        .to_string();
        assert!(long.contains("...(300 bytes)"), "{long}");
        for line in [
            Event::Conversation {
                user: b"x\nJan 1 sshd: Accepted",
            }
            .to_string(),
            Event::UnknownUser {
                raw: b"x\ny",
                error: None,
            }
            .to_string(),
        ] {
            assert!(!line.contains('\n') && line.contains(r"x\x0a"), "{line}");
        }
    }
}
