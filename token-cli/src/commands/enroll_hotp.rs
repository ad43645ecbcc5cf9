//! `mfa-token enroll hotp`: a counter-based token (key fob, YubiKey OATH slot)
//! from its seed.
//!
//! Invariant: the key comes from a file or standard input, never from the
//! arguments, and is written nowhere but the store; the audit line names the
//! token, never its key. A user's tokens have distinct names and distinct keys
//! (checked under the user's lock), at most [`hotp::MAX_TOKENS`] of them.

use mfa_core::hotp::{self, Encoding};
use mfa_core::i18n::{self, Msg};
use mfa_core::store::{HotpToken, RuleError};
use mfa_core::username::UserName;

use super::record_add::add_to_record;
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
    let token = HotpToken::new(&args.name, secret, args.digits, args.counter, ctx.now())
        .map_err(|e| refused(&user, e))?;
    add_to_record(&store, &user, |record| {
        record.add_token(token).map_err(|e| refused(&user, e))
    })?;
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

/// The error for a token the record refuses ([`Record::add_token`] checks, under
/// the user's lock, that its name and its key are free and that the user has room).
pub(super) fn refused(user: &UserName, e: RuleError) -> CliError {
    match e {
        RuleError::TokenName(why) => CliError::HotpBadName(why),
        RuleError::TokenTaken(name) => CliError::HotpName(user.to_string(), name),
        RuleError::TokenKeyTaken(name) => CliError::HotpSameKey(user.to_string(), name),
        RuleError::TooManyTokens => CliError::HotpTooMany(user.to_string(), hotp::MAX_TOKENS),
        other => CliError::Record(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::hotp::Secret;
    use mfa_core::store::Record;

    fn token(name: &str, byte: u8) -> HotpToken {
        HotpToken::new(
            name,
            Secret::from_bytes(vec![byte; 20]).unwrap(),
            6,
            0,
            1_700_000_000,
        )
        .unwrap()
    }

    #[test]
    fn names_and_keys_are_unique_and_tokens_limited() {
        let user = UserName::new("alice").unwrap();
        let mut record = Record::default();
        let mut add = |t: HotpToken| record.add_token(t).map_err(|e| refused(&user, e));
        assert!(add(token("fob", 1)).is_ok());
        assert!(matches!(
            add(token("fob", 2)),
            Err(CliError::HotpName(_, n)) if n == "fob"
        ));
        assert!(matches!(
            add(token("spare", 1)),
            Err(CliError::HotpSameKey(_, n)) if n == "fob"
        ));
        for i in 1..hotp::MAX_TOKENS {
            assert!(add(token(&format!("t{i}"), i as u8 + 10)).is_ok());
        }
        assert!(matches!(
            add(token("one more", 2)),
            Err(CliError::HotpTooMany(_, 16))
        ));
        let bad = HotpToken::new(" fob", Secret::from_bytes(vec![3; 20]).unwrap(), 6, 0, 1);
        assert!(matches!(
            bad.map_err(|e| refused(&user, e)),
            Err(CliError::HotpBadName(_))
        ));
    }
}
