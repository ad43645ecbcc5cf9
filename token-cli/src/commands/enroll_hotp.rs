//! `mfa-token enroll hotp`: a counter-based token (key fob, YubiKey OATH slot)
//! from its seed.
//!
//! Invariant: the key comes from a file or standard input, never from the
//! arguments, and is written nowhere but the store; the audit line names the
//! token, never its key. A user's tokens have distinct names and distinct keys
//! (checked under the user's lock), at most [`hotp::MAX_TOKENS`] of them.

use mfa_core::hotp::{self, Encoding};
use mfa_core::i18n::{self, Msg};
use mfa_core::store::{Change, HotpToken, Record, Store};
use mfa_core::username::UserName;

use crate::audit;
use crate::cli::EnrollHotp;
use crate::context::{Account, Context};
use crate::error::CliError;
use crate::secret_file;

pub fn run(ctx: &Context, args: &EnrollHotp) -> Result<(), CliError> {
    if args.secret.is_some() {
        return Err(CliError::SecretInArgv);
    }
    if let Some(why) = hotp::name_problem(&args.name) {
        return Err(CliError::HotpBadName(why));
    }
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let user = ctx.user(args.user.required()?, Account::MustExist, &store)?;
    let text = secret_file::read_asking(&args.secret_file, ctx.lang, Msg::HotpSecretPrompt)?;
    let encoding = if args.hex {
        Encoding::Hex
    } else {
        Encoding::Base32
    };
    let secret = hotp::parse_key(&text, encoding).map_err(CliError::HotpKey)?;
    drop(text);
    let token = HotpToken {
        name: args.name.clone(),
        secret,
        digits: args.digits,
        counter: args.counter,
        created: ctx.now(),
    };
    store.update(&user, |current| {
        let mut record = current.unwrap_or_default();
        if let Err(e) = may_add(&record, &user, &token, false) {
            return (Change::Keep, Err(e));
        }
        record.hotp.push(token);
        (Change::Write(record), Ok(()))
    })??;
    audit::log(
        ctx.lang,
        &user,
        &format!(
            "hotp token {:?} enrolled ({} digits, next counter {})",
            args.name, args.digits, args.counter
        ),
    );
    eprintln!(
        "{}",
        i18n::format(
            ctx.lang,
            Msg::EnrolledHotp,
            &[
                &user,
                &format!("{:?}", args.name),
                &args.digits,
                &args.counter
            ]
        )
    );
    Ok(())
}

/// Under the lock: whether `token` may join the user's tokens. Its name must be
/// free (unless `replacing`: the token of that name goes), its key must not be
/// another token's (each code would be accepted twice), and the user must have
/// room for it.
pub(super) fn may_add(
    record: &Record,
    user: &UserName,
    token: &HotpToken,
    replacing: bool,
) -> Result<(), CliError> {
    let others = || {
        record
            .hotp
            .iter()
            .filter(|t| !replacing || t.name != token.name)
    };
    if !replacing && record.hotp.iter().any(|t| t.name == token.name) {
        return Err(CliError::HotpName(user.to_string(), token.name.clone()));
    }
    if let Some(same) = others().find(|t| t.secret == token.secret) {
        return Err(CliError::HotpSameKey(user.to_string(), same.name.clone()));
    }
    if others().count() >= hotp::MAX_TOKENS {
        return Err(CliError::HotpTooMany(user.to_string(), hotp::MAX_TOKENS));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::hotp::Secret;

    fn token(name: &str, byte: u8) -> HotpToken {
        HotpToken {
            name: name.into(),
            secret: Secret::from_bytes(vec![byte; 20]).unwrap(),
            digits: 6,
            counter: 0,
            created: 1_700_000_000,
        }
    }

    #[test]
    fn names_and_keys_are_unique_and_tokens_limited() {
        let user = UserName::new("alice").unwrap();
        let mut record = Record::default();
        record.hotp.push(token("fob", 1));
        assert!(may_add(&record, &user, &token("spare", 2), false).is_ok());
        assert!(matches!(
            may_add(&record, &user, &token("fob", 2), false),
            Err(CliError::HotpName(_, n)) if n == "fob"
        ));
        assert!(matches!(
            may_add(&record, &user, &token("spare", 1), false),
            Err(CliError::HotpSameKey(_, n)) if n == "fob"
        ));
        // Replacing: the token of that name goes, so its key is no obstacle.
        assert!(may_add(&record, &user, &token("fob", 1), true).is_ok());
        assert!(may_add(&record, &user, &token("fob", 3), true).is_ok());
        record.hotp = (0..hotp::MAX_TOKENS)
            .map(|i| token(&format!("t{i}"), i as u8 + 10))
            .collect();
        assert!(matches!(
            may_add(&record, &user, &token("one more", 2), false),
            Err(CliError::HotpTooMany(_, 16))
        ));
        assert!(may_add(&record, &user, &token("t0", 2), true).is_ok());
    }
}
