//! `mfa-token enroll totp`: the activation journey in one terminal session. Nothing
//! is saved until the app has proven it holds the key (unless --no-confirm), and the
//! code that proved it is recorded as used. The app is saved under its name: next
//! to the user's other apps, or (with --replace) over the app of that name only. A given key comes from a file or
//! standard input, never from the arguments; QR image files are only new files and
//! are removed again when nothing is saved.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;
use zeroize::Zeroizing;

use mfa_core::activation;
use mfa_core::auth::Prompter;
use mfa_core::config::Config;
use mfa_core::error::Error;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::otpauth::OtpAuth;
use mfa_core::qr::{Background, Matrix};
use mfa_core::random::OsRandom;
use mfa_core::recovery::{self, Hashed};
use mfa_core::store::{Record, RecoveryCodes, Store, TotpEnrollment};
use mfa_core::totp::{self, Params, Secret};
use mfa_core::username::UserName;

use super::record_add::add_to_record;
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

/// The key of [`key`], from the text of --secret-file when it is given (wiped as
/// soon as it is parsed); `true` when it was made here.
fn given_or_new_key(
    ctx: &Context,
    cfg: &Config,
    args: &EnrollTotp,
    user: &UserName,
) -> Result<(OtpAuth, bool), CliError> {
    let given = match &args.secret_file {
        Some(path) => Some(secret_file::read(path, ctx.lang)?),
        None => None,
    };
    key(cfg, args, user.as_str(), given.as_ref().map(|g| g.as_str()))
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
    let (auth, generated) = given_or_new_key(ctx, &cfg, &args, &user)?;
    warn_unusual_params(ctx.lang, auth.params);
    let matrix = Matrix::encode(auth.to_uri().as_bytes()).map_err(CliError::Qr)?;
    // Removed again on every early return below: nothing enrolled, no key on disk.
    let images = write_images(ctx.lang, &args, &matrix)?;
    // The caller already holds the key only when it gave it and skips confirmation.
    let show_key = !args.json && (generated || !args.no_confirm);
    let last_step = on_terminal(args.json, |term| {
        steps(term, ctx, &cfg, &args, show_key, &auth, &matrix, &user)
    })?;
    // The journey ends with recovery codes, unless the user still has some.
    let unused = existing.recovery().map_or(0, |r| r.hashed.len());
    let new_codes = (!args.no_confirm && unused == 0)
        .then(|| recovery::generate(usize::from(cfg.recovery.codes), &mut OsRandom))
        .transpose()?;
    let enrollment = TotpEnrollment::new(&name, auth.secret.clone(), auth.params, ctx.now())
        .map_err(CliError::Record)?
        .with_last_step(last_step);
    let hashed = new_codes.as_ref().map(|(_, h)| h.clone());
    let replaced = save(&store, &user, args.replace, enrollment, hashed)?;
    images.keep();
    let line = enrolled_line(
        &name,
        auth.params,
        last_step.is_some(),
        new_codes.as_ref().map(|(c, _)| c.len()),
        replaced,
    );
    audit::log(ctx.lang, &user, &line);
    let saved = Saved {
        user: &user,
        name: &name,
        auth: &auth,
        confirmed: last_step.is_some(),
        unchanged: replaced == Replaced::SameKey,
        unused,
        new_codes: new_codes.as_ref().map(|(c, _)| c.as_slice()),
    };
    report(ctx, &cfg, &store, &args, show_key, &saved);
    Ok(())
}

/// Warns on stderr that parameters other than the default ones (SHA1, 6 digits,
/// 30 s) are not understood by every app.
fn warn_unusual_params(lang: Lang, p: Params) {
    if p != Params::DEFAULT {
        eprintln!(
            "{}",
            i18n::format(lang, Msg::WarnParams, &[&p.algorithm, &p.digits, &p.period])
        );
    }
}

/// Writes the QR image files asked for (--png, --svg), each said on stderr; they
/// are removed again unless [`Images::keep`] is called.
fn write_images(lang: Lang, args: &EnrollTotp, matrix: &Matrix) -> Result<Images, CliError> {
    let mut images = Images::new(lang);
    for (path, write) in [
        (&args.png, Images::write_png as fn(&mut _, &_, &_) -> _),
        (&args.svg, Images::write_svg),
    ] {
        if let Some(path) = path {
            write(&mut images, path, matrix)?;
            eprintln!("{}", i18n::format(lang, Msg::QrWritten, &[&path.display()]));
        }
    }
    Ok(images)
}

/// Runs the journey's questions `talk` on the terminal: stdout, or stderr when
/// stdout carries JSON. Its failure is the input's error, or else `NotConfirmed`.
fn on_terminal<T>(
    json: bool,
    talk: impl FnOnce(&mut Terminal<'_>) -> Result<T, Error>,
) -> Result<T, CliError> {
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let out: &mut dyn Write = if json { &mut stderr } else { &mut stdout };
    // Locked for the journey's questions only: the contact step reads too.
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut term = Terminal::new(out, &mut input, stdin.is_terminal());
    talk(&mut term).map_err(|_| match term.take_error() {
        Some(e) => CliError::Input(e),
        None => CliError::NotConfirmed(activation::TRIES),
    })
}

/// What the enrollment saved, for the report at its end.
struct Saved<'a> {
    user: &'a UserName,
    name: &'a str,
    auth: &'a OtpAuth,
    /// Confirmed with a code.
    confirmed: bool,
    /// The same key as the app of that name had: its replay state is kept.
    unchanged: bool,
    /// The user's unused recovery codes before (none made when there are some).
    unused: usize,
    /// The new recovery codes, when made.
    new_codes: Option<&'a [Zeroizing<String>]>,
}

/// The report to the person enrolling: JSON (--json), the guide's end when it
/// showed the key, else one line on stderr.
fn report(
    ctx: &Context,
    cfg: &Config,
    store: &impl Store,
    args: &EnrollTotp,
    show_key: bool,
    saved: &Saved<'_>,
) {
    let user = saved.user;
    let say_unchanged = || i18n::format(ctx.lang, Msg::EnrolledTotpKeyUnchanged, &[user]);
    if args.json {
        print_json(saved);
        if saved.unchanged {
            eprintln!("{}", say_unchanged());
        }
    } else if show_key {
        let human = Human {
            lang: ctx.lang,
            to_stderr: args.json,
        };
        if saved.unchanged {
            human.say(&say_unchanged());
        }
        let no_codes = saved.new_codes.is_none_or(|c| c.is_empty());
        if no_codes && !args.no_confirm {
            human.msg(Msg::EnrollKeptRecovery, &[user, &saved.unused]);
        } else if let Some(codes) = saved.new_codes {
            let (mut stdout, mut no_input) = (std::io::stdout(), std::io::empty());
            let mut term = Terminal::new(&mut stdout, &mut no_input, true);
            // Saved already: output that fails now does not undo the enrollment.
            let _ = activation::show_recovery(&mut term, ctx.lang, codes);
        }
        if !args.no_confirm && cfg.oob.command.is_some() {
            contact_step(ctx, &human, cfg, store, user);
        }
        human.msg(Msg::EnrollDone, &[user]);
    } else if saved.unchanged {
        eprintln!("{}", say_unchanged());
    } else {
        let enrolled = match saved.name {
            totp::DEFAULT_NAME => i18n::format(ctx.lang, Msg::EnrolledTotp, &[user]),
            name => i18n::format(ctx.lang, Msg::EnrolledApp, &[user, &format!("{name:?}")]),
        };
        eprintln!("{enrolled}");
    }
}

/// The enrollment as JSON on stdout, key and new recovery codes included.
fn print_json(saved: &Saved<'_>) {
    let auth = saved.auth;
    let p = auth.params;
    let codes: Vec<&str> = saved
        .new_codes
        .map_or(vec![], |c| c.iter().map(|c| c.as_str()).collect());
    let out = json!({
        "user": saved.user.as_str(),
        "name": saved.name,
        "issuer": auth.issuer,
        "secret": auth.secret.to_base32().as_str(),
        "uri": auth.to_uri().as_str(),
        "algorithm": p.algorithm.name(),
        "digits": p.digits,
        "period": p.period,
        "confirmed": saved.confirmed,
        "key_unchanged": saved.unchanged,
        "recovery_codes": codes,
    });
    println!("{out:#}");
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
    add_to_record(store, user, |record| {
        may_write_app(record, user, enrollment.name(), replace)?;
        let (app, replaced) = reprovision::merge(record.app(enrollment.name()), enrollment);
        put_app(record, user, app)?;
        if let Some(hashed) = hashed {
            record.set_recovery(RecoveryCodes {
                hashed,
                created: now,
            });
        }
        Ok(replaced)
    })
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
