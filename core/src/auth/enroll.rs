//! A user sets up an authenticator app themselves: inside the login, for
//! `policy.unenrolled = "enroll"`, or with `mfa-token enroll totp` through pam_mfad
//! (self-service, [`super::manage`]); one journey for both.
//!
//! Invariant: nothing is stored until the user typed a code that verifies against
//! the new key; the enrollment (with that code's step, against replay) and its
//! recovery codes are written in one update under the user's lock, and only if the
//! user still has no factor then (or, with [`Mode::Checked`], after the caller has
//! checked a current second factor, and while the user has room for the app). A
//! client that cannot show text is refused before anything is generated. Without a
//! factor, only users named by `[enroll]` get here, and only until its deadline; at
//! login the stack must have checked the password before (`requisite`), as this
//! step tells a caller that the account has no second factor yet.

use zeroize::Zeroizing;

use crate::activation;
use crate::audit::{EnrollEvent, Enrollment, Event, Journey};
use crate::error::{Error, Outcome};
use crate::i18n::{self, Msg};
use crate::otpauth::OtpAuth;
use crate::qr::{Background, Matrix};
use crate::recovery::{self, Hashed};
use crate::store::{Change, Record, RecoveryCodes, State, Store, TotpEnrollment};
use crate::totp::{self, Params, Secret};
use crate::username::UserName;

use super::Env;

/// Why `user` may not enroll at login now; `None` if they may. `key_only`: the
/// service accepts only a security key, which an app enrolled here is not.
pub(super) fn refusal(env: &Env<'_>, user: &UserName, key_only: bool) -> Option<String> {
    if key_only {
        return Some(format!(
            "service {} accepts only a security key",
            env.session.service
        ));
    }
    let policy = &env.cfg.enroll;
    if let Some((end, day)) = &policy.deadline {
        if env.now >= *end {
            return Some(format!("enroll.deadline {day} has passed"));
        }
    }
    if policy.users.iter().any(|u| u == user.as_str()) {
        return None;
    }
    match crate::accounts::member_of(env.accounts, user, &policy.groups) {
        Ok(Some(_)) => None,
        Ok(None) => Some("not in enroll.users or enroll.groups".to_owned()),
        Err(e) => Some(format!(
            "not in enroll.users, and enroll.groups cannot be checked: {e}"
        )),
    }
}

/// Whether the journey may change factors the user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Only for a user without any factor (checked again under the lock).
    First,
    /// Self-service by an enrolled user whose current second factor was just
    /// checked: the new app replaces the user's app of the same name, with a new
    /// set of recovery codes (as when there was only one app); or, under a new
    /// name, is added next to the others (at most [`totp::MAX_APPS`]), keeping the
    /// recovery codes unless none is left. Security keys and the contact stay.
    Checked,
}

/// Whether `record` has room for an app called `name`: it has one by that name
/// (replaced), or fewer than [`totp::MAX_APPS`].
pub(super) fn has_room(record: &Record, name: &str) -> bool {
    record.app(name).is_some() || record.apps().len() < totp::MAX_APPS
}

/// The journey: explain, show the QR code and the key, take the first code, save
/// it as the app `name` (valid: [`totp::check_name`]), show the recovery codes.
pub(super) fn journey(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
    journey: Journey,
    mode: Mode,
    name: &str,
) -> Result<Outcome, Error> {
    let cfg = env.cfg;
    if !introduced(env, user, journey) {
        return Ok(Outcome::Failure);
    }
    let secret = Secret::generate(env.rng).map_err(Error::Random)?;
    let params = Params {
        algorithm: cfg.totp.algorithm,
        digits: cfg.totp.digits,
        period: cfg.totp.period,
    };
    let Some(step) = confirmed(env, user, journey, &secret, params)? else {
        return Ok(Outcome::Failure);
    };

    let (codes, hashed) =
        recovery::generate(usize::from(cfg.recovery.codes), env.rng).map_err(Error::Random)?;
    let now = env.tick();
    // The name and the config's parameters were checked before; refused all the same.
    let enrollment = match TotpEnrollment::new(name, secret, params, now) {
        Ok(app) => app.with_last_step(Some(step)),
        Err(e) => {
            env.audit.log(&Event::Enroll(EnrollEvent::Refused {
                user,
                journey,
                reason: e.to_string(),
            }));
            return Ok(Outcome::Failure);
        }
    };
    let (how, new_codes) = match save(store, user, env, enrollment, hashed, mode)? {
        Saved::Yes { how, new_codes } => (how, new_codes),
        Saved::No(reason) => {
            env.audit.log(&Event::Enroll(EnrollEvent::Refused {
                user,
                journey,
                reason: reason.to_owned(),
            }));
            return Ok(Outcome::Failure);
        }
    };
    env.audit.log(&Event::Enroll(EnrollEvent::Done {
        user,
        journey,
        name,
        how,
        recovery_codes: new_codes.then_some(codes.len()),
    }));
    finish(env, user, journey, name, new_codes.then_some(&codes[..]));
    Ok(crate::error::Outcome::Success)
}

/// The journey's first words; false (logged) when the application cannot show
/// them: the user could never see the QR code either.
fn introduced(env: &mut Env<'_>, user: &UserName, journey: Journey) -> bool {
    let lang = env.lang;
    let intro = match journey {
        Journey::AtLogin => i18n::text(lang, Msg::LoginEnrollIntro).to_owned(),
        Journey::SelfService => i18n::format(lang, Msg::SelfEnrollIntro, &[user]),
    };
    if !env.prompter.silent() && env.prompter.info(&intro).is_ok() {
        return true;
    }
    // Best effort: the client may not show this either.
    let _ = env.prompter.error(i18n::text(lang, Msg::LoginEnrollNoText));
    env.audit.log(&Event::Enroll(EnrollEvent::Refused {
        user,
        journey,
        reason: "the application cannot show text (silent, or its conversation refused an information message)".to_owned(),
    }));
    false
}

/// Shows the new key (QR code and grouped text) and takes the first code:
/// `Some(step)` of the code that confirmed it, `None` (logged) after
/// [`activation::TRIES`] wrong codes.
fn confirmed(
    env: &mut Env<'_>,
    user: &UserName,
    journey: Journey,
    secret: &Secret,
    params: Params,
) -> Result<Option<u64>, Error> {
    let (cfg, lang) = (env.cfg, env.lang);
    let uri = OtpAuth {
        issuer: activation::issuer(cfg.totp.issuer.as_deref(), env.session.host),
        account: user.as_str().to_owned(),
        secret: secret.clone(),
        params,
    }
    .to_uri();
    let qr = Matrix::encode(uri.as_bytes()).ok();
    let p = &mut *env.prompter;
    activation::show_key(p, lang, secret, qr.as_ref().map(|m| (m, Background::Dark)))?;
    let confirmed = activation::confirm(p, lang, secret, params, cfg.totp.window, env.clock);
    let step = confirmed.inspect_err(|_| {
        // A client that shows text but cannot answer (sudo -S fed from a pipe):
        // say why, if it can still show an error.
        let _ = env.prompter.error(i18n::text(lang, Msg::LoginEnrollNoText));
        env.audit.log(&Event::Enroll(EnrollEvent::Refused {
            user,
            journey,
            reason: "the application's conversation ended before a code was typed".to_owned(),
        }));
    })?;
    if step.is_none() {
        let failed = match journey {
            Journey::AtLogin => Msg::LoginEnrollFailed,
            Journey::SelfService => Msg::SelfEnrollFailed,
        };
        let _ = env
            .prompter
            .error(&i18n::format(lang, failed, &[&activation::TRIES]));
        env.audit.log(&Event::Enroll(EnrollEvent::Abandoned {
            user,
            journey,
            tries: activation::TRIES,
        }));
    }
    Ok(step)
}

/// After the write: the new recovery codes (`codes`), or word that the earlier
/// ones stay; at login, the success line.
fn finish(
    env: &mut Env<'_>,
    user: &UserName,
    journey: Journey,
    name: &str,
    codes: Option<&[Zeroizing<String>]>,
) {
    let lang = env.lang;
    if let Some(codes) = codes {
        show_codes(env, user, journey, codes);
    } else {
        let kept = env
            .prompter
            .info(&i18n::format(lang, Msg::SelfEnrollKeptRecovery, &[user]))
            .and_then(|()| {
                env.prompter
                    .info(&i18n::format(lang, Msg::SelfEnrollDone, &[user]))
            });
        if kept.is_err() {
            env.audit.log(&Event::Conversation {
                user: user.as_str().as_bytes(),
            });
        }
    }
    if journey == Journey::AtLogin {
        env.audit.log(&Event::Success {
            user,
            factor: crate::audit::Factor::Totp {
                name: name.to_owned(),
            },
        });
    }
}

/// What the locked write did.
enum Saved {
    /// Written; `new_codes`: with the new set of recovery codes.
    Yes { how: Enrollment, new_codes: bool },
    /// Nothing written, for this reason (for the log).
    No(&'static str),
}

/// The locked write: the app (with the confirming code's step, against replay),
/// its recovery codes when due (see [`Mode`]) and a fresh login state. Nothing is
/// written when someone else enrolled a factor meanwhile and this is
/// [`Mode::First`], or the user's apps filled up meanwhile.
fn save(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
    enrollment: TotpEnrollment,
    hashed: Hashed,
    mode: Mode,
) -> Result<Saved, Error> {
    let now = enrollment.created();
    let saved = store
        .update(user, |current| {
            let mut record = current.unwrap_or_default();
            let how = match mode {
                // Enrolled by someone else meanwhile: theirs stands.
                Mode::First if record.has_factor() => {
                    return (
                        Change::Keep,
                        Saved::No("a factor was enrolled by another process meanwhile"),
                    )
                }
                Mode::First => Enrollment::First,
                Mode::Checked if record.app(enrollment.name()).is_some() => Enrollment::Replaced,
                Mode::Checked => Enrollment::Added,
            };
            let unused = record.recovery().map_or(0, |r| r.hashed.len());
            let new_codes = how != Enrollment::Added || unused == 0;
            if record.add_or_replace_app(enrollment).is_err() {
                return (
                    Change::Keep,
                    Saved::No("the user's authenticator apps filled up meanwhile"),
                );
            }
            if new_codes {
                record.set_recovery(RecoveryCodes {
                    hashed,
                    created: now,
                });
            }
            *record.state_mut() = State::default();
            record.state_mut().last_success = Some(now);
            (Change::Write(record), Saved::Yes { how, new_codes })
        })
        .inspect_err(|error| env.store_failed(user, error))?;
    Ok(saved)
}

/// The recovery codes and the last words. Saved already: a client that fails now
/// still logs in with its app (logged); the admin, or the user with a code, can
/// make new recovery codes. At login the codes go before a prompt, because some
/// applications (sshd's keyboard-interactive) show information only together with
/// the next question; mfa-token shows them at once.
fn show_codes(env: &mut Env<'_>, user: &UserName, journey: Journey, codes: &[Zeroizing<String>]) {
    let lang = env.lang;
    let p = &mut *env.prompter;
    let shown = activation::show_recovery(p, lang, codes).and_then(|()| match journey {
        Journey::AtLogin => p
            .info(i18n::text(lang, Msg::LoginEnrollDone))
            .and_then(|()| {
                p.ask_hidden(i18n::text(lang, Msg::LoginEnrollContinue))
                    .map(drop)
            }),
        Journey::SelfService => p.info(&i18n::format(lang, Msg::SelfEnrollDone, &[user])),
    });
    if shown.is_err() {
        env.audit.log(&Event::Conversation {
            user: user.as_str().as_bytes(),
        });
    }
}
