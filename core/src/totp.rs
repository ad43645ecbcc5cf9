//! TOTP (RFC 6238): parameters, secrets and the check of one typed code.
//!
//! Invariant: a code is accepted only for a time step inside the window around `now`
//! and strictly after the last accepted step, so no code is ever accepted twice. All
//! steps of the window are computed and compared in constant time, whichever matches;
//! nothing scans beyond the configured window.

use std::fmt;

use subtle::ConstantTimeEq;
use totp_rs::Builder;
use zeroize::Zeroizing;

/// The HMAC behind the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Every algorithm, in the order of [`Algorithm::NAMES`].
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];
    /// The names used in config files, records and otpauth URIs.
    pub const NAMES: [&'static str; 3] = ["SHA1", "SHA256", "SHA512"];

    /// The name used in config files, records and otpauth URIs.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Parses a name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    fn lib(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one enrollment computes its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    /// 6 to 8.
    pub digits: u8,
    /// Seconds per step, at least 1.
    pub period: u32,
}

impl Params {
    /// What every authenticator app supports.
    pub const DEFAULT: Params = Params {
        algorithm: Algorithm::Sha1,
        digits: 6,
        period: 30,
    };

    /// Checks the ranges a record or command line may carry.
    pub fn validate(self) -> Result<Params, SecretError> {
        if !(6..=8).contains(&self.digits) {
            return Err(SecretError::Digits(self.digits));
        }
        if !(1..=3600).contains(&self.period) {
            return Err(SecretError::Period(self.period));
        }
        Ok(self)
    }

    /// The time step that `unix_time` falls in.
    pub fn step_at(self, unix_time: u64) -> u64 {
        unix_time / u64::from(self.period.max(1))
    }
}

/// The name of the entry a user has when nobody named it: the app of a record
/// written before several apps existed, or enrolled without `--name`.
pub const DEFAULT_NAME: &str = "default";
/// The most authenticator apps one user may have: each is checked at every login.
pub const MAX_APPS: usize = 8;
/// The longest name of an app entry.
pub const MAX_NAME_LEN: usize = 32;

/// Why a name cannot name an app entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// No characters.
    Empty,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    TooLong(usize),
    /// A character other than ASCII letters, digits, `-`, `_` and `.`, or a name
    /// that does not start with a letter or digit.
    Character,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the name is empty"),
            Self::TooLong(n) => write!(
                f,
                "the name is {n} characters long; at most {MAX_NAME_LEN} are accepted"
            ),
            Self::Character => f.write_str(
                "a name starts with a letter or digit and holds only letters, digits, '-', '_' and '.'",
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks the name of an app entry (`work-phone`): 1 to [`MAX_NAME_LEN`] ASCII
/// letters, digits, `-`, `_` and `.`, starting with a letter or digit, so that it
/// is one word on a command line and in a log line.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let first = name.bytes().next().ok_or(NameError::Empty)?;
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.len()));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !first.is_ascii_alphanumeric() || !name.bytes().all(allowed) {
        return Err(NameError::Character);
    }
    Ok(())
}

/// Shortest secret accepted: 80 bits, what google-authenticator writes.
pub const MIN_SECRET_BYTES: usize = 10;
/// Longest secret accepted.
pub const MAX_SECRET_BYTES: usize = 128;
/// Length of the secrets we generate: 160 bits, as RFC 4226 recommends.
pub const GENERATED_SECRET_BYTES: usize = 20;

/// A TOTP key. Wiped from memory on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// Why a secret or parameter set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// Not base32 (RFC 4648 alphabet, padding optional).
    Base32,
    /// Too short or too long, in bytes.
    Length(usize),
    /// Digits outside 6..=8.
    Digits(u8),
    /// Period outside 1..=3600 seconds.
    Period(u32),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base32 => write!(
                f,
                "the secret is not valid base32 (letters A-Z and digits 2-7)"
            ),
            Self::Length(n) => write!(
                f,
                "the secret is {} bits long; {} to {} bits are accepted",
                n * 8,
                MIN_SECRET_BYTES * 8,
                MAX_SECRET_BYTES * 8
            ),
            Self::Digits(d) => write!(f, "{d} digits: TOTP codes have 6 to 8 digits"),
            Self::Period(p) => write!(f, "a period of {p} s: 1 to 3600 seconds are accepted"),
        }
    }
}

impl std::error::Error for SecretError {}

impl Secret {
    /// Wraps raw key bytes, checking their length.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Secret, SecretError> {
        let bytes = Zeroizing::new(bytes);
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// A fresh key of [`GENERATED_SECRET_BYTES`] from `rng`.
    pub fn generate(
        rng: &mut dyn crate::random::Random,
    ) -> Result<Secret, crate::random::RandomError> {
        let mut bytes = Zeroizing::new(vec![0u8; GENERATED_SECRET_BYTES]);
        rng.fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Parses base32 as apps and `google-authenticator` show it: case-insensitive,
    /// spaces and `-` between groups allowed, `=` padding optional.
    pub fn from_base32(text: &str) -> Result<Secret, SecretError> {
        let clean: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !matches!(c, ' ' | '-' | '='))
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if clean.is_empty()
            || !clean
                .bytes()
                .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'))
        {
            return Err(SecretError::Base32);
        }
        // Groups of 8 characters carry 5 bytes; 1, 3 and 6 leftover characters
        // cannot end a valid encoding.
        if matches!(clean.len() % 8, 1 | 3 | 6) {
            return Err(SecretError::Base32);
        }
        let bytes =
            totp_rs::Secret::try_from_base32(clean.as_str()).map_err(|_| SecretError::Base32)?;
        Secret::from_bytes(bytes.as_ref().to_vec())
    }

    /// Base32 without padding, as otpauth URIs and records carry it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        let s = totp_rs::Secret::from(self.0.as_slice()).to_base32();
        Zeroizing::new(s.trim_end_matches('=').to_owned())
    }

    /// Base32 in groups of four (`ABCD EFGH ...`), for typing by hand.
    pub fn to_base32_grouped(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for (i, c) in self.to_base32().chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// The raw key.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// What one typed code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Valid for this step, which is newer than anything accepted before.
    Accepted { step: u64 },
    /// Valid, but only for a step at or before the last accepted one.
    Replayed,
    /// Not a valid code in the window.
    Wrong,
}

/// The code for `step`, as an app would show it.
pub fn code_at(secret: &Secret, params: Params, step: u64) -> Zeroizing<String> {
    let totp = builder(secret, params);
    Zeroizing::new(
        totp.generate(step.saturating_mul(u64::from(params.period)))
            .to_string(),
    )
}

fn builder(secret: &Secret, params: Params) -> totp_rs::Totp {
    Builder::new()
        .with_algorithm(params.algorithm.lib())
        .with_digits(params.digits.clamp(6, 8))
        .with_step_duration(u64::from(params.period.max(1)))
        .with_skew(0)
        .with_secret(secret.expose())
        .build_noncompliant()
}

/// Checks `code` at `now` with `window` steps of tolerance on each side.
///
/// `last_step` is the newest step accepted before; codes for it or any earlier step are
/// [`Check::Replayed`]. The caller must hold the user's lock from this check until the
/// returned step is stored.
pub fn check(
    secret: &Secret,
    params: Params,
    code: &str,
    now: u64,
    window: u8,
    last_step: Option<u64>,
) -> Check {
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Check::Wrong;
    }
    let totp = builder(secret, params);
    let current = params.step_at(now);
    let first = current.saturating_sub(u64::from(window));
    let last = current.saturating_add(u64::from(window));
    let mut newest_fresh: Option<u64> = None;
    let mut stale = false;
    for step in first..=last {
        let time = step.saturating_mul(u64::from(params.period));
        let expected = Zeroizing::new(totp.generate(time).to_string());
        let matches: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if matches {
            if last_step.is_some_and(|l| step <= l) {
                stale = true;
            } else {
                newest_fresh = Some(step);
            }
        }
    }
    match (newest_fresh, stale) {
        (Some(step), _) => Check::Accepted { step },
        (None, true) => Check::Replayed,
        (None, false) => Check::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the seeds are the ASCII strings below, 8 digits, 30 s.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn params(algorithm: Algorithm) -> Params {
        Params {
            algorithm,
            digits: 8,
            period: 30,
        }
    }

    #[test]
    fn rfc6238_vectors() {
        let vectors: &[(u64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for &(time, sha1, sha256, sha512) in vectors {
            for (seed, alg, want) in [
                (SEED_SHA1, Algorithm::Sha1, sha1),
                (SEED_SHA256, Algorithm::Sha256, sha256),
                (SEED_SHA512, Algorithm::Sha512, sha512),
            ] {
                let secret = Secret::from_bytes(seed.to_vec()).unwrap();
                let p = params(alg);
                assert_eq!(
                    code_at(&secret, p, p.step_at(time)).as_str(),
                    want,
                    "{alg} at {time}"
                );
                assert_eq!(
                    check(&secret, p, want, time, 0, None),
                    Check::Accepted {
                        step: p.step_at(time)
                    },
                    "{alg} at {time}"
                );
            }
        }
    }

    fn sha1_6() -> (Secret, Params) {
        (
            Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap(),
            Params::DEFAULT,
        )
    }

    #[test]
    fn the_window_reaches_exactly_the_configured_steps() {
        let (s, p) = sha1_6();
        let now = 1_700_000_015; // step 56_666_667
        let cur = p.step_at(now);
        for (offset, window, accepted) in [
            (-2i64, 1u8, false),
            (-1, 1, true),
            (0, 1, true),
            (1, 1, true),
            (2, 1, false),
            (-1, 0, false),
            (0, 0, true),
            (3, 3, true),
            (4, 3, false),
        ] {
            let step = cur.checked_add_signed(offset).unwrap();
            let code = code_at(&s, p, step);
            let got = check(&s, p, &code, now, window, None);
            let want = if accepted {
                Check::Accepted { step }
            } else {
                Check::Wrong
            };
            assert_eq!(got, want, "offset {offset} window {window}");
        }
    }

    #[test]
    fn a_code_at_or_before_the_last_step_is_a_replay() {
        let (s, p) = sha1_6();
        let now = 1_700_000_015;
        let cur = p.step_at(now);
        let code = code_at(&s, p, cur);
        assert_eq!(
            check(&s, p, &code, now, 1, Some(cur - 1)),
            Check::Accepted { step: cur }
        );
        assert_eq!(check(&s, p, &code, now, 1, Some(cur)), Check::Replayed);
        assert_eq!(check(&s, p, &code, now, 1, Some(cur + 1)), Check::Replayed);
        // An older code in the window is refused once a newer one was used.
        let prev = code_at(&s, p, cur - 1);
        assert_eq!(check(&s, p, &prev, now, 1, Some(cur)), Check::Replayed);
        // The next step's code is still fine.
        let next = code_at(&s, p, cur + 1);
        assert_eq!(
            check(&s, p, &next, now, 1, Some(cur)),
            Check::Accepted { step: cur + 1 }
        );
    }

    #[test]
    fn malformed_codes_are_wrong_not_errors() {
        let (s, p) = sha1_6();
        let now = 1_700_000_015;
        let good = code_at(&s, p, p.step_at(now));
        for bad in [
            String::new(),
            format!(" {}", &good[1..]),
            format!("{} ", &good[..5]),
            format!("{}0", good.as_str()),
            good[..5].to_owned(),
            "+12345".to_owned(),
            "12345\0".to_owned(),
            "１２３４５６".to_owned(),
            "x".repeat(1 << 20),
        ] {
            assert_eq!(check(&s, p, &bad, now, 1, None), Check::Wrong, "{bad:.20?}");
        }
    }

    #[test]
    fn secrets_parse_like_apps_show_them() {
        let want = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        for text in [
            "jbsw y3dp ehpk 3pxp",
            "JBSW-Y3DP-EHPK-3PXP",
            "JBSWY3DPEHPK3PXP====",
        ] {
            assert_eq!(Secret::from_base32(text).unwrap(), want, "{text}");
        }
        assert_eq!(want.to_base32().as_str(), "JBSWY3DPEHPK3PXP");
        assert_eq!(
            Secret::from_base32("JBSWY3DPEHPK3PX1"),
            Err(SecretError::Base32)
        );
        assert_eq!(Secret::from_base32(""), Err(SecretError::Base32));
        assert_eq!(Secret::from_base32("JBSWY3DP"), Err(SecretError::Length(5)));
        assert_eq!(Secret::from_base32("JBSWY3DPE"), Err(SecretError::Base32));
        assert_eq!(format!("{want:?}"), "Secret([redacted])");
    }

    #[test]
    fn app_names_are_one_plain_word() {
        for good in [
            "default",
            "work-phone",
            "Pixel_7",
            "a",
            "phone.2",
            &"x".repeat(32),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"x".repeat(33)), Err(NameError::TooLong(33)));
        for bad in [
            "work phone",
            "-rf",
            ".hidden",
            "a\nb",
            "caf\u{e9}",
            "x\"y",
            "a/b",
            "a=b",
        ] {
            assert_eq!(check_name(bad), Err(NameError::Character), "{bad:?}");
        }
    }

    #[test]
    fn params_are_range_checked() {
        let p = Params::DEFAULT;
        assert!(p.validate().is_ok());
        assert_eq!(
            Params { digits: 5, ..p }.validate(),
            Err(SecretError::Digits(5))
        );
        assert_eq!(
            Params { digits: 9, ..p }.validate(),
            Err(SecretError::Digits(9))
        );
        assert_eq!(
            Params { period: 0, ..p }.validate(),
            Err(SecretError::Period(0))
        );
        assert_eq!(Algorithm::from_name("sha256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_name("md5"), None);
    }
}
