//! Recovery codes: one-time codes for when the phone is lost.
//!
//! Invariant: a code exists in plaintext only between generation and the moment it is
//! shown; the store keeps a salted SHA-256 of each, and a code is removed from the
//! record in the same locked update that accepts it, so it works exactly once.
//!
//! Why SHA-256 and not a password KDF: each code carries 80 random bits (16 symbols
//! of Crockford base32), so an offline search costs 2^80 hashes whatever the hash;
//! a deliberately slow KDF would only slow down every login.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::random::{Random, RandomError};

/// Crockford's base32: no I, L, O or U, so codes survive handwriting.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code (5 bits each: 80 bits).
pub const CODE_LEN: usize = 16;
const SALT_BYTES: usize = 16;

/// The stored, hashed form of a set of recovery codes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashed {
    /// Hex salt shared by the set.
    pub salt: String,
    /// Hex SHA-256 of each unused code.
    pub hashes: Vec<String>,
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

pub(crate) fn new_salt(rng: &mut dyn Random) -> Result<String, RandomError> {
    let mut salt = [0u8; SALT_BYTES];
    rng.fill(&mut salt)?;
    Ok(hex(&salt))
}

pub(crate) fn digest(salt: &str, normalized: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(normalized.as_bytes());
    hex(&h.finalize())
}

/// Shows a normalized code in groups of four: `abcd-efgh-jkmn-pqrs`.
fn display(normalized: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(CODE_LEN + 3));
    for (i, c) in normalized.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Hashes codes that come from elsewhere (google-authenticator scratch codes) into a
/// new set; codes that do not normalize are returned as refused.
pub fn hash_imported<'a>(
    codes: impl IntoIterator<Item = &'a str>,
    rng: &mut dyn Random,
) -> Result<(Hashed, Vec<&'a str>), RandomError> {
    let salt = new_salt(rng)?;
    let mut hashes = Vec::new();
    let mut refused = Vec::new();
    for code in codes {
        match normalize(code) {
            Some(n) => {
                let h = digest(&salt, &n);
                if !hashes.contains(&h) {
                    hashes.push(h);
                }
            }
            None => refused.push(code),
        }
    }
    Ok((Hashed { salt, hashes }, refused))
}

/// Generates `count` fresh codes: the codes to show once, and what to store.
pub fn generate(
    count: usize,
    rng: &mut dyn Random,
) -> Result<(Vec<Zeroizing<String>>, Hashed), RandomError> {
    let salt = new_salt(rng)?;
    let mut shown = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    while shown.len() < count {
        let mut raw = Zeroizing::new([0u8; CODE_LEN]);
        rng.fill(raw.as_mut())?;
        let code: Zeroizing<String> = Zeroizing::new(
            raw.iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        );
        let h = digest(&salt, &code);
        // A duplicate (probability 2^-80) would make one code count twice.
        if hashes.contains(&h) {
            continue;
        }
        hashes.push(h);
        shown.push(display(&code));
    }
    Ok((shown, Hashed { salt, hashes }))
}

/// Length of google-authenticator's scratch codes, which import keeps as they are.
pub const SCRATCH_LEN: usize = 8;

/// Brings typed input to the canonical form, or `None` if it cannot be a code:
/// case-insensitive, `-` optional, and Crockford's look-alikes (o→0, i/l→1). Exactly
/// eight digits are an imported google-authenticator scratch code and stay as typed.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    if input.len() == SCRATCH_LEN && input.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Zeroizing::new(input.to_owned()));
    }
    let mut out = Zeroizing::new(String::with_capacity(CODE_LEN));
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        if out.len() == CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// The index of the unused code matching `normalized`. Every stored hash is compared,
/// in constant time, whether or not an earlier one matched.
pub fn find(set: &Hashed, normalized: &str) -> Option<usize> {
    let h = digest(&set.salt, normalized);
    let mut found = None;
    for (i, stored) in set.hashes.iter().enumerate() {
        if bool::from(stored.as_bytes().ct_eq(h.as_bytes())) {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn generated_codes_verify_once_each_and_are_not_stored_in_clear() {
        let (codes, mut set) = generate(10, &mut OsRandom).unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(set.hashes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), CODE_LEN + 3);
            let n = normalize(code).unwrap();
            assert!(!set.hashes.iter().any(|h| h.contains(n.as_str())));
            let i = find(&set, &n).expect("a fresh code is found");
            set.hashes.remove(i);
            assert_eq!(find(&set, &n), None, "used codes are gone");
        }
        assert!(set.hashes.is_empty());
    }

    #[test]
    fn typing_variants_normalize_to_the_same_code() {
        let want = "0123456789abcdef";
        for typed in [
            "0123-4567-89ab-cdef",
            "O123456789ABCDEF",
            "o1234567-89abcdef",
            "0I23-4567-89AB-CDEF",
            "0l23456789abcdef",
        ] {
            assert_eq!(
                normalize(typed).as_deref().map(String::as_str),
                Some(want),
                "{typed}"
            );
        }
        for bad in [
            "",
            "123456",
            "0123-4567-89ab-cde",
            "0123-4567-89ab-cdef0",
            "0123 4567 89ab cdef",
            "0123-4567-89ab-cdeu",
            "ü123456789abcdef",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn imported_scratch_codes_are_accepted_as_typed() {
        let (mut set, refused) =
            hash_imported(["12345678", "87654321", "12345678", "1234"], &mut OsRandom).unwrap();
        assert_eq!(refused, ["1234"]);
        assert_eq!(set.hashes.len(), 2, "duplicates are stored once");
        let i = find(&set, &normalize("87654321").unwrap()).unwrap();
        set.hashes.remove(i);
        assert_eq!(find(&set, &normalize("87654321").unwrap()), None);
        assert!(find(&set, &normalize("12345678").unwrap()).is_some());
        assert_eq!(normalize("1234567"), None);
        assert_eq!(normalize("123456789"), None);
    }

    #[test]
    fn the_salt_matters() {
        let (codes, set) = generate(1, &mut OsRandom).unwrap();
        let n = normalize(&codes[0]).unwrap();
        let other = Hashed {
            salt: "00".into(),
            hashes: set.hashes.clone(),
        };
        assert_eq!(find(&other, &n), None);
    }

    struct Fixed(u8);
    impl Random for Fixed {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
            for b in buf.iter_mut() {
                *b = self.0;
                self.0 = self.0.wrapping_add(1);
            }
            Ok(())
        }
    }

    #[test]
    fn codes_are_drawn_from_the_rng_over_the_whole_alphabet() {
        let (codes, _) = generate(2, &mut Fixed(0)).unwrap();
        // Salt takes bytes 0..16, the first code 16..32, the second 32..48.
        assert_eq!(codes[0].as_str(), "ghjk-mnpq-rstv-wxyz");
        assert_eq!(codes[1].as_str(), "0123-4567-89ab-cdef");
    }
}
