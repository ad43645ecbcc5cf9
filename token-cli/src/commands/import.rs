//! `mfa-token import google-authenticator`: carries ~/.google_authenticator files
//! over, reporting what could not be kept. The files themselves are only read.

use std::path::{Path, PathBuf};

use mfa_core::config::Config;
use mfa_core::fido2::KeyCredential;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::import::google_authenticator::{self as ga, Note};
use mfa_core::random::OsRandom;
use mfa_core::secure_fs::{self, FileError, Trust};
use mfa_core::store::{AnyStore, HotpToken, Record, TotpEnrollment};
use mfa_core::username::UserName;

use super::record_add::add_to_record;
use crate::audit;
use crate::cli::{ImportGa, ImportU2f};
use crate::context::{Account, Context};
use crate::error::CliError;

/// google-authenticator's file name in a home directory.
const FILE_NAME: &str = ".google_authenticator";
/// Its files are a few hundred bytes.
const MAX_SIZE: u64 = 64 * 1024;

pub fn google_authenticator(ctx: &Context, args: &ImportGa) -> Result<(), CliError> {
    let app = super::enroll::app_name(args.name.as_deref())?;
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    if let Some(name) = &args.user {
        let user = ctx.user(name, Account::MustExist, &store)?;
        let account = nix::unistd::User::from_name(user.as_str())
            .map_err(|e| CliError::Lookup(user.to_string(), e.desc().to_owned()))?
            .ok_or_else(|| CliError::UnknownUser(name.clone()))?;
        let path = args
            .file
            .clone()
            .unwrap_or_else(|| account.dir.join(FILE_NAME));
        let notes = import_one(
            ctx,
            &cfg,
            &store,
            &user,
            account.uid.as_raw(),
            &path,
            &app,
            args.replace,
        )?;
        report(ctx, &user, &path, &notes);
        return Ok(());
    }
    let results = accounts()?.into_iter().filter_map(|(name, uid, home)| {
        let path = home.join(FILE_NAME);
        if path.symlink_metadata().is_err() {
            return None;
        }
        let result = UserName::new(&name)
            .map_err(|e| CliError::InvalidUser(name.clone(), e))
            .and_then(|user| {
                let notes = import_one(ctx, &cfg, &store, &user, uid, &path, &app, args.replace)?;
                report(ctx, &user, &path, &notes);
                Ok(())
            });
        Some((name, result))
    });
    tally(ctx.lang, results)
}

/// Counts the accounts of an import loop as they come: a line for each one
/// skipped, then the summary; `Incomplete` when any was skipped.
fn tally(
    lang: Lang,
    results: impl Iterator<Item = (String, Result<(), CliError>)>,
) -> Result<(), CliError> {
    let (mut imported, mut skipped) = (0usize, 0usize);
    for (name, result) in results {
        match result {
            Ok(()) => imported += 1,
            Err(e) => {
                skipped += 1;
                eprintln!(
                    "{}",
                    i18n::format(lang, Msg::ImportSkipped, &[&name, &e.render(lang)])
                );
            }
        }
    }
    println!(
        "{}",
        i18n::format(lang, Msg::ImportSummary, &[&imported, &skipped])
    );
    if skipped > 0 {
        return Err(CliError::Incomplete(skipped));
    }
    Ok(())
}

/// Every account with its uid and home directory, through NSS (`getent passwd`).
fn accounts() -> Result<Vec<(String, u32, PathBuf)>, CliError> {
    let out = std::process::Command::new("getent")
        .arg("passwd")
        .output()
        .map_err(|e| CliError::ReadFile(PathBuf::from("getent passwd"), e.to_string()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let uid = f.get(2)?.parse().ok()?;
            Some(((*f.first()?).to_owned(), uid, PathBuf::from(f.get(5)?)))
        })
        .collect())
}

/// Reads a file that must belong to the user (or to root) and not be writable by
/// others; symbolic links are refused, so a user cannot point it at /etc/shadow.
fn read(path: &Path, uid: u32) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    let rule = Trust {
        owner: uid,
        forbidden_mode: 0o022,
    };
    match secure_fs::read_file(path, rule, MAX_SIZE) {
        Err(FileError::Owner { uid: 0, .. }) => {
            secure_fs::read_file(path, rule.owned_by(0), MAX_SIZE)
        }
        other => other,
    }
    .map_err(CliError::File)
}

/// Imports one file as the app `name`.
#[allow(clippy::too_many_arguments)]
fn import_one(
    ctx: &Context,
    cfg: &Config,
    store: &AnyStore,
    user: &UserName,
    uid: u32,
    path: &Path,
    name: &str,
    replace: bool,
) -> Result<Vec<Note>, CliError> {
    let bytes = read(path, uid)?;
    let bad = |e: &dyn std::fmt::Display| CliError::ReadFile(path.to_owned(), e.to_string());
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(&"not a text file"))?;
    let file = ga::parse(text).map_err(|e| bad(&e))?;
    let imported = ga::convert(file, cfg, ctx.now(), &mut OsRandom).map_err(|e| bad(&e))?;
    let mut notes = imported.notes;
    let (totp, hotp, recovery) = (imported.totp, imported.hotp, imported.recovery);
    let what = if hotp.is_some() {
        format!("hotp token {:?}", ga::HOTP_NAME)
    } else {
        format!("authenticator app {name:?}")
    };
    let kept = add_to_record(store, user, |record| {
        if let Some(totp) = totp {
            put_imported_app(record, user, name, replace, totp)?;
        }
        let kept = match hotp {
            Some(token) => put_imported_token(record, user, replace, token)?,
            None => None,
        };
        if let Some(recovery) = recovery {
            record.set_recovery(recovery);
        }
        Ok(kept)
    })?;
    if let Some(counter) = kept {
        notes.push(Note::HotpCounterKept { counter });
    }
    audit::log(
        ctx.lang,
        user,
        &format!(
            "{what} imported from google-authenticator file {}",
            path.display()
        ),
    );
    Ok(notes)
}

/// Under the lock: the imported app under the name `name`, in the place of the
/// app of that name only with `replace`.
fn put_imported_app(
    record: &mut Record,
    user: &UserName,
    name: &str,
    replace: bool,
    totp: TotpEnrollment,
) -> Result<(), CliError> {
    let totp = totp.renamed(name).map_err(CliError::Record)?;
    super::enroll::may_write_app(record, user, name, replace)?;
    super::enroll::put_app(record, user, totp)
}

/// Under the lock: a counter-based file becomes one more token, or (with
/// `replace`) replaces the one an earlier import made. `Some(counter)`: the same
/// key was there already, further on, and its counter is kept.
fn put_imported_token(
    record: &mut Record,
    user: &UserName,
    replace: bool,
    mut token: HotpToken,
) -> Result<Option<u64>, CliError> {
    let taken = record.tokens().iter().any(|t| t.name() == token.name());
    if taken && !replace {
        return Err(CliError::HotpImported(
            user.to_string(),
            token.name().to_owned(),
        ));
    }
    let mut kept = None;
    if let Some(old) = record.remove_token(token.name()) {
        // The same key again: the counter never goes back, so codes used
        // since the file was written stay used.
        if old.secret() == token.secret() && old.counter() > token.counter() {
            token.advance(old.counter());
            kept = Some(old.counter());
        }
    }
    record
        .add_token(token)
        .map_err(|e| super::enroll_hotp::refused(user, e))?;
    Ok(kept)
}

/// Tells what was imported for `user` from `path`, with what could not be kept.
fn report(ctx: &Context, user: &UserName, path: &Path, notes: &[Note]) {
    let f = |msg: Msg, args: &[&dyn std::fmt::Display]| i18n::format(ctx.lang, msg, args);
    println!("{}", f(Msg::ImportDone, &[user, &path.display()]));
    for note in notes {
        let line = match note {
            Note::Window { theirs, ours } => f(Msg::ImportNoteWindow, &[theirs, ours]),
            Note::Hotp { name, counter } => {
                f(Msg::ImportNoteHotp, &[&format!("{name:?}"), counter])
            }
            Note::LookAhead { theirs, ours } => f(Msg::ImportNoteLookAhead, &[theirs, ours]),
            Note::HotpCounterKept { counter } => f(Msg::ImportNoteCounterKept, &[counter]),
            Note::RateLimit {
                count,
                seconds,
                max_failures,
                lockout_seconds,
            } => f(
                Msg::ImportNoteRateLimit,
                &[count, seconds, max_failures, lockout_seconds],
            ),
            Note::ReuseWasAllowed => f(Msg::ImportNoteReuse, &[]),
            Note::Scratch(n) => f(Msg::ImportNoteScratch, &[n]),
            Note::Unknown(name) => f(Msg::ImportNoteUnknown, &[name]),
        };
        println!("{line}");
    }
}

/// `mfa-token import pam-u2f FILE`.
pub fn pam_u2f(ctx: &Context, args: &ImportU2f) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let origin = args
        .origin
        .clone()
        .unwrap_or_else(|| format!("pam://{}", mfa_core::host::name()));
    let bytes = read_authfile(&args.file)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::ReadFile(args.file.clone(), "not a text file".into()))?;
    let users = mfa_core::import::pam_u2f::parse(text, &origin, ctx.now())
        .map_err(|e| CliError::ReadFile(args.file.clone(), e.to_string()))?;
    let results = users.into_iter().map(|entry| {
        let name = entry.user.clone();
        let result = ctx
            .user(&entry.user, Account::MustExist, &store)
            .and_then(|user| import_u2f_user(ctx, &store, &user, args, &origin, entry.credentials));
        (name, result)
    });
    tally(ctx.lang, results)
}

/// Reads a pam_u2f authfile: the central one is root's; a user's own one belongs
/// to that user. Neither may be writable by others.
fn read_authfile(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    secure_fs::read_file(
        path,
        Trust {
            owner: 0,
            forbidden_mode: 0o022,
        },
        MAX_SIZE,
    )
    .or_else(|e| match e {
        FileError::Owner { uid, .. } => secure_fs::read_file(
            path,
            Trust {
                owner: uid,
                forbidden_mode: 0o022,
            },
            MAX_SIZE,
        ),
        other => Err(other),
    })
    .map_err(CliError::File)
}

/// Imports one user's keys from the authfile, logs and reports it.
fn import_u2f_user(
    ctx: &Context,
    store: &AnyStore,
    user: &UserName,
    args: &ImportU2f,
    origin: &str,
    creds: Vec<KeyCredential>,
) -> Result<(), CliError> {
    let count = creds.len();
    add_to_record(store, user, |record| {
        add_u2f_keys(record, user, args.replace, creds)
    })?;
    audit::log(
        ctx.lang,
        user,
        &format!(
            "{count} security key(s) imported from pam_u2f file {} (RP ID {origin})",
            args.file.display()
        ),
    );
    println!(
        "{}",
        i18n::format(ctx.lang, Msg::ImportU2fDone, &[user, &count, &origin])
    );
    Ok(())
}

/// Under the lock: the keys, renamed where a name is taken, skipping those whose
/// credential is registered already; refused if the user has keys and not `replace`.
fn add_u2f_keys(
    record: &mut Record,
    user: &UserName,
    replace: bool,
    creds: Vec<KeyCredential>,
) -> Result<(), CliError> {
    if !record.keys().is_empty() && !replace {
        return Err(CliError::AlreadyEnrolled(user.to_string()));
    }
    for mut c in creds {
        // Keep names unique next to keys registered before.
        let mut n = 1;
        while record.keys().iter().any(|k| k.name == c.name) {
            n += 1;
            c.name = format!("pam_u2f-{n}");
        }
        if !record
            .keys()
            .iter()
            .any(|k| k.credential_id == c.credential_id)
        {
            // The name was made free just above.
            record.add_key(c).map_err(CliError::Record)?;
        }
    }
    Ok(())
}
