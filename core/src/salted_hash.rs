//! Salted SHA-256 of short one-time codes: recovery codes and sent (out-of-band) codes.
//!
//! Invariant: a [`Salt`] is 16 random bytes and a [`Digest`] 32 bytes; their text
//! form is lowercase hex of exactly that length, parsed strictly (anything else is
//! refused, never repaired). A digest is `SHA-256(hex(salt) ":" code)` and is compared
//! only in constant time.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::random::{Random, RandomError};

const SALT_BYTES: usize = 16;
const DIGEST_BYTES: usize = 32;

/// Why hex text is not a salt or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexError {
    /// Not exactly this many lowercase hex digits.
    Length(usize),
    /// A character other than `0-9a-f`.
    NotHex,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Length(n) => write!(f, "not {n} hex digits"),
            HexError::NotHex => f.write_str("not lowercase hex"),
        }
    }
}

impl std::error::Error for HexError {}

fn from_hex<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    if text.len() != 2 * N {
        return Err(HexError::Length(2 * N));
    }
    // The stored form is lowercase: other text is not ours and is not repaired.
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(HexError::NotHex);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| HexError::NotHex)?;
    Ok(out)
}

/// The random salt of one code or one set of codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt([u8; SALT_BYTES]);

impl Salt {
    /// A fresh salt from `rng`.
    pub fn new(rng: &mut dyn Random) -> Result<Salt, RandomError> {
        let mut salt = [0u8; SALT_BYTES];
        rng.fill(&mut salt)?;
        Ok(Salt(salt))
    }

    /// Parses [`Salt::to_hex`].
    pub fn from_hex(text: &str) -> Result<Salt, HexError> {
        from_hex(text).map(Salt)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The digest of `code` under this salt.
    pub fn digest(&self, code: &str) -> Digest {
        let mut h = Sha256::new();
        h.update(self.to_hex().as_bytes());
        h.update(b":");
        h.update(code.as_bytes());
        Digest(h.finalize().into())
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({})", self.to_hex())
    }
}

/// The SHA-256 of a salted code.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest([u8; DIGEST_BYTES]);

impl Digest {
    /// Parses [`Digest::to_hex`].
    pub fn from_hex(text: &str) -> Result<Digest, HexError> {
        from_hex(text).map(Digest)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time equality.
    pub fn ct_matches(&self, other: &Digest) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// One code's salt and digest: what is kept instead of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltedHash {
    salt: Salt,
    digest: Digest,
}

impl SaltedHash {
    /// Hashes `code` under a fresh salt.
    pub fn new(code: &str, rng: &mut dyn Random) -> Result<SaltedHash, RandomError> {
        let salt = Salt::new(rng)?;
        let digest = salt.digest(code);
        Ok(SaltedHash { salt, digest })
    }

    /// A stored salt and digest.
    pub fn from_parts(salt: Salt, digest: Digest) -> SaltedHash {
        SaltedHash { salt, digest }
    }

    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether `code` is the code that was hashed (constant time).
    pub fn matches(&self, code: &str) -> bool {
        self.salt.digest(code).ct_matches(&self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn a_hash_matches_its_code_only() {
        let h = SaltedHash::new("123456", &mut OsRandom).unwrap();
        assert!(h.matches("123456"));
        assert!(!h.matches("123457"));
        assert!(!h.matches(""));
        let other = SaltedHash::new("123456", &mut OsRandom).unwrap();
        assert_ne!(h.digest(), other.digest(), "the salt matters");
    }

    #[test]
    fn the_digest_is_sha256_of_hex_salt_colon_code() {
        // The stored format: records written by earlier versions keep verifying.
        let salt = Salt::from_hex(&"0".repeat(32)).unwrap();
        assert_eq!(
            salt.digest("abc").to_hex(),
            "44f5876cc0fb0bf22103a0bea7b5674c39ecf7d5c49e63a1fab00bdbb75b26f3"
        );
    }

    #[test]
    fn hex_forms_round_trip_and_are_strict() {
        let h = SaltedHash::new("x", &mut OsRandom).unwrap();
        assert_eq!(Salt::from_hex(&h.salt().to_hex()).as_ref(), Ok(h.salt()));
        assert_eq!(
            Digest::from_hex(&h.digest().to_hex()).as_ref(),
            Ok(h.digest())
        );
        assert_eq!(Salt::from_hex("00"), Err(HexError::Length(32)));
        assert_eq!(Salt::from_hex(&"A".repeat(32)), Err(HexError::NotHex));
        assert_eq!(Digest::from_hex(&"g".repeat(64)), Err(HexError::NotHex));
        assert_eq!(Digest::from_hex(&"é".repeat(32)), Err(HexError::NotHex));
        assert_eq!(Digest::from_hex(&"a".repeat(63)), Err(HexError::Length(64)));
    }
}
