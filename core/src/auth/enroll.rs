//! A user sets up an authenticator app themselves: inside the login, for
//! `policy.unenrolled = "enroll"`, or with `mfa-token enroll totp` through pam_mfad
//! (self-service, [`super::manage`]); one journey for both.
//!
//! Invariant: nothing is stored until the user typed a code that verifies against
//! the new key; the enrollment (with that code's step, against replay) and its
//! recovery codes are written in one update under the user's lock, and only if the
//! user still has no factor then (or, with [`Mode::Replace`], after the caller has
//! checked a current second factor). A client that cannot show text is refused
//! before anything is generated. Without a factor, only users named by `[enroll]`
//! get here, and only until its deadline; at login the stack must have checked the
//! password before (`requisite`), as this step tells a caller that the account has
//! no second factor yet.

use crate::audit::{Event, Journey};
use crate::error::{Error, Outcome};
use crate::i18n::{self, Msg};
use crate::otpauth::OtpAuth;
use crate::qr::{Background, Matrix};
use crate::recovery;
use crate::store::{Change, RecoveryCodes, State, Store, TotpEnrollment};
use crate::totp::{self, Params, Secret};
use crate::username::UserName;

use super::Env;

/// Codes a user may type before enrollment at login gives up.
pub(super) const TRIES: u32 = 3;

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
    if !policy.groups.is_empty() {
        let groups = env.accounts.groups(user);
        if policy.groups.iter().any(|g| groups.contains(g)) {
            return None;
        }
    }
    Some("not in enroll.users or enroll.groups".to_owned())
}

/// Whether the journey may replace a factor the user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Only for a user without any factor (checked again under the lock).
    First,
    /// Self-service by an enrolled user whose current second factor was just
    /// checked: the new app replaces the old one, with a new set of recovery codes;
    /// security keys and the contact stay.
    Replace,
}

/// The journey: explain, show the QR code and the key, take the first code, save,
/// show the recovery codes.
pub(super) fn journey(
    store: &impl Store,
    user: &UserName,
    env: &mut Env<'_>,
    journey: Journey,
    mode: Mode,
) -> Result<Outcome, Error> {
    let cfg = env.cfg;
    let lang = env.lang;
    let intro = match journey {
        Journey::AtLogin => i18n::text(lang, Msg::LoginEnrollIntro).to_owned(),
        Journey::SelfService => i18n::format(lang, Msg::SelfEnrollIntro, &[user]),
    };
    if env.prompter.silent() || env.prompter.info(&intro).is_err() {
        // Best effort: the client may not show this either.
        let _ = env.prompter.error(i18n::text(lang, Msg::LoginEnrollNoText));
        env.audit.log(&Event::EnrollRefused {
            user,
            journey,
            reason: "the application cannot show text (silent, or its conversation refused an information message)".to_owned(),
        });
        return Ok(Outcome::Failure);
    }

    let secret = Secret::generate(env.rng).map_err(Error::Random)?;
    let params = Params {
        algorithm: cfg.totp.algorithm,
        digits: cfg.totp.digits,
        period: cfg.totp.period,
    };
    let issuer = cfg
        .totp
        .issuer
        .clone()
        .or_else(|| Some(env.session.host.replace(':', "-")))
        .filter(|i| !i.is_empty());
    let uri = OtpAuth {
        issuer,
        account: user.as_str().to_owned(),
        secret: secret.clone(),
        params,
    }
    .to_uri();
    let qr: Option<String> = Matrix::encode(uri.as_bytes())
        .ok()
        .map(|m| m.to_text(Background::Dark));
    let p = &mut *env.prompter;
    match &qr {
        Some(qr) => {
            p.info(i18n::text(lang, Msg::EnrollScan))?;
            p.info(qr)?;
        }
        None => p.info(i18n::text(lang, Msg::EnrollNoQr))?,
    }
    p.info(&i18n::format(
        lang,
        Msg::EnrollManualKey,
        &[&secret.to_base32_grouped().as_str()],
    ))?;
    p.info(&i18n::format(lang, Msg::EnrollConfirm, &[&params.digits]))?;

    let mut step = None;
    for left in (0..TRIES).rev() {
        let answer = match env
            .prompter
            .ask_hidden(i18n::text(lang, Msg::ConfirmPrompt))
        {
            Ok(a) => a,
            Err(e) => {
                // A client that shows text but cannot answer (sudo -S fed from a
                // pipe): say why, if it can still show an error.
                let _ = env.prompter.error(i18n::text(lang, Msg::LoginEnrollNoText));
                env.audit.log(&Event::EnrollRefused {
                    user,
                    journey,
                    reason: "the application's conversation ended before a code was typed"
                        .to_owned(),
                });
                return Err(e);
            }
        };
        let now = env.tick();
        let typed = crate::answer::normalize(&answer).unwrap_or_default();
        if let totp::Check::Accepted { step: s } =
            totp::check(&secret, params, &typed, now, cfg.totp.window, None)
        {
            step = Some(s);
            break;
        }
        if left > 0 {
            env.prompter
                .info(&i18n::format(lang, Msg::ConfirmRetry, &[&left]))?;
        }
    }
    let Some(step) = step else {
        let failed = match journey {
            Journey::AtLogin => Msg::LoginEnrollFailed,
            Journey::SelfService => Msg::SelfEnrollFailed,
        };
        let _ = env.prompter.error(&i18n::format(lang, failed, &[&TRIES]));
        env.audit.log(&Event::EnrollAbandoned {
            user,
            journey,
            tries: TRIES,
        });
        return Ok(Outcome::Failure);
    };

    let (codes, hashed) =
        recovery::generate(usize::from(cfg.recovery.codes), env.rng).map_err(Error::Random)?;
    let now = env.tick();
    let enrollment = TotpEnrollment {
        secret,
        params,
        created: now,
        last_step: Some(step),
    };
    let saved = store
        .update(user, |current| {
            let mut record = current.unwrap_or_default();
            if record.has_factor() && mode == Mode::First {
                // Enrolled by someone else meanwhile: theirs stands.
                return (Change::Keep, false);
            }
            record.totp = Some(enrollment);
            record.recovery = Some(RecoveryCodes {
                hashed,
                created: now,
            });
            record.state = State {
                last_success: Some(now),
                ..State::default()
            };
            (Change::Write(record), true)
        })
        .inspect_err(|error| env.store_failed(user, error))?;
    if !saved {
        env.audit.log(&Event::EnrollRefused {
            user,
            journey,
            reason: "a factor was enrolled by another process meanwhile".to_owned(),
        });
        return Ok(Outcome::Failure);
    }
    env.audit.log(&Event::Enrolled {
        user,
        journey,
        replaced: mode == Mode::Replace,
        recovery_codes: codes.len(),
    });
    let list = code_list(&codes);
    // Saved already: a client that fails now still logs in with its app; the admin
    // (or the user, with a code) can make new recovery codes. At login the codes go
    // before a prompt, because some applications (sshd's keyboard-interactive) show
    // information only together with the next question; mfa-token shows them at
    // once.
    let shown = env
        .prompter
        .info(i18n::text(lang, Msg::EnrollRecovery))
        .and_then(|()| env.prompter.info(&list))
        .and_then(|()| match journey {
            Journey::AtLogin => env
                .prompter
                .info(i18n::text(lang, Msg::LoginEnrollDone))
                .and_then(|()| {
                    env.prompter
                        .ask_hidden(i18n::text(lang, Msg::LoginEnrollContinue))
                        .map(drop)
                }),
            Journey::SelfService => {
                env.prompter
                    .info(&i18n::format(lang, Msg::SelfEnrollDone, &[user]))
            }
        });
    if shown.is_err() {
        env.audit.log(&Event::Conversation {
            user: user.as_str().as_bytes(),
        });
    }
    if journey == Journey::AtLogin {
        env.audit.log(&Event::Success {
            user,
            factor: crate::audit::Factor::Totp,
        });
    }
    Ok(crate::error::Outcome::Success)
}

/// Recovery codes as shown to the user: one per line, indented; wiped on drop.
pub(super) fn code_list(codes: &[zeroize::Zeroizing<String>]) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(
        codes
            .iter()
            .map(|c| format!("   {}", c.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}
