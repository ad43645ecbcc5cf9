//! The `~/.google_authenticator` file written by Debian's `google-authenticator`.
//!
//! Invariant: the parser reports every option it saw, so that the importer can say
//! what was carried over and what was not; it never guesses a value it could not
//! read, and a parse error never quotes the file (it holds the secret).
//!
//! Format: line 1 is the base32 secret; option lines start with `" ` (`RATE_LIMIT n m
//! [times...]`, `WINDOW_SIZE n`, `DISALLOW_REUSE [steps...]`, `TOTP_AUTH`,
//! `HOTP_COUNTER n`, `STEP_SIZE n`); the remaining lines are 8-digit scratch codes.
//!
//! Counter-based files, as google-authenticator-libpam's sources have it
//! (src/google-authenticator.c, src/pam_google_authenticator.c, read at commit
//! 288db94): `google-authenticator --counter-based` writes `" HOTP_COUNTER 1` and
//! shows the code of counter value 1 as the first one. At login the PAM module
//! reads the value n (strtol; a value below 1 means the file is not counter-based
//! and the time-based check runs instead), accepts 6-digit codes of values n to
//! n + WINDOW_SIZE - 1 (WINDOW_SIZE defaults to 3) and on a match at value m
//! writes m + 1. So HOTP_COUNTER is the next expected value, the same meaning as
//! our token's counter, and it is carried over unchanged. (On a wrong code the
//! module also adds 1 unless `no_increment_hotp` is set; pam_mfa never moves the
//! counter on a failure, and counts the failure for the lockout instead.)

use std::fmt;

use zeroize::Zeroizing;

use crate::config::Config;
use crate::random::{Random, RandomError};
use crate::recovery;
use crate::store::{HotpToken, RecoveryCodes, RuleError, TotpEnrollment};
use crate::totp::{Algorithm, Params, Secret, SecretError};

/// How the codes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `" TOTP_AUTH`, with the step size in seconds (`" STEP_SIZE`, default 30).
    Totp { step: u32 },
    /// `" HOTP_COUNTER n` with n at least 1: counter-based, n is the next
    /// expected counter value.
    Hotp { counter: u64 },
}

/// What the file says.
#[derive(Debug)]
pub struct GaFile {
    pub secret: Secret,
    pub mode: Mode,
    /// `" WINDOW_SIZE n`: how many codes are accepted around the current one.
    pub window_size: Option<u32>,
    /// `" DISALLOW_REUSE`: the steps already used, if reuse is disallowed.
    pub disallow_reuse: Option<Vec<u64>>,
    /// `" RATE_LIMIT n m`: n logins per m seconds.
    pub rate_limit: Option<(u32, u32)>,
    /// 8-digit one-time scratch codes.
    pub scratch_codes: Vec<Zeroizing<String>>,
    /// Option lines this parser does not know (name only).
    pub unknown_options: Vec<String>,
}

/// Why a file could not be read as a google-authenticator file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaError {
    /// The file is empty.
    Empty,
    /// The first line is not a usable secret.
    Secret(SecretError),
    /// An option line has a value that is not a number.
    Option { line: usize, name: String },
    /// Both TOTP_AUTH and HOTP_COUNTER (neither means TOTP, as in the PAM module).
    Mode,
    /// A line that is neither an option nor an 8-digit scratch code.
    Line(usize),
}

impl fmt::Display for GaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the file is empty"),
            Self::Secret(e) => write!(f, "line 1: {e}"),
            Self::Option { line, name } => {
                write!(f, "line {line}: option {name} has an invalid value")
            }
            Self::Mode => f.write_str("the file sets both TOTP_AUTH and HOTP_COUNTER"),
            Self::Line(n) => write!(f, "line {n}: neither an option nor an 8-digit scratch code"),
        }
    }
}

impl std::error::Error for GaError {}

fn numbers<T: std::str::FromStr>(
    words: &[&str],
    line: usize,
    name: &str,
) -> Result<Vec<T>, GaError> {
    words
        .iter()
        .map(|w| {
            w.parse().map_err(|_| GaError::Option {
                line,
                name: name.to_owned(),
            })
        })
        .collect()
}

/// The option lines of a file (`" NAME args`), as read so far.
struct Options {
    totp: bool,
    hotp: Option<u64>,
    step: u32,
    window_size: Option<u32>,
    disallow_reuse: Option<Vec<u64>>,
    rate_limit: Option<(u32, u32)>,
    unknown: Vec<String>,
}

impl Options {
    /// Takes the option `name` with its `args`, from line `n`.
    fn read(&mut self, n: usize, name: &str, args: &[&str]) -> Result<(), GaError> {
        let bad = || GaError::Option {
            line: n,
            name: name.to_owned(),
        };
        match name {
            "TOTP_AUTH" => self.totp = true,
            "HOTP_COUNTER" => {
                let v: Vec<u64> = numbers(args, n, name)?;
                // Below 1 (or no value) the PAM module checks time-based codes.
                self.hotp = v.first().copied().filter(|&c| c >= 1);
                if self.hotp.is_some_and(|c| c > crate::hotp::MAX_COUNTER) {
                    return Err(bad());
                }
            }
            "STEP_SIZE" => {
                let v: Vec<u32> = numbers(args, n, name)?;
                self.step = v
                    .first()
                    .copied()
                    .filter(|s| (1..=60).contains(s))
                    .ok_or_else(bad)?;
            }
            "WINDOW_SIZE" => {
                let v: Vec<u32> = numbers(args, n, name)?;
                self.window_size = Some(v.first().copied().ok_or_else(bad)?);
            }
            "DISALLOW_REUSE" => self.disallow_reuse = Some(numbers(args, n, name)?),
            "RATE_LIMIT" => {
                let v: Vec<u32> = numbers(args, n, name)?;
                match (v.first(), v.get(1)) {
                    (Some(&count), Some(&secs)) => self.rate_limit = Some((count, secs)),
                    _ => return Err(bad()),
                }
            }
            other => self.unknown.push(other.to_owned()),
        }
        Ok(())
    }
}

/// Parses the text of a google-authenticator file.
pub fn parse(text: &str) -> Result<GaFile, GaError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, first) = lines.next().ok_or(GaError::Empty)?;
    let secret = Secret::from_base32(first.trim()).map_err(GaError::Secret)?;
    let mut options = Options {
        totp: false,
        hotp: None,
        step: 30,
        window_size: None,
        disallow_reuse: None,
        rate_limit: None,
        unknown: Vec::new(),
    };
    let mut scratch_codes = Vec::new();
    for (n, line) in lines {
        if let Some(option) = line.strip_prefix("\" ") {
            let words: Vec<&str> = option.split_whitespace().collect();
            if let Some((&name, args)) = words.split_first() {
                options.read(n, name, args)?;
            }
        } else if line.trim().is_empty() {
            continue;
        } else if line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) {
            scratch_codes.push(Zeroizing::new(line.to_owned()));
        } else {
            return Err(GaError::Line(n));
        }
    }
    let mode = match (options.totp, options.hotp) {
        (true, Some(_)) => return Err(GaError::Mode),
        (_, Some(counter)) => Mode::Hotp { counter },
        // google-authenticator treats a file without HOTP_COUNTER as time-based.
        (_, None) => Mode::Totp { step: options.step },
    };
    Ok(GaFile {
        secret,
        mode,
        window_size: options.window_size,
        disallow_reuse: options.disallow_reuse,
        rate_limit: options.rate_limit,
        scratch_codes,
        unknown_options: options.unknown,
    })
}

/// What an import could not carry over, or did differently; shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `WINDOW_SIZE n` differs from the configured window (`totp.window`).
    Window { theirs: u32, ours: u8 },
    /// Counter-based: `WINDOW_SIZE n` (default 3: the next code and 2 more)
    /// differs from the configured look-ahead (`hotp.look_ahead`).
    LookAhead { theirs: u32, ours: u32 },
    /// Counter-based: the file became an HOTP token by this name, at this counter.
    Hotp { name: &'static str, counter: u64 },
    /// Counter-based, imported again over the token with the same key (added by
    /// the importer, which sees the store): that token's higher counter is kept.
    HotpCounterKept { counter: u64 },
    /// `RATE_LIMIT n m` is replaced by the lockout of the config.
    RateLimit {
        count: u32,
        seconds: u32,
        max_failures: u32,
        lockout_seconds: u64,
    },
    /// The file allowed reusing a code; pam_mfa never does.
    ReuseWasAllowed,
    /// Scratch codes became recovery codes.
    Scratch(usize),
    /// An option this importer does not know.
    Unknown(String),
}

/// Why a file cannot become an enrollment.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// No random bytes for the recovery-code salt.
    Random(RandomError),
    /// The enrollment breaks a rule of the record (parameters the parser let
    /// through that a record does not hold).
    Record(RuleError),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random(e) => e.fmt(f),
            Self::Record(e) => e.fmt(f),
        }
    }
}

/// The name of the HOTP token a counter-based file becomes.
pub const HOTP_NAME: &str = "google-authenticator";

impl std::error::Error for ImportError {}

/// The enrollment a parsed file becomes, with notes on what changed: an
/// authenticator app (time-based file) or an HOTP token (counter-based file).
pub struct Imported {
    pub totp: Option<TotpEnrollment>,
    pub hotp: Option<HotpToken>,
    /// The scratch codes as recovery codes, if the file had any.
    pub recovery: Option<RecoveryCodes>,
    pub notes: Vec<Note>,
}

/// Converts `file` under `cfg` at unix time `now`.
pub fn convert(
    file: GaFile,
    cfg: &Config,
    now: u64,
    rng: &mut dyn Random,
) -> Result<Imported, ImportError> {
    let mut notes = differences(&file, cfg);
    let recovery = if file.scratch_codes.is_empty() {
        None
    } else {
        let (hashed, _) =
            recovery::hash_imported(file.scratch_codes.iter().map(|c| c.as_str()), rng)
                .map_err(ImportError::Random)?;
        notes.push(Note::Scratch(hashed.len()));
        Some(RecoveryCodes {
            hashed,
            created: now,
        })
    };
    // google-authenticator only ever computes SHA1, 6-digit codes.
    let (totp, hotp) = match file.mode {
        Mode::Totp { step } => (
            Some(
                TotpEnrollment::new(
                    // The importer may name it otherwise (`--name`).
                    crate::totp::DEFAULT_NAME,
                    file.secret,
                    Params {
                        algorithm: Algorithm::Sha1,
                        digits: 6,
                        period: step,
                    },
                    now,
                )
                .map_err(ImportError::Record)?
                // Steps it saw used stay used.
                .with_last_step(
                    file.disallow_reuse
                        .and_then(|steps| steps.into_iter().max()),
                ),
            ),
            None,
        ),
        Mode::Hotp { counter } => (
            None,
            Some(
                HotpToken::new(HOTP_NAME, file.secret, 6, counter, now)
                    .map_err(ImportError::Record)?,
            ),
        ),
    };
    Ok(Imported {
        totp,
        hotp,
        recovery,
        notes,
    })
}

/// What `file` says that pam_mfa under `cfg` does otherwise (its window, rate
/// limit, reuse, options it does not know), and what a counter-based file becomes.
fn differences(file: &GaFile, cfg: &Config) -> Vec<Note> {
    let mut notes = Vec::new();
    match file.mode {
        Mode::Totp { .. } => {
            // WINDOW_SIZE counts every accepted code: 3 is the current one and one
            // each side.
            let ours = cfg.totp.window;
            if let Some(w) = file.window_size.filter(|&w| w != 2 * u32::from(ours) + 1) {
                notes.push(Note::Window { theirs: w, ours });
            }
        }
        Mode::Hotp { counter } => {
            notes.push(Note::Hotp {
                name: HOTP_NAME,
                counter,
            });
            // WINDOW_SIZE counts the next code too: the look-ahead is one less.
            let theirs = file.window_size.unwrap_or(3);
            let ours = cfg.hotp.look_ahead;
            if theirs.saturating_sub(1) != ours {
                notes.push(Note::LookAhead { theirs, ours });
            }
        }
    }
    if let Some((count, seconds)) = file.rate_limit {
        notes.push(Note::RateLimit {
            count,
            seconds,
            max_failures: cfg.lockout.max_failures,
            lockout_seconds: cfg.lockout.seconds,
        });
    }
    // Counter-based codes are never reused there either.
    if file.disallow_reuse.is_none() && matches!(file.mode, Mode::Totp { .. }) {
        notes.push(Note::ReuseWasAllowed);
    }
    notes.extend(file.unknown_options.iter().cloned().map(Note::Unknown));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_file_as_the_tool_writes_it() {
        let f = parse("22HHLQQVBLPN3URBB73BLS6PPQ\n\" RATE_LIMIT 3 30 1700000000\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE 56666666 56666667\n\" TOTP_AUTH\n12477811\n65450886\n").unwrap();
        assert_eq!(
            f.secret,
            Secret::from_base32("22HHLQQVBLPN3URBB73BLS6PPQ").unwrap()
        );
        assert_eq!(f.mode, Mode::Totp { step: 30 });
        assert_eq!(f.window_size, Some(3));
        assert_eq!(f.disallow_reuse, Some(vec![56_666_666, 56_666_667]));
        assert_eq!(f.rate_limit, Some((3, 30)));
        let codes: Vec<&str> = f.scratch_codes.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, ["12477811", "65450886"]);
        assert!(f.unknown_options.is_empty());
    }

    #[test]
    fn step_size_hotp_and_unknown_options() {
        let f = parse("I6F5SOWY6DBONGPIVIQEZ6LFIY\n\" WINDOW_SIZE 17\n\" STEP_SIZE 60\n\" TOTP_AUTH\n\" FUTURE_THING 1\n").unwrap();
        assert_eq!(f.mode, Mode::Totp { step: 60 });
        assert_eq!(f.disallow_reuse, None);
        assert_eq!(f.unknown_options, ["FUTURE_THING"]);
        let h =
            parse("VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" WINDOW_SIZE 1\n\" HOTP_COUNTER 7\n24260424\n")
                .unwrap();
        assert_eq!(h.mode, Mode::Hotp { counter: 7 });
    }

    fn cfg() -> Config {
        Config::defaults(std::path::Path::new("/etc/pam_mfa/config.toml"))
    }

    #[test]
    fn conversion_keeps_what_it_can_and_says_what_it_cannot() {
        let f = parse("22HHLQQVBLPN3URBB73BLS6PPQ\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666 56666667\n\" TOTP_AUTH\n12477811\n65450886\n").unwrap();
        let i = convert(f, &cfg(), 1_700_000_000, &mut crate::random::OsRandom).unwrap();
        let totp = i.totp.unwrap();
        assert_eq!(totp.params(), Params::DEFAULT);
        assert_eq!(totp.name(), "default");
        assert_eq!(totp.last_step(), Some(56_666_667));
        assert!(i.hotp.is_none());
        assert_eq!(i.recovery.as_ref().unwrap().hashed.len(), 2);
        assert_eq!(
            i.notes,
            [
                Note::Window {
                    theirs: 17,
                    ours: 1
                },
                Note::RateLimit {
                    count: 3,
                    seconds: 30,
                    max_failures: 5,
                    lockout_seconds: 300
                },
                Note::Scratch(2),
            ]
        );
        let same_window =
            parse("22HHLQQVBLPN3URBB73BLS6PPQ\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n").unwrap();
        let i = convert(same_window, &cfg(), 0, &mut crate::random::OsRandom).unwrap();
        assert_eq!(i.notes, [Note::ReuseWasAllowed]);
        assert!(i.recovery.is_none());
    }

    #[test]
    fn a_counter_based_file_becomes_a_token_at_its_counter() {
        let f = parse("VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" HOTP_COUNTER 5\n24260424\n")
            .unwrap();
        let i = convert(f, &cfg(), 1_700_000_000, &mut crate::random::OsRandom).unwrap();
        assert!(i.totp.is_none());
        let token = i.hotp.unwrap();
        assert_eq!(token.name(), "google-authenticator");
        assert_eq!(
            token.secret(),
            &Secret::from_base32("VHGX3DKGAQNUSUJ6OL5MJQFC7I").unwrap()
        );
        assert_eq!(
            (token.digits(), token.counter(), token.created()),
            (6, 5, 1_700_000_000)
        );
        assert_eq!(i.recovery.unwrap().hashed.len(), 1);
        assert_eq!(
            i.notes,
            [
                Note::Hotp {
                    name: "google-authenticator",
                    counter: 5
                },
                Note::LookAhead {
                    theirs: 3,
                    ours: 10
                },
                Note::RateLimit {
                    count: 3,
                    seconds: 30,
                    max_failures: 5,
                    lockout_seconds: 300
                },
                Note::Scratch(1),
            ],
            "no note on reuse: counter-based codes never were reusable"
        );
        // Without WINDOW_SIZE the module's default of 3 applies.
        let mut c = cfg();
        c.hotp.look_ahead = 2;
        let f = parse("VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" HOTP_COUNTER 1\n").unwrap();
        let i = convert(f, &c, 0, &mut crate::random::OsRandom).unwrap();
        assert_eq!(
            i.notes,
            [Note::Hotp {
                name: "google-authenticator",
                counter: 1
            }]
        );
    }

    #[test]
    fn a_counter_below_one_is_time_based_as_in_the_pam_module() {
        for text in [
            "VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" HOTP_COUNTER 0\n",
            "VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" HOTP_COUNTER\n",
            "VHGX3DKGAQNUSUJ6OL5MJQFC7I\n\" HOTP_COUNTER 0\n\" TOTP_AUTH\n",
        ] {
            assert_eq!(
                parse(text).unwrap().mode,
                Mode::Totp { step: 30 },
                "{text:?}"
            );
        }
    }

    #[test]
    fn broken_files_are_refused_without_quoting_them() {
        let cases = [
            ("", GaError::Empty),
            ("not base32!\n", GaError::Secret(SecretError::Base32)),
            (
                "JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE x\n",
                GaError::Option {
                    line: 2,
                    name: "WINDOW_SIZE".into(),
                },
            ),
            (
                "JBSWY3DPEHPK3PXP\n\" STEP_SIZE 0\n",
                GaError::Option {
                    line: 2,
                    name: "STEP_SIZE".into(),
                },
            ),
            (
                "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3\n",
                GaError::Option {
                    line: 2,
                    name: "RATE_LIMIT".into(),
                },
            ),
            (
                "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n",
                GaError::Mode,
            ),
            (
                "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER -1\n",
                GaError::Option {
                    line: 2,
                    name: "HOTP_COUNTER".into(),
                },
            ),
            (
                "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 9223372036854775808\n",
                GaError::Option {
                    line: 2,
                    name: "HOTP_COUNTER".into(),
                },
            ),
            ("JBSWY3DPEHPK3PXP\n1234567\n", GaError::Line(2)),
            ("JBSWY3DPEHPK3PXP\nsecret stuff\n", GaError::Line(2)),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e, want, "{text:?}");
            assert!(!e.to_string().contains("JBSWY3DP") && !e.to_string().contains("secret stuff"));
        }
    }
}
