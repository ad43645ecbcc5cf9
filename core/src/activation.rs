//! The steps of activating an authenticator app, the same at a login (the journey
//! in `auth/enroll.rs`, at login or through pam_mfad) and in `mfa-token enroll
//! totp` (which implements [`Prompter`] for the terminal): the issuer the app
//! shows, the QR code and key, the first code, the recovery codes.
//!
//! Invariant: a key counts as activated only when a code typed by the user
//! verifies against it at the time it was typed (the clock is read after each
//! answer, as a user may take a minute to scan); at most [`TRIES`] codes are tried.
//! The steps talk to the user only through the [`Prompter`]; nothing here stores.

use zeroize::Zeroizing;

use crate::auth::Prompter;
use crate::error::Error;
use crate::i18n::{self, Lang, Msg};
use crate::qr::{Background, Matrix};
use crate::totp::{self, Params, Secret};

/// Codes a user may type before the confirmation gives up.
pub const TRIES: u32 = 3;

/// The issuer the app shows: the one chosen (option or config), else this host's
/// name. `:` separates issuer and account in the app's label, so it becomes `-`;
/// an empty name is no issuer.
pub fn issuer(chosen: Option<&str>, host: &str) -> Option<String> {
    Some(chosen.unwrap_or(host).replace(':', "-")).filter(|i| !i.is_empty())
}

/// Step 1: the QR code to scan (drawn for a terminal with `bg`), or without one
/// the instruction to add the account by hand, then the key in groups.
pub fn show_key(
    p: &mut dyn Prompter,
    lang: Lang,
    secret: &Secret,
    qr: Option<(&Matrix, Background)>,
) -> Result<(), Error> {
    match qr {
        Some((matrix, bg)) => {
            p.info(i18n::text(lang, Msg::EnrollScan))?;
            p.info(&matrix.to_text(bg))?;
        }
        None => p.info(i18n::text(lang, Msg::EnrollNoQr))?,
    }
    p.info(&i18n::format(
        lang,
        Msg::EnrollManualKey,
        &[&secret.to_base32_grouped().as_str()],
    ))
}

/// Step 2: asks for the app's current code until one verifies against `secret`
/// at the time it was typed (`clock`). `Some(step)`: the step of that code, to be
/// stored as used. `None`: [`TRIES`] wrong codes. `Err`: the conversation failed
/// (an end of input included).
pub fn confirm(
    p: &mut dyn Prompter,
    lang: Lang,
    secret: &Secret,
    params: Params,
    window: u8,
    clock: &dyn Fn() -> u64,
) -> Result<Option<u64>, Error> {
    p.info(&i18n::format(lang, Msg::EnrollConfirm, &[&params.digits]))?;
    for left in (0..TRIES).rev() {
        let answer = p.ask_hidden(i18n::text(lang, Msg::ConfirmPrompt))?;
        let typed = crate::answer::normalize(&answer).unwrap_or_default();
        if let totp::Check::Accepted { step } =
            totp::check(secret, params, &typed, clock(), window, None)
        {
            return Ok(Some(step));
        }
        if left > 0 {
            p.info(&i18n::format(lang, Msg::ConfirmRetry, &[&left]))?;
        }
    }
    Ok(None)
}

/// Step 3: fresh recovery codes, shown once.
pub fn show_recovery(
    p: &mut dyn Prompter,
    lang: Lang,
    codes: &[Zeroizing<String>],
) -> Result<(), Error> {
    p.info(i18n::text(lang, Msg::EnrollRecovery))?;
    p.info(&code_list(codes))
}

/// Recovery codes as shown to the user: one per line, indented; wiped on drop.
pub fn code_list(codes: &[Zeroizing<String>]) -> Zeroizing<String> {
    Zeroizing::new(
        codes
            .iter()
            .map(|c| format!("   {}", c.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Script;
    use std::cell::Cell;

    const T0: u64 = 1_700_000_015;

    fn secret() -> Secret {
        Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap()
    }

    fn code_at(t: u64) -> String {
        let p = Params::DEFAULT;
        totp::code_at(&secret(), p, t / u64::from(p.period)).to_string()
    }

    #[test]
    fn the_issuer_is_chosen_or_this_host_without_colons() {
        assert_eq!(issuer(Some("ACME"), "bastion"), Some("ACME".into()));
        assert_eq!(issuer(None, "bastion"), Some("bastion".into()));
        assert_eq!(issuer(Some("a:b"), "h"), Some("a-b".into()));
        assert_eq!(issuer(None, "fe80::1"), Some("fe80--1".into()));
        assert_eq!(issuer(None, ""), None);
        assert_eq!(issuer(Some(""), "bastion"), None, "chosen empty: none");
    }

    #[test]
    fn the_key_is_shown_with_or_without_a_qr_code() {
        let m = Matrix::encode(b"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").unwrap();
        let mut p = Script::lines(&[]);
        show_key(&mut p, Lang::En, &secret(), Some((&m, Background::Dark))).unwrap();
        assert_eq!(p.asked.len(), 3);
        assert!(p.asked[0].contains("scan this QR code"));
        assert_eq!(p.asked[1], format!("INFO {}", m.to_text(Background::Dark)));
        assert!(p.asked[2].ends_with("JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"));
        let mut p = Script::lines(&[]);
        show_key(&mut p, Lang::Nl, &secret(), None).unwrap();
        assert_eq!(p.asked.len(), 2);
        assert!(p.asked[0].contains("met de sleutel hieronder"));
    }

    #[test]
    fn the_first_code_that_verifies_is_taken_and_its_step_returned() {
        let mut p = Script::lines(&["000000", "", &code_at(T0)]);
        let step = confirm(&mut p, Lang::En, &secret(), Params::DEFAULT, 1, &|| T0);
        assert_eq!(step.unwrap(), Some(T0 / 30));
        let retries: Vec<_> = p
            .asked
            .iter()
            .filter(|a| a.contains("Tries left"))
            .collect();
        assert_eq!(retries.len(), 2, "{:?}", p.asked);
        assert!(p.asked[0].contains("6-digit code"));
    }

    #[test]
    fn three_wrong_codes_end_it_and_a_closed_conversation_is_an_error() {
        let mut p = Script::lines(&["1", "2", "3", "never asked"]);
        let r = confirm(&mut p, Lang::En, &secret(), Params::DEFAULT, 1, &|| T0);
        assert_eq!(r.unwrap(), None);
        assert_eq!(p.answers.len(), 1, "only TRIES codes are asked for");
        let mut p = Script {
            answers: vec![Ok(b"1".to_vec()), Err(())],
            asked: vec![],
        };
        let r = confirm(&mut p, Lang::En, &secret(), Params::DEFAULT, 1, &|| T0);
        assert!(matches!(r, Err(Error::Conversation)));
    }

    #[test]
    fn each_code_is_checked_at_the_time_it_was_typed() {
        // A user who scans for two minutes: the code of that moment counts, the
        // code of the moment the key was shown does not.
        let now = Cell::new(T0);
        let later = T0 + 120;
        let mut p = Script::lines(&[&code_at(T0), &code_at(later)]);
        let clock = || {
            now.set(later);
            now.get()
        };
        let step = confirm(&mut p, Lang::En, &secret(), Params::DEFAULT, 1, &clock);
        assert_eq!(step.unwrap(), Some(later / 30));
    }

    #[test]
    fn recovery_codes_are_listed_one_per_line() {
        let codes = [
            Zeroizing::new("abcd".to_owned()),
            Zeroizing::new("efgh".into()),
        ];
        let mut p = Script::lines(&[]);
        show_recovery(&mut p, Lang::En, &codes).unwrap();
        assert!(p.asked[0].starts_with("INFO 3. Recovery codes"));
        assert_eq!(p.asked[1], "INFO    abcd\n   efgh");
    }
}
