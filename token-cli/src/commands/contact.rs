//! `mfa-token contact`: where one-time codes go, and the test send that proves the
//! user receives them (also the last step of the interactive enrollment).

use std::io::{BufRead, IsTerminal, Write};

use zeroize::Zeroizing;

use mfa_core::config::Config;
use mfa_core::contact::Contact;
use mfa_core::i18n::{self, Msg};
use mfa_core::oob::{CommandCourier, Courier, Delivery};
use mfa_core::random::OsRandom;
use mfa_core::sent_code;
use mfa_core::store::{Change, Store};
use mfa_core::username::UserName;

use crate::audit;
use crate::cli::ContactArgs;
use crate::context::{Account, Context};
use crate::error::CliError;

/// Test codes a user may type before the contact is given up.
const TRIES: u32 = 3;

/// A phone number or, with an `@`, an e-mail address.
pub(crate) fn parse(text: &str) -> Result<Contact, CliError> {
    if text.contains('@') {
        Contact::email(text)
    } else {
        Contact::phone(text)
    }
    .map_err(CliError::Contact)
}

/// Sends a test code to `contact` and reads it back from standard input; returns
/// the unix time of the verification. Messages go to stdout, or stderr when
/// `to_stderr`.
pub(crate) fn verify(
    ctx: &Context,
    cfg: &Config,
    user: &UserName,
    contact: &Contact,
    to_stderr: bool,
) -> Result<u64, CliError> {
    let lang = ctx.lang;
    let say = |text: &str, newline: bool| {
        let end = if newline { "\n" } else { "" };
        if to_stderr {
            eprint!("{text}{end}");
            let _ = std::io::stderr().flush();
        } else {
            print!("{text}{end}");
            let _ = std::io::stdout().flush();
        }
    };
    if cfg.oob.command.is_none() {
        return Err(CliError::NoOob(cfg.path.clone()));
    }
    let now = ctx.now();
    let (code, pending) =
        sent_code::new_code(cfg.oob.digits, cfg.oob.lifetime_seconds, now, &mut OsRandom)?;
    let host = mfa_core::host::name();
    CommandCourier {
        cfg: &cfg.oob,
        owner: 0,
    }
    .send(&Delivery {
        user: user.as_str(),
        contact,
        code: &code,
        lifetime: cfg.oob.lifetime_seconds,
        lang,
        host: &host,
    })
    .map_err(CliError::Send)?;
    drop(code);
    audit::log(
        lang,
        user,
        &format!(
            "test code sent by {} to {}",
            contact.channel(),
            contact.masked()
        ),
    );
    say(
        &i18n::format(lang, Msg::ContactTestSent, &[&contact.address()]),
        true,
    );
    let stdin = std::io::stdin();
    for left in (0..TRIES).rev() {
        say(i18n::text(lang, Msg::ContactPrompt), false);
        let mut line = Zeroizing::new(String::new());
        let read = stdin.lock().read_line(&mut line).map_err(CliError::Input)?;
        if !stdin.is_terminal() {
            say("", true);
        }
        if read == 0 {
            break;
        }
        if pending.matches(&line, ctx.now()) {
            return Ok(ctx.now());
        }
        if left > 0 {
            say(&i18n::format(lang, Msg::ConfirmRetry, &[&left]), true);
        }
    }
    Err(CliError::NotConfirmed(TRIES))
}

/// Stores `contact` for `user`, replacing any earlier one and dropping a code in
/// flight to the old address.
pub(crate) fn save(
    store: &impl Store,
    ctx: &Context,
    user: &UserName,
    contact: Contact,
) -> Result<(), CliError> {
    let logged = format!(
        "contact for one-time codes set: {} {}{}",
        contact.channel(),
        contact.masked(),
        if contact.verified().is_some() {
            ", verified with a test code"
        } else {
            ", not verified"
        }
    );
    store.update(user, |current| {
        let mut record = current.unwrap_or_default();
        record.set_contact(contact);
        (Change::Write(record), ())
    })?;
    audit::log(ctx.lang, user, &logged);
    Ok(())
}

pub fn run(ctx: &Context, args: &ContactArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let lang = ctx.lang;
    if args.remove {
        let user = ctx.user(args.user.required()?, Account::MayBeGone, &store)?;
        let removed = store.update(&user, |current| match current {
            Some(mut r) => {
                if !r.remove_contact() {
                    return (Change::Keep, false);
                }
                let change = if r.has_factor() {
                    Change::Write(r)
                } else {
                    Change::Delete
                };
                (change, true)
            }
            None => (Change::Keep, false),
        })?;
        if !removed {
            return Err(CliError::NoContact(user.to_string()));
        }
        audit::log(lang, &user, "contact for one-time codes removed");
        eprintln!("{}", i18n::format(lang, Msg::ContactRemoved, &[&user]));
        return Ok(());
    }
    let user = ctx.user(args.user.required()?, Account::MustExist, &store)?;
    let mut contact = match (&args.phone, &args.email) {
        (Some(p), _) => Contact::phone(p),
        (_, Some(e)) => Contact::email(e),
        (None, None) => return Err(CliError::NoContact(user.to_string())),
    }
    .map_err(CliError::Contact)?;
    if args.verify {
        contact.set_verified(Some(verify(ctx, &cfg, &user, &contact, false)?));
    }
    let (channel, address) = (contact.channel(), contact.address().to_owned());
    save(&store, ctx, &user, contact)?;
    eprintln!(
        "{}",
        i18n::format(lang, Msg::ContactSaved, &[&user, &channel, &address])
    );
    Ok(())
}
