//! `mfa-token enroll totp`: nothing is saved until the app has proven it has the key
//! (unless a script says --no-confirm).

use std::io::{BufRead, Write};

use pam_mfa::config::Config;
use pam_mfa::i18n::{self, Msg};
use pam_mfa::store::{Change, Store, TotpEnrollment};
use pam_mfa::totp::{self, Params, Secret};

use crate::cli::EnrollTotp;
use crate::context::{Account, Context};
use crate::error::CliError;

/// How many codes a user may type before enrollment gives up.
const CONFIRM_TRIES: u32 = 3;

pub fn totp(ctx: &Context, args: EnrollTotp) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let user = ctx.user(&args.user.user, Account::MustExist, &store)?;
    let params = params(&cfg, &args)?;
    if !args.replace && store.read(&user)?.is_some_and(|r| r.totp.is_some()) {
        return Err(CliError::AlreadyEnrolled(user.to_string()));
    }
    let Some(text) = args.secret.as_deref() else {
        return Err(CliError::Secret(pam_mfa::totp::SecretError::Base32));
    };
    let secret = Secret::from_base32(text).map_err(CliError::Secret)?;

    let last_step = if args.no_confirm {
        None
    } else {
        Some(confirm(ctx, &cfg, &secret, params)?)
    };
    let now = ctx.now();
    let replace = args.replace;
    store.update(&user, |current| {
        let mut record = current.unwrap_or_default();
        if record.totp.is_some() && !replace {
            return (
                Change::Keep,
                Err(CliError::AlreadyEnrolled(user.to_string())),
            );
        }
        record.totp = Some(TotpEnrollment {
            secret,
            params,
            created: now,
            last_step,
        });
        (Change::Write(record), Ok(()))
    })??;
    eprintln!("{}", i18n::format(ctx.lang, Msg::EnrolledTotp, &[&user]));
    Ok(())
}

fn params(cfg: &Config, args: &EnrollTotp) -> Result<Params, CliError> {
    Params {
        algorithm: args.algorithm.map_or(cfg.totp.algorithm, Into::into),
        digits: args.digits.unwrap_or(cfg.totp.digits),
        period: args.period.unwrap_or(cfg.totp.period),
    }
    .validate()
    .map_err(CliError::Secret)
}

/// Asks for the app's current code until one verifies; returns its time step, which
/// is then recorded so that the same code cannot be replayed at login.
fn confirm(ctx: &Context, cfg: &Config, secret: &Secret, params: Params) -> Result<u64, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    for left in (0..CONFIRM_TRIES).rev() {
        eprint!("{}", i18n::text(ctx.lang, Msg::ConfirmPrompt));
        let _ = std::io::stderr().flush();
        let mut line = zeroize::Zeroizing::new(String::new());
        if lines.read_line(&mut line).map_err(CliError::Input)? == 0 {
            break;
        }
        let code = line.trim();
        if let totp::Check::Accepted { step } =
            totp::check(secret, params, code, ctx.now(), cfg.totp.window, None)
        {
            return Ok(step);
        }
        if left > 0 {
            eprintln!("{}", i18n::format(ctx.lang, Msg::ConfirmRetry, &[&left]));
        }
    }
    Err(CliError::NotConfirmed(CONFIRM_TRIES))
}
