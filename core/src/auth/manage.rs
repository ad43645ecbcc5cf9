//! Self-service: what users do on their own account through pam_mfad (`mfa-token`
//! run as the user): set up an authenticator app (another one, or a new one in
//! place of one they have), register a security key, make new recovery codes.
//!
//! Invariant: a user who has a second factor changes nothing before that factor
//! passed here, checked by [`super::authenticate`] itself, so replay protection,
//! lockout and the log are exactly those of a login; a user without one may only
//! set up an app, and only when `[enroll]` admits them. The app is set up by the
//! same journey as enrollment at login ([`super::enroll`]). Who the user is was
//! decided by the caller from the connection (pam_mfad: SO_PEERCRED), never from a
//! name the client sent.

use crate::audit::{EnrollEvent, Event, Journey};
use crate::config::Unenrolled;
use crate::error::{Error, Outcome};
use crate::fido2::{self, cose::Algorithm, UserVerification};
use crate::i18n::{self, Msg};
use crate::recovery;
use crate::store::{Change, Record, RecoveryCodes, Store};
use crate::totp;
use crate::username::UserName;

use super::enroll::{self, Mode};
use super::Env;

/// How a self-service action ended, with a line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Done; a summary (empty when the conversation said it already).
    Done(String),
    /// Not allowed, or the current factor did not pass; nothing changed.
    Refused(String),
}

/// Sets up the authenticator app `name` (`--name`, default
/// [`totp::DEFAULT_NAME`]) for `user`: without a factor when `[enroll]` admits
/// them; with one, after a current second factor, replacing their app of that
/// name (and the recovery codes) or adding it next to the others.
pub fn enroll_totp(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
    name: Option<&str>,
) -> Result<Ended, Error> {
    let lang = env.lang;
    let name = name.unwrap_or(totp::DEFAULT_NAME);
    if let Err(e) = totp::check_name(name) {
        return Ok(Ended::Refused(i18n::format(
            lang,
            Msg::SelfAppName,
            &[&format!("{name:?}"), &e],
        )));
    }
    let mode = match may_add_factor(store, user, env)? {
        Admitted::Refused(refused) => return Ok(refused),
        Admitted::Checked => Mode::Checked,
        Admitted::First => Mode::First,
    };
    if mode == Mode::Checked {
        let record = logged(env, user, store.read(user))?.unwrap_or_default();
        if !enroll::has_room(&record, name) {
            env.audit.log(&Event::Enroll(EnrollEvent::Refused {
                user,
                journey: Journey::SelfService,
                reason: format!(
                    "{} authenticator apps already, none named {name:?}",
                    record.apps().len()
                ),
            }));
            return Ok(Ended::Refused(i18n::format(
                lang,
                Msg::SelfAppsFull,
                &[user, &record.apps().len()],
            )));
        }
    }
    Ok(
        match enroll::journey(store, user, env, Journey::SelfService, mode, name)? {
            Outcome::Success => Ended::Done(String::new()),
            Outcome::Failure | Outcome::Ignore => {
                Ended::Refused(i18n::format(lang, Msg::SelfEnrollNotSaved, &[user]))
            }
        },
    )
}

/// Registers a security key for `user` (named `name`, default key-N): with a
/// factor, after a current second factor; without one, when `[enroll]` admits
/// them. Only from a session at this machine (the key is plugged in here), and
/// the credential is checked (RP ID hash, presence) before it is stored.
pub fn enroll_key(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
    name: Option<&str>,
) -> Result<Ended, Error> {
    let lang = env.lang;
    if let Admitted::Refused(refused) = may_add_factor(store, user, env)? {
        return Ok(refused);
    }
    if super::is_remote(env) {
        env.audit.log(&Event::Debug(format!(
            "user={user}: no security key registered: the session is remote"
        )));
        return Ok(Ended::Refused(
            i18n::text(lang, Msg::SelfKeyRemote).to_owned(),
        ));
    }
    let existing = logged(env, user, store.read(user))?.unwrap_or_default();
    let name = name.map_or_else(
        || format!("key-{}", existing.keys().len() + 1),
        str::to_owned,
    );
    if existing.keys().iter().any(|k| k.name == name) {
        return Ok(Ended::Refused(i18n::format(
            lang,
            Msg::SelfKeyName,
            &[user, &name],
        )));
    }
    let credential = match new_credential(env, user, &existing, &name)? {
        Ok(credential) => credential,
        Err(refused) => return Ok(refused),
    };
    let cfg = env.cfg;
    let algorithm = credential.public_key.algorithm().name();
    let updated = store.update(user, |current| {
        let mut record = current.unwrap_or_default();
        match record.add_key(credential.clone()) {
            Ok(()) => (Change::Write(record), true),
            // Taken by another process meanwhile.
            Err(_) => (Change::Keep, false),
        }
    });
    let added = logged(env, user, updated)?;
    if !added {
        return Ok(Ended::Refused(i18n::format(
            lang,
            Msg::SelfKeyName,
            &[user, &name],
        )));
    }
    env.audit.log(&Event::Enroll(EnrollEvent::KeyRegistered {
        user,
        name: &name,
        algorithm,
        rp_id: &cfg.fido2.rp_id,
    }));
    Ok(Ended::Done(i18n::format(
        lang,
        Msg::KeyRegistered,
        &[&name, user, &algorithm],
    )))
}

/// The touch that makes a new credential named `name` on the key plugged in
/// (none of `existing`'s keys: they are excluded); `Err` with the user's line
/// when there is no key or it refused.
fn new_credential(
    env: &mut Env<'_>,
    user: &UserName,
    existing: &Record,
    name: &str,
) -> Result<Result<fido2::KeyCredential, Ended>, Error> {
    let lang = env.lang;
    let Some(mut device) = env.keys.open() else {
        return Ok(Err(Ended::Refused(
            i18n::text(lang, Msg::SelfKeyNone).to_owned(),
        )));
    };
    let mut challenge = [0u8; 32];
    env.rng.fill(&mut challenge).map_err(Error::Random)?;
    let cfg = env.cfg;
    let request = fido2::MakeCredential {
        rp_id: &cfg.fido2.rp_id,
        user_name: user.as_str(),
        challenge,
        algorithms: &[Algorithm::Es256, Algorithm::EdDsa],
        pin: None,
        uv: false,
        exclude: fido2::exclude_list(existing.keys()),
        timeout: fido2::register_timeout(cfg.fido2.timeout_seconds),
    };
    env.prompter.info(i18n::text(lang, Msg::KeyTouchNow))?;
    let now = (env.clock)();
    match fido2::register(
        device.as_mut(),
        &request,
        name,
        UserVerification::Discouraged,
        now,
    ) {
        Ok(c) => Ok(Ok(c)),
        Err(e) => {
            env.audit.log(&Event::Debug(format!(
                "user={user}: no security key registered: {e}"
            )));
            Ok(Err(Ended::Refused(i18n::format(
                lang,
                Msg::SelfKeyRefused,
                &[&e],
            ))))
        }
    }
}

/// A new set of recovery codes for `user`, after a current second factor; the old
/// set stops working. The codes are shown once, after they are stored.
pub fn new_recovery(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
) -> Result<Ended, Error> {
    let lang = env.lang;
    if !enrolled(store, user, env)? {
        return Ok(Ended::Refused(i18n::format(
            lang,
            Msg::SelfNoFactor,
            &[user],
        )));
    }
    if !current_factor(store, user, env)? {
        return Ok(Ended::Refused(
            i18n::text(lang, Msg::SelfCheckFailed).to_owned(),
        ));
    }
    let (codes, hashed) =
        recovery::generate(usize::from(env.cfg.recovery.codes), env.rng).map_err(Error::Random)?;
    let now = env.tick();
    let saved = store
        .update(user, |current| match current.filter(Record::has_factor) {
            Some(mut record) => {
                record.set_recovery(RecoveryCodes {
                    hashed,
                    created: now,
                });
                (Change::Write(record), true)
            }
            // Removed by root meanwhile: nothing to renew.
            None => (Change::Keep, false),
        })
        .inspect_err(|error| env.store_failed(user, error))?;
    if !saved {
        return Ok(Ended::Refused(i18n::format(
            lang,
            Msg::SelfNoFactor,
            &[user],
        )));
    }
    env.audit.log(&Event::Enroll(EnrollEvent::RecoveryRenewed {
        user,
        codes: codes.len(),
    }));
    let list = crate::activation::code_list(&codes);
    let shown = env
        .prompter
        .info(&i18n::format(lang, Msg::RecoveryIntro, &[user]))
        .and_then(|()| env.prompter.info(&list));
    if shown.is_err() {
        // Stored already: the user can make another set.
        env.audit.log(&Event::Conversation {
            user: user.as_str().as_bytes(),
        });
        return Err(Error::Conversation);
    }
    Ok(Ended::Done(i18n::format(
        lang,
        Msg::SelfRecoveryDone,
        &[&codes.len(), user],
    )))
}

/// Whether `user` has a second factor now.
/// What a user may see of their own record (self-service `status`, and the
/// text of root's `list` and `status`): no key, code or address.
pub fn status(user: &UserName, record: &Record, now: u64) -> mfa_proto::Status {
    mfa_proto::Status {
        user: user.to_string(),
        totp: apps(record),
        recovery: recovery(record),
        keys: record
            .keys()
            .iter()
            .map(|k| mfa_proto::KeyStatus {
                name: k.name.clone(),
                algorithm: k.public_key.algorithm().name().to_owned(),
                user_verification: k.user_verification.name().to_owned(),
                pin: k.pin,
                sign_count: k.sign_count,
                created: k.created,
            })
            .collect(),
        hotp: tokens(record),
        contact: record.contact().map(|c| c.channel().name().to_owned()),
        failures: record.state().failures,
        locked_until: (record.state().locked_until > now).then_some(record.state().locked_until),
        last_success: record.state().last_success,
        last_failure: record.state().last_failure,
    }
}

/// The user's authenticator apps, in enrollment order (also root's `list`).
pub fn apps(record: &Record) -> Vec<mfa_proto::TotpStatus> {
    record
        .apps()
        .iter()
        .map(|t| mfa_proto::TotpStatus {
            name: t.name().to_owned(),
            algorithm: t.params().algorithm.name().to_owned(),
            digits: t.params().digits,
            period: t.params().period,
            created: t.created(),
            last_used: t
                .last_step()
                .map(|s| s.saturating_mul(u64::from(t.params().period))),
        })
        .collect()
}

/// The user's HOTP tokens (also root's `list`).
pub fn tokens(record: &Record) -> Vec<mfa_proto::HotpStatus> {
    record
        .tokens()
        .iter()
        .map(|t| mfa_proto::HotpStatus {
            name: t.name().to_owned(),
            digits: t.digits(),
            counter: t.counter(),
            created: t.created(),
        })
        .collect()
}

/// How many recovery codes are left (also root's `list`).
pub fn recovery(record: &Record) -> Option<mfa_proto::RecoveryStatus> {
    record.recovery().map(|r| mfa_proto::RecoveryStatus {
        unused: r.hashed.len(),
        created: r.created,
    })
}

/// Whether `user` may add a factor: [`Admitted::Checked`] after a current second
/// factor passed, [`Admitted::First`] without one when `[enroll]` admits them.
enum Admitted {
    Checked,
    First,
    Refused(Ended),
}

fn may_add_factor(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
) -> Result<Admitted, Error> {
    let lang = env.lang;
    if enrolled(store, user, env)? {
        return Ok(if current_factor(store, user, env)? {
            Admitted::Checked
        } else {
            Admitted::Refused(Ended::Refused(
                i18n::text(lang, Msg::SelfCheckFailed).to_owned(),
            ))
        });
    }
    Ok(match enroll::refusal(env, user, false) {
        None => Admitted::First,
        Some(reason) => {
            env.audit.log(&Event::Enroll(EnrollEvent::Refused {
                user,
                journey: Journey::SelfService,
                reason,
            }));
            Admitted::Refused(Ended::Refused(i18n::format(
                lang,
                Msg::SelfEnrollNotOpen,
                &[user],
            )))
        }
    })
}

/// A store result, its error logged for `user`.
fn logged<T>(
    env: &mut Env<'_>,
    user: &UserName,
    result: Result<T, crate::store::StoreError>,
) -> Result<T, Error> {
    Ok(result.inspect_err(|error| env.store_failed(user, error))?)
}

fn enrolled(store: &impl Store, user: &UserName, env: &mut Env<'_>) -> Result<bool, Error> {
    let record = logged(env, user, store.read(user))?;
    Ok(record.as_ref().is_some_and(Record::has_factor))
}

/// Asks for a current second factor and checks it exactly as a login does.
fn current_factor(store: &impl Store, user: &UserName, env: &mut Env<'_>) -> Result<bool, Error> {
    env.prompter
        .info(&i18n::format(env.lang, Msg::SelfCheckFirst, &[user]))?;
    // Removed by root since the check above: fail, never enroll at this prompt.
    let mut cfg = env.cfg.clone();
    cfg.policy.unenrolled = Unenrolled::Deny;
    // A login's exemptions do not stand in for the factor this check is about.
    cfg.policy.exempt_users.clear();
    cfg.policy.exempt_groups.clear();
    cfg.policy.exempt_networks.clear();
    cfg.policy.require_groups.clear();
    // Nor does an address remembered from an earlier login.
    cfg.policy.remember_seconds = 0;
    let mut check = Env {
        cfg: &cfg,
        lang: env.lang,
        now: env.now,
        clock: env.clock,
        session: env.session,
        prompter: &mut *env.prompter,
        keys: &mut *env.keys,
        rng: &mut *env.rng,
        audit: &mut *env.audit,
        accounts: env.accounts,
        courier: &mut *env.courier,
    };
    let outcome = super::authenticate(store, user.as_str().as_bytes(), &mut check)?;
    env.now = check.now;
    Ok(outcome == Outcome::Success)
}

#[cfg(test)]
mod tests;
