//! What can go wrong in a command, rendered in the user's language.

use mfa_core::config::ConfigError;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::random::RandomError;
use mfa_core::store::StoreError;
use mfa_core::totp::SecretError;
use mfa_core::username::UserNameError;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The configuration could not be loaded.
    Config(ConfigError),
    /// The store refused the request.
    Store(StoreError),
    /// getpwnam does not know the user.
    UnknownUser(String),
    /// The name cannot be stored.
    InvalidUser(String, UserNameError),
    /// Factors of this kind are enrolled and --replace was not given.
    AlreadyEnrolled(String),
    /// The user has an authenticator app of this name and --replace was not given.
    AppExists(String, String),
    /// No authenticator app by that name.
    NoAppNamed(String, String),
    /// The user has the most apps there can be (how many).
    AppsFull(String, usize),
    /// Not a name for an authenticator app.
    AppName(String, mfa_core::totp::NameError),
    /// The secret given is invalid.
    Secret(SecretError),
    /// No valid confirmation code in the allowed tries.
    NotConfirmed(u32),
    /// Reading the user's answer failed.
    Input(std::io::Error),
    /// No randomness.
    Random(RandomError),
    /// getpwnam itself failed (NSS down...).
    Lookup(String, String),
    /// Not running as root.
    NotRoot(std::path::PathBuf),
    /// A file could not be written.
    WriteFile(std::path::PathBuf, String),
    /// A file could not be read or parsed (the message never quotes it).
    ReadFile(std::path::PathBuf, String),
    /// A QR code could not be made.
    Qr(mfa_core::qr::QrError),
    /// An otpauth URI given with --secret-file is invalid.
    Uri(mfa_core::otpauth::UriError),
    /// A file to import was refused (symlink, owner, mode...).
    File(mfa_core::secure_fs::FileError),
    /// Some users of a bulk import were skipped.
    Incomplete(usize),
    /// A security key name is taken.
    KeyName(String, String),
    /// No security key by that name or id.
    NoKeyNamed(String, String),
    /// The security key could not be used.
    Device(mfa_core::fido2::DeviceError),
    /// The key's registration answer was refused.
    Register(mfa_core::fido2::RegisterError),
    /// A phone number or e-mail address was refused.
    Contact(mfa_core::contact::ContactError),
    /// A one-time code could not be sent.
    Send(mfa_core::oob::SendError),
    /// No oob.command in the configuration (its path).
    NoOob(std::path::PathBuf),
    /// The user has no contact.
    NoContact(String),
    /// A file that must be new (a QR image) exists already.
    FileExists(std::path::PathBuf),
    /// The removed `--secret VALUE` was given: the key was on the command line.
    SecretInArgv,
    /// Root's direct command was given no --user.
    NoUser,
    /// pam_mfad does not answer at the socket.
    NoDaemon(std::path::PathBuf, std::io::Error),
    /// The conversation with pam_mfad broke off.
    Daemon(std::path::PathBuf, String),
    /// A command that needs the store itself, run by a user (its name).
    RootOnly(&'static str),
    /// An option of root's direct command, given to the self-service path.
    RootOption(&'static str),
    /// pam_mfad refused, or could not do, a self-service action (its message).
    Refused(String),
    /// The configured store cannot be set up (a key, password or CA file).
    StoreSetup(String),
    /// `store` commands need the postgres backend (the config's path).
    NotPostgres(std::path::PathBuf),
    /// `store copy` left records out (how many).
    LeftOut(usize),
    /// The key given for an HOTP token is refused.
    HotpKey(mfa_core::hotp::KeyError),
    /// The HOTP token name is invalid (why).
    HotpBadName(&'static str),
    /// The user has an HOTP token by that name (user, name).
    HotpName(String, String),
    /// The user has this key already, as the token named (user, name).
    HotpSameKey(String, String),
    /// The user has the most tokens allowed (user, how many).
    HotpTooMany(String, usize),
    /// No HOTP token by that name (user, name).
    NoHotpNamed(String, String),
    /// The user has no HOTP token.
    NoHotp(String),
    /// No two consecutive codes found in reach (user, how far).
    ResyncNotFound(String, u64),
    /// The codes come before the counter (user, token).
    ResyncBehind(String, String),
    /// The codes fit several tokens (user, their names).
    ResyncAmbiguous(String, String),
    /// An imported HOTP token's name is taken and --replace was not given.
    HotpImported(String, String),
    /// The user's record refuses the change: the rule it would break.
    Record(mfa_core::store::RuleError),
}

impl CliError {
    /// The message for `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let f = |msg: Msg, args: &[&dyn std::fmt::Display]| i18n::format(lang, msg, args);
        match self {
            CliError::Config(e) => e.to_string(),
            CliError::Store(e) => e.to_string(),
            CliError::UnknownUser(u) => f(Msg::ErrUnknownUser, &[u]),
            CliError::InvalidUser(u, e) => f(Msg::ErrInvalidUser, &[u, e]),
            CliError::AlreadyEnrolled(u) => f(Msg::ErrAlreadyEnrolled, &[u]),
            CliError::AppExists(u, n) => f(Msg::ErrAppExists, &[u, &format!("{n:?}")]),
            CliError::NoAppNamed(u, n) => f(Msg::ErrNoAppNamed, &[u, &format!("{n:?}")]),
            CliError::AppsFull(u, n) => f(Msg::ErrAppsFull, &[u, n]),
            CliError::AppName(n, e) => f(Msg::ErrAppName, &[&format!("{n:?}"), e]),
            CliError::Secret(e) => f(Msg::ErrBadSecret, &[e]),
            CliError::NotConfirmed(n) => f(Msg::ErrNotConfirmed, &[n]),
            CliError::Input(e) => f(Msg::ErrInput, &[e]),
            CliError::Random(e) => e.to_string(),
            CliError::Lookup(u, e) => format!("getpwnam({u}): {e}"),
            CliError::NotRoot(dir) => f(Msg::ErrNotRoot, &[&dir.display()]),
            CliError::WriteFile(p, e) => f(Msg::ErrWriteFile, &[&p.display(), e]),
            CliError::ReadFile(p, e) => f(Msg::ErrReadFile, &[&p.display(), e]),
            CliError::Qr(e) => e.to_string(),
            CliError::Uri(e) => f(Msg::ErrBadSecret, &[e]),
            CliError::File(e) => e.to_string(),
            CliError::Incomplete(n) => f(Msg::ErrIncomplete, &[n]),
            CliError::KeyName(u, n) => f(Msg::ErrKeyName, &[u, n]),
            CliError::NoKeyNamed(u, n) => f(Msg::ErrNoKeyNamed, &[u, n]),
            CliError::Device(e) => f(Msg::ErrDevice, &[e]),
            CliError::Register(e) => f(Msg::ErrDevice, &[e]),
            CliError::Contact(e) => f(Msg::ErrContact, &[e]),
            CliError::Send(e) => f(Msg::ErrSend, &[e]),
            CliError::NoOob(p) => f(Msg::ErrNoOob, &[&p.display()]),
            CliError::NoContact(u) => f(Msg::ErrNoContact, &[u]),
            CliError::FileExists(p) => f(Msg::ErrFileExists, &[&p.display()]),
            CliError::SecretInArgv => f(Msg::ErrSecretInArgv, &[]),
            CliError::NoUser => f(Msg::ErrNoUser, &[]),
            CliError::NoDaemon(p, e) => f(Msg::ErrNoDaemon, &[&p.display(), e]),
            CliError::Daemon(p, e) => f(Msg::ErrDaemon, &[&p.display(), e]),
            CliError::RootOnly(command) => f(Msg::ErrRootOnly, &[command]),
            CliError::RootOption(option) => f(Msg::ErrRootOption, &[option]),
            CliError::Refused(message) => message.clone(),
            CliError::StoreSetup(e) => e.clone(),
            CliError::NotPostgres(p) => f(Msg::ErrNotPostgres, &[&p.display()]),
            CliError::LeftOut(n) => f(Msg::ErrLeftOut, &[n]),
            CliError::HotpKey(e) => f(Msg::ErrBadSecret, &[e]),
            CliError::HotpBadName(why) => f(Msg::ErrHotpBadName, &[why]),
            CliError::HotpName(u, n) => f(Msg::ErrHotpName, &[u, &format!("{n:?}")]),
            CliError::HotpSameKey(u, n) => f(Msg::ErrHotpSameKey, &[u, &format!("{n:?}")]),
            CliError::HotpTooMany(u, n) => f(Msg::ErrHotpTooMany, &[u, n]),
            CliError::NoHotpNamed(u, n) => f(Msg::ErrNoHotpNamed, &[u, &format!("{n:?}")]),
            CliError::NoHotp(u) => f(Msg::ErrNoHotp, &[u]),
            CliError::ResyncNotFound(u, n) => f(Msg::ErrResyncNotFound, &[u, n]),
            CliError::ResyncBehind(u, n) => f(Msg::ErrResyncBehind, &[u, &format!("{n:?}")]),
            CliError::ResyncAmbiguous(u, names) => f(Msg::ErrResyncAmbiguous, &[u, names]),
            CliError::HotpImported(u, n) => f(Msg::ErrHotpImported, &[u, &format!("{n:?}")]),
            CliError::Record(e) => e.to_string(),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Store(e)
    }
}

impl From<RandomError> for CliError {
    fn from(e: RandomError) -> Self {
        CliError::Random(e)
    }
}
