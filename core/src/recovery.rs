//! Recovery codes: one-time codes for when the phone is lost.
//!
//! Invariant: a code exists in plaintext only between generation and the moment it is
//! shown; the store keeps a salted SHA-256 of each, and a code is removed from the
//! record in the same locked update that accepts it, so it works exactly once.
//!
//! Why SHA-256 and not a password KDF: each code carries 80 random bits (16 symbols
//! of Crockford base32), so an offline search costs 2^80 hashes whatever the hash;
//! a deliberately slow KDF would only slow down every login.

use zeroize::Zeroizing;

use crate::random::{Random, RandomError};
use crate::salted_hash::{Digest, Salt};

/// Crockford's base32: no I, L, O or U, so codes survive handwriting.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code (5 bits each: 80 bits).
pub const CODE_LEN: usize = 16;

/// The stored, hashed form of a set of recovery codes: one salt for the set, the
/// digest of each unused code, no digest twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    salt: Salt,
    hashes: Vec<Digest>,
}

impl Hashed {
    /// A stored set. A digest that appears twice (it would make one code count
    /// twice) is refused: `Err` with the index of the second one.
    pub fn from_parts(salt: Salt, hashes: Vec<Digest>) -> Result<Hashed, usize> {
        let mut set = Hashed {
            salt,
            hashes: Vec::with_capacity(hashes.len()),
        };
        for (i, h) in hashes.into_iter().enumerate() {
            if !set.insert(h) {
                return Err(i);
            }
        }
        Ok(set)
    }

    fn empty(salt: Salt) -> Hashed {
        Hashed {
            salt,
            hashes: Vec::new(),
        }
    }

    fn insert(&mut self, h: Digest) -> bool {
        let new = !self.hashes.contains(&h);
        if new {
            self.hashes.push(h);
        }
        new
    }

    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    /// The digests of the unused codes.
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// How many codes are unused.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether every code is used.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The index of the unused code matching `normalized`. Every stored digest is
    /// compared, in constant time, whether or not an earlier one matched.
    pub fn find(&self, normalized: &str) -> Option<usize> {
        let h = self.salt.digest(normalized);
        let mut found = None;
        for (i, stored) in self.hashes.iter().enumerate() {
            if stored.ct_matches(&h) {
                found = Some(i);
            }
        }
        found
    }

    /// Uses up the code matching `normalized`: whether there was one.
    pub fn consume(&mut self, normalized: &str) -> bool {
        match self.find(normalized) {
            Some(i) => {
                self.hashes.remove(i);
                true
            }
            None => false,
        }
    }

    /// Forgets every code (the set stays, used up).
    pub fn clear(&mut self) {
        self.hashes.clear();
    }
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
    let mut set = Hashed::empty(Salt::new(rng)?);
    let mut refused = Vec::new();
    for code in codes {
        match normalize(code) {
            Some(n) => {
                set.insert(set.salt.digest(&n));
            }
            None => refused.push(code),
        }
    }
    Ok((set, refused))
}

/// Generates `count` fresh codes: the codes to show once, and what to store.
pub fn generate(
    count: usize,
    rng: &mut dyn Random,
) -> Result<(Vec<Zeroizing<String>>, Hashed), RandomError> {
    let mut set = Hashed::empty(Salt::new(rng)?);
    let mut shown = Vec::with_capacity(count);
    while shown.len() < count {
        let mut raw = Zeroizing::new([0u8; CODE_LEN]);
        rng.fill(raw.as_mut())?;
        let code: Zeroizing<String> = Zeroizing::new(
            raw.iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        );
        // A duplicate (probability 2^-80) would make one code count twice.
        if set.insert(set.salt.digest(&code)) {
            shown.push(display(&code));
        }
    }
    Ok((shown, set))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn generated_codes_verify_once_each_and_are_not_stored_in_clear() {
        let (codes, mut set) = generate(10, &mut OsRandom).unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(set.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), CODE_LEN + 3);
            let n = normalize(code).unwrap();
            assert!(!set.hashes().iter().any(|h| h.to_hex().contains(n.as_str())));
            assert!(set.consume(&n), "a fresh code is found");
            assert_eq!(set.find(&n), None, "used codes are gone");
            assert!(!set.consume(&n));
        }
        assert!(set.is_empty());
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
        assert_eq!(set.len(), 2, "duplicates are stored once");
        assert!(set.consume(&normalize("87654321").unwrap()));
        assert_eq!(set.find(&normalize("87654321").unwrap()), None);
        assert!(set.find(&normalize("12345678").unwrap()).is_some());
        assert_eq!(normalize("1234567"), None);
        assert_eq!(normalize("123456789"), None);
    }

    #[test]
    fn the_salt_matters() {
        let (codes, set) = generate(1, &mut OsRandom).unwrap();
        let n = normalize(&codes[0]).unwrap();
        let other =
            Hashed::from_parts(Salt::new(&mut OsRandom).unwrap(), set.hashes().to_vec()).unwrap();
        assert_eq!(other.find(&n), None);
        assert_eq!(set.find(&n), Some(0));
        let twice = vec![set.hashes()[0].clone(), set.hashes()[0].clone()];
        assert_eq!(Hashed::from_parts(set.salt().clone(), twice), Err(1));
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
