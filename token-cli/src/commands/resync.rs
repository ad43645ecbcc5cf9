//! `mfa-token resync`: brings an HOTP token pressed past the look-ahead back in
//! step, from two consecutive codes, inside one locked update (a login racing it
//! sees the counter before or after, never between).
//!
//! Invariant: the counter only moves forward: the search starts at the stored
//! counter, and codes before it are refused as used. The failure count and a
//! lockout are left alone (they are `unlock`'s business).

use mfa_core::hotp::{self, Resync};
use mfa_core::i18n::{self, Msg};
use mfa_core::store::{Change, Record, Store};
use mfa_core::username::UserName;
use zeroize::Zeroizing;

use crate::audit;
use crate::cli::ResyncArgs;
use crate::context::{Account, Context};
use crate::error::CliError;

pub fn run(ctx: &Context, args: &ResyncArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(args.user.required()?, Account::MayBeGone, &store)?;
    // As typed at the login prompt: blanks between groups are fine.
    let code = |typed: &str| {
        mfa_core::answer::normalize(typed.as_bytes())
            .unwrap_or_else(|| Zeroizing::new(String::new()))
    };
    let (first, second) = (code(&args.first), code(&args.second));
    let name = args.name.as_deref();
    let (token, old, new) = store.update(&user, |current| {
        let Some(mut record) = current.filter(|r| !r.tokens().is_empty()) else {
            return (Change::Keep, Err(CliError::NoHotp(user.to_string())));
        };
        let (i, at) = match find_codes(&record, &user, name, &first, &second) {
            Ok(found) => found,
            Err(e) => return (Change::Keep, Err(e)),
        };
        let t = &record.tokens()[i];
        let (name, old) = (t.name().to_owned(), t.counter());
        // Past the second code; `hotp::resync` found nothing before `old`.
        record.advance_token(&name, at.saturating_add(2));
        let new = record.tokens()[i].counter();
        let done = (name, old, new);
        (Change::Write(record), Ok(done))
    })??;
    audit::log(
        ctx.lang,
        &user,
        &format!("hotp token {token:?} resynchronised: next counter {old} -> {new}"),
    );
    eprintln!(
        "{}",
        i18n::format(
            ctx.lang,
            Msg::ResyncDone,
            &[&user, &format!("{token:?}"), &new, &old]
        )
    );
    Ok(())
}

/// Under the lock: the token that `first` and `second` are consecutive codes of,
/// searched from each token's counter on (only the token `name` when given): its
/// place in the record and the counter of `first`. Refused when none or several are.
fn find_codes(
    record: &Record,
    user: &UserName,
    name: Option<&str>,
    first: &str,
    second: &str,
) -> Result<(usize, u64), CliError> {
    let candidates: Vec<usize> = (0..record.tokens().len())
        .filter(|&i| name.is_none_or(|n| record.tokens()[i].name() == n))
        .collect();
    if let (Some(n), true) = (name, candidates.is_empty()) {
        return Err(CliError::NoHotpNamed(user.to_string(), n.to_owned()));
    }
    let mut found = Vec::new();
    let mut behind = None;
    for i in candidates {
        let t = &record.tokens()[i];
        match hotp::resync(
            t.secret(),
            t.digits(),
            first,
            second,
            t.counter(),
            hotp::RESYNC_WINDOW,
        ) {
            Resync::Found { first } => found.push((i, first)),
            Resync::Behind => behind = behind.or(Some(i)),
            Resync::NotFound => {}
        }
    }
    match found.as_slice() {
        [] => Err(match behind {
            Some(i) => {
                CliError::ResyncBehind(user.to_string(), record.tokens()[i].name().to_owned())
            }
            None => CliError::ResyncNotFound(user.to_string(), hotp::RESYNC_WINDOW),
        }),
        [found] => Ok(*found),
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(i, _)| format!("{:?}", record.tokens()[*i].name()))
                .collect();
            Err(CliError::ResyncAmbiguous(
                user.to_string(),
                names.join(", "),
            ))
        }
    }
}
