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

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

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
    /// `LC_MESSAGES` and `LANG`, looked up through `get`; English if none is set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Lang {
        Lang::from_env_if_set(get).unwrap_or_default()
    }

    /// Like [`Lang::from_env`], but `None` when no variable is set at all.
    pub fn from_env_if_set(get: impl Fn(&str) -> Option<String>) -> Option<Lang> {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|k| get(k).filter(|v| !v.is_empty()))
            .map(|v| Lang::from_locale(&v))
    }

    /// The language of a locale file such as /etc/default/locale (`KEY=value`
    /// lines, values optionally quoted, `#` comments).
    pub fn from_locale_file(text: &str) -> Lang {
        let vars: Vec<(&str, &str)> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"').trim_matches('\'')))
            .collect();
        Lang::from_env(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }
}

/// What a login shows that a site may word its own way (`[prompt]` in the
/// config, e.g. `code.en`): the name in the config and the message it replaces.
/// Everything else keeps our text.
pub const CUSTOM_PROMPTS: [(&str, Msg); 5] = [
    ("code", Msg::CodePrompt),
    ("code_oob", Msg::CodePromptOob),
    ("touch_key", Msg::TouchKey),
    ("key_pin", Msg::KeyPinPrompt),
    ("combined", Msg::CombinedPrompt),
];

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

    /// The one prompt for password and code (`policy.prompt = "combined"`): the
    /// code follows the password in the same answer.
    CombinedPrompt {
        en: "Password and verification code: ",
        nl: "Wachtwoord en verificatiecode: ",
    }

    /// The prompt when out-of-band codes are configured.
    CodePromptOob {
        en: "Verification code (or Enter for a code by SMS or e-mail): ",
        nl: "Verificatiecode (of Enter voor een code per sms of e-mail): ",
    }

    // Enrollment inside the login (policy.unenrolled = "enroll").
    LoginEnrollIntro {
        en: "Your account needs a second factor before this login can continue. Set up an authenticator app now; it takes a minute, and from now on every login asks for its code.",
        nl: "Uw account heeft een tweede factor nodig voordat deze aanmelding verder kan. Stel nu een authenticator-app in; het duurt een minuut, en vanaf nu vraagt elke aanmelding om de code ervan.",
    }
    LoginEnrollFailed {
        en: "No valid code after {0} tries; nothing was saved. Log in again to start over.",
        nl: "Geen geldige code na {0} pogingen; er is niets opgeslagen. Meld u opnieuw aan om opnieuw te beginnen.",
    }
    LoginEnrollDone {
        en: "Done: the authenticator app is set up. The login continues.",
        nl: "Klaar: de authenticator-app is ingesteld. De aanmelding gaat verder.",
    }
    LoginEnrollContinue {
        en: "Press Enter once the recovery codes are safe: ",
        nl: "Druk op Enter zodra de herstelcodes veilig bewaard zijn: ",
    }
    LoginEnrollNoText {
        en: "A second factor must be set up before you can log in, and this program cannot show the QR code for it. Log in over ssh or at the console, or ask your administrator to enroll you.",
        nl: "Er moet een tweede factor ingesteld worden voordat u zich kunt aanmelden, en dit programma kan de QR-code daarvoor niet tonen. Meld u aan via ssh of op de console, of vraag uw beheerder u in te schrijven.",
    }

    // Out-of-band codes (SMS, e-mail).
    OobSent {
        en: "A code was sent to {0}; it expires in {1} min.",
        nl: "Er is een code verstuurd naar {0}; die verloopt over {1} min.",
    }
    OobNoContact {
        en: "No code can be sent: no phone number or e-mail address is registered for you. Ask your administrator.",
        nl: "Er kan geen code verstuurd worden: er is geen telefoonnummer of e-mailadres van u geregistreerd. Vraag het uw beheerder.",
    }
    OobRateLimited {
        en: "Too many codes were sent; the next one can be sent in {0} min. Use the app or a recovery code.",
        nl: "Er zijn te veel codes verstuurd; de volgende kan over {0} min. verstuurd worden. Gebruik de app of een herstelcode.",
    }
    OobNotSent {
        en: "The code could not be sent. Use the app or a recovery code, or ask your administrator.",
        nl: "De code kon niet verstuurd worden. Gebruik de app of een herstelcode, of vraag het uw beheerder.",
    }
    OobMessage {
        en: "{0} is your verification code for {1}. It expires in {2} min.",
        nl: "{0} is uw verificatiecode voor {1}. Die verloopt over {2} min.",
    }

    /// Before the security key is asked for an assertion.
    TouchKey {
        en: "Touch your security key.",
        nl: "Raak uw beveiligingssleutel aan.",
    }
    /// The security key's PIN, passed to the key.
    KeyPinPrompt {
        en: "Security key PIN: ",
        nl: "Pincode van de beveiligingssleutel: ",
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
    ErrAppExists {
        en: "{0} already has an authenticator app named {1}; add --replace to replace it, or choose another --name to add one",
        nl: "{0} heeft al een authenticator-app met de naam {1}; voeg --replace toe om die te vervangen, of kies een andere --name om er een toe te voegen",
    }
    ErrNoAppNamed {
        en: "{0} has no authenticator app named {1}",
        nl: "{0} heeft geen authenticator-app met de naam {1}",
    }
    ErrAppsFull {
        en: "{0} has {1} authenticator apps, the most there can be; remove one first (remove --totp NAME) or replace one (--name NAME --replace)",
        nl: "{0} heeft {1} authenticator-apps, het maximum; verwijder er eerst een (remove --totp NAAM) of vervang er een (--name NAAM --replace)",
    }
    ErrAppName {
        en: "{0} is not a valid name for an authenticator app: {1}",
        nl: "{0} is geen geldige naam voor een authenticator-app: {1}",
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
    EnrolledApp {
        en: "Authenticator app {1} enrolled for {0}.",
        nl: "Authenticator-app {1} ingesteld voor {0}.",
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
        en: "authenticator app {0}: {1}, {2} digits, {3} s per code, enrolled {4}",
        nl: "authenticator-app {0}: {1}, {2} cijfers, {3} s per code, ingesteld op {4}",
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
    WordRecovery {
        en: "recovery codes",
        nl: "herstelcodes",
    }
    WordEverything {
        en: "everything",
        nl: "alles",
    }
    ErrNotRoot {
        en: "needs root: the store {0} is only accessible to root (run it with sudo)",
        nl: "vereist root: de opslag {0} is alleen toegankelijk voor root (gebruik sudo)",
    }
    ErrWriteFile {
        en: "cannot write {0}: {1}",
        nl: "kan {0} niet schrijven: {1}",
    }
    ErrReadFile {
        en: "cannot read {0}: {1}",
        nl: "kan {0} niet lezen: {1}",
    }
    WarnNoSyslog {
        en: "warning: could not write to the system log: {0}",
        nl: "waarschuwing: kon niet naar het systeemlogboek schrijven: {0}",
    }

    // mfa-token: the interactive enrollment journey.
    EnrollIntro {
        en: "Setting up an authenticator app for {0}.",
        nl: "Een authenticator-app instellen voor {0}.",
    }
    EnrollScan {
        en: "1. In your authenticator app (Google Authenticator, Microsoft Authenticator, Aegis, FreeOTP...), add an account and scan this QR code:",
        nl: "1. Voeg in uw authenticator-app (Google Authenticator, Microsoft Authenticator, Aegis, FreeOTP...) een account toe en scan deze QR-code:",
    }
    EnrollNoQr {
        en: "1. In your authenticator app (Google Authenticator, Microsoft Authenticator, Aegis, FreeOTP...), add an account with the key below.",
        nl: "1. Voeg in uw authenticator-app (Google Authenticator, Microsoft Authenticator, Aegis, FreeOTP...) een account toe met de sleutel hieronder.",
    }
    EnrollManualKey {
        en: "   Cannot scan? Enter this key by hand (time-based): {0}",
        nl: "   Lukt scannen niet? Voer deze sleutel met de hand in (op tijd gebaseerd): {0}",
    }
    EnrollUri {
        en: "   Or open this link on the phone: {0}",
        nl: "   Of open deze link op de telefoon: {0}",
    }
    EnrollConfirm {
        en: "2. Type the {0}-digit code the app shows now, to prove it works. Nothing is saved before that.",
        nl: "2. Typ de code van {0} cijfers die de app nu toont, om te bewijzen dat het werkt. Tot dan wordt niets opgeslagen.",
    }
    EnrollRecovery {
        en: "3. Recovery codes: each logs you in once if you lose your phone. Write them down or print them, keep them away from this computer and the phone. They are not shown again:",
        nl: "3. Herstelcodes: met elk ervan logt u één keer in als u uw telefoon kwijt bent. Schrijf ze op of print ze en bewaar ze niet op deze computer of de telefoon. Ze worden niet opnieuw getoond:",
    }
    EnrollKeptRecovery {
        en: "3. {0} still has {1} unused recovery codes; `mfa-token recovery --user {0}` makes a new set.",
        nl: "3. {0} heeft nog {1} ongebruikte herstelcodes; `mfa-token recovery --user {0}` maakt een nieuwe set.",
    }
    EnrollDone {
        en: "Done. From the next login on, {0} is asked for a verification code after the password.",
        nl: "Klaar. Vanaf de volgende aanmelding wordt {0} na het wachtwoord om een verificatiecode gevraagd.",
    }
    WarnParams {
        en: "Warning: {0}, {1} digits, {2} s per code: some apps (Google Authenticator and Microsoft Authenticator among them) ignore or reject anything but SHA1, 6 digits, 30 s, and then show codes that do not work.",
        nl: "Waarschuwing: {0}, {1} cijfers, {2} s per code: sommige apps (waaronder Google Authenticator en Microsoft Authenticator) negeren of weigeren alles behalve SHA1, 6 cijfers, 30 s, en tonen dan codes die niet werken.",
    }
    QrWritten {
        en: "QR code written to {0}.",
        nl: "QR-code geschreven naar {0}.",
    }

    // mfa-token: security keys.
    KeyTouchNow {
        en: "Touch the security key now.",
        nl: "Raak de beveiligingssleutel nu aan.",
    }
    KeyRegistered {
        en: "Security key {0} registered for {1} ({2}).",
        nl: "Beveiligingssleutel {0} geregistreerd voor {1} ({2}).",
    }
    KeyChoose {
        en: "Several security keys are connected; choose one with --device:",
        nl: "Er zijn meerdere beveiligingssleutels aangesloten; kies er een met --device:",
    }
    ErrKeyName {
        en: "{0} already has a security key named {1}",
        nl: "{0} heeft al een beveiligingssleutel met de naam {1}",
    }
    ErrNoKeyNamed {
        en: "{0} has no security key named {1}",
        nl: "{0} heeft geen beveiligingssleutel met de naam {1}",
    }
    ErrDevice {
        en: "security key: {0}",
        nl: "beveiligingssleutel: {0}",
    }
    ListKey {
        en: "security key {0}: {1}, verification {2}{3}, signature counter {4}, registered {5}",
        nl: "beveiligingssleutel {0}: {1}, verificatie {2}{3}, handtekeningteller {4}, geregistreerd op {5}",
    }
    WordPin {
        en: ", PIN",
        nl: ", pincode",
    }
    ImportU2fDone {
        en: "{0}: {1} security key(s) imported from pam_u2f (relying party {2}).",
        nl: "{0}: {1} beveiligingssleutel(s) geïmporteerd uit pam_u2f (relying party {2}).",
    }
    WordKey {
        en: "security key {0}",
        nl: "beveiligingssleutel {0}",
    }
    WordApp {
        en: "authenticator app {0}",
        nl: "authenticator-app {0}",
    }

    // mfa-token: status and unlock.
    StatusLastFailure {
        en: "last failed attempt: {0}",
        nl: "laatste mislukte poging: {0}",
    }
    StatusNotLocked {
        en: "not locked out",
        nl: "niet geblokkeerd",
    }
    Unlocked {
        en: "{0} is unlocked; the failure count is back to 0.",
        nl: "{0} is gedeblokkeerd; het aantal mislukte pogingen staat weer op 0.",
    }

    // mfa-token: contacts for out-of-band codes.
    ContactSaved {
        en: "Codes for {0} go by {1} to {2}.",
        nl: "Codes voor {0} gaan per {1} naar {2}.",
    }
    ContactRemoved {
        en: "{0} no longer has a phone number or e-mail address for codes.",
        nl: "{0} heeft geen telefoonnummer of e-mailadres voor codes meer.",
    }
    ContactTestSent {
        en: "A test code was sent to {0}.",
        nl: "Er is een testcode verstuurd naar {0}.",
    }
    ContactPrompt {
        en: "Code received: ",
        nl: "Ontvangen code: ",
    }
    ContactAsk {
        en: "4. A fallback for when the phone with the app is not at hand: a phone number in international form (+31 6 ...) or an e-mail address, where codes can be sent. Leave empty to skip: ",
        nl: "4. Een reserve voor als de telefoon met de app niet bij de hand is: een telefoonnummer in internationale vorm (+31 6 ...) of een e-mailadres, waar codes naartoe gestuurd kunnen worden. Laat leeg om over te slaan: ",
    }
    ErrContact {
        en: "invalid contact: {0}",
        nl: "ongeldig contact: {0}",
    }
    ErrSend {
        en: "cannot send the code: {0}",
        nl: "kan de code niet versturen: {0}",
    }
    ErrNoOob {
        en: "no delivery command is configured (oob.command in {0})",
        nl: "er is geen verzendcommando ingesteld (oob.command in {0})",
    }
    ErrNoContact {
        en: "{0} has no phone number or e-mail address for codes",
        nl: "{0} heeft geen telefoonnummer of e-mailadres voor codes",
    }
    ListContact {
        en: "codes by {0} to {1}, {2}",
        nl: "codes per {0} naar {1}, {2}",
    }
    WordVerified {
        en: "verified {0}",
        nl: "geverifieerd op {0}",
    }
    WordUnverified {
        en: "not verified",
        nl: "niet geverifieerd",
    }
    WordContact {
        en: "contact for codes",
        nl: "contact voor codes",
    }

    // mfa-token: import.
    ImportDone {
        en: "{0}: imported from {1}.",
        nl: "{0}: geïmporteerd uit {1}.",
    }
    ImportNoteWindow {
        en: "  not carried over: WINDOW_SIZE {0}; pam_mfa accepts {1} step(s) on each side (totp.window in the config)",
        nl: "  niet overgenomen: WINDOW_SIZE {0}; pam_mfa accepteert {1} stap(pen) aan elke kant (totp.window in de configuratie)",
    }
    ImportNoteRateLimit {
        en: "  not carried over: RATE_LIMIT {0} logins per {1} s; pam_mfa locks out for {3} s after {2} wrong codes (lockout in the config)",
        nl: "  niet overgenomen: RATE_LIMIT {0} aanmeldingen per {1} s; pam_mfa blokkeert {3} s na {2} foute codes (lockout in de configuratie)",
    }
    ImportNoteReuse {
        en: "  changed: the file allowed reusing a code; pam_mfa accepts each code only once",
        nl: "  gewijzigd: het bestand stond hergebruik van codes toe; pam_mfa accepteert elke code maar één keer",
    }
    ImportNoteScratch {
        en: "  {0} scratch codes became recovery codes",
        nl: "  {0} noodcodes zijn herstelcodes geworden",
    }
    ImportNoteUnknown {
        en: "  not carried over: unknown option {0}",
        nl: "  niet overgenomen: onbekende optie {0}",
    }
    ImportSkipped {
        en: "{0}: skipped: {1}",
        nl: "{0}: overgeslagen: {1}",
    }
    ErrIncomplete {
        en: "{0} user(s) could not be imported (see above)",
        nl: "{0} gebruiker(s) konden niet geïmporteerd worden (zie hierboven)",
    }
    ImportSummary {
        en: "{0} imported, {1} skipped.",
        nl: "{0} geïmporteerd, {1} overgeslagen.",
    }
    /// `--user` named an account by another spelling (a user database that
    /// ignores case): the command acts on the account's own name.
    NoteCanonicalUser {
        en: "note: {0} is the account {1}; acting on {1}",
        nl: "let op: {0} is het account {1}; de opdracht geldt voor {1}",
    }

    // mfa-token: enroll totp, issue 11 (QR image files, --secret-file, re-provisioning).
    /// --png/--svg name a path that exists (file, symlink, anything).
    ErrFileExists {
        en: "{0} already exists: the QR code holds the key, so it is only written to a new file (choose another name, or remove the file first)",
        nl: "{0} bestaat al: de QR-code bevat de sleutel en wordt daarom alleen naar een nieuw bestand geschreven (kies een andere naam, of verwijder het bestand eerst)",
    }
    /// An image written for an enrollment that was not saved is removed again.
    QrRemoved {
        en: "QR code file {0} removed again: nothing was enrolled.",
        nl: "QR-codebestand {0} weer verwijderd: er is niets ingesteld.",
    }
    /// `--secret-file -` on a terminal: the key is typed without echo.
    SecretPrompt {
        en: "Key (base32 or otpauth:// URI, not shown): ",
        nl: "Sleutel (base32 of otpauth://-URI, wordt niet getoond): ",
    }
    /// The removed `--secret VALUE` option was used.
    ErrSecretInArgv {
        en: "--secret is no longer accepted: a key on the command line is visible to every user (ps, /proc) and stays in the shell history; use --secret-file FILE (owned by root, mode 0600) or --secret-file - (standard input)",
        nl: "--secret wordt niet meer geaccepteerd: een sleutel op de opdrachtregel is zichtbaar voor elke gebruiker (ps, /proc) en blijft in de shellgeschiedenis staan; gebruik --secret-file BESTAND (van root, modus 0600) of --secret-file - (standaardinvoer)",
    }
    /// --replace with the key already enrolled: the replay state is kept.
    EnrolledTotpKeyUnchanged {
        en: "Authenticator app for {0}: key unchanged: replay state kept.",
        nl: "Authenticator-app voor {0}: sleutel ongewijzigd: gebruikte codes blijven ongeldig.",
    }

    // Self-service: mfa-token run by a user, through pam_mfad.
    SelfEnrollIntro {
        en: "Setting up an authenticator app for {0}. Nothing is saved until the app's first code is typed back.",
        nl: "Een authenticator-app instellen voor {0}. Er wordt niets opgeslagen voordat de eerste code van de app is ingetypt.",
    }
    SelfEnrollFailed {
        en: "No valid code after {0} tries; nothing was saved. Run mfa-token enroll totp again to start over.",
        nl: "Geen geldige code na {0} pogingen; er is niets opgeslagen. Voer mfa-token enroll totp opnieuw uit om opnieuw te beginnen.",
    }
    SelfEnrollDone {
        en: "Done: the authenticator app is set up for {0}; every login asks for its code from now on.",
        nl: "Klaar: de authenticator-app is ingesteld voor {0}; vanaf nu vraagt elke aanmelding om de code ervan.",
    }
    SelfEnrollNotOpen {
        en: "Setting up a second factor yourself is not open to {0} (the [enroll] section of the configuration does not admit you now); ask your administrator.",
        nl: "Zelf een tweede factor instellen is niet mogelijk voor {0} (de sectie [enroll] van de configuratie laat u nu niet toe); vraag het uw beheerder.",
    }
    SelfEnrollKeptRecovery {
        en: "{0} keeps the recovery codes from before; `mfa-token recovery` makes a new set.",
        nl: "{0} houdt de herstelcodes van eerder; `mfa-token recovery` maakt een nieuwe set.",
    }
    SelfAppsFull {
        en: "{0} has {1} authenticator apps, the most there can be; name one of them with --name to replace it.",
        nl: "{0} heeft {1} authenticator-apps, het maximum; noem er een met --name om die te vervangen.",
    }
    SelfAppName {
        en: "{0} is not a valid name for an authenticator app: {1}.",
        nl: "{0} is geen geldige naam voor een authenticator-app: {1}.",
    }
    SelfEnrollNotSaved {
        en: "Nothing was enrolled for {0}.",
        nl: "Er is niets ingesteld voor {0}.",
    }
    SelfCheckFirst {
        en: "{0} has a second factor already: prove it first with a current code from the app, a recovery code or the security key.",
        nl: "{0} heeft al een tweede factor: bewijs die eerst met een actuele code van de app, een herstelcode of de beveiligingssleutel.",
    }
    SelfCheckFailed {
        en: "The current second factor was not accepted; nothing was changed.",
        nl: "De huidige tweede factor is niet geaccepteerd; er is niets gewijzigd.",
    }
    SelfNoFactor {
        en: "{0} has no second factor yet, so there is nothing to prove new recovery codes with; set up an app first with mfa-token enroll totp.",
        nl: "{0} heeft nog geen tweede factor, dus er is niets om nieuwe herstelcodes mee te bewijzen; stel eerst een app in met mfa-token enroll totp.",
    }
    SelfRecoveryDone {
        en: "{0} new recovery codes for {1}; the earlier ones no longer work.",
        nl: "{0} nieuwe herstelcodes voor {1}; de eerdere werken niet meer.",
    }
    SelfOtherUser {
        en: "You may only manage your own second factor (you are {0}); root manages other accounts.",
        nl: "U mag alleen uw eigen tweede factor beheren (u bent {0}); root beheert andere accounts.",
    }
    SelfUnknownCaller {
        en: "Your account (uid {0}) is not known to the user database: nothing can be done for it.",
        nl: "Uw account (uid {0}) is onbekend in de gebruikersdatabase: er kan niets voor gedaan worden.",
    }
    SelfUnavailable {
        en: "The pam_mfa service could not complete this (its log says why); nothing was changed.",
        nl: "De pam_mfa-service kon dit niet voltooien (het logboek zegt waarom); er is niets gewijzigd.",
    }
    SelfKeyRemote {
        en: "A security key can be registered only at this machine: plug it in here and run mfa-token enroll key from a local session.",
        nl: "Een beveiligingssleutel kan alleen aan deze machine worden geregistreerd: sluit hem hier aan en voer mfa-token enroll key uit in een lokale sessie.",
    }
    SelfKeyNone {
        en: "No security key is connected to this machine; nothing was changed.",
        nl: "Er is geen beveiligingssleutel aangesloten op deze machine; er is niets gewijzigd.",
    }
    SelfKeyName {
        en: "{0} has a security key named {1} already; choose another name with --name.",
        nl: "{0} heeft al een beveiligingssleutel met de naam {1}; kies een andere naam met --name.",
    }
    SelfKeyRefused {
        en: "The security key was not registered ({0}); nothing was changed.",
        nl: "De beveiligingssleutel is niet geregistreerd ({0}); er is niets gewijzigd.",
    }
    SelfVersion {
        en: "pam_mfad speaks protocol {0}, this mfa-token {1}: use the mfa-token of the same release.",
        nl: "pam_mfad spreekt protocol {0}, deze mfa-token {1}: gebruik de mfa-token van dezelfde release.",
    }
    /// mfa-token run by a user cannot reach pam_mfad.
    ErrNoDaemon {
        en: "pam_mfad is not running at {0}: {1}",
        nl: "pam_mfad draait niet op {0}: {1}",
    }
    /// The conversation with pam_mfad broke off.
    ErrDaemon {
        en: "the conversation with pam_mfad at {0} failed: {1}",
        nl: "het gesprek met pam_mfad op {0} is mislukt: {1}",
    }
    /// A command that needs the store itself, run by a user.
    ErrRootOnly {
        en: "mfa-token {0} works on the store directly and needs root (run it with sudo); as a user you can run mfa-token status, mfa-token enroll totp and mfa-token recovery, through pam_mfad",
        nl: "mfa-token {0} werkt rechtstreeks op de opslag en vereist root (gebruik sudo); als gebruiker kunt u mfa-token status, mfa-token enroll totp en mfa-token recovery uitvoeren, via pam_mfad",
    }
    /// An option of root's direct enrollment, given to the self-service path.
    ErrRootOption {
        en: "{0} needs root (direct store access); through pam_mfad a new key is always generated, shown and confirmed with a code",
        nl: "{0} vereist root (rechtstreekse toegang tot de opslag); via pam_mfad wordt altijd een nieuwe sleutel aangemaakt, getoond en met een code bevestigd",
    }
    /// Root ran a command that works on one account without naming it.
    ErrNoUser {
        en: "--user USER is required when mfa-token runs as root with the store",
        nl: "--user GEBRUIKER is verplicht als mfa-token als root met de opslag werkt",
    }
    ErrNotPostgres {
        en: "{0}: this command is for store.backend = \"postgres\"",
        nl: "{0}: deze opdracht is voor store.backend = \"postgres\"",
    }
    ErrLeftOut {
        en: "{0} records were left out (see above)",
        nl: "{0} records zijn overgeslagen (zie hierboven)",
    }
    StoreSchemaCurrent {
        en: "{0}: schema version {1} is current; nothing changed",
        nl: "{0}: schemaversie {1} is actueel; niets gewijzigd",
    }
    StoreSchemaMigrated {
        en: "{0}: schema version {1} -> {2}",
        nl: "{0}: schemaversie {1} -> {2}",
    }
    StoreGranted {
        en: "role {0} may now read and write the records (SELECT, INSERT, UPDATE, DELETE), nothing else",
        nl: "rol {0} mag nu de records lezen en schrijven (SELECT, INSERT, UPDATE, DELETE), verder niets",
    }
    StoreCopied {
        en: "{0}: copied",
        nl: "{0}: gekopieerd",
    }
    StoreCopyDiffers {
        en: "{0}: a different record is already here; not overwritten (--replace overwrites it)",
        nl: "{0}: hier staat al een ander record; niet overschreven (--replace overschrijft het)",
    }
    StoreCopyFailed {
        en: "{0}: not copied: {1}",
        nl: "{0}: niet gekopieerd: {1}",
    }
    StoreCopySummary {
        en: "from the {0} to the {1}: {2} copied and read back, {3} already there, {4} left out",
        nl: "van de {0} naar de {1}: {2} gekopieerd en teruggelezen, {3} al aanwezig, {4} overgeslagen",
    }
    StoreRotated {
        en: "{0}: {1} records re-sealed under key {2} ({3} already were); every record opens under it",
        nl: "{0}: {1} records opnieuw verzegeld onder sleutel {2} ({3} waren dat al); elk record opent ermee",
    }
    ListNobody {
        en: "no user has a record in the {0}",
        nl: "geen enkele gebruiker heeft een record in de {0}",
    }

    // mfa-token: HOTP tokens (enroll hotp, resync, list, remove --hotp, import).
    HotpSecretPrompt {
        en: "Token key (base32, or hex with --hex; not shown): ",
        nl: "Sleutel van het token (base32, of hex met --hex; wordt niet getoond): ",
    }
    EnrolledHotp {
        en: "HOTP token {1} enrolled for {0} ({2} digits, next counter {3}).",
        nl: "HOTP-token {1} ingesteld voor {0} ({2} cijfers, volgende teller {3}).",
    }
    ListHotp {
        en: "HOTP token {0}: {1} digits, next counter {2}, enrolled {3}",
        nl: "HOTP-token {0}: {1} cijfers, volgende teller {2}, ingesteld op {3}",
    }
    WordHotp {
        en: "HOTP token {0}",
        nl: "HOTP-token {0}",
    }
    ResyncDone {
        en: "{0}: HOTP token {1} resynchronised: next counter {2} (was {3}).",
        nl: "{0}: HOTP-token {1} gesynchroniseerd: volgende teller {2} (was {3}).",
    }
    ErrHotpName {
        en: "{0} already has an HOTP token named {1}; choose another name with --name",
        nl: "{0} heeft al een HOTP-token met de naam {1}; kies een andere naam met --name",
    }
    ErrHotpSameKey {
        en: "{0} already has this key, as HOTP token {1}; each code would work twice",
        nl: "{0} heeft deze sleutel al, als HOTP-token {1}; elke code zou twee keer werken",
    }
    ErrHotpTooMany {
        en: "{0} already has {1} HOTP tokens, the most one user may have",
        nl: "{0} heeft al {1} HOTP-tokens, het maximum voor één gebruiker",
    }
    ErrHotpBadName {
        en: "invalid token name: {0}",
        nl: "ongeldige tokennaam: {0}",
    }
    ErrNoHotpNamed {
        en: "{0} has no HOTP token named {1}",
        nl: "{0} heeft geen HOTP-token met de naam {1}",
    }
    ErrNoHotp {
        en: "{0} has no HOTP token",
        nl: "{0} heeft geen HOTP-token",
    }
    ErrResyncNotFound {
        en: "the two codes are not consecutive codes of an HOTP token of {0} within {1} counter values past its counter; nothing changed",
        nl: "de twee codes zijn geen opeenvolgende codes van een HOTP-token van {0} binnen {1} tellerwaarden na de teller; er is niets gewijzigd",
    }
    ErrResyncBehind {
        en: "the two codes were used already (they come before the counter of {0}'s HOTP token {1}); press the button for new ones; nothing changed",
        nl: "de twee codes zijn al gebruikt (ze komen vóór de teller van HOTP-token {1} van {0}); druk op de knop voor nieuwe; er is niets gewijzigd",
    }
    ErrResyncAmbiguous {
        en: "the two codes fit several HOTP tokens of {0} ({1}); choose one with --name",
        nl: "de twee codes passen bij meerdere HOTP-tokens van {0} ({1}); kies er een met --name",
    }
    ErrHotpImported {
        en: "{0} already has an HOTP token named {1}; add --replace to replace it",
        nl: "{0} heeft al een HOTP-token met de naam {1}; voeg --replace toe om het te vervangen",
    }
    ImportNoteHotp {
        en: "  counter-based: became HOTP token {0}, next counter {1}",
        nl: "  tellergebaseerd: HOTP-token {0} geworden, volgende teller {1}",
    }
    ImportNoteCounterKept {
        en: "  the token had this key already: its next counter stays {0}, so codes used since stay used",
        nl: "  het token had deze sleutel al: de volgende teller blijft {0}, dus codes die sindsdien gebruikt zijn blijven gebruikt",
    }
    ImportNoteLookAhead {
        en: "  not carried over: WINDOW_SIZE {0}; pam_mfa accepts codes up to {1} counter values past the next one (hotp.look_ahead in the config)",
        nl: "  niet overgenomen: WINDOW_SIZE {0}; pam_mfa accepteert codes tot {1} tellerwaarden na de volgende (hotp.look_ahead in de configuratie)",
    }
}

/// The text of `msg` in `lang` with `{0}`, `{1}`... replaced by `args`, in one pass:
/// a placeholder inside an argument (a user name, a path) stays as it is.
pub fn format(lang: Lang, msg: Msg, args: &[&dyn std::fmt::Display]) -> String {
    let template = text(lang, msg);
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let arg = after
            .split_once('}')
            .and_then(|(digits, _)| digits.parse::<usize>().ok().map(|i| (digits.len(), i)))
            .and_then(|(len, i)| args.get(i).map(|a| (len, a)));
        match arg {
            Some((len, a)) => {
                out.push_str(&a.to_string());
                rest = &after[len + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
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
    fn the_system_locale_file() {
        assert_eq!(
            Lang::from_locale_file("#  File generated by update-locale\n"),
            Lang::En
        );
        assert_eq!(Lang::from_locale_file("LANG=nl_NL.UTF-8\n"), Lang::Nl);
        assert_eq!(
            Lang::from_locale_file("LANG=\"nl_BE.UTF-8\"\nLANGUAGE=nl\n"),
            Lang::Nl
        );
        assert_eq!(
            Lang::from_locale_file("LANG=nl_NL.UTF-8\nLC_MESSAGES=C\n"),
            Lang::En
        );
        assert_eq!(Lang::from_locale_file("# LANG=nl_NL\n"), Lang::En);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            format(Lang::En, Msg::CodePrompt, &[&1]),
            "Verification code: "
        );
        assert_eq!(
            format(Lang::En, Msg::ImportSummary, &[&3, &"x"]),
            "3 imported, x skipped."
        );
    }

    #[test]
    fn placeholders_inside_arguments_are_not_filled_again() {
        assert_eq!(
            format(Lang::En, Msg::ImportSkipped, &[&"{1}", &"{0}"]),
            "{1}: skipped: {0}"
        );
        assert_eq!(
            format(Lang::En, Msg::ImportSkipped, &[&"a{", &"}b"]),
            "a{: skipped: }b"
        );
        // A placeholder without an argument is left as written.
        assert_eq!(
            format(Lang::En, Msg::ImportSkipped, &[&"only"]),
            "only: skipped: {1}"
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
