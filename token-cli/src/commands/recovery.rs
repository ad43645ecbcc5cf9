//! `mfa-token recovery`: a fresh set of recovery codes replaces the old one.

use serde_json::json;

use mfa_core::i18n::{self, Msg};
use mfa_core::random::OsRandom;
use mfa_core::recovery;
use mfa_core::store::{Change, RecoveryCodes, Store};

use crate::audit;
use crate::cli::UserJson;
use crate::context::{Account, Context};
use crate::error::CliError;

pub fn run(ctx: &Context, args: &UserJson) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let user = ctx.user(args.user.required()?, Account::MustExist, &store)?;
    let (codes, hashed) = recovery::generate(usize::from(cfg.recovery.codes), &mut OsRandom)?;
    let now = ctx.now();
    store.update(&user, |current| {
        let mut record = current.unwrap_or_default();
        record.set_recovery(RecoveryCodes {
            hashed,
            created: now,
        });
        (Change::Write(record), ())
    })?;
    audit::log(
        ctx.lang,
        &user,
        &format!("{} new recovery codes, earlier ones revoked", codes.len()),
    );
    // Only once the codes are stored are they shown.
    let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    if args.json {
        println!(
            "{:#}",
            json!({ "user": user.as_str(), "recovery_codes": codes })
        );
    } else {
        eprintln!("{}", i18n::format(ctx.lang, Msg::RecoveryIntro, &[&user]));
        for code in codes {
            println!("{code}");
        }
    }
    Ok(())
}
