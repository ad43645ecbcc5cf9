//! `mfa-token remove`: revoke factors; a record left without any factor is deleted.

use pam_mfa::i18n::{self, Msg};
use pam_mfa::store::{Change, Store};

use crate::audit;
use crate::cli::RemoveArgs;
use crate::context::{Account, Context};
use crate::error::CliError;

pub fn run(ctx: &Context, args: &RemoveArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(&args.user.user, Account::MayBeGone, &store)?;
    let removed = store.update(&user, |current| {
        let Some(mut record) = current else {
            return (Change::Keep, false);
        };
        if args.all {
            return (Change::Delete, true);
        }
        let mut changed = false;
        if args.totp {
            changed |= record.totp.take().is_some();
        }
        if args.recovery {
            changed |= record.recovery.take().is_some();
        }
        match (changed, record.totp.is_some() || record.recovery.is_some()) {
            (false, _) => (Change::Keep, false),
            (true, true) => (Change::Write(record), true),
            (true, false) => (Change::Delete, true),
        }
    })?;
    let lang = ctx.lang;
    if removed {
        let what: Vec<&str> = if args.all {
            vec![i18n::text(lang, Msg::WordEverything)]
        } else {
            [
                (args.totp, Msg::WordTotp),
                (args.recovery, Msg::WordRecovery),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, m)| i18n::text(lang, *m))
            .collect()
        };
        let logged = match (args.all, args.totp, args.recovery) {
            (true, _, _) => "all factors and login state",
            (false, true, true) => "authenticator app and recovery codes",
            (false, true, false) => "authenticator app",
            _ => "recovery codes",
        };
        audit::log(lang, &user, &format!("removed {logged}"));
        eprintln!(
            "{}",
            i18n::format(lang, Msg::Removed, &[&user, &what.join(", ")])
        );
    } else {
        eprintln!("{}", i18n::format(lang, Msg::NothingToRemove, &[&user]));
    }
    Ok(())
}
