//! Every user-facing string, in English and Dutch.
//!
//! Invariant: text shown to a user comes from [`text`], and every [`Msg`] has a
//! translation in every [`Lang`] (the match is exhaustive, and a test checks that
//! the Dutch text is not the English one left untranslated).

/// A language we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Nl,
}

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Nl];

    /// The language of a locale value such as `nl_NL.UTF-8` or `en_US`; English for
    /// anything we do not speak.
    pub fn from_locale(value: &str) -> Lang {
        let lang = value.split(['_', '.', '@']).next().unwrap_or("");
        if lang.eq_ignore_ascii_case("nl") {
            Lang::Nl
        } else {
            Lang::En
        }
    }

    /// The language chosen by the first set and non-empty of `LC_ALL`,
    /// `LC_MESSAGES` and `LANG`, looked up through `get`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|k| get(k).filter(|v| !v.is_empty()))
            .map_or(Lang::En, |v| Lang::from_locale(&v))
    }
}

/// Declares [`Msg`], [`Msg::ALL`] and [`text`] from one table, so a message cannot
/// exist without its translations.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $name:ident { en: $en:expr, nl: $nl:expr $(,)? })*) => {
        /// A user-facing message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg {
            $($(#[$doc])* $name,)*
        }

        impl Msg {
            /// Every message.
            pub const ALL: &'static [Msg] = &[$(Msg::$name,)*];
        }

        /// The text of `msg` in `lang`. Placeholders `{0}`, `{1}`... are filled by
        /// [`format`].
        pub fn text(lang: Lang, msg: Msg) -> &'static str {
            match msg {
                $(Msg::$name => match lang {
                    Lang::En => $en,
                    Lang::Nl => $nl,
                },)*
            }
        }
    };
}

catalogue! {
    /// The one prompt of the module: a TOTP code or a recovery code is accepted here.
    CodePrompt {
        en: "Verification code: ",
        nl: "Verificatiecode: ",
    }

    // mfa-token: errors.
    ErrUnknownUser {
        en: "no such user: {0}",
        nl: "gebruiker bestaat niet: {0}",
    }
    ErrInvalidUser {
        en: "{0} cannot be used with pam_mfa: {1}",
        nl: "{0} kan niet met pam_mfa gebruikt worden: {1}",
    }
    ErrAlreadyEnrolled {
        en: "{0} already has an authenticator app enrolled; add --replace to replace it",
        nl: "{0} heeft al een authenticator-app ingesteld; voeg --replace toe om die te vervangen",
    }
    ErrNotConfirmed {
        en: "no valid code after {0} tries; nothing was saved",
        nl: "geen geldige code na {0} pogingen; er is niets opgeslagen",
    }
    ErrBadSecret {
        en: "invalid secret: {0}",
        nl: "ongeldig geheim: {0}",
    }
    ErrInput {
        en: "cannot read the answer: {0}",
        nl: "kan het antwoord niet lezen: {0}",
    }

    // mfa-token: enrollment.
    ConfirmPrompt {
        en: "Code shown by the app now: ",
        nl: "Code die de app nu toont: ",
    }
    ConfirmRetry {
        en: "That code is not valid. Tries left: {0}.",
        nl: "Die code klopt niet. Nog {0} pogingen.",
    }
    EnrolledTotp {
        en: "Authenticator app enrolled for {0}.",
        nl: "Authenticator-app ingesteld voor {0}.",
    }

    // mfa-token: recovery codes, list, remove.
    RecoveryIntro {
        en: "New recovery codes for {0}. Each works once, at the verification code prompt; earlier codes no longer work. Keep them somewhere safe, away from this device:",
        nl: "Nieuwe herstelcodes voor {0}. Elke code werkt één keer, bij de vraag om de verificatiecode; eerdere codes werken niet meer. Bewaar ze op een veilige plek, niet op dit apparaat:",
    }
    NothingEnrolled {
        en: "{0} has nothing enrolled.",
        nl: "{0} heeft niets ingesteld.",
    }
    ListTotp {
        en: "authenticator app: {0}, {1} digits, {2} s per code, enrolled {3}",
        nl: "authenticator-app: {0}, {1} cijfers, {2} s per code, ingesteld op {3}",
    }
    ListLastStep {
        en: "last code accepted: {0}",
        nl: "laatste geaccepteerde code: {0}",
    }
    ListRecovery {
        en: "recovery codes: {0} unused, generated {1}",
        nl: "herstelcodes: {0} ongebruikt, aangemaakt op {1}",
    }
    ListFailures {
        en: "failed attempts in a row: {0}",
        nl: "mislukte pogingen op rij: {0}",
    }
    ListLocked {
        en: "locked out until {0}",
        nl: "geblokkeerd tot {0}",
    }
    ListLastSuccess {
        en: "last successful login: {0}",
        nl: "laatste geslaagde aanmelding: {0}",
    }
    Removed {
        en: "Removed for {0}: {1}.",
        nl: "Verwijderd voor {0}: {1}.",
    }
    NothingToRemove {
        en: "{0}: nothing to remove.",
        nl: "{0}: niets te verwijderen.",
    }
    WordTotp {
        en: "authenticator app",
        nl: "authenticator-app",
    }
    WordRecovery {
        en: "recovery codes",
        nl: "herstelcodes",
    }
    WordEverything {
        en: "everything",
        nl: "alles",
    }
}

/// The text of `msg` in `lang` with `{0}`, `{1}`... replaced by `args`.
pub fn format(lang: Lang, msg: Msg, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = text(lang, msg).to_owned();
    for (i, arg) in args.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &arg.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_pick_the_language() {
        for (value, want) in [
            ("nl_NL.UTF-8", Lang::Nl),
            ("nl_BE", Lang::Nl),
            ("nl", Lang::Nl),
            ("NL_nl.utf8", Lang::Nl),
            ("en_US.UTF-8", Lang::En),
            ("C", Lang::En),
            ("POSIX", Lang::En),
            ("", Lang::En),
            ("nld", Lang::En),
        ] {
            assert_eq!(Lang::from_locale(value), want, "{value}");
        }
    }

    #[test]
    fn lc_all_wins_over_lang_and_empty_values_are_skipped() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Lang::from_env(env(&[("LANG", "nl_NL.UTF-8")])), Lang::Nl);
        assert_eq!(
            Lang::from_env(env(&[("LC_ALL", "C"), ("LANG", "nl_NL")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_env(env(&[("LC_ALL", ""), ("LANG", "nl_NL")])),
            Lang::Nl
        );
        assert_eq!(Lang::from_env(env(&[])), Lang::En);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            format(Lang::En, Msg::CodePrompt, &[&1]),
            "Verification code: "
        );
    }

    #[test]
    fn every_message_is_translated() {
        for &msg in Msg::ALL {
            let en = text(Lang::En, msg);
            for lang in Lang::ALL {
                assert!(
                    !text(lang, msg).trim().is_empty(),
                    "{msg:?} empty in {lang:?}"
                );
            }
            assert_ne!(
                text(Lang::Nl, msg),
                en,
                "{msg:?} is not translated to Dutch"
            );
            // Both languages use the same placeholders.
            for i in 0..10 {
                let p = format!("{{{i}}}");
                assert_eq!(
                    en.contains(&p),
                    text(Lang::Nl, msg).contains(&p),
                    "{msg:?} {p}"
                );
            }
        }
    }
}
