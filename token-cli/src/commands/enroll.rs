//! `mfa-token enroll totp`: the activation journey in one terminal session. Nothing
//! is saved until the app has proven it holds the key (unless --no-confirm), and the
//! code that proved it is recorded as used. The app is saved under its name: next
//! to the user's other apps, or (with --replace) over the app of that name only. A given key comes from a file or
//! standard input, never from the arguments; QR image files are only new files and
//! are removed again when nothing is saved.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;

use mfa_core::activation;
use mfa_core::auth::Prompter;
use mfa_core::config::Config;
use mfa_core::error::Error;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::otpauth::OtpAuth;
use mfa_core::qr::{Background, Matrix};
use mfa_core::random::OsRandom;
use mfa_core::recovery::{self, Hashed};
use mfa_core::store::{Change, Record, RecoveryCodes, Store, TotpEnrollment};
use mfa_core::totp::{self, Params, Secret};
use mfa_core::username::UserName;

use crate::audit;
use crate::cli::{EnrollTotp, QrStyle};
use crate::context::{Account, Context};
use crate::error::CliError;
use crate::qr_files::{self, Images};
use crate::reprovision::{self, Replaced};
use crate::secret_file;
use crate::terminal::Terminal;

/// Where the conversation with the person enrolling goes: stdout, or stderr when
/// stdout carries JSON.
struct Human {
    lang: Lang,
    to_stderr: bool,
}

impl Human {
    fn say(&self, text: &str) {
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    fn msg(&self, msg: Msg, args: &[&dyn std::fmt::Display]) {
        self.say(&i18n::format(self.lang, msg, args));
    }

    fn prompt(&self, msg: Msg) {
        let text = i18n::text(self.lang, msg);
        if self.to_stderr {
            eprint!("{text}");
            let _ = std::io::stderr().flush();
        } else {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// The key and parameters: from `given` (an otpauth URI or a base32 secret read
/// from --secret-file), or freshly made.
fn key(
    cfg: &Config,
    args: &EnrollTotp,
    user: &str,
    given: Option<&str>,
) -> Result<(OtpAuth, bool), CliError> {
    let params = Params {
        algorithm: args.algorithm.map_or(cfg.totp.algorithm, Into::into),
        digits: args.digits.unwrap_or(cfg.totp.digits),
        period: args.period.unwrap_or(cfg.totp.period),
    }
    .validate()
    .map_err(CliError::Secret)?;
    let chosen = args.issuer.as_deref().or(cfg.totp.issuer.as_deref());
    let issuer = activation::issuer(chosen, &mfa_core::host::name());
    let account = user.to_owned();
    match given {
        Some(text) if text.to_ascii_lowercase().starts_with("otpauth:") => {
            let parsed = OtpAuth::parse(text).map_err(CliError::Uri)?;
            Ok((
                OtpAuth {
                    issuer: args.issuer.clone().or(parsed.issuer),
                    account,
                    ..parsed
                },
                false,
            ))
        }
        given => {
            let (secret, generated) = match given {
                Some(text) => (Secret::from_base32(text).map_err(CliError::Secret)?, false),
                None => (Secret::generate(&mut OsRandom)?, true),
            };
            let uri = OtpAuth {
                issuer,
                account,
                secret,
                params,
            };
            Ok((uri, generated))
        }
    }
}

pub fn totp(ctx: &Context, args: EnrollTotp) -> Result<(), CliError> {
    if args.secret.is_some() {
        return Err(CliError::SecretInArgv);
    }
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let user = ctx.user(args.user.required()?, Account::MustExist, &store)?;
    let name = app_name(args.name.as_deref())?;
    let existing = store.read(&user)?.unwrap_or_default();
    may_write_app(&existing, &user, &name, args.replace)?;
    for path in [&args.png, &args.svg].into_iter().flatten() {
        qr_files::check_new(path)?;
    }
    let given = match &args.secret_file {
        Some(path) => Some(secret_file::read(path, ctx.lang)?),
        None => None,
    };
    let (auth, generated) = key(
        &cfg,
        &args,
        user.as_str(),
        given.as_ref().map(|g| g.as_str()),
    )?;
    drop(given);
    let human = Human {
        lang: ctx.lang,
        to_stderr: args.json,
    };
    if auth.params != Params::DEFAULT {
        let p = auth.params;
        eprintln!(
            "{}",
            i18n::format(
                ctx.lang,
                Msg::WarnParams,
                &[&p.algorithm, &p.digits, &p.period]
            )
        );
    }
    let uri = auth.to_uri();
    let matrix = Matrix::encode(uri.as_bytes()).map_err(CliError::Qr)?;
    // Removed again on every early return below: nothing enrolled, no key on disk.
    let mut images = Images::new(ctx.lang);
    for (path, write) in [
        (&args.png, Images::write_png as fn(&mut _, &_, &_) -> _),
        (&args.svg, Images::write_svg),
    ] {
        if let Some(path) = path {
            write(&mut images, path, &matrix)?;
            eprintln!(
                "{}",
                i18n::format(ctx.lang, Msg::QrWritten, &[&path.display()])
            );
        }
    }

    // The caller already holds the key only when it gave it and skips confirmation.
    let show_key = !args.json && (generated || !args.no_confirm);
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let out: &mut dyn Write = if args.json { &mut stderr } else { &mut stdout };
    let last_step = {
        // Locked for the journey's questions only: the contact step reads too.
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut term = Terminal::new(out, &mut input, stdin.is_terminal());
        steps(&mut term, ctx, &cfg, &args, show_key, &auth, &matrix, &user).map_err(
            |_| match term.take_error() {
                Some(e) => CliError::Input(e),
                None => CliError::NotConfirmed(activation::TRIES),
            },
        )?
    };
    // The journey ends with recovery codes, unless the user still has some.
    let unused = existing.recovery().map_or(0, |r| r.hashed.len());
    let new_codes = if args.no_confirm || unused > 0 {
        None
    } else {
        Some(recovery::generate(
            usize::from(cfg.recovery.codes),
            &mut OsRandom,
        )?)
    };

    let now = ctx.now();
    let enrollment = TotpEnrollment::new(&name, auth.secret.clone(), auth.params, now)
        .map_err(CliError::Record)?
        .with_last_step(last_step);
    let hashed = new_codes.as_ref().map(|(_, h)| h.clone());
    let replaced = save(&store, &user, args.replace, enrollment, hashed)?;
    images.keep();
    let p = auth.params;
    let line = enrolled_line(
        &name,
        p,
        last_step.is_some(),
        new_codes.as_ref().map(|(c, _)| c.len()),
        replaced,
    );
    audit::log(ctx.lang, &user, &line);
    let unchanged = replaced == Replaced::SameKey;
    let say_unchanged = || i18n::format(ctx.lang, Msg::EnrolledTotpKeyUnchanged, &[&user]);
    let say_enrolled = || match name.as_str() {
        totp::DEFAULT_NAME => i18n::format(ctx.lang, Msg::EnrolledTotp, &[&user]),
        _ => i18n::format(ctx.lang, Msg::EnrolledApp, &[&user, &format!("{name:?}")]),
    };

    let codes: Vec<&str> = new_codes
        .as_ref()
        .map_or(vec![], |(c, _)| c.iter().map(|c| c.as_str()).collect());
    if args.json {
        let out = json!({
            "user": user.as_str(),
            "name": name,
            "issuer": auth.issuer,
            "secret": auth.secret.to_base32().as_str(),
            "uri": uri.as_str(),
            "algorithm": p.algorithm.name(),
            "digits": p.digits,
            "period": p.period,
            "confirmed": last_step.is_some(),
            "key_unchanged": unchanged,
            "recovery_codes": codes,
        });
        println!("{out:#}");
        if unchanged {
            eprintln!("{}", say_unchanged());
        }
    } else if show_key {
        if unchanged {
            human.say(&say_unchanged());
        }
        if codes.is_empty() && !args.no_confirm {
            human.msg(Msg::EnrollKeptRecovery, &[&user, &unused]);
        } else if let Some((codes, _)) = &new_codes {
            let mut no_input = std::io::empty();
            let mut term = Terminal::new(out, &mut no_input, true);
            // Saved already: output that fails now does not undo the enrollment.
            let _ = activation::show_recovery(&mut term, ctx.lang, codes);
        }
        if !args.no_confirm && cfg.oob.command.is_some() {
            contact_step(ctx, &human, &cfg, &store, &user);
        }
        human.msg(Msg::EnrollDone, &[&user]);
    } else if unchanged {
        eprintln!("{}", say_unchanged());
    } else {
        eprintln!("{}", say_enrolled());
    }
    Ok(())
}

/// The app's name: `--name`, or the default one; refused when it cannot be one.
pub(super) fn app_name(given: Option<&str>) -> Result<String, CliError> {
    let name = given.unwrap_or(totp::DEFAULT_NAME);
    totp::check_name(name).map_err(|e| CliError::AppName(name.to_owned(), e))?;
    Ok(name.to_owned())
}

/// The locked write: the app, merged with the enrolled one of its name (the same
/// key keeps its replay state) or added after the others, and new recovery codes
/// if there are any. Refused if the user has an app of that name and `replace` is
/// not set, or has no room for another.
fn save(
    store: &impl Store,
    user: &UserName,
    replace: bool,
    enrollment: TotpEnrollment,
    hashed: Option<Hashed>,
) -> Result<Replaced, CliError> {
    let now = enrollment.created();
    store.update(user, |current| {
        let mut record = current.unwrap_or_default();
        if let Err(e) = may_write_app(&record, user, enrollment.name(), replace) {
            return (Change::Keep, Err(e));
        }
        let (app, replaced) = reprovision::merge(record.app(enrollment.name()), enrollment);
        if let Err(e) = put_app(&mut record, user, app) {
            return (Change::Keep, Err(e));
        }
        if let Some(hashed) = hashed {
            record.set_recovery(RecoveryCodes {
                hashed,
                created: now,
            });
        }
        (Change::Write(record), Ok(replaced))
    })?
}

/// Under the lock: the user's app `name` is only overwritten with --replace, and
/// a new one needs room ([`totp::MAX_APPS`]).
pub(super) fn may_write_app(
    record: &Record,
    user: &UserName,
    name: &str,
    replace: bool,
) -> Result<(), CliError> {
    match record.app(name) {
        Some(_) if !replace => Err(CliError::AppExists(user.to_string(), name.to_owned())),
        Some(_) => Ok(()),
        None if record.apps().len() >= totp::MAX_APPS => {
            Err(CliError::AppsFull(user.to_string(), record.apps().len()))
        }
        None => Ok(()),
    }
}

/// Puts `app` in `record`: in the place of the app of its name, or after the others
/// (refused when the user's apps are full; [`may_write_app`] said so already).
pub(super) fn put_app(
    record: &mut Record,
    user: &UserName,
    app: TotpEnrollment,
) -> Result<(), CliError> {
    record
        .add_or_replace_app(app)
        .map_err(|_| CliError::AppsFull(user.to_string(), record.apps().len()))
}

/// The audit line of an enrollment.
fn enrolled_line(
    name: &str,
    p: Params,
    confirmed: bool,
    new_codes: Option<usize>,
    replaced: Replaced,
) -> String {
    format!(
        "authenticator app {name:?} enrolled ({}, {} digits, {} s, {}){}{}",
        p.algorithm,
        p.digits,
        p.period,
        if confirmed {
            "confirmed with a code"
        } else {
            "not confirmed"
        },
        new_codes.map_or(String::new(), |n| format!(", {n} recovery codes")),
        match replaced {
            Replaced::Nothing => "",
            Replaced::SameKey => ", key unchanged: replay state kept",
            Replaced::OtherKey => ", replacing a different key: replay state reset",
        }
    )
}

/// The guide's last step: a phone number or e-mail address for one-time codes,
/// proven with a test code. The app is enrolled already, so a failure here is
/// reported and skipped, never undoes it.
fn contact_step(
    ctx: &Context,
    human: &Human,
    cfg: &Config,
    store: &impl Store,
    user: &mfa_core::username::UserName,
) {
    for _ in 0..activation::TRIES {
        human.prompt(Msg::ContactAsk);
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !std::io::stdin().is_terminal() {
            human.say("");
        }
        if line.trim().is_empty() {
            return;
        }
        let result = super::contact::parse(line.trim()).and_then(|mut contact| {
            contact.set_verified(Some(super::contact::verify(
                ctx,
                cfg,
                user,
                &contact,
                human.to_stderr,
            )?));
            let shown = i18n::format(
                ctx.lang,
                Msg::ContactSaved,
                &[user, &contact.channel(), &contact.address()],
            );
            super::contact::save(store, ctx, user, contact)?;
            Ok(shown)
        });
        match result {
            Ok(shown) => {
                human.say(&shown);
                return;
            }
            Err(e @ CliError::Contact(_)) => human.say(&e.render(ctx.lang)),
            Err(e) => {
                human.say(&e.render(ctx.lang));
                return;
            }
        }
    }
}

/// The journey's steps before anything is saved: the key (unless the caller holds
/// it already), then its first code (unless --no-confirm). `Ok(None)`: not
/// confirmed by choice; `Err`: the conversation ended, or the code never came.
#[allow(clippy::too_many_arguments)]
fn steps(
    term: &mut Terminal<'_>,
    ctx: &Context,
    cfg: &Config,
    args: &EnrollTotp,
    show_key: bool,
    auth: &OtpAuth,
    matrix: &Matrix,
    user: &UserName,
) -> Result<Option<u64>, Error> {
    let lang = ctx.lang;
    if show_key {
        term.info(&i18n::format(lang, Msg::EnrollIntro, &[user]))?;
        let bg = match args.qr {
            QrStyle::None => None,
            QrStyle::Light => Some(Background::Light),
            QrStyle::Dark => Some(Background::Dark),
        };
        activation::show_key(term, lang, &auth.secret, bg.map(|bg| (matrix, bg)))?;
        term.info(&i18n::format(
            lang,
            Msg::EnrollUri,
            &[&auth.to_uri().as_str()],
        ))?;
    }
    if args.no_confirm {
        return Ok(None);
    }
    let (secret, params) = (&auth.secret, auth.params);
    match activation::confirm(term, lang, secret, params, cfg.totp.window, &|| ctx.now())? {
        Some(step) => Ok(Some(step)),
        None => Err(Error::Conversation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::totp::Algorithm;

    #[test]
    fn the_audit_line_says_what_was_enrolled_and_replaced() {
        assert_eq!(
            enrolled_line("default", Params::DEFAULT, true, Some(10), Replaced::Nothing),
            "authenticator app \"default\" enrolled (SHA1, 6 digits, 30 s, confirmed with a code), 10 recovery codes"
        );
        let p = Params {
            algorithm: Algorithm::Sha256,
            digits: 8,
            period: 60,
        };
        assert_eq!(
            enrolled_line("work-phone", p, false, None, Replaced::SameKey),
            "authenticator app \"work-phone\" enrolled (SHA256, 8 digits, 60 s, not confirmed), key unchanged: replay state kept"
        );
        assert!(
            enrolled_line("a", p, true, None, Replaced::OtherKey).ends_with("replay state reset")
        );
    }
}
