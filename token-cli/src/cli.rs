//! The command line: subcommands, options and their help text (which the man page
//! is generated from).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Enroll and manage pam_mfa second factors (authenticator apps, HOTP tokens,
/// security keys, recovery codes).
///
/// Records live in the store directory named by the configuration (default
/// /var/lib/pam_mfa) and are only accessible to root. Every change is logged to
/// syslog (authpriv) with who made it. Messages are in Dutch when LC_ALL,
/// LC_MESSAGES or LANG names a Dutch locale (nl_*), in English otherwise.
///
/// Run by a user (or by root with --socket), mfa-token asks the pam_mfad service
/// instead, for the user's own account only: `status`, `enroll totp [--name
/// NAME]` (when [enroll] admits you, or after a current code if you have a
/// factor: another app, or a new one in place of the app of that name), `enroll
/// key` (a key plugged into this machine, from a local session, after a current
/// code) and `recovery` (after a current code). The key and the codes are shown
/// only in that terminal.
#[derive(Debug, Parser)]
#[command(name = "mfa-token", version)]
pub struct Cli {
    /// Configuration file (must be root-owned and not group/world-writable).
    #[arg(long, global = true, value_name = "PATH", default_value = mfa_core::config::DEFAULT_PATH)]
    pub config: PathBuf,

    /// Go through pam_mfad at this socket (self-service), even as root. A user's
    /// mfa-token always does [default: /run/pam_mfa/socket].
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll a second factor for a user.
    #[command(subcommand)]
    Enroll(Enroll),
    /// Show the factors a user has enrolled; with --all, of every user who has a
    /// record (with the postgres backend: every user of the fleet).
    List(ListArgs),
    /// Show a user's factors and login state: last use, failures, lockout. A user
    /// sees their own, through pam_mfad.
    Status(UserJson),
    /// End a user's lockout and reset the failure count.
    Unlock(UserArg),
    /// Remove enrolled factors.
    Remove(RemoveArgs),
    /// Bring an HOTP token that was pressed past the look-ahead back in step: give
    /// two codes it shows one after the other.
    ///
    /// The counter values up to 1000 past the stored one are searched for two
    /// consecutive values with these codes; the counter is then set past the
    /// second, so both codes and everything before them are used up. Codes of
    /// values before the stored counter are refused as used. The failure count
    /// and a lockout stay as they are (`mfa-token unlock` ends a lockout). The
    /// codes are one-time codes, spent by this command, so they may be given as
    /// arguments.
    Resync(ResyncArgs),
    /// Print a fresh set of recovery codes, one per line; the old set stops working.
    /// A user gets their own through pam_mfad, after typing a current code.
    Recovery(UserJson),
    /// Import enrollments from other tools.
    #[command(subcommand)]
    Import(Import),
    /// Set or remove where one-time codes are sent (SMS or e-mail), the fallback
    /// for when the phone with the app is not at hand.
    ///
    /// The codes are delivered by the command in oob.command of the configuration.
    /// With --verify a test code is sent first and the contact is saved only after
    /// it is typed back (3 tries).
    Contact(ContactArgs),
    /// Set up and look after the store: create or migrate the database's tables,
    /// copy every record between two stores, re-seal records under a new key.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The account.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Every user who has a record.
    #[arg(long, conflicts_with = "user")]
    pub all: bool,

    /// Machine-readable output on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create the tables of the postgres backend, or migrate them to this
    /// version's schema. Safe to run again: it changes nothing when the schema is
    /// current, and refuses a schema newer than it knows. Run it as a role that may
    /// create tables (a --config whose store.url names the database's owner).
    Init(StoreInit),
    /// Copy every record from the store of another configuration into this one
    /// (files to postgres or back). Records are read back and compared. Safe to run
    /// again: a record already copied is left alone, and one that differs here is
    /// not overwritten without --replace.
    Copy(StoreCopy),
    /// Re-seal every record of the postgres backend under a new key file, one user
    /// at a time while logins go on. Before it runs, every host must seal with the
    /// new key and still open with the old one (store.key_file = the new key,
    /// store.previous_key_file = the old one); afterwards the old key can go.
    RotateKey(StoreRotate),
}

#[derive(Debug, Args)]
pub struct StoreInit {
    /// Grant this role (the one pam_mfad connects as) what it needs and no more:
    /// SELECT, INSERT, UPDATE and DELETE on the records, SELECT on the schema version.
    #[arg(long, value_name = "ROLE")]
    pub grant: Option<String>,
}

#[derive(Debug, Args)]
pub struct StoreCopy {
    /// The configuration whose store is read (it is never written).
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,

    /// Overwrite records that exist here and differ.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct StoreRotate {
    /// The new key: 32 random bytes, root-owned, mode 0600.
    #[arg(long, value_name = "PATH")]
    pub new_key_file: PathBuf,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true)))]
pub struct ContactArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// A mobile number in international form, e.g. "+31 6 1234 5678".
    #[arg(long, group = "where", value_name = "NUMBER")]
    pub phone: Option<String>,

    /// An e-mail address.
    #[arg(long, group = "where", value_name = "ADDRESS")]
    pub email: Option<String>,

    /// Remove the contact (and any code in flight).
    #[arg(long, group = "where")]
    pub remove: bool,

    /// Send a test code and save only after it is typed back.
    #[arg(long, conflicts_with = "remove")]
    pub verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum Enroll {
    /// Enroll an authenticator app (TOTP).
    ///
    /// Without --secret-file: generates a 160-bit key, shows it as a QR code, asks
    /// for the app's current code (3 tries) and saves nothing until one verifies,
    /// then shows recovery codes if the user has none. With --secret-file the key
    /// is given (migration, provisioning); it is never accepted on the command
    /// line. --no-confirm saves without asking for a code. Replacing an enrollment
    /// with the same key (same secret, algorithm, digits and period) keeps its
    /// replay state, so codes already used stay used.
    ///
    /// A user may have up to 8 apps (a phone and a spare, a work phone), each
    /// under its own --name; a code from any of them logs in, and each app's used
    /// codes stay used on their own. Without --name the app is "default" (the one
    /// app of records from before several apps existed).
    Totp(EnrollTotp),
    /// Register a FIDO2 security key (USB): the user touches it (and enters its PIN
    /// when asked). Several keys per user; each needs its own name.
    Key(EnrollKey),
    /// Enroll a counter-based (HOTP, RFC 4226) token: an OATH-HOTP key fob, a
    /// YubiKey OATH slot. Several tokens per user; each needs its own name.
    ///
    /// The token's key (its seed) is read from --secret-file, never from the
    /// command line: base32 by default (as ykman and otpauth URIs write it), hex
    /// with --hex (as oathtool and most vendors' seed files write it); at least
    /// 128 bits, as RFC 4226 requires. The key of a token the user has already is
    /// refused (each code would work twice). At login a code is accepted from
    /// the token's counter up to hotp.look_ahead values past it; the counter then
    /// moves past the code and never back.
    Hotp(EnrollHotp),
}

#[derive(Debug, Subcommand)]
pub enum Import {
    /// Import ~/.google_authenticator files written by google-authenticator(1).
    ///
    /// A time-based file becomes an authenticator-app enrollment (the same app
    /// entry keeps working) and steps already used stay used; a counter-based file
    /// (HOTP_COUNTER) becomes an HOTP token named "google-authenticator" at the
    /// file's counter. Scratch codes become recovery codes. What cannot be carried
    /// over (WINDOW_SIZE, RATE_LIMIT) is reported. The original file is only read.
    GoogleAuthenticator(ImportGa),
    /// Import a pam_u2f authfile (user:keyHandle,publicKey,coseType,attributes...,
    /// current and old format). Credentials keep pam_u2f's relying party (its
    /// origin, pam://HOSTNAME unless given), so the same keys keep working. Users
    /// not known to getpwnam are skipped and reported.
    PamU2f(ImportU2f),
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// The account (must exist: checked with getpwnam). Required as root; a user
    /// going through pam_mfad may only name their own.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

impl UserArg {
    /// The account named, which root's direct commands need.
    pub fn required(&self) -> Result<&str, crate::error::CliError> {
        self.user.as_deref().ok_or(crate::error::CliError::NoUser)
    }
}

#[derive(Debug, Args)]
pub struct UserJson {
    #[command(flatten)]
    pub user: UserArg,

    /// Machine-readable output on standard output.
    #[arg(long)]
    pub json: bool,
}

/// How the QR code is drawn in the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QrStyle {
    /// For terminals with a dark background (light parts are drawn).
    Dark,
    /// For terminals with a light background (dark parts are drawn).
    Light,
    /// No QR code in the terminal (the key and link are still shown).
    None,
}

#[derive(Debug, Args)]
pub struct EnrollTotp {
    #[command(flatten)]
    pub user: UserArg,

    /// Read the shared secret from FILE, or from standard input with "-": a base32
    /// key (spaces and dashes allowed) or an otpauth:// URI, on one line (a
    /// trailing newline is fine). FILE must be a regular file (not a symbolic
    /// link) owned by root with no access for group or others (mode 0600 or
    /// 0400). From standard input only the first line is read, so the code to
    /// confirm may follow on the next; on a terminal it is typed without echo.
    /// Without it a new key is generated.
    #[arg(long, value_name = "FILE|-")]
    pub secret_file: Option<PathBuf>,

    /// Removed: a key in the arguments is visible to every user. Kept hidden only
    /// to say so instead of "unexpected argument".
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub secret: Option<String>,

    /// Save without asking for a code first (scripts and provisioning).
    #[arg(long)]
    pub no_confirm: bool,

    /// The app's name, unique for the user: 1 to 32 letters, digits, '-', '_'
    /// and '.', starting with a letter or digit ("work-phone"). A new name adds an
    /// app next to the user's others (at most 8); the name of one they have
    /// replaces that one, with --replace [default: default].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Replace the user's app of the same name (--name). With the same key the
    /// codes already used stay used (safe to repeat in configuration management);
    /// a different key starts afresh.
    #[arg(long)]
    pub replace: bool,

    /// QR code in the terminal, drawn for a dark or light background, or none.
    #[arg(long, value_enum, default_value = "dark")]
    pub qr: QrStyle,

    /// Also write the QR code as a PNG image to FILE, which must not exist yet: it
    /// is created with mode 0600 (it holds the key) and removed again if nothing
    /// is enrolled.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,

    /// Also write the QR code as an SVG image to FILE; as for --png.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Issuer shown in the app [default: totp.issuer from the config, or the host name].
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,

    /// HMAC algorithm [default: from the config, normally SHA1].
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgorithmArg>,

    /// Digits per code, 6 to 8 [default: from the config, normally 6].
    #[arg(long, value_parser = clap::value_parser!(u8).range(6..=8))]
    pub digits: Option<u8>,

    /// Seconds per code [default: from the config, normally 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(15..=300))]
    pub period: Option<u32>,

    /// Machine-readable result on standard output: the key, the otpauth URI and
    /// any recovery codes. Prompts, if any, go to standard error.
    #[arg(long)]
    pub json: bool,
}

/// What a security key must do at login besides the touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerificationArg {
    /// The key must verify the user (PIN or fingerprint) at every login.
    Required,
    /// Verify when the key can; not required.
    Preferred,
    /// Touch only.
    Discouraged,
}

/// Signature algorithm of a new credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithmArg {
    Es256,
    Eddsa,
}

#[derive(Debug, Args)]
pub struct EnrollKey {
    #[command(flatten)]
    pub user: UserArg,

    /// A name for the key, unique for the user [default: key-N].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The key's hidraw device, when several are connected.
    #[arg(long, value_name = "PATH")]
    pub device: Option<String>,

    /// Whether the key must verify the user at login.
    #[arg(long, value_enum, default_value = "discouraged")]
    pub user_verification: VerificationArg,

    /// Ask for the key's PIN now and at every login.
    #[arg(long)]
    pub pin: bool,

    /// Preferred algorithm; the key may only support one [default: es256 then eddsa].
    #[arg(long, value_enum)]
    pub algorithm: Option<KeyAlgorithmArg>,

    /// Machine-readable result on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnrollHotp {
    #[command(flatten)]
    pub user: UserArg,

    /// Read the token's key from FILE, or from standard input with "-", on one line
    /// (a trailing newline is fine; spaces between groups allowed). FILE must be a
    /// regular file (not a symbolic link) owned by root with no access for group
    /// or others (mode 0600 or 0400). On a terminal it is typed without echo.
    #[arg(long, value_name = "FILE|-")]
    pub secret_file: PathBuf,

    /// The key is hexadecimal (oathtool, vendors' seed files), not base32.
    #[arg(long)]
    pub hex: bool,

    /// The token's next counter value: 0 for a new token (its first code is that
    /// of value 0), or where a token in use has got to.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=mfa_core::hotp::MAX_COUNTER))]
    pub counter: u64,

    /// Digits per code: 6 or 8.
    #[arg(long, default_value_t = 6, value_parser = hotp_digits)]
    pub digits: u8,

    /// A name for the token, unique for the user (at most 64 characters).
    #[arg(long, value_name = "NAME", default_value = mfa_core::hotp::DEFAULT_NAME)]
    pub name: String,

    /// Removed: a key in the arguments is visible to every user. Kept hidden only
    /// to say so instead of "unexpected argument".
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub secret: Option<String>,
}

/// `--digits` of an HOTP token: 6 or 8.
fn hotp_digits(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(d) if mfa_core::hotp::valid_digits(d) => Ok(d),
        _ => Err("HOTP tokens show 6 or 8 digits".to_owned()),
    }
}

#[derive(Debug, Args)]
pub struct ResyncArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// The token to resynchronise, by name [default: the only token that matches].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A code the token shows now.
    #[arg(value_name = "CODE1")]
    pub first: String,

    /// The code it shows next.
    #[arg(value_name = "CODE2")]
    pub second: String,
}

#[derive(Debug, Args)]
pub struct ImportU2f {
    /// The authfile.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// pam_u2f's origin (its relying party) [default: pam://HOSTNAME].
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,

    /// Add to users who already have security keys registered (otherwise they are
    /// skipped).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    #[value(name = "SHA1", alias = "sha1")]
    Sha1,
    #[value(name = "SHA256", alias = "sha256")]
    Sha256,
    #[value(name = "SHA512", alias = "sha512")]
    Sha512,
}

impl From<AlgorithmArg> for mfa_core::totp::Algorithm {
    fn from(a: AlgorithmArg) -> Self {
        match a {
            AlgorithmArg::Sha1 => Self::Sha1,
            AlgorithmArg::Sha256 => Self::Sha256,
            AlgorithmArg::Sha512 => Self::Sha512,
        }
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)))]
pub struct RemoveArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// Remove everything: factors and login state (failures, lockout).
    #[arg(long, group = "what")]
    pub all: bool,

    /// Remove the authenticator app NAME; without NAME, every authenticator app
    /// of the user.
    #[arg(long, group = "what", value_name = "NAME", num_args = 0..=1)]
    pub totp: Option<Option<String>>,

    /// Remove the recovery codes.
    #[arg(long, group = "what")]
    pub recovery: bool,

    /// Revoke one security key, by name or credential id.
    #[arg(long, group = "what", value_name = "NAME|ID")]
    pub key: Option<String>,

    /// Remove one HOTP token, by name.
    #[arg(long, group = "what", value_name = "NAME")]
    pub hotp: Option<String>,

    /// Remove the phone number or e-mail address for one-time codes.
    #[arg(long, group = "what")]
    pub contact: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true)))]
pub struct ImportGa {
    /// Import this user's file (FILE, or ~USER/.google_authenticator).
    #[arg(long, value_name = "USER", group = "who")]
    pub user: Option<String>,

    /// Import every user whose home directory holds a .google_authenticator file.
    #[arg(long, group = "who", conflicts_with = "file")]
    pub all_users: bool,

    /// The file to read [default: ~USER/.google_authenticator].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The name the imported authenticator app gets; a user with an app of that
    /// name is skipped unless --replace [default: default].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Replace the app of that name where a user has one (otherwise such users
    /// are skipped).
    #[arg(long)]
    pub replace: bool,
}
