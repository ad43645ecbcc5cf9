//! `mfa-token unlock`: ends a lockout and resets the failure count.

use mfa_core::i18n::{self, Msg};
use mfa_core::store::{Change, Store};

use crate::audit;
use crate::cli::UserArg;
use crate::context::{Account, Context};
use crate::error::CliError;

pub fn run(ctx: &Context, args: &UserArg) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(args.required()?, Account::MayBeGone, &store)?;
    let now = ctx.now();
    let was_locked = store.update(&user, |current| match current {
        None => (Change::Keep, None),
        Some(mut record) => {
            let was = record.state().locked_until > now;
            record.state_mut().failures = 0;
            record.state_mut().locked_until = 0;
            (Change::Write(record), Some(was))
        }
    })?;
    let Some(was_locked) = was_locked else {
        println!("{}", i18n::format(ctx.lang, Msg::NothingEnrolled, &[&user]));
        return Ok(());
    };
    audit::log(
        ctx.lang,
        &user,
        if was_locked {
            "lockout ended, failures reset"
        } else {
            "failures reset (was not locked out)"
        },
    );
    println!("{}", i18n::format(ctx.lang, Msg::Unlocked, &[&user]));
    Ok(())
}
