//! The configuration: one TOML file plus the module arguments, validated into one
//! [`Config`].
//!
//! Invariant: a [`Config`] only exists if the file was root-owned, not writable by
//! group or others (its directory too), parsed completely, and every key was known and
//! in range. Any error names the file, the line and the key; nothing falls back to a
//! default behind the admin's back.

mod args;
pub(crate) mod parse;

use std::fmt;
use std::path::{Path, PathBuf};

pub use args::{ArgError, ModuleArgs};

use crate::secure_fs::{self, FileError, Trust};
use crate::totp::Algorithm;

/// Where the module and the CLI look when not told otherwise.
pub const DEFAULT_PATH: &str = "/etc/pam_mfa/config.toml";

/// Largest config file we read.
const MAX_SIZE: u64 = 1 << 20;

/// What happens to a user who has no second factor enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unenrolled {
    /// Prompt for a code like for anybody else, then fail.
    Deny,
    /// Return `PAM_IGNORE` without prompting: the rest of the stack decides.
    Ignore,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Directory holding one record per user.
    pub dir: PathBuf,
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

/// `[recovery]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How many recovery codes one generation hands out.
    pub codes: u8,
}

/// `[lockout]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Consecutive failures that lock the user; 0 disables lockout.
    pub max_failures: u32,
    /// How long a lockout lasts.
    pub seconds: u64,
}

/// `[policy]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Users without any factor.
    pub unenrolled: Unenrolled,
    /// Delay before a failed attempt is reported, in milliseconds (`pam_fail_delay`).
    pub fail_delay_ms: u32,
}

/// `[fido2]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fido2Config {
    /// The relying party of new credentials; fixed, so a host rename changes nothing.
    pub rp_id: String,
    /// How long a login waits for the touch.
    pub timeout_seconds: u32,
    /// Try the key also when PAM_RHOST is set (the key is on this machine, not with
    /// a remote user).
    pub allow_remote: bool,
    /// Demand user verification (PIN or biometrics) from every key.
    pub require_user_verification: bool,
    /// Services (PAM service names) where only a key is accepted, no code.
    pub require_key_for: Vec<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    pub store: StoreConfig,
    pub totp: TotpConfig,
    pub recovery: RecoveryConfig,
    pub lockout: LockoutConfig,
    pub policy: PolicyConfig,
    pub fido2: Fido2Config,
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
    /// The configuration that an empty file gives.
    pub fn defaults(path: &Path) -> Config {
        Config {
            path: path.to_owned(),
            store: StoreConfig {
                dir: PathBuf::from("/var/lib/pam_mfa"),
            },
            totp: TotpConfig {
                window: 1,
                issuer: None,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
            },
            recovery: RecoveryConfig { codes: 10 },
            lockout: LockoutConfig {
                max_failures: 5,
                seconds: 300,
            },
            policy: PolicyConfig {
                unenrolled: Unenrolled::Deny,
                fail_delay_ms: 2000,
            },
            fido2: Fido2Config {
                rp_id: "pam://pam_mfa".to_owned(),
                timeout_seconds: 30,
                allow_remote: false,
                require_user_verification: false,
                require_key_for: Vec::new(),
            },
        }
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
        let doc = parse::Doc {
            file: path,
            src: text,
        };
        let root = toml::de::DeTable::parse(text).map_err(|e| doc.syntax(&e))?;
        let mut cfg = Config::defaults(path);
        parse::for_each(
            &doc,
            None,
            root.get_ref(),
            &mut |section| match section.key.as_str() {
                "store" => section.table(|e| {
                    match e.key.as_str() {
                        "store.dir" => cfg.store.dir = e.abs_path()?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                "totp" => section.table(|e| {
                    match e.key.as_str() {
                        "totp.window" => cfg.totp.window = e.int(0..=10)?,
                        "totp.issuer" => {
                            let issuer = e.text(64)?;
                            if issuer.contains(':') {
                                return Err(e.doc.invalid(
                                    &e.value.span(),
                                    &e.key,
                                    "must not contain ':' (it separates issuer and account in apps)"
                                        .to_owned(),
                                ));
                            }
                            cfg.totp.issuer = Some(issuer);
                        }
                        "totp.algorithm" => {
                            cfg.totp.algorithm = Algorithm::ALL[e.choice(&Algorithm::NAMES)?]
                        }
                        "totp.digits" => cfg.totp.digits = e.int(6..=8)?,
                        "totp.period" => cfg.totp.period = e.int(15..=300)?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                "recovery" => section.table(|e| {
                    match e.key.as_str() {
                        "recovery.codes" => cfg.recovery.codes = e.int(1..=100)?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                "lockout" => section.table(|e| {
                    match e.key.as_str() {
                        "lockout.max_failures" => cfg.lockout.max_failures = e.int(0..=1000)?,
                        "lockout.seconds" => cfg.lockout.seconds = e.int(1..=604_800)?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                "policy" => section.table(|e| {
                    match e.key.as_str() {
                        "policy.unenrolled" => {
                            cfg.policy.unenrolled = [Unenrolled::Deny, Unenrolled::Ignore]
                                [e.choice(&["deny", "ignore"])?]
                        }
                        "policy.fail_delay_ms" => cfg.policy.fail_delay_ms = e.int(0..=30_000)?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                "fido2" => section.table(|e| {
                    match e.key.as_str() {
                        "fido2.rp_id" => cfg.fido2.rp_id = e.text(128)?,
                        "fido2.timeout_seconds" => cfg.fido2.timeout_seconds = e.int(1..=120)?,
                        "fido2.allow_remote" => cfg.fido2.allow_remote = e.bool()?,
                        "fido2.require_user_verification" => {
                            cfg.fido2.require_user_verification = e.bool()?
                        }
                        "fido2.require_key_for" => cfg.fido2.require_key_for = e.strings()?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                }),
                _ => Err(section.unknown()),
            },
        )?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests;
