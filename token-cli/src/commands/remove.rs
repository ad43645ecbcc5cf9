//! `mfa-token remove`: revoke factors; a record left without any factor is deleted.
//! `--totp NAME` removes that authenticator app; `--totp` alone removes every one
//! (what it did when a user had one app), each named in the log.

use mfa_core::fido2::cose;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::store::{Change, Record, Store};
use mfa_core::username::UserName;

use crate::audit;
use crate::cli::RemoveArgs;
use crate::context::{Account, Context};
use crate::error::CliError;

/// What was removed: the user's words and the log's.
#[derive(Default)]
struct Removed {
    shown: Vec<String>,
    logged: Vec<String>,
}

impl Removed {
    /// Notes one thing removed, in the user's words and the log's.
    fn add(&mut self, shown: String, logged: String) {
        self.shown.push(shown);
        self.logged.push(logged);
    }
}

pub fn run(ctx: &Context, args: &RemoveArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(args.user.required()?, Account::MayBeGone, &store)?;
    let lang = ctx.lang;
    let removed = store.update(&user, |current| {
        let mut r = Removed::default();
        let Some(mut record) = current else {
            return (Change::Keep, Ok(r));
        };
        if args.all {
            r.add(
                i18n::text(lang, Msg::WordEverything).to_owned(),
                "all factors and login state".into(),
            );
            return (Change::Delete, Ok(r));
        }
        if let Err(e) = remove_factors(&mut record, &mut r, args, lang, &user) {
            return (Change::Keep, Err(e));
        }
        let change = match (r.logged.is_empty(), record.has_factor()) {
            (true, _) => Change::Keep,
            (false, true) => Change::Write(record),
            (false, false) if record.contact().is_none() => Change::Delete,
            (false, false) => Change::Write(record),
        };
        (change, Ok(r))
    })??;
    if removed.logged.is_empty() {
        eprintln!("{}", i18n::format(lang, Msg::NothingToRemove, &[&user]));
    } else {
        audit::log(
            lang,
            &user,
            &format!("removed {}", removed.logged.join(", ")),
        );
        eprintln!(
            "{}",
            i18n::format(lang, Msg::Removed, &[&user, &removed.shown.join(", ")])
        );
    }
    Ok(())
}

/// Under the lock: removes from `record` what `args` names, in the order apps,
/// recovery codes, contact, key, token, noting each in `r`; refused when a named
/// app, key or token is not there.
fn remove_factors(
    record: &mut Record,
    r: &mut Removed,
    args: &RemoveArgs,
    lang: Lang,
    user: &UserName,
) -> Result<(), CliError> {
    if let Some(which) = &args.totp {
        remove_apps(record, r, which.as_deref(), lang, user)?;
    }
    if args.recovery && record.remove_recovery() {
        r.add(
            i18n::text(lang, Msg::WordRecovery).to_owned(),
            "recovery codes".into(),
        );
    }
    if args.contact && record.remove_contact() {
        r.add(
            i18n::text(lang, Msg::WordContact).to_owned(),
            "contact for one-time codes".into(),
        );
    }
    if let Some(which) = &args.key {
        let id = cose::id_from_text(which);
        let key = record
            .keys()
            .iter()
            .find(|k| &k.name == which || id.as_deref() == Some(k.credential_id.as_slice()))
            .map(|k| k.credential_id.clone())
            .and_then(|found| record.remove_key(&found))
            .ok_or_else(|| CliError::NoKeyNamed(user.to_string(), which.clone()))?;
        r.add(
            i18n::format(lang, Msg::WordKey, &[&key.name]),
            format!("security key {:?}", key.name),
        );
    }
    if let Some(name) = &args.hotp {
        let token = record
            .remove_token(name)
            .ok_or_else(|| CliError::NoHotpNamed(user.to_string(), name.clone()))?;
        r.add(
            i18n::format(lang, Msg::WordHotp, &[&format!("{:?}", token.name())]),
            format!("hotp token {:?}", token.name()),
        );
    }
    Ok(())
}

/// `--totp NAME`: that app; `--totp` alone (`None`): every app. An empty NAME (a
/// script's unset variable) names no app: an error, never "every app".
fn remove_apps(
    record: &mut Record,
    r: &mut Removed,
    which: Option<&str>,
    lang: Lang,
    user: &UserName,
) -> Result<(), CliError> {
    let removed = match which {
        None => record.remove_apps(),
        Some(which) => vec![record
            .remove_app(which)
            .ok_or_else(|| CliError::NoAppNamed(user.to_string(), which.to_owned()))?],
    };
    for app in removed {
        let name = format!("{:?}", app.name());
        r.add(
            i18n::format(lang, Msg::WordApp, &[&name]),
            format!("authenticator app {name}"),
        );
    }
    Ok(())
}
