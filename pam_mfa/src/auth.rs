//! One authentication, from user name to [`Outcome`].
//!
//! Invariant: the code is checked and its consequences (replay step, consumed
//! recovery code, failure count, lockout) are stored in one `Store::update`, under
//! the user's lock, so two racing logins can never both spend the same code. The
//! prompt is shown to unknown, unenrolled, locked and enrolled users alike (only
//! `unenrolled = "ignore"` skips it), so the answer does not tell them apart. This
//! module has no FFI, no clock and no device: all of them are passed in.

use zeroize::Zeroizing;

use crate::audit::{Audit, Event, Factor, Failure};
use crate::config::{Config, Unenrolled};
use crate::error::{Error, Outcome};
use crate::i18n::{self, Lang, Msg};
use crate::policy;
use crate::recovery;
use crate::store::{Change, Record, Store};
use crate::totp;
use crate::username::UserName;

/// Longest answer we look at; anything longer is a wrong code.
pub const MAX_ANSWER: usize = 256;

/// The conversation with the user, whatever carries it.
pub trait Prompter {
    /// Asks a question without echo. `Err` when the conversation itself failed.
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error>;
    /// Shows a line of information.
    fn info(&mut self, text: &str) -> Result<(), Error>;
}

/// What the locked update decided.
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

/// Authenticates `raw_user` at unix time `now`.
pub fn authenticate(
    cfg: &Config,
    store: &impl Store,
    raw_user: &[u8],
    lang: Lang,
    prompter: &mut dyn Prompter,
    audit: &mut dyn Audit,
    now: u64,
) -> Result<Outcome, Error> {
    let ignore = cfg.policy.unenrolled == Unenrolled::Ignore;
    let prompt = i18n::text(lang, Msg::CodePrompt);
    let user = match UserName::from_bytes(raw_user) {
        Ok(u) => u,
        Err(_) => {
            audit.log(&Event::InvalidUser {
                raw: raw_user,
                ignored: ignore,
            });
            if ignore {
                return Ok(Outcome::Ignore);
            }
            prompter.ask_hidden(prompt)?;
            return Ok(Outcome::Failure);
        }
    };

    let snapshot = store.read(&user);
    let enrolled = match &snapshot {
        Ok(r) => r.as_ref().is_some_and(Record::has_factor),
        // Unknown: prompt, then report the error.
        Err(_) => true,
    };
    if !enrolled && ignore {
        audit.log(&Event::Unenrolled {
            user: &user,
            ignored: true,
        });
        return Ok(Outcome::Ignore);
    }

    let answer = prompter.ask_hidden(prompt)?;

    if let Err(error) = snapshot {
        audit.log(&Event::Store {
            user: Some(&user),
            error: &error,
        });
        return Err(error.into());
    }
    if !enrolled {
        audit.log(&Event::Unenrolled {
            user: &user,
            ignored: false,
        });
        return Ok(Outcome::Failure);
    }

    let verdict = store
        .update(&user, |current| decide(cfg, current, &answer, now))
        .inspect_err(|error| {
            audit.log(&Event::Store {
                user: Some(&user),
                error,
            })
        })?;

    Ok(match verdict {
        Verdict::Accepted(factor) => {
            audit.log(&Event::Success {
                user: &user,
                factor,
            });
            Outcome::Success
        }
        Verdict::Failed {
            why,
            failures,
            locked_until,
        } => {
            audit.log(&Event::Failed {
                user: &user,
                why,
                failures,
            });
            if let Some(until) = locked_until {
                audit.log(&Event::LockedOut { user: &user, until });
            }
            Outcome::Failure
        }
        Verdict::WhileLocked(until) => {
            audit.log(&Event::WhileLocked { user: &user, until });
            Outcome::Failure
        }
        Verdict::Unenrolled => {
            // Removed between the snapshot and the lock.
            audit.log(&Event::Unenrolled {
                user: &user,
                ignored: false,
            });
            Outcome::Failure
        }
    })
}

/// The locked part: checks `answer` against `current` and says what to store.
fn decide(cfg: &Config, current: Option<Record>, answer: &[u8], now: u64) -> (Change, Verdict) {
    let Some(mut record) = current.filter(Record::has_factor) else {
        return (Change::Keep, Verdict::Unenrolled);
    };
    if let Some(until) = policy::locked_until(&record.state, now) {
        return (Change::Keep, Verdict::WhileLocked(until));
    }
    let text = std::str::from_utf8(answer)
        .ok()
        .filter(|_| answer.len() <= MAX_ANSWER);
    let why = match text.map(|t| check_code(cfg, &mut record, t, now)) {
        Some(Ok(factor)) => {
            policy::on_success(&mut record.state, now);
            return (Change::Write(record), Verdict::Accepted(factor));
        }
        Some(Err(why)) => why,
        None => Failure::WrongCode,
    };
    let locked_until = policy::on_failure(&mut record.state, now, &cfg.lockout);
    let failures = if locked_until.is_some() {
        cfg.lockout.max_failures
    } else {
        record.state.failures
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

/// Tries `text` as a TOTP code, then as a recovery code; on success the record is
/// updated (replay step, consumed code).
fn check_code(cfg: &Config, record: &mut Record, text: &str, now: u64) -> Result<Factor, Failure> {
    if let Some(t) = record.totp.as_mut() {
        match totp::check(&t.secret, t.params, text, now, cfg.totp.window, t.last_step) {
            totp::Check::Accepted { step } => {
                t.last_step = Some(step);
                return Ok(Factor::Totp);
            }
            totp::Check::Replayed => return Err(Failure::Replay),
            totp::Check::Wrong => {}
        }
    }
    if let (Some(codes), Some(normalized)) = (record.recovery.as_mut(), recovery::normalize(text)) {
        if let Some(i) = recovery::find(&codes.hashed, &normalized) {
            codes.hashed.hashes.remove(i);
            return Ok(Factor::Recovery {
                remaining: codes.hashed.hashes.len(),
            });
        }
    }
    Err(Failure::WrongCode)
}

#[cfg(test)]
mod tests;
