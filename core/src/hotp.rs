//! HOTP (RFC 4226): counter-based codes of hardware tokens (OATH-HOTP tokens,
//! YubiKey OATH slots) and of google-authenticator's counter-based mode.
//!
//! Invariant: a code is accepted only for a counter value at or after the token's
//! next expected value and at most `look_ahead` past it, and the caller stores the
//! value after the match as the new next value, so the counter only moves forward
//! and no code is accepted twice. Every value of the window is computed and
//! compared in constant time, whichever matches; nothing scans beyond the window
//! (or, for a resynchronisation, beyond [`RESYNC_WINDOW`]). The key is the
//! zeroized, redacted [`Secret`] of [`crate::totp`].

use std::fmt;

use ring::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use crate::totp::Secret;
use crate::totp::SecretError;

/// The code lengths tokens use: 6 (the default of every token) or 8.
pub const DIGITS: [u8; 2] = [6, 8];
/// Shortest key `mfa-token enroll hotp` accepts: 128 bits, RFC 4226's requirement
/// R6 (160 recommended). Imported google-authenticator files keep what the tool
/// wrote (a record holds keys of [`crate::totp::MIN_SECRET_BYTES`] and more).
pub const MIN_ENROLL_SECRET_BYTES: usize = 16;
/// How far past the counter `mfa-token resync` looks for two consecutive codes.
pub const RESYNC_WINDOW: u64 = 1000;
/// Most tokens one user may have.
pub const MAX_TOKENS: usize = 16;
/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The largest counter value a record holds (TOML integers are signed 64-bit).
/// The code of this value is never accepted: no next value could be stored.
pub const MAX_COUNTER: u64 = i64::MAX as u64;

/// The name a token gets when none is given.
pub const DEFAULT_NAME: &str = "hotp";

/// Whether `digits` is a code length HOTP tokens use.
pub fn valid_digits(digits: u8) -> bool {
    DIGITS.contains(&digits)
}

/// Why a token's name is refused: `None` if it is fine. Names are shown in lists
/// and logs, so they are short, printable and without surrounding blanks.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("longer than 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.trim() != name {
        Some("starts or ends with a blank")
    } else {
        None
    }
}

/// How the key is written in the seed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 4648 base32 (ykman, otpauth URIs, google-authenticator).
    Base32,
    /// Hexadecimal (oathtool, most token vendors' seed files).
    Hex,
}

/// Why a key given for a new token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not base32, or too long (see [`SecretError`]).
    Secret(SecretError),
    /// Not hexadecimal digits in pairs.
    Hex,
    /// Shorter than [`MIN_ENROLL_SECRET_BYTES`], in bytes.
    Short(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Secret(e) => e.fmt(f),
            KeyError::Hex => f.write_str(
                "the secret is not valid hexadecimal (digits 0-9 and a-f, two per byte)",
            ),
            KeyError::Short(n) => write!(
                f,
                "the secret is {} bits long; RFC 4226 requires at least {} bits for HOTP",
                n * 8,
                MIN_ENROLL_SECRET_BYTES * 8
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// Parses the key of a new token: base32 as [`Secret::from_base32`] reads it, or
/// hex (case-insensitive, blanks and `:` between groups allowed); at least
/// [`MIN_ENROLL_SECRET_BYTES`] long.
pub fn parse_key(text: &str, encoding: Encoding) -> Result<Secret, KeyError> {
    let secret = match encoding {
        Encoding::Base32 => Secret::from_base32(text).map_err(KeyError::Secret)?,
        Encoding::Hex => {
            let clean: Zeroizing<String> = Zeroizing::new(
                text.chars()
                    .filter(|c| !matches!(c, ' ' | '\t' | ':' | '-'))
                    .collect(),
            );
            let bytes = hex::decode(clean.as_str()).map_err(|_| KeyError::Hex)?;
            if bytes.is_empty() {
                return Err(KeyError::Hex);
            }
            Secret::from_bytes(bytes).map_err(|e| match e {
                SecretError::Length(n) if n < MIN_ENROLL_SECRET_BYTES => KeyError::Short(n),
                other => KeyError::Secret(other),
            })?
        }
    };
    let n = secret.expose().len();
    if n < MIN_ENROLL_SECRET_BYTES {
        return Err(KeyError::Short(n));
    }
    Ok(secret)
}

/// The code for `counter` (RFC 4226 section 5.3: HMAC-SHA1 of the counter as 8
/// big-endian bytes, dynamic truncation, the low `digits` decimal digits).
pub fn code_at(secret: &Secret, digits: u8, counter: u64) -> Zeroizing<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.expose());
    code_with(&key, digits, counter)
}

fn code_with(key: &hmac::Key, digits: u8, counter: u64) -> Zeroizing<String> {
    let tag = hmac::sign(key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // SHA-1 tags are 20 bytes: the offset (low nibble of the last byte) plus 4
    // stays inside.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let digits = digits.clamp(6, 9);
    let modulus = 10u32.pow(u32::from(digits));
    Zeroizing::new(format!(
        "{:0width$}",
        binary % modulus,
        width = usize::from(digits)
    ))
}

/// What one typed code turned out to be for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The code of this counter value, at or after the next expected one and
    /// within the look-ahead: store `counter + 1` as the next value.
    Accepted { counter: u64 },
    /// The code of one of the `look_ahead` values before the next expected one:
    /// used already (or skipped over), never accepted again.
    Used,
    /// Not a code of this token near its counter.
    Wrong,
}

/// Checks `code` against the token whose next expected counter value is `next`:
/// values `next..=next + look_ahead` are accepted (the earliest match wins), the
/// `look_ahead` values before `next` are reported as [`Check::Used`]. The caller
/// must hold the user's lock from this check until `counter + 1` is stored.
pub fn check(secret: &Secret, digits: u8, code: &str, next: u64, look_ahead: u32) -> Check {
    if !valid_digits(digits)
        || code.len() != usize::from(digits)
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Check::Wrong;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.expose());
    let ahead = u64::from(look_ahead);
    // The last value has no successor to store: never accepted.
    let last = next.saturating_add(ahead).min(MAX_COUNTER - 1);
    let mut accepted: Option<u64> = None;
    let mut used = false;
    for counter in next.saturating_sub(ahead)..=last {
        let expected = code_with(&key, digits, counter);
        let matches: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if matches {
            if counter < next {
                used = true;
            } else if accepted.is_none() {
                accepted = Some(counter);
            }
        }
    }
    match (accepted, used) {
        (Some(counter), _) => Check::Accepted { counter },
        (None, true) => Check::Used,
        (None, false) => Check::Wrong,
    }
}

/// What a resynchronisation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// `first` and `first + 1` give the two codes: store `first + 2` as the next value.
    Found { first: u64 },
    /// The two codes belong to values before the next expected one: used already.
    Behind,
    /// No two consecutive values in reach give these codes.
    NotFound,
}

/// Looks for two consecutive counter values, from `next` to `next + window`, whose
/// codes are `first` and `second` (typed one after the other on a token that has
/// drifted past the look-ahead); the `window` values before `next` are looked at
/// too, only to say that the codes were used. Every value in reach is computed
/// and compared in constant time.
pub fn resync(
    secret: &Secret,
    digits: u8,
    first: &str,
    second: &str,
    next: u64,
    window: u64,
) -> Resync {
    let well_formed =
        |c: &str| c.len() == usize::from(digits) && c.bytes().all(|b| b.is_ascii_digit());
    if !valid_digits(digits) || !well_formed(first) || !well_formed(second) {
        return Resync::NotFound;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.expose());
    // The second code's value needs a successor to store.
    let last = next.saturating_add(window).min(MAX_COUNTER - 2);
    let start = next.saturating_sub(window);
    let mut found: Option<u64> = None;
    let mut behind = false;
    let mut previous_matched = false;
    for counter in start..=last.saturating_add(1) {
        let expected = code_with(&key, digits, counter);
        let second_here: bool = expected.as_bytes().ct_eq(second.as_bytes()).into();
        if previous_matched && second_here {
            let at = counter - 1;
            if at < next {
                behind = true;
            } else if found.is_none() && at <= last {
                found = Some(at);
            }
        }
        previous_matched = expected.as_bytes().ct_eq(first.as_bytes()).into();
    }
    match (found, behind) {
        (Some(first), _) => Resync::Found { first },
        (None, true) => Resync::Behind,
        (None, false) => Resync::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 appendix D: the key is the ASCII string below, 6 digits.
    const RFC_KEY: &[u8] = b"12345678901234567890";
    const RFC_CODES: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    fn rfc_secret() -> Secret {
        Secret::from_bytes(RFC_KEY.to_vec()).unwrap()
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let s = rfc_secret();
        for (counter, want) in RFC_CODES.iter().enumerate() {
            let counter = counter as u64;
            assert_eq!(code_at(&s, 6, counter).as_str(), *want, "counter {counter}");
            assert_eq!(
                check(&s, 6, want, counter, 0),
                Check::Accepted { counter },
                "counter {counter}"
            );
        }
        // Appendix D's intermediate values: the 31-bit number of counter 0 is
        // 1284755224, so the 8-digit code is its low 8 digits.
        assert_eq!(code_at(&s, 8, 0).as_str(), "84755224");
        assert_eq!(code_at(&s, 8, 9).as_str(), "45520489");
    }

    #[test]
    fn the_look_ahead_reaches_exactly_its_values() {
        let s = rfc_secret();
        let next = 2;
        // counter + look_ahead is accepted, one more is not.
        assert_eq!(
            check(&s, 6, RFC_CODES[5], next, 3),
            Check::Accepted { counter: 5 }
        );
        assert_eq!(check(&s, 6, RFC_CODES[6], next, 3), Check::Wrong);
        assert_eq!(
            check(&s, 6, RFC_CODES[2], next, 0),
            Check::Accepted { counter: 2 }
        );
        assert_eq!(check(&s, 6, RFC_CODES[3], next, 0), Check::Wrong);
    }

    #[test]
    fn a_code_before_the_counter_is_used() {
        let s = rfc_secret();
        // After counter 4 was accepted the next value is 5.
        assert_eq!(check(&s, 6, RFC_CODES[4], 5, 10), Check::Used);
        assert_eq!(check(&s, 6, RFC_CODES[0], 5, 10), Check::Used);
        assert_eq!(
            check(&s, 6, RFC_CODES[5], 5, 10),
            Check::Accepted { counter: 5 }
        );
        // Further back than the look-ahead: wrong, and refused all the same.
        assert_eq!(check(&s, 6, RFC_CODES[0], 5, 2), Check::Wrong);
    }

    #[test]
    fn the_counter_never_wraps() {
        let s = rfc_secret();
        let last = MAX_COUNTER - 1;
        let code = code_at(&s, 6, last);
        assert_eq!(
            check(&s, 6, &code, last, 10),
            Check::Accepted { counter: last }
        );
        let end = code_at(&s, 6, MAX_COUNTER);
        assert_ne!(
            check(&s, 6, &end, last, 10),
            Check::Accepted {
                counter: MAX_COUNTER
            }
        );
    }

    #[test]
    fn malformed_codes_are_wrong() {
        let s = rfc_secret();
        for bad in [
            "",
            "75522",
            "7552240",
            " 755224",
            "75522x",
            "７５５２２４",
            "84755224",
        ] {
            assert_eq!(check(&s, 6, bad, 0, 10), Check::Wrong, "{bad:?}");
        }
        assert_eq!(check(&s, 8, "755224", 0, 10), Check::Wrong);
        assert_eq!(
            check(&s, 8, "84755224", 0, 10),
            Check::Accepted { counter: 0 }
        );
        assert_eq!(check(&s, 7, "4755224", 0, 10), Check::Wrong, "7 digits");
    }

    #[test]
    fn resync_finds_two_consecutive_codes_past_the_look_ahead() {
        let s = rfc_secret();
        let c = |n| code_at(&s, 6, n);
        assert_eq!(
            resync(&s, 6, &c(700), &c(701), 0, RESYNC_WINDOW),
            Resync::Found { first: 700 }
        );
        assert_eq!(
            resync(&s, 6, &c(1000), &c(1001), 0, RESYNC_WINDOW),
            Resync::Found { first: 1000 }
        );
        assert_eq!(
            resync(&s, 6, &c(1001), &c(1002), 0, RESYNC_WINDOW),
            Resync::NotFound,
            "beyond the window"
        );
        assert_eq!(
            resync(&s, 6, &c(701), &c(700), 0, RESYNC_WINDOW),
            Resync::NotFound,
            "out of order"
        );
        assert_eq!(
            resync(&s, 6, &c(700), &c(702), 0, RESYNC_WINDOW),
            Resync::NotFound,
            "not consecutive"
        );
        assert_eq!(
            resync(&s, 6, &c(40), &c(41), 50, RESYNC_WINDOW),
            Resync::Behind
        );
        assert_eq!(
            resync(&s, 6, &c(49), &c(50), 50, RESYNC_WINDOW),
            Resync::Behind,
            "the first code was used"
        );
        assert_eq!(
            resync(&s, 6, &c(50), &c(51), 50, RESYNC_WINDOW),
            Resync::Found { first: 50 }
        );
        assert_eq!(
            resync(&s, 6, "12345", &c(51), 50, RESYNC_WINDOW),
            Resync::NotFound
        );
    }

    #[test]
    fn keys_parse_as_base32_or_hex_and_short_keys_are_refused() {
        let want = rfc_secret();
        assert_eq!(
            parse_key("3132333435363738393031323334353637383930", Encoding::Hex).unwrap(),
            want
        );
        assert_eq!(
            parse_key(
                "31:32:33:34:35 36373839 3031323334353637383930",
                Encoding::Hex
            )
            .unwrap(),
            want
        );
        assert_eq!(
            parse_key("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", Encoding::Base32).unwrap(),
            want
        );
        assert_eq!(parse_key("313233", Encoding::Hex), Err(KeyError::Short(3)));
        assert_eq!(
            parse_key("JBSWY3DPEHPK3PXP", Encoding::Base32),
            Err(KeyError::Short(10)),
            "80 bits are too few for a new token"
        );
        assert_eq!(parse_key("31323g", Encoding::Hex), Err(KeyError::Hex));
        assert_eq!(parse_key("3132333", Encoding::Hex), Err(KeyError::Hex));
        assert_eq!(parse_key("", Encoding::Hex), Err(KeyError::Hex));
        assert_eq!(
            parse_key("3132333435363738393031323334353637383930", Encoding::Base32),
            Err(KeyError::Secret(SecretError::Base32)),
            "no guessing: hex needs --hex"
        );
    }

    #[test]
    fn names_are_short_and_printable() {
        assert_eq!(name_problem("yubikey 5 (blue)"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem(" x").is_some());
        assert!(name_problem("a\nb").is_some());
        assert!(name_problem(&"x".repeat(65)).is_some());
        assert_eq!(name_problem(&"é".repeat(64)), None);
    }
}
