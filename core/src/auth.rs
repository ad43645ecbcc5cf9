//! One authentication, from user name to [`Outcome`].
//!
//! Invariant: a code or key assertion is checked and its consequences (replay step,
//! HOTP counter, consumed recovery code, sign counter, failure count, lockout) are
//! stored in one `Store::update`, under the user's lock, so two racing logins can
//! never both spend the same code. The code prompt is shown to unknown, unenrolled,
//! locked and enrolled users alike (only `unenrolled = "ignore"` and the `[policy]`
//! exemptions, both config, skip it), so the answer does not tell them apart. A security key is tried first when the user has one, the
//! session is local (or the config allows remote) and a key is plugged in; a key
//! that does not answer leads to the code prompt, a key whose answer fails
//! verification fails the login. A code typed after the password in one answer
//! ([`Session::one_answer`]) goes to the code check alone: no key, no sent code,
//! no enrollment, as its client can answer nothing else. This module has no FFI, no clock and no device:
//! all of them are passed in.

mod enroll;
mod exempt;
mod key;
pub mod manage;
mod oob;

use std::fmt;

use zeroize::Zeroizing;

use crate::accounts::{Accounts, Lookup};
use crate::audit::{Audit, EnrollEvent, Event, Factor, Failure, Journey};
use crate::config::{Config, Unenrolled};
use crate::error::{Error, Outcome};
use crate::fido2::Authenticator;
use crate::grace;
use crate::hotp;
use crate::i18n::{Lang, Msg};
use crate::oob::Courier;
use crate::policy;
use crate::random::Random;
use crate::recovery;
use crate::store::{Change, Record, Store, StoreError};
use crate::totp;
use crate::username::UserName;

/// The conversation with the user, whatever carries it.
pub trait Prompter {
    /// Asks a question without echo. `Err` when the conversation itself failed.
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error>;
    /// Shows a line of information.
    fn info(&mut self, text: &str) -> Result<(), Error>;
    /// Shows an error message.
    fn error(&mut self, text: &str) -> Result<(), Error> {
        self.info(text)
    }
    /// Whether information is dropped instead of shown (`PAM_SILENT`).
    fn silent(&self) -> bool {
        false
    }
}

/// Access to security keys.
pub trait KeyPort {
    /// The key to use, or `None` if none is plugged in.
    fn open(&mut self) -> Option<Box<dyn Authenticator>>;
}

/// No security keys (the CLI, tests of the code path).
pub struct NoKeys;

impl KeyPort for NoKeys {
    fn open(&mut self) -> Option<Box<dyn Authenticator>> {
        None
    }
}

/// Whether the user sits at this machine: a key plugged in here is only theirs to
/// touch if so. Decided when first needed: only the key step asks (the reads of
/// /proc and logind's files cost every other login nothing).
#[derive(Clone, Copy, Default)]
pub enum Place<'a> {
    /// At this machine.
    #[default]
    Local,
    /// Away from it.
    Remote,
    /// Ask [`crate::locality`] (its answer, with its reasons, is logged at debug).
    Decide(&'a dyn Fn() -> crate::locality::Locality),
}

impl fmt::Debug for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Local => "Local",
            Place::Remote => "Remote",
            Place::Decide(_) => "Decide",
        })
    }
}

/// Where the login comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session<'a> {
    /// The PAM service name.
    pub service: &'a str,
    /// Whether the user is at this machine.
    pub remote: Place<'a>,
    /// The module argument `require_key`.
    pub require_key: bool,
    /// PAM_RHOST as the application set it, empty when unset (a local login, an
    /// application that does not say, or a caller that is not root, whose items
    /// pam_mfad does not trust). Not trusted as a host: only an IP literal in it
    /// is ever compared with a network or remembered.
    pub rhost: &'a str,
    /// This machine's name, for messages (issuer of new enrollments, sent codes).
    pub host: &'a str,
    /// The code was typed after the password in one answer (`policy.prompt =
    /// "combined"`) and the client can answer no second prompt: no security key,
    /// no code sent by SMS or e-mail, no enrollment at login; only the code prompt.
    pub one_answer: bool,
}

/// Everything an authentication uses besides the store.
pub struct Env<'a> {
    pub cfg: &'a Config,
    pub lang: Lang,
    /// Unix time, refreshed from `clock` after every answer (a user may take a
    /// minute to scan a QR code or to receive a code).
    pub now: u64,
    pub clock: &'a dyn Fn() -> u64,
    pub session: Session<'a>,
    pub prompter: &'a mut dyn Prompter,
    pub keys: &'a mut dyn KeyPort,
    pub rng: &'a mut dyn Random,
    pub audit: &'a mut dyn Audit,
    /// Group membership, for enrollment at login.
    pub accounts: &'a dyn Accounts,
    /// Delivery of out-of-band codes.
    pub courier: &'a mut dyn Courier,
}

/// What a locked update decided.
enum Verdict {
    Accepted(Factor),
    Failed {
        why: Failure,
        failures: u32,
        locked_until: Option<u64>,
    },
    WhileLocked(u64),
    Unenrolled,
}

impl Env<'_> {
    /// Reads the clock for a decision about to be made: a user may take a minute
    /// to scan a QR code, receive a code or touch a key since the last reading.
    pub fn tick(&mut self) -> u64 {
        self.now = (self.clock)();
        self.now
    }

    /// Logs a failed store access, the same way for every access.
    fn store_failed(&mut self, user: &UserName, error: &StoreError) {
        self.audit.log(&Event::Store {
            user: Some(user),
            error,
        });
    }
}

/// Authenticates `raw_user`, the name as the application passed it (PAM_USER).
pub fn authenticate(
    store: &impl Store,
    raw_user: &[u8],
    env: &mut Env<'_>,
) -> Result<Outcome, Error> {
    let cfg = env.cfg;
    let ignore = cfg.policy.unenrolled == Unenrolled::Ignore;
    let prompt = code_prompt(env);
    let user = match account(raw_user, ignore, env) {
        Ok(user) => user,
        Err(Some(outcome)) => return Ok(outcome),
        Err(None) => {
            // Asked all the same, so the answer does not tell who exists.
            env.prompter.ask_hidden(prompt)?;
            return Ok(Outcome::Failure);
        }
    };
    // Before the store and any prompt: an exempt login spends and counts nothing.
    if exempt(&user, env) {
        return Ok(Outcome::Ignore);
    }

    let snapshot = store.read(&user);
    let enrolled = match &snapshot {
        Ok(r) => r.as_ref().is_some_and(Record::has_factor),
        // Unknown: prompt, then report the error.
        Err(_) => true,
    };
    if !enrolled && ignore {
        env.audit.log(&Event::Unenrolled {
            user: &user,
            ignored: true,
        });
        return Ok(Outcome::Ignore);
    }
    if let Some(outcome) = without_a_code(store, &user, &snapshot, enrolled, env)? {
        return Ok(outcome);
    }

    let answer = ask_code(store, &user, prompt, enrolled && snapshot.is_ok(), env)?;
    if let Err(error) = snapshot {
        env.store_failed(&user, &error);
        return Err(error.into());
    }
    if !enrolled {
        env.audit.log(&Event::Unenrolled {
            user: &user,
            ignored: false,
        });
        return Ok(Outcome::Failure);
    }

    let now = env.tick();
    let from = remember_at(env);
    let verdict = store
        .update(&user, |current| decide(cfg, current, &answer, now, from))
        .inspect_err(|error| env.store_failed(&user, error))?;
    Ok(report(env.audit, &user, verdict))
}

/// The code prompt, in the user's language; it offers a code sent out of band
/// when a delivery command is set and the login can answer twice.
fn code_prompt<'c>(env: &Env<'c>) -> &'c str {
    let oob_on = env.cfg.oob.command.is_some() && !env.session.one_answer;
    env.cfg.prompt.text(
        env.lang,
        if oob_on {
            Msg::CodePromptOob
        } else {
            Msg::CodePrompt
        },
    )
}

/// Whether the config exempts this login from the second factor (logged with the
/// key that says so). Groups that cannot be looked up exempt nobody.
fn exempt(user: &UserName, env: &mut Env<'_>) -> bool {
    match exempt::exemption(&env.cfg.policy, user, env.session.rhost, env.accounts) {
        Ok(Some(reason)) => {
            env.audit.log(&Event::Exempt { user, reason });
            true
        }
        Ok(None) => false,
        Err(error) => {
            env.audit.log(&Event::GroupsUnknown { user, error });
            false
        }
    }
}

/// What settles a login before any code is asked: the grace period, enrollment
/// at login, a security key, or a service that takes only a key and got none.
fn without_a_code(
    store: &impl Store,
    user: &UserName,
    snapshot: &Result<Option<Record>, StoreError>,
    enrolled: bool,
    env: &mut Env<'_>,
) -> Result<Option<Outcome>, Error> {
    let cfg = env.cfg;
    let key_only = key_only(env);
    if let Ok(Some(record)) = snapshot {
        if let Some((ip, age)) = remembered(cfg, record, key_only, env) {
            env.audit.log(&Event::Remembered { user, ip, age });
            return Ok(Some(Outcome::Success));
        }
    }
    if !enrolled && cfg.policy.unenrolled == Unenrolled::Enroll && !env.session.one_answer {
        match enroll::refusal(env, user, key_only) {
            None => {
                return enroll::journey(
                    store,
                    user,
                    env,
                    Journey::AtLogin,
                    enroll::Mode::First,
                    crate::totp::DEFAULT_NAME,
                )
                .map(Some)
            }
            Some(reason) => env.audit.log(&Event::Enroll(EnrollEvent::Refused {
                user,
                journey: Journey::AtLogin,
                reason,
            })),
        }
    }
    if let Ok(Some(record)) = snapshot {
        if let Some(verdict) = key_step(store, user, record, env)? {
            return Ok(Some(report(env.audit, user, verdict)));
        }
    }
    if key_only {
        env.audit.log(&Event::KeyRequired {
            user,
            service: env.session.service,
        });
        return Ok(Some(Outcome::Failure));
    }
    Ok(None)
}

/// The grace period: `Some((address, age))` when this user passed a second factor
/// from this login's remote address (PAM_RHOST as an IP literal) less than
/// `policy.remember_seconds` ago, and nothing since forgot it (a failure, a
/// change of factors). Never for a local login, a locked-out user, or a service
/// that accepts only a security key (the remembered factor may have been a code).
fn remembered(
    cfg: &Config,
    record: &Record,
    key_only: bool,
    env: &Env<'_>,
) -> Option<(std::net::IpAddr, u64)> {
    if cfg.policy.remember_seconds == 0 || key_only || !record.has_factor() {
        return None;
    }
    if policy::locked_until(record.state(), env.now).is_some() {
        return None;
    }
    let ip = crate::network::rhost_ip(env.session.rhost)?;
    grace::recall(record.state(), ip, env.now, cfg.policy.remember_seconds).map(|age| (ip, age))
}

/// Where a second factor that passes now is remembered: this login's remote
/// address, when the grace period is on.
fn remember_at(env: &Env<'_>) -> Option<std::net::IpAddr> {
    (env.cfg.policy.remember_seconds > 0)
        .then(|| crate::network::rhost_ip(env.session.rhost))
        .flatten()
}

/// Whether this login accepts only a security key: the module argument
/// `require_key`, or the service is in `fido2.require_key_for`.
fn key_only(env: &Env<'_>) -> bool {
    env.session.require_key
        || env
            .cfg
            .fido2
            .require_key_for
            .iter()
            .any(|s| s == env.session.service)
}

/// The store's name for `raw_user`. The store, lockout, audit and enrollment know
/// a user by the account's own name: "ALICE" on a user database that ignores case
/// is alice, not a new user. `Err(Some(outcome))`: ends here without a prompt;
/// `Err(None)`: nobody's second factor, fail after the code prompt.
fn account(raw_user: &[u8], ignore: bool, env: &mut Env<'_>) -> Result<UserName, Option<Outcome>> {
    let account = match env.accounts.lookup(raw_user) {
        Lookup::Found(name) => name,
        unknown => {
            // Never `ignore`, never enrollment: the name is nobody's, or the user
            // database cannot say whose it is.
            env.audit.log(&Event::UnknownUser {
                raw: raw_user,
                error: match &unknown {
                    Lookup::Failed(e) => Some(e.as_str()),
                    _ => None,
                },
            });
            return Err(None);
        }
    };
    UserName::new(&account).map_err(|_| {
        // An account whose name the store cannot hold has no second factor.
        env.audit.log(&Event::InvalidUser {
            raw: account.as_bytes(),
            ignored: ignore,
        });
        ignore.then_some(Outcome::Ignore)
    })
}

/// The security key, when the user has one, is not locked out and is at this
/// machine (or the config allows remote). `None`: go on with the code prompt.
fn key_step(
    store: &impl Store,
    user: &UserName,
    record: &Record,
    env: &mut Env<'_>,
) -> Result<Option<Verdict>, Error> {
    let has_key = !record.keys().is_empty()
        && policy::locked_until(record.state(), env.now).is_none()
        && !env.session.one_answer;
    if !has_key {
        return Ok(None);
    }
    if !env.cfg.fido2.allow_remote && is_remote(env) {
        env.audit.log(&Event::Debug(format!(
            "user={user}: security key not tried: the session is remote \
             (fido2.allow_remote is off)"
        )));
        return Ok(None);
    }
    key::attempt(store, user, record, env)
}

/// The code prompt; an empty answer or `send` asks for a code by SMS or e-mail
/// first (when configured), then the prompt comes again.
fn ask_code(
    store: &impl Store,
    user: &UserName,
    prompt: &str,
    may_send: bool,
    env: &mut Env<'_>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let answer = env.prompter.ask_hidden(prompt)?;
    if env.cfg.oob.command.is_none() || env.session.one_answer || !oob::is_request(&answer) {
        return Ok(answer);
    }
    oob::send(store, user, may_send, env)?;
    env.prompter
        .ask_hidden(env.cfg.prompt.text(env.lang, Msg::CodePrompt))
}

/// Logs a verdict and turns it into the outcome.
/// Whether the login is away from this machine, decided now (and logged at debug).
pub(crate) fn is_remote(env: &mut Env<'_>) -> bool {
    match env.session.remote {
        Place::Local => false,
        Place::Remote => true,
        Place::Decide(decide) => {
            let locality = decide();
            env.audit.log(&Event::Debug(locality.to_string()));
            locality.remote
        }
    }
}

fn report(audit: &mut dyn Audit, user: &UserName, verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::Accepted(factor) => {
            audit.log(&Event::Success { user, factor });
            Outcome::Success
        }
        Verdict::Failed {
            why,
            failures,
            locked_until,
        } => {
            audit.log(&Event::Failed {
                user,
                why,
                failures,
            });
            if let Some(until) = locked_until {
                audit.log(&Event::LockedOut { user, until });
            }
            Outcome::Failure
        }
        Verdict::WhileLocked(until) => {
            audit.log(&Event::WhileLocked { user, until });
            Outcome::Failure
        }
        Verdict::Unenrolled => {
            // Removed between the snapshot and the lock.
            audit.log(&Event::Unenrolled {
                user,
                ignored: false,
            });
            Outcome::Failure
        }
    }
}

/// Counts a failure of `why` on `record` and says what to store.
fn fail(cfg: &Config, mut record: Record, why: Failure, now: u64) -> (Change, Verdict) {
    let locked_until = policy::on_failure(record.state_mut(), now, &cfg.lockout);
    let failures = if locked_until.is_some() {
        cfg.lockout.max_failures
    } else {
        record.state().failures
    };
    (
        Change::Write(record),
        Verdict::Failed {
            why,
            failures,
            locked_until,
        },
    )
}

/// The record a locked decision works on: the user's, with a factor and not locked
/// out; otherwise the verdict that ends the login with the record unchanged
/// (unenrolled, or locked until).
fn usable(current: Option<Record>, now: u64) -> Result<Record, Verdict> {
    let Some(record) = current.filter(Record::has_factor) else {
        return Err(Verdict::Unenrolled);
    };
    if let Some(until) = policy::locked_until(record.state(), now) {
        return Err(Verdict::WhileLocked(until));
    }
    Ok(record)
}

/// The locked part: checks `answer` against `current` and says what to store;
/// a success is remembered for `from` (see [`remember_at`]).
fn decide(
    cfg: &Config,
    current: Option<Record>,
    answer: &[u8],
    now: u64,
    from: Option<std::net::IpAddr>,
) -> (Change, Verdict) {
    let mut record = match usable(current, now) {
        Ok(record) => record,
        Err(verdict) => return (Change::Keep, verdict),
    };
    let why = match crate::answer::normalize(answer).map(|t| check_code(cfg, &mut record, &t, now))
    {
        Some(Ok(factor)) => {
            policy::on_success(record.state_mut(), now);
            if let Some(ip) = from {
                grace::remember(record.state_mut(), ip, now);
            }
            return (Change::Write(record), Verdict::Accepted(factor));
        }
        Some(Err(why)) => why,
        None if record.is_spent() => Failure::Spent,
        None => Failure::WrongCode,
    };
    fail(cfg, record, why, now)
}

/// Tries `text` (normalised: see [`crate::answer`]) as a code of the user's
/// code-generating factors (every HOTP token, then every authenticator app), then
/// as a recovery code, then as a sent code; on success the record is updated
/// (token counter, replay step, consumed code).
fn check_code(cfg: &Config, record: &mut Record, text: &str, now: u64) -> Result<Factor, Failure> {
    // Each kind of code-generating factor is checked in full, whichever matches;
    // a code that is only a replay is refused once none of them accepted it.
    let hotp_used = match check_hotp(cfg, record, text) {
        Ok(factor) => return Ok(factor),
        Err(used) => used,
    };
    match check_apps(record, text, now, cfg.totp.window) {
        Codes::Accepted(factor) => return Ok(factor),
        Codes::Replayed => return Err(Failure::Replay),
        Codes::Wrong => {}
    }
    if let Some(remaining) = recovery::normalize(text).and_then(|n| record.use_recovery_code(&n)) {
        return Ok(Factor::Recovery { remaining });
    }
    if let Some(pending) = &record.oob().pending {
        if pending.matches(text, now) {
            record.oob_mut().pending = None;
            return Ok(Factor::Oob);
        }
    }
    Err(if hotp_used {
        Failure::HotpUsed
    } else if record.is_spent() {
        Failure::Spent
    } else {
        Failure::WrongCode
    })
}

/// What a kind of code-generating factor made of a typed code.
enum Codes {
    /// Fresh for one of them (its state is advanced): the factor that passed.
    Accepted(Factor),
    /// Valid only for steps already used.
    Replayed,
    Wrong,
}

/// Checks `text` against every authenticator app of `record`, all of them whatever
/// matches, so the work (and the time) does not depend on which app the code
/// came from. Every app the code is fresh for keeps its step as used, so a code
/// is accepted once even when two entries hold the same key; the first of them,
/// in enrollment order, names the factor. An app's replay state is its own: a
/// code of one app does not spend the codes of another.
fn check_apps(record: &mut Record, text: &str, now: u64, window: u8) -> Codes {
    let mut fresh: Vec<(String, u64)> = Vec::new();
    let mut replayed = false;
    for t in record.apps() {
        match totp::check(t.secret(), t.params(), text, now, window, t.last_step()) {
            totp::Check::Accepted { step } => fresh.push((t.name().to_owned(), step)),
            totp::Check::Replayed => replayed = true,
            totp::Check::Wrong => {}
        }
    }
    for (name, step) in &fresh {
        record.use_app_step(name, *step);
    }
    match fresh.into_iter().next() {
        Some((name, _)) => Codes::Accepted(Factor::Totp { name }),
        None if replayed => Codes::Replayed,
        None => Codes::Wrong,
    }
}

/// Tries `text` against every HOTP token, each over its whole look-ahead (no early
/// exit: the time taken does not say which token or value matched). The first
/// token that accepts it moves its counter past the match. `Err(true)`: no token
/// accepted it and some token had already used it.
fn check_hotp(cfg: &Config, record: &mut Record, text: &str) -> Result<Factor, bool> {
    let mut accepted: Option<(usize, u64)> = None;
    let mut used = false;
    for (i, token) in record.tokens().iter().enumerate() {
        match hotp::check(
            token.secret(),
            token.digits(),
            text,
            token.counter(),
            cfg.hotp.look_ahead,
        ) {
            hotp::Check::Accepted { counter } if accepted.is_none() => {
                accepted = Some((i, counter));
            }
            hotp::Check::Accepted { .. } => {}
            hotp::Check::Used => used = true,
            hotp::Check::Wrong => {}
        }
    }
    let Some((i, counter)) = accepted else {
        return Err(used);
    };
    let name = record.tokens().get(i).ok_or(used)?.name().to_owned();
    // Forward only: `hotp::check` accepts nothing before the counter.
    record.advance_token(&name, counter.saturating_add(1));
    Ok(Factor::Hotp { name })
}

#[cfg(test)]
mod hotp_tests;
#[cfg(test)]
mod tests;
