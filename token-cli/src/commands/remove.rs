//! `mfa-token remove`: revoke factors; a record left without any factor is deleted.
//! `--totp NAME` removes that authenticator app; `--totp` alone removes every one
//! (what it did when a user had one app), each named in the log.

use mfa_core::fido2::cose;
use mfa_core::i18n::{self, Msg};
use mfa_core::store::{Change, Store};

use crate::audit;
use crate::cli::RemoveArgs;
use crate::context::{Account, Context};
use crate::error::CliError;

/// What was removed: the user's words and the log's.
struct Removed {
    shown: Vec<String>,
    logged: Vec<String>,
}

pub fn run(ctx: &Context, args: &RemoveArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(args.user.required()?, Account::MayBeGone, &store)?;
    let lang = ctx.lang;
    let removed = store.update(&user, |current| {
        let mut r = Removed {
            shown: vec![],
            logged: vec![],
        };
        let Some(mut record) = current else {
            return (Change::Keep, Ok(r));
        };
        if args.all {
            r.shown
                .push(i18n::text(lang, Msg::WordEverything).to_owned());
            r.logged.push("all factors and login state".into());
            return (Change::Delete, Ok(r));
        }
        // `--totp` alone: every app. An empty NAME (a script's unset variable)
        // names no app: an error, never "every app".
        match &args.totp {
            None => {}
            Some(None) => {
                for app in record.remove_apps() {
                    let name = format!("{:?}", app.name());
                    r.shown.push(i18n::format(lang, Msg::WordApp, &[&name]));
                    r.logged.push(format!("authenticator app {name}"));
                }
            }
            Some(Some(which)) => {
                let Some(app) = record.remove_app(which) else {
                    return (
                        Change::Keep,
                        Err(CliError::NoAppNamed(user.to_string(), which.to_owned())),
                    );
                };
                let name = format!("{:?}", app.name());
                r.shown.push(i18n::format(lang, Msg::WordApp, &[&name]));
                r.logged.push(format!("authenticator app {name}"));
            }
        }
        if args.recovery && record.remove_recovery() {
            r.shown.push(i18n::text(lang, Msg::WordRecovery).to_owned());
            r.logged.push("recovery codes".into());
        }
        if args.contact && record.remove_contact() {
            r.shown.push(i18n::text(lang, Msg::WordContact).to_owned());
            r.logged.push("contact for one-time codes".into());
        }
        if let Some(which) = &args.key {
            let id = cose::id_from_text(which);
            let Some(key) = record
                .keys()
                .iter()
                .find(|k| &k.name == which || id.as_deref() == Some(k.credential_id.as_slice()))
                .map(|k| k.credential_id.clone())
                .and_then(|found| record.remove_key(&found))
            else {
                return (
                    Change::Keep,
                    Err(CliError::NoKeyNamed(user.to_string(), which.clone())),
                );
            };
            r.shown.push(i18n::format(lang, Msg::WordKey, &[&key.name]));
            r.logged.push(format!("security key {:?}", key.name));
        }
        if let Some(name) = &args.hotp {
            let Some(token) = record.remove_token(name) else {
                return (
                    Change::Keep,
                    Err(CliError::NoHotpNamed(user.to_string(), name.clone())),
                );
            };
            r.shown.push(i18n::format(
                lang,
                Msg::WordHotp,
                &[&format!("{:?}", token.name())],
            ));
            r.logged.push(format!("hotp token {:?}", token.name()));
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
