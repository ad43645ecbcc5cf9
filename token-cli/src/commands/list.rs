//! `mfa-token list`: what a user has enrolled and their login state. Never shows a
//! secret or a code.

use serde::Serialize;

use pam_mfa::i18n::{self, Msg};
use pam_mfa::store::{Record, Store};

use crate::cli::ListArgs;
use crate::context::{Account, Context};
use crate::error::CliError;
use crate::time::utc;

#[derive(Serialize)]
struct Listing<'a> {
    user: &'a str,
    totp: Option<TotpInfo>,
    recovery: Option<RecoveryInfo>,
    failures: u32,
    locked_until: Option<u64>,
    last_success: Option<u64>,
    last_failure: Option<u64>,
}

#[derive(Serialize)]
struct TotpInfo {
    algorithm: &'static str,
    digits: u8,
    period: u32,
    created: u64,
    /// Unix time at which the last accepted code's step began.
    last_used: Option<u64>,
}

#[derive(Serialize)]
struct RecoveryInfo {
    unused: usize,
    created: u64,
}

pub fn run(ctx: &Context, args: &ListArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(&args.user.user, Account::MayBeGone, &store)?;
    let record = store.read(&user)?.unwrap_or_default();
    let listing = listing(user.as_str(), &record, ctx.now());
    if args.json {
        // Serializing plain structs of numbers and strings cannot fail.
        println!(
            "{}",
            serde_json::to_string_pretty(&listing).unwrap_or_default()
        );
    } else {
        print_text(ctx, &listing);
    }
    Ok(())
}

fn listing<'a>(user: &'a str, record: &Record, now: u64) -> Listing<'a> {
    Listing {
        user,
        totp: record.totp.as_ref().map(|t| TotpInfo {
            algorithm: t.params.algorithm.name(),
            digits: t.params.digits,
            period: t.params.period,
            created: t.created,
            last_used: t
                .last_step
                .map(|s| s.saturating_mul(u64::from(t.params.period))),
        }),
        recovery: record.recovery.as_ref().map(|r| RecoveryInfo {
            unused: r.hashed.hashes.len(),
            created: r.created,
        }),
        failures: record.state.failures,
        locked_until: (record.state.locked_until > now).then_some(record.state.locked_until),
        last_success: record.state.last_success,
        last_failure: record.state.last_failure,
    }
}

fn print_text(ctx: &Context, l: &Listing<'_>) {
    let lang = ctx.lang;
    let f = |msg: Msg, args: &[&dyn std::fmt::Display]| i18n::format(lang, msg, args);
    if l.totp.is_none() && l.recovery.is_none() {
        println!("{}", f(Msg::NothingEnrolled, &[&l.user]));
        return;
    }
    println!("{}", l.user);
    if let Some(t) = &l.totp {
        println!(
            "  {}",
            f(
                Msg::ListTotp,
                &[&t.algorithm, &t.digits, &t.period, &utc(t.created)]
            )
        );
        if let Some(used) = t.last_used {
            println!("  {}", f(Msg::ListLastStep, &[&utc(used)]));
        }
    }
    if let Some(r) = &l.recovery {
        println!("  {}", f(Msg::ListRecovery, &[&r.unused, &utc(r.created)]));
    }
    println!("  {}", f(Msg::ListFailures, &[&l.failures]));
    if let Some(until) = l.locked_until {
        println!("  {}", f(Msg::ListLocked, &[&utc(until)]));
    }
    if let Some(t) = l.last_success {
        println!("  {}", f(Msg::ListLastSuccess, &[&utc(t)]));
    }
}
