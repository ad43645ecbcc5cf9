//! The one table of configuration keys: each key's name, type, range, default and
//! meaning, and where its value goes in [`Config`].
//!
//! Invariant: this table is the only place a key is described. The parser reads
//! through it (a key not in it is an error), [`Config::defaults`] is the table's
//! defaults read by that same parser, and tests hold conf/config.toml (from which
//! pam_mfa.toml(5) is generated) to it key by key. `[prompt]`, whose keys are
//! prompt names × languages, is the one section read by its own function.

use std::path::PathBuf;

use super::{Backend, Config, PromptStyle, SslMode, Unenrolled};
use crate::network::Cidr;
use crate::totp::Algorithm;

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer from `min` to `max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// 1 to `max_len` bytes of printable text.
    Text {
        max_len: usize,
    },
    /// An absolute path.
    Path,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// An array of non-empty strings.
    Strings,
    /// An array of CIDR blocks (or bare addresses).
    Networks,
    /// A TOML date without a time, e.g. 2027-03-31.
    Date,
}

/// A value read and checked against its key's [`Kind`].
#[derive(Debug)]
pub(crate) enum Value {
    Int(i64),
    Bool(bool),
    Text(String),
    Path(PathBuf),
    Word(&'static str),
    Strings(Vec<String>),
    Networks(Vec<Cidr>),
    /// The unix time the day ends in UTC, and the date as written.
    Date(u64, String),
}

/// Puts a checked value into the configuration; an error is a message about the
/// value (it is reported at the value's line).
pub(crate) type Set = fn(&mut Config, Value) -> Result<(), String>;

/// One configuration key.
pub struct Key {
    /// Dotted: `section.key`.
    pub name: &'static str,
    pub kind: Kind,
    /// The default as a TOML literal, exactly as conf/config.toml shows it;
    /// `None`: unset unless configured.
    pub default: Option<&'static str>,
    /// What it means, in one line.
    pub doc: &'static str,
    pub(crate) set: Set,
}

impl Key {
    /// The section: the part before the dot.
    pub fn section(&self) -> &'static str {
        self.name.split_once('.').map_or(self.name, |(s, _)| s)
    }
}

impl Value {
    fn mismatch(&self, wanted: &str) -> String {
        format!("internal error: the key table gives {self:?} where {wanted} belongs")
    }

    fn int<T: TryFrom<i64>>(self) -> Result<T, String> {
        match self {
            Value::Int(n) => T::try_from(n).map_err(|_| format!("{n} is out of range")),
            other => Err(other.mismatch("an integer")),
        }
    }

    fn bool(self) -> Result<bool, String> {
        match self {
            Value::Bool(b) => Ok(b),
            other => Err(other.mismatch("true or false")),
        }
    }

    fn text(self) -> Result<String, String> {
        match self {
            Value::Text(s) => Ok(s),
            other => Err(other.mismatch("text")),
        }
    }

    fn path(self) -> Result<PathBuf, String> {
        match self {
            Value::Path(p) => Ok(p),
            other => Err(other.mismatch("a path")),
        }
    }

    fn strings(self) -> Result<Vec<String>, String> {
        match self {
            Value::Strings(v) => Ok(v),
            other => Err(other.mismatch("strings")),
        }
    }

    fn networks(self) -> Result<Vec<Cidr>, String> {
        match self {
            Value::Networks(v) => Ok(v),
            other => Err(other.mismatch("networks")),
        }
    }

    fn date(self) -> Result<(u64, String), String> {
        match self {
            Value::Date(t, s) => Ok((t, s)),
            other => Err(other.mismatch("a date")),
        }
    }

    /// The value a word stands for in `choices`.
    fn pick<T: Copy>(self, choices: &[(&str, T)]) -> Result<T, String> {
        match self {
            Value::Word(w) => choices
                .iter()
                .find(|(name, _)| *name == w)
                .map(|&(_, v)| v)
                .ok_or_else(|| format!("internal error: {w:?} has no meaning")),
            other => Err(other.mismatch("a word")),
        }
    }
}

/// The words of a choice, in order, from its (word, value) pairs: each word is
/// written once.
const fn words<T, const N: usize>(choices: &[(&'static str, T); N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = choices[i].0;
        i += 1;
    }
    out
}

const BACKENDS: [(&str, Backend); 2] = [("files", Backend::Files), ("postgres", Backend::Postgres)];
const SSLMODES: [(&str, SslMode); 3] = [
    ("disable", SslMode::Disable),
    ("verify-ca", SslMode::VerifyCa),
    ("verify-full", SslMode::VerifyFull),
];
const ALGORITHMS: [(&str, Algorithm); 3] = [
    ("SHA1", Algorithm::Sha1),
    ("SHA256", Algorithm::Sha256),
    ("SHA512", Algorithm::Sha512),
];
const UNENROLLED: [(&str, Unenrolled); 3] = [
    ("deny", Unenrolled::Deny),
    ("ignore", Unenrolled::Ignore),
    ("enroll", Unenrolled::Enroll),
];
const PROMPT_STYLES: [(&str, PromptStyle); 2] = [
    ("separate", PromptStyle::Separate),
    ("combined", PromptStyle::Combined),
];
const BACKEND_WORDS: [&str; 2] = words(&BACKENDS);
const SSLMODE_WORDS: [&str; 3] = words(&SSLMODES);
const ALGORITHM_WORDS: [&str; 3] = words(&ALGORITHMS);
const UNENROLLED_WORDS: [&str; 3] = words(&UNENROLLED);
const PROMPT_STYLE_WORDS: [&str; 2] = words(&PROMPT_STYLES);

/// An integer range, for the table.
const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

/// A table row: `key!(name, kind, default, doc, |config, value| assignment)`.
macro_rules! key {
    ($name:literal, $kind:expr, $default:expr, $doc:literal, |$c:ident, $v:ident| $set:expr) => {
        Key {
            name: $name,
            kind: $kind,
            default: $default,
            doc: $doc,
            set: |$c, $v| {
                $set;
                Ok(())
            },
        }
    };
}

/// Every key, in the order of conf/config.toml.
pub static KEYS: &[Key] = &[
    // [store]
    key!(
        "store.dir",
        Kind::Path,
        Some("\"/var/lib/pam_mfa\""),
        "directory of the files backend: one record per user",
        |c, v| c.store.dir = v.path()?
    ),
    key!(
        "store.backend",
        Kind::Choice(&BACKEND_WORDS),
        Some("\"files\""),
        "where records live: files on this host, or a PostgreSQL database shared by a fleet",
        |c, v| c.store.backend = v.pick(&BACKENDS)?
    ),
    key!(
        "store.url",
        Kind::Text { max_len: 4096 },
        None,
        "the database: a postgresql:// URL or key=value conninfo, without a password",
        |c, v| c.store.postgres.url = v.text()?
    ),
    key!(
        "store.password_file",
        Kind::Path,
        None,
        "the database role's password, in a root-only file",
        |c, v| c.store.postgres.password_file = Some(v.path()?)
    ),
    key!(
        "store.sslmode",
        Kind::Choice(&SSLMODE_WORDS),
        Some("\"verify-full\""),
        "TLS to a TCP database host",
        |c, v| c.store.postgres.sslmode = v.pick(&SSLMODES)?
    ),
    key!(
        "store.ca_file",
        Kind::Path,
        None,
        "the CA certificates (PEM) a TLS database server must chain to",
        |c, v| c.store.postgres.ca_file = Some(v.path()?)
    ),
    key!(
        "store.key_file",
        Kind::Path,
        None,
        "32 random bytes, root-only, the same on every host: seals secrets in the database",
        |c, v| c.store.postgres.key_file = v.path()?
    ),
    key!(
        "store.previous_key_file",
        Kind::Path,
        None,
        "the sealing key before a rotation: opens records, never seals",
        |c, v| c.store.postgres.previous_key_file = Some(v.path()?)
    ),
    key!(
        "store.connect_timeout_seconds",
        int(1, 60),
        Some("3"),
        "how long a login waits for a database connection",
        |c, v| c.store.postgres.connect_timeout_seconds = v.int()?
    ),
    key!(
        "store.pool_size",
        int(1, 64),
        Some("4"),
        "database connections pam_mfad keeps open",
        |c, v| c.store.postgres.pool_size = v.int()?
    ),
    // [totp]
    key!(
        "totp.window",
        int(0, 10),
        Some("1"),
        "time steps accepted on each side of the current one (clock skew)",
        |c, v| c.totp.window = v.int()?
    ),
    key!(
        "totp.issuer",
        Kind::Text { max_len: 64 },
        None,
        "the issuer authenticator apps show; unset: the host name",
        |c, v| c.totp.issuer = Some(issuer(v.text()?)?)
    ),
    key!(
        "totp.algorithm",
        Kind::Choice(&ALGORITHM_WORDS),
        Some("\"SHA1\""),
        "HMAC of new enrollments",
        |c, v| c.totp.algorithm = v.pick(&ALGORITHMS)?
    ),
    key!(
        "totp.digits",
        int(6, 8),
        Some("6"),
        "digits of new enrollments",
        |c, v| c.totp.digits = v.int()?
    ),
    key!(
        "totp.period",
        int(15, 300),
        Some("30"),
        "seconds per code of new enrollments",
        |c, v| c.totp.period = v.int()?
    ),
    // [hotp]
    key!(
        "hotp.look_ahead",
        int(1, 100),
        Some("10"),
        "counter values past the expected one a token's code may come from",
        |c, v| c.hotp.look_ahead = v.int()?
    ),
    // [recovery]
    key!(
        "recovery.codes",
        int(1, 100),
        Some("10"),
        "recovery codes one generation hands out",
        |c, v| c.recovery.codes = v.int()?
    ),
    // [lockout]
    key!(
        "lockout.max_failures",
        int(0, 1000),
        Some("5"),
        "consecutive failures that lock the user out; 0: never",
        |c, v| c.lockout.max_failures = v.int()?
    ),
    key!(
        "lockout.seconds",
        int(1, 604_800),
        Some("300"),
        "how long a lockout lasts",
        |c, v| c.lockout.seconds = v.int()?
    ),
    // [policy]
    key!(
        "policy.unenrolled",
        Kind::Choice(&UNENROLLED_WORDS),
        Some("\"deny\""),
        "what happens to a user with no second factor",
        |c, v| c.policy.unenrolled = v.pick(&UNENROLLED)?
    ),
    key!(
        "policy.fail_delay_ms",
        int(0, 30_000),
        Some("2000"),
        "delay before a failure is reported (pam_fail_delay)",
        |c, v| c.policy.fail_delay_ms = v.int()?
    ),
    key!(
        "policy.refusal_ms",
        int(0, 10_000),
        Some("250"),
        "the least time any refusal takes, so its timing tells nothing",
        |c, v| c.policy.refusal_ms = v.int()?
    ),
    key!(
        "policy.exempt_users",
        Kind::Strings,
        Some("[]"),
        "users who need no second factor",
        |c, v| c.policy.exempt_users = v.strings()?
    ),
    key!(
        "policy.exempt_groups",
        Kind::Strings,
        Some("[]"),
        "groups whose members need no second factor",
        |c, v| c.policy.exempt_groups = v.strings()?
    ),
    key!(
        "policy.exempt_networks",
        Kind::Networks,
        Some("[]"),
        "networks (matched against PAM_RHOST) whose logins need no second factor",
        |c, v| c.policy.exempt_networks = v.networks()?
    ),
    key!(
        "policy.require_groups",
        Kind::Strings,
        Some("[]"),
        "when set, only members of these groups must use a second factor",
        |c, v| c.policy.require_groups = v.strings()?
    ),
    key!(
        "policy.remember_seconds",
        int(0, crate::grace::MAX_SECONDS as i64),
        Some("0"),
        "the grace period after a second factor from the same remote address; 0: off",
        |c, v| c.policy.remember_seconds = v.int()?
    ),
    key!(
        "policy.prompt",
        Kind::Choice(&PROMPT_STYLE_WORDS),
        Some("\"separate\""),
        "a prompt of its own, or password and code in one answer",
        |c, v| c.policy.prompt = v.pick(&PROMPT_STYLES)?
    ),
    // [fido2]
    key!(
        "fido2.rp_id",
        Kind::Text { max_len: 128 },
        Some("\"pam://pam_mfa\""),
        "the relying party of new security-key credentials",
        |c, v| c.fido2.rp_id = v.text()?
    ),
    key!(
        "fido2.timeout_seconds",
        int(1, 120),
        Some("30"),
        "how long a login waits for the touch",
        |c, v| c.fido2.timeout_seconds = v.int()?
    ),
    key!(
        "fido2.allow_remote",
        Kind::Bool,
        Some("false"),
        "try the key also for remote logins",
        |c, v| c.fido2.allow_remote = v.bool()?
    ),
    key!(
        "fido2.require_user_verification",
        Kind::Bool,
        Some("false"),
        "demand a PIN or biometrics from every key",
        |c, v| c.fido2.require_user_verification = v.bool()?
    ),
    key!(
        "fido2.require_key_for",
        Kind::Strings,
        Some("[]"),
        "PAM services where only a security key is accepted",
        |c, v| c.fido2.require_key_for = v.strings()?
    ),
    // [enroll]
    key!(
        "enroll.users",
        Kind::Strings,
        Some("[]"),
        "users who may set up their own app without a factor",
        |c, v| c.enroll.users = v.strings()?
    ),
    key!(
        "enroll.groups",
        Kind::Strings,
        Some("[]"),
        "groups whose members may set up their own app without a factor",
        |c, v| c.enroll.groups = v.strings()?
    ),
    key!(
        "enroll.deadline",
        Kind::Date,
        None,
        "the last day enrollment at login is offered",
        |c, v| c.enroll.deadline = Some(v.date()?)
    ),
    // [oob]
    key!(
        "oob.command",
        Kind::Path,
        None,
        "the command that delivers one-time codes (SMS, e-mail); unset: off",
        |c, v| c.oob.command = Some(v.path()?)
    ),
    key!(
        "oob.run_as",
        Kind::Text { max_len: 64 },
        Some("\"nobody\""),
        "the account the delivery command runs as",
        |c, v| c.oob.run_as = v.text()?
    ),
    key!(
        "oob.allow_root",
        Kind::Bool,
        Some("false"),
        "lets run_as be root",
        |c, v| c.oob.allow_root = v.bool()?
    ),
    key!(
        "oob.timeout_seconds",
        int(1, 120),
        Some("10"),
        "how long the delivery command may run",
        |c, v| c.oob.timeout_seconds = v.int()?
    ),
    key!(
        "oob.lifetime_seconds",
        int(1, 3600),
        Some("300"),
        "how long a sent code stays valid",
        |c, v| c.oob.lifetime_seconds = v.int()?
    ),
    key!(
        "oob.digits",
        int(6, 10),
        Some("6"),
        "digits of a sent code",
        |c, v| c.oob.digits = v.int()?
    ),
    key!(
        "oob.max_sends",
        int(1, 100),
        Some("3"),
        "codes sent to one user at most per per_seconds",
        |c, v| c.oob.max_sends = v.int()?
    ),
    key!(
        "oob.per_seconds",
        int(1, 604_800),
        Some("3600"),
        "the period max_sends counts over",
        |c, v| c.oob.per_seconds = v.int()?
    ),
];

/// An issuer: no ':', which separates issuer and account in apps.
fn issuer(text: String) -> Result<String, String> {
    if text.contains(':') {
        return Err("must not contain ':' (it separates issuer and account in apps)".to_owned());
    }
    Ok(text)
}

/// The key named `name` (dotted).
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Whether `section` is a section of the table.
pub(crate) fn is_section(section: &str) -> bool {
    KEYS.iter().any(|k| k.section() == section)
}

/// Every default of the table as one TOML document of dotted keys.
pub(crate) fn defaults_text() -> String {
    KEYS.iter()
        .filter_map(|k| k.default.map(|d| format!("{} = {d}\n", k.name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::Path;

    #[test]
    fn names_are_unique_dotted_and_grouped_by_section() {
        let mut seen = HashSet::new();
        let mut sections: Vec<&str> = vec![];
        for k in KEYS {
            assert!(seen.insert(k.name), "{} twice", k.name);
            let (section, key) = k.name.split_once('.').unwrap();
            assert!(!key.contains('.') && !key.is_empty(), "{}", k.name);
            if sections.last() != Some(&section) {
                assert!(!sections.contains(&section), "{section} split up");
                sections.push(section);
            }
            assert!(!k.doc.is_empty(), "{} has no doc", k.name);
        }
    }

    #[test]
    fn the_ranges_fit_the_fields_they_fill() {
        // Both ends of every range, and every word of every choice, go through the
        // setter: a range wider than its field, or a word without a meaning,
        // fails here rather than in an admin's config.
        for k in KEYS {
            let mut cfg = Config::defaults(Path::new("/x"));
            match k.kind {
                Kind::Int { min, max } => {
                    (k.set)(&mut cfg, Value::Int(min)).unwrap();
                    (k.set)(&mut cfg, Value::Int(max)).unwrap();
                }
                Kind::Choice(words) => {
                    let mut results = vec![];
                    for w in words {
                        let mut c = cfg.clone();
                        (k.set)(&mut c, Value::Word(w)).unwrap();
                        results.push(format!("{c:?}"));
                    }
                    let distinct: HashSet<_> = results.iter().collect();
                    assert_eq!(
                        distinct.len(),
                        words.len(),
                        "{}: two words, one meaning",
                        k.name
                    );
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_value_of_another_kind_is_an_error_not_a_panic() {
        let mut cfg = Config::defaults(Path::new("/x"));
        for k in KEYS {
            let wrong = match k.kind {
                Kind::Bool => Value::Int(1),
                _ => Value::Bool(true),
            };
            let e = (k.set)(&mut cfg, wrong).unwrap_err();
            assert!(e.starts_with("internal error"), "{}: {e}", k.name);
        }
        let e = (find("lockout.max_failures").unwrap().set)(&mut cfg, Value::Int(-1)).unwrap_err();
        assert_eq!(e, "-1 is out of range");
    }
}
