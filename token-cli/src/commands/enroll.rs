//! `mfa-token enroll totp`: the activation journey in one terminal session. Nothing
//! is saved until the app has proven it holds the key (unless --no-confirm), and the
//! code that proved it is recorded as used. A given key comes from a file or
//! standard input, never from the arguments; QR image files are only new files and
//! are removed again when nothing is saved.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;
use zeroize::Zeroizing;

use mfa_core::config::Config;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::otpauth::OtpAuth;
use mfa_core::qr::{Background, Matrix};
use mfa_core::random::OsRandom;
use mfa_core::recovery;
use mfa_core::store::{Change, RecoveryCodes, Store, TotpEnrollment};
use mfa_core::totp::{self, Params, Secret};

use crate::audit;
use crate::cli::{EnrollTotp, QrStyle};
use crate::context::{Account, Context};
use crate::error::CliError;
use crate::qr_files::{self, Images};
use crate::reprovision::{self, Replaced};
use crate::secret_file;

/// How many codes a user may type before enrollment gives up.
const CONFIRM_TRIES: u32 = 3;

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

fn issuer(cfg: &Config, args: &EnrollTotp) -> Option<String> {
    args.issuer
        .clone()
        .or_else(|| cfg.totp.issuer.clone())
        .or_else(|| Some(mfa_core::host::name()))
        .map(|i| i.replace(':', "-"))
        .filter(|i| !i.is_empty())
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
    let issuer = issuer(cfg, args);
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
        Some(text) => {
            let secret = Secret::from_base32(text).map_err(CliError::Secret)?;
            Ok((
                OtpAuth {
                    issuer,
                    account,
                    secret,
                    params,
                },
                false,
            ))
        }
        None => {
            let secret = Secret::generate(&mut OsRandom)?;
            Ok((
                OtpAuth {
                    issuer,
                    account,
                    secret,
                    params,
                },
                true,
            ))
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
    let existing = store.read(&user)?.unwrap_or_default();
    if existing.totp.is_some() && !args.replace {
        return Err(CliError::AlreadyEnrolled(user.to_string()));
    }
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
    if show_key {
        human.msg(Msg::EnrollIntro, &[&user]);
        if args.qr == QrStyle::None {
            human.msg(Msg::EnrollNoQr, &[]);
        } else {
            human.msg(Msg::EnrollScan, &[]);
            let bg = if args.qr == QrStyle::Light {
                Background::Light
            } else {
                Background::Dark
            };
            for line in matrix.to_text(bg).lines() {
                human.say(line);
            }
        }
        human.msg(
            Msg::EnrollManualKey,
            &[&auth.secret.to_base32_grouped().as_str()],
        );
        human.msg(Msg::EnrollUri, &[&uri.as_str()]);
    }

    let last_step = if args.no_confirm {
        None
    } else {
        human.msg(Msg::EnrollConfirm, &[&auth.params.digits]);
        Some(confirm(ctx, &human, &cfg, &auth.secret, auth.params)?)
    };

    // The journey ends with recovery codes, unless the user still has some.
    let unused = existing.recovery.as_ref().map_or(0, |r| r.hashed.len());
    let new_codes = if args.no_confirm || unused > 0 {
        None
    } else {
        Some(recovery::generate(
            usize::from(cfg.recovery.codes),
            &mut OsRandom,
        )?)
    };

    let now = ctx.now();
    let replace = args.replace;
    let enrollment = TotpEnrollment {
        secret: auth.secret.clone(),
        params: auth.params,
        created: now,
        last_step,
    };
    let hashed = new_codes.as_ref().map(|(_, h)| h.clone());
    let replaced = store.update(&user, |current| {
        let mut record = current.unwrap_or_default();
        if record.totp.is_some() && !replace {
            return (
                Change::Keep,
                Err(CliError::AlreadyEnrolled(user.to_string())),
            );
        }
        let (totp, replaced) = reprovision::merge(record.totp.as_ref(), enrollment);
        record.totp = Some(totp);
        if let Some(hashed) = hashed {
            record.recovery = Some(RecoveryCodes {
                hashed,
                created: now,
            });
        }
        (Change::Write(record), Ok(replaced))
    })??;
    images.keep();
    let p = auth.params;
    audit::log(
        ctx.lang,
        &user,
        &format!(
            "authenticator app enrolled ({}, {} digits, {} s, {}){}{}",
            p.algorithm,
            p.digits,
            p.period,
            if last_step.is_some() {
                "confirmed with a code"
            } else {
                "not confirmed"
            },
            new_codes.as_ref().map_or(String::new(), |(c, _)| format!(
                ", {} recovery codes",
                c.len()
            )),
            match replaced {
                Replaced::Nothing => "",
                Replaced::SameKey => ", key unchanged: replay state kept",
                Replaced::OtherKey => ", replacing a different key: replay state reset",
            }
        ),
    );
    let unchanged = replaced == Replaced::SameKey;
    let say_unchanged = || i18n::format(ctx.lang, Msg::EnrolledTotpKeyUnchanged, &[&user]);

    let codes: Vec<&str> = new_codes
        .as_ref()
        .map_or(vec![], |(c, _)| c.iter().map(|c| c.as_str()).collect());
    if args.json {
        let out = json!({
            "user": user.as_str(),
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
        } else if !codes.is_empty() {
            human.msg(Msg::EnrollRecovery, &[]);
            for c in &codes {
                human.say(&format!("   {c}"));
            }
        }
        if !args.no_confirm && cfg.oob.command.is_some() {
            contact_step(ctx, &human, &cfg, &store, &user);
        }
        human.msg(Msg::EnrollDone, &[&user]);
    } else if unchanged {
        eprintln!("{}", say_unchanged());
    } else {
        eprintln!("{}", i18n::format(ctx.lang, Msg::EnrolledTotp, &[&user]));
    }
    Ok(())
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
    for _ in 0..CONFIRM_TRIES {
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
            contact.verified = Some(super::contact::verify(
                ctx,
                cfg,
                user,
                &contact,
                human.to_stderr,
            )?);
            let shown = i18n::format(
                ctx.lang,
                Msg::ContactSaved,
                &[user, &contact.channel, &contact.address],
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

/// Asks for the app's current code until one verifies; returns its time step.
fn confirm(
    ctx: &Context,
    human: &Human,
    cfg: &Config,
    secret: &Secret,
    params: Params,
) -> Result<u64, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    for left in (0..CONFIRM_TRIES).rev() {
        human.prompt(Msg::ConfirmPrompt);
        let mut line = Zeroizing::new(String::new());
        let read = lines.read_line(&mut line).map_err(CliError::Input)?;
        if !std::io::stdin().is_terminal() {
            // No echo from a pipe: end the prompt's line ourselves.
            human.say("");
        }
        if read == 0 {
            break;
        }
        let code = mfa_core::answer::normalize(line.trim_end_matches(['\n', '\r']).as_bytes())
            .unwrap_or_default();
        if let totp::Check::Accepted { step } =
            totp::check(secret, params, &code, ctx.now(), cfg.totp.window, None)
        {
            return Ok(step);
        }
        if left > 0 {
            human.msg(Msg::ConfirmRetry, &[&left]);
        }
    }
    Err(CliError::NotConfirmed(CONFIRM_TRIES))
}
