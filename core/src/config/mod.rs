//! The configuration: one TOML file, validated into one [`Config`].
//!
//! Invariant: a [`Config`] only exists if the file was root-owned, not writable by
//! group or others (its directory too), parsed completely, and every key was known and
//! in range. Any error names the file, the line and the key; nothing falls back to a
//! default behind the admin's back.

pub mod keys;
pub(crate) mod parse;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::i18n::{self, Lang, Msg};
use crate::network::Cidr;
use crate::secure_fs::{self, FileError, Trust};
use crate::totp::Algorithm;

/// Where the module and the CLI look when not told otherwise.
pub const DEFAULT_PATH: &str = "/etc/pam_mfa/config.toml";

/// Largest config file we read.
const MAX_SIZE: u64 = 1 << 20;

/// What happens to a user who has no second factor enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unenrolled {
    /// Prompt for a code like for anybody else, then fail.
    #[default]
    Deny,
    /// Return `PAM_IGNORE` without prompting: the rest of the stack decides.
    Ignore,
    /// Users allowed by `[enroll]` set up an authenticator app inside the login
    /// itself (until the deadline); everybody else is denied as with `Deny`.
    Enroll,
}

/// `policy.prompt`: how a login asks for its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptStyle {
    /// Its own prompt, after the password module's.
    #[default]
    Separate,
    /// One prompt, "Password and verification code:", for clients with a single
    /// field: the module splits the trailing code off, hands the password on as
    /// PAM_AUTHTOK and checks the code only after the password module succeeded.
    Combined,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    /// Where records live.
    pub backend: Backend,
    /// Directory holding one record per user (the files backend).
    pub dir: PathBuf,
    /// The database (the postgres backend).
    pub postgres: PostgresConfig,
}

/// `store.backend`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// One file per user under `store.dir` (the default, one host).
    #[default]
    Files,
    /// A PostgreSQL database shared by a fleet of hosts.
    Postgres,
}

/// `store.sslmode`: how a TCP connection to the database is protected. Unix socket
/// connections use no TLS (the socket's directory protects them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP: only for a database on a trusted network.
    Disable,
    /// TLS; the server's certificate must chain to `store.ca_file`.
    VerifyCa,
    /// TLS; the certificate must chain to `store.ca_file` and name the host.
    #[default]
    VerifyFull,
}

/// The postgres keys of `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostgresConfig {
    /// A postgresql:// URL or a key=value conninfo, without a password.
    pub url: String,
    /// The role's password, from a root-only file.
    pub password_file: Option<PathBuf>,
    pub sslmode: SslMode,
    /// The CA certificates (PEM) a TLS server must chain to.
    pub ca_file: Option<PathBuf>,
    /// 32 random bytes, root-only, the same on every host: seals secrets at rest.
    pub key_file: PathBuf,
    /// The key of before a rotation: opens records, never seals.
    pub previous_key_file: Option<PathBuf>,
    /// How long a login waits for a connection.
    pub connect_timeout_seconds: u32,
    /// Connections pam_mfad keeps open.
    pub pool_size: u32,
}

/// `[totp]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpConfig {
    /// Steps accepted on each side of the current one (clock skew).
    pub window: u8,
    /// Issuer shown in authenticator apps; `None`: the host name.
    pub issuer: Option<String>,
    /// Parameters of new enrollments. Existing records keep their own.
    pub algorithm: Algorithm,
    /// Digits of new enrollments.
    pub digits: u8,
    /// Step length in seconds of new enrollments.
    pub period: u32,
}

impl Default for TotpConfig {
    /// Placeholders, replaced by the key table's defaults.
    fn default() -> TotpConfig {
        TotpConfig {
            window: 0,
            issuer: None,
            algorithm: Algorithm::Sha1,
            digits: 0,
            period: 0,
        }
    }
}

/// `[hotp]`: counter-based tokens (RFC 4226).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HotpConfig {
    /// How many counter values past the next expected one a code may come from (a
    /// token pressed without logging in).
    pub look_ahead: u32,
}

/// `[recovery]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryConfig {
    /// How many recovery codes one generation hands out.
    pub codes: u8,
}

/// `[lockout]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockoutConfig {
    /// Consecutive failures that lock the user; 0 disables lockout.
    pub max_failures: u32,
    /// How long a lockout lasts.
    pub seconds: u64,
}

/// `[policy]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyConfig {
    /// Users without any factor.
    pub unenrolled: Unenrolled,
    /// Delay before a failed attempt is reported, in milliseconds (`pam_fail_delay`).
    pub fail_delay_ms: u32,
    /// The least time a refusal takes, in milliseconds, from the last answer (or the
    /// start of the login), so its timing does not tell users apart.
    pub refusal_ms: u32,
    /// Users (account names) who need no second factor: their logins get
    /// `PAM_IGNORE`.
    pub exempt_users: Vec<String>,
    /// Groups (primary or supplementary) whose members need no second factor.
    pub exempt_groups: Vec<String>,
    /// Networks whose logins need no second factor: matched against PAM_RHOST
    /// only when it is an IP literal ([`crate::network`]).
    pub exempt_networks: Vec<Cidr>,
    /// When not empty, only members of these groups must use a second factor.
    pub require_groups: Vec<String>,
    /// The grace period: after a second factor from a remote IP address, the same
    /// user from the same address is not asked again for this many seconds
    /// ([`crate::grace`]); 0: off.
    pub remember_seconds: u64,
    /// Separate prompts, or password and code in one answer.
    pub prompt: PromptStyle,
}

/// `[enroll]`: who may set up their own app without a factor: at login when
/// `policy.unenrolled = "enroll"`, and through pam_mfad (`mfa-token enroll totp` run
/// by the user) whatever the policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnrollConfig {
    /// User names allowed to enroll at login.
    pub users: Vec<String>,
    /// Groups (primary or supplementary) whose members may enroll at login.
    pub groups: Vec<String>,
    /// The last day enrollment at login is offered, as `(unix time of the end of
    /// that day in UTC, "YYYY-MM-DD")`; afterwards unenrolled users are denied.
    pub deadline: Option<(u64, String)>,
}

/// `[oob]`: one-time codes sent out of band (SMS, e-mail) by an admin's command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OobConfig {
    /// The delivery command (absolute, root-owned, not group/world-writable);
    /// `None`: out-of-band codes are off.
    pub command: Option<PathBuf>,
    /// The account the command runs as; uid 0 only with `allow_root`.
    pub run_as: String,
    /// Lets `run_as` be root (uid 0).
    pub allow_root: bool,
    /// How long the command may run before it is killed.
    pub timeout_seconds: u32,
    /// How long a sent code stays valid.
    pub lifetime_seconds: u32,
    /// Digits of a sent code.
    pub digits: u8,
    /// At most this many codes per user within `per_seconds`.
    pub max_sends: u32,
    pub per_seconds: u64,
}

/// `[fido2]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fido2Config {
    /// The relying party of new credentials; fixed, so a host rename changes nothing.
    pub rp_id: String,
    /// How long a login waits for the touch.
    pub timeout_seconds: u32,
    /// Try the key also for remote logins ([`crate::locality`]; the key is on this
    /// machine, not with a remote user).
    pub allow_remote: bool,
    /// Demand user verification (PIN or biometrics) from every key.
    pub require_user_verification: bool,
    /// Services (PAM service names) where only a key is accepted, no code.
    pub require_key_for: Vec<String>,
}

/// `[prompt]`: the site's own wording of what a login shows, per prompt and
/// language (`code.en`, `code.nl`...; names in [`i18n::CUSTOM_PROMPTS`]). What is
/// not set keeps the built-in text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptConfig {
    custom: Vec<(Msg, Lang, String)>,
}

/// Longest custom prompt, in bytes: a line, not a page.
pub const MAX_PROMPT: usize = 200;

impl PromptConfig {
    /// The text of `msg` in `lang`: the site's own if set, else the built-in one.
    pub fn text(&self, lang: Lang, msg: Msg) -> &str {
        self.custom
            .iter()
            .find(|(m, l, _)| *m == msg && *l == lang)
            .map_or_else(|| i18n::text(lang, msg), |(_, _, t)| t.as_str())
    }

    /// Sets the site's text (checked by the caller).
    pub fn set(&mut self, msg: Msg, lang: Lang, text: String) {
        self.custom.retain(|(m, l, _)| !(*m == msg && *l == lang));
        self.custom.push((msg, lang, text));
    }
}

/// Why `text` cannot be shown as a prompt: empty, too long, or holding control or
/// invisible formatting characters (a line break, an escape sequence, a
/// right-to-left override) that could make it say something other than it seems.
fn prompt_problem(text: &str) -> Option<String> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    if text.trim().is_empty() || text.len() > MAX_PROMPT {
        return Some(format!(
            "expected 1 to {MAX_PROMPT} bytes of printable text"
        ));
    }
    text.chars()
        .find(|&c| c.is_control() || invisible(c))
        .map(|c| format!("{c:?} is not printable: a prompt is one line of visible text"))
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    pub store: StoreConfig,
    pub totp: TotpConfig,
    pub hotp: HotpConfig,
    pub recovery: RecoveryConfig,
    pub lockout: LockoutConfig,
    pub policy: PolicyConfig,
    pub fido2: Fido2Config,
    pub enroll: EnrollConfig,
    pub oob: OobConfig,
    pub prompt: PromptConfig,
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is missing, unreadable or insecure.
    File(FileError),
    /// The file is not UTF-8.
    Encoding { file: PathBuf },
    /// The file is not valid TOML.
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// A key is unknown, of the wrong type or out of range.
    Invalid {
        file: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(e) => write!(f, "config {e}"),
            Self::Encoding { file } => write!(f, "{}: not valid UTF-8", file.display()),
            Self::Syntax {
                file,
                line,
                message,
            } => {
                write!(f, "{}:{line}: TOML syntax error: {message}", file.display())
            }
            Self::Invalid {
                file,
                line,
                key,
                message,
            } => {
                write!(f, "{}:{line}: key `{key}`: {message}", file.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File(e) => Some(e),
            _ => None,
        }
    }
}

impl Config {
    /// The configuration that an empty file gives: the defaults of the key table
    /// ([`keys::KEYS`]; `keys::tests` proves each of them valid).
    pub fn defaults(path: &Path) -> Config {
        Config::with_defaults(path).unwrap_or_else(|_| Config {
            path: path.to_owned(),
            ..Config::default()
        })
    }

    /// Loads `path`, which must be root-owned and not group/world-writable, in a
    /// directory with the same properties.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_trusting(path, Trust::ROOT_NOT_WRITABLE)
    }

    /// [`Config::load`] with another owner (tests run the same checks as a user).
    pub fn load_trusting(path: &Path, trust: Trust) -> Result<Config, ConfigError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            secure_fs::open_dir(parent, trust).map_err(ConfigError::File)?;
        }
        let bytes = secure_fs::read_file(path, trust, MAX_SIZE).map_err(ConfigError::File)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ConfigError::Encoding {
            file: path.to_owned(),
        })?;
        Self::parse(path, text)
    }

    /// Parses configuration text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::with_defaults(path)?;
        let doc = parse::Doc {
            file: path,
            src: text,
        };
        let root = toml::de::DeTable::parse(text).map_err(|e| doc.syntax(&e))?;
        let mut set = Spans::default();
        parse::for_each(
            &doc,
            None,
            root.get_ref(),
            &mut |section| match section.key.as_str() {
                "prompt" => read_prompts(&section, &mut cfg.prompt),
                name if keys::is_section(name) => read_section(&section, &mut cfg, &mut set),
                _ => Err(section.unknown()),
            },
        )?;
        check_enroll(&doc, &cfg, &set)?;
        check_store(&doc, &cfg.store, &set)?;
        check_oob(&doc, &cfg.oob, &set)?;
        Ok(cfg)
    }

    /// The configuration an empty file gives: the key table's defaults
    /// ([`keys::KEYS`]), read by the same parser as a file.
    fn with_defaults(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Config {
            path: path.to_owned(),
            ..Config::default()
        };
        let text = keys::defaults_text();
        let doc = parse::Doc {
            file: Path::new("(the built-in defaults)"),
            src: &text,
        };
        let root = toml::de::DeTable::parse(&text).map_err(|e| doc.syntax(&e))?;
        parse::for_each(&doc, None, root.get_ref(), &mut |section| {
            read_section(&section, &mut cfg, &mut Spans::default())
        })?;
        Ok(cfg)
    }
}

/// Where each key was set in the file: `(key, key span, value span)`, in file
/// order, for the checks that involve more than one key.
#[derive(Default)]
struct Spans(Vec<(&'static str, Range<usize>, Range<usize>)>);

impl Spans {
    /// Where `key`'s value is, if the file set it.
    fn value(&self, key: &str) -> Option<&Range<usize>> {
        self.0.iter().find(|(k, ..)| *k == key).map(|(_, _, v)| v)
    }
}

/// One section of the key table: every key is looked up, read as its kind and
/// put in place; a key not in the table is an error.
fn read_section(
    section: &parse::Entry<'_, '_>,
    cfg: &mut Config,
    set: &mut Spans,
) -> Result<(), ConfigError> {
    section.table(|e| {
        let key = keys::find(&e.key).ok_or_else(|| e.unknown())?;
        let value = e.read(key.kind)?;
        (key.set)(cfg, value).map_err(|why| e.invalid(why))?;
        set.0.push((key.name, e.key_span.clone(), e.value.span()));
        Ok(())
    })
}

/// `[prompt]`: `NAME.LANG = "text"` for the prompts in [`i18n::CUSTOM_PROMPTS`].
fn read_prompts(
    section: &parse::Entry<'_, '_>,
    prompts: &mut PromptConfig,
) -> Result<(), ConfigError> {
    let doc = section.doc;
    section.table(|name| {
        let short = name.key.trim_start_matches("prompt.");
        let Some(&(_, msg)) = i18n::CUSTOM_PROMPTS.iter().find(|(n, _)| *n == short) else {
            return Err(doc.invalid(
                &name.key_span,
                &name.key,
                format!(
                    "unknown prompt {short:?}: expected one of {}",
                    i18n::CUSTOM_PROMPTS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !matches!(name.value.get_ref(), toml::de::DeValue::Table(_)) {
            return Err(doc.invalid(
                &name.value.span(),
                &name.key,
                format!(
                    "expected a text per language, e.g. {short}.en = \"...\" and {short}.nl = \"...\""
                ),
            ));
        }
        name.table(|e| {
            let code = e.key.rsplit('.').next().unwrap_or_default();
            let Some(lang) = Lang::ALL.into_iter().find(|l| l.code() == code) else {
                return Err(doc.invalid(
                    &e.key_span,
                    &e.key,
                    format!(
                        "unknown language {code:?}: expected one of {}",
                        Lang::ALL.map(Lang::code).join(", ")
                    ),
                ));
            };
            let text = e.string()?;
            if let Some(why) = prompt_problem(text) {
                return Err(doc.invalid(&e.value.span(), &e.key, why));
            }
            prompts.set(msg, lang, text.to_owned());
            Ok(())
        })
    })
}

/// `policy.unenrolled = "enroll"` needs someone who may enroll.
fn check_enroll(doc: &parse::Doc<'_>, cfg: &Config, set: &Spans) -> Result<(), ConfigError> {
    if cfg.policy.unenrolled == Unenrolled::Enroll
        && cfg.enroll.users.is_empty()
        && cfg.enroll.groups.is_empty()
    {
        return Err(doc.invalid(
            set.value("policy.unenrolled").unwrap_or(&(0..0)),
            "policy.unenrolled",
            "\"enroll\" needs enroll.users or enroll.groups: who may enroll at login".to_owned(),
        ));
    }
    Ok(())
}

/// The delivery command's account, checked now, not at the first send: a login
/// must not be the first to learn that codes cannot go out.
fn check_oob(doc: &parse::Doc<'_>, oob: &OobConfig, set: &Spans) -> Result<(), ConfigError> {
    if oob.command.is_none() {
        return Ok(());
    }
    let (key, span) = match set.value("oob.run_as") {
        Some(span) => ("oob.run_as", span),
        None => ("oob.command", set.value("oob.command").unwrap_or(&(0..0))),
    };
    let name = &oob.run_as;
    let why = match nix::unistd::User::from_name(name) {
        Ok(Some(account)) if account.uid.is_root() && !oob.allow_root => format!(
            "oob.run_as {name:?} is root: the delivery command would run with every privilege; \
             choose an unprivileged account, or set oob.allow_root = true"
        ),
        Ok(Some(_)) => return Ok(()),
        Ok(None) => format!("oob.run_as: no such account {name:?}"),
        Err(e) => format!("oob.run_as: cannot look up {name:?}: {e}"),
    };
    Err(doc.invalid(span, key, why))
}

/// The keys of `[store]` that belong together: the postgres keys only with the
/// postgres backend, which needs a url it can use and a key file.
fn check_store(doc: &parse::Doc<'_>, store: &StoreConfig, set: &Spans) -> Result<(), ConfigError> {
    let pg = &store.postgres;
    let none = 0..0;
    let backend_span = set.value("store.backend").unwrap_or(&none);
    let url_span = set.value("store.url").unwrap_or(&none);
    if store.backend == Backend::Files {
        let postgres_key = set
            .0
            .iter()
            .find(|(k, ..)| k.starts_with("store.") && !["store.backend", "store.dir"].contains(k));
        if let Some((key, span, _)) = postgres_key {
            return Err(doc.invalid(
                span,
                key,
                "only used with backend = \"postgres\" (this config uses the files backend)"
                    .to_owned(),
            ));
        }
        return Ok(());
    }
    for (missing, what) in [
        (pg.url.is_empty(), "store.url"),
        (pg.key_file.as_os_str().is_empty(), "store.key_file"),
    ] {
        if missing {
            return Err(doc.invalid(
                backend_span,
                "store.backend",
                format!("\"postgres\" needs {what}"),
            ));
        }
    }
    let facts = crate::store::postgres::check_url(&pg.url)
        .map_err(|why| doc.invalid(url_span, "store.url", why))?;
    if facts.tcp && pg.sslmode != SslMode::Disable && pg.ca_file.is_none() {
        return Err(doc.invalid(
            url_span,
            "store.url",
            "a TCP host needs store.ca_file (the CA that signed the server's certificate), \
             or sslmode = \"disable\" on a trusted network"
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
