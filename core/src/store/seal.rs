//! Records sealed for a database: ChaCha20-Poly1305 under the fleet's key file.
//!
//! Invariant: a record leaves this module for a database only as `nonce ‖ ciphertext
//! ‖ tag`, under a fresh random nonce, with the user name as associated data; a
//! sealed record opens only under the key that sealed it and for the user it was
//! sealed for, so a row copied into another user's row, altered, or sealed under
//! another key is refused, never read. The key is 32 bytes from a root-only file,
//! wiped from memory when dropped.

use std::fmt;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secure_fs::{self, FileError, Trust};
use crate::username::UserName;

/// The length of a key file.
pub const KEY_LEN: usize = 32;

/// Associated data: what a sealed record is bound to besides its key.
const CONTEXT: &[u8] = b"pam_mfa record v1\0";

/// One sealing key and its public identifier.
pub struct SealKey {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

/// Why a key file could not be used.
#[derive(Debug)]
pub enum KeyFileError {
    /// Missing, insecure (not root-owned, readable by others) or unreadable.
    File(FileError),
    /// Not exactly [`KEY_LEN`] bytes.
    Length { path: PathBuf, len: usize },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(e) => write!(f, "key file {e}"),
            Self::Length { path, len } => write!(
                f,
                "key file {}: {len} bytes, expected exactly {KEY_LEN} random bytes \
                 (make one with: (umask 077; head -c {KEY_LEN} /dev/urandom > FILE))",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File(e) => Some(e),
            Self::Length { .. } => None,
        }
    }
}

/// Why a sealed record did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under a key this host does not have (by its identifier).
    UnknownKey(String),
    /// Too short to hold a nonce and a tag.
    Truncated,
    /// The tag does not match: altered, or sealed for another user or key.
    Forged,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(
                f,
                "sealed under key {id}, which is neither store.key_file nor store.previous_key_file"
            ),
            Self::Truncated => f.write_str("sealed record is truncated"),
            Self::Forged => f.write_str(
                "sealed record does not authenticate (altered, or sealed for another user)",
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// Why a record could not be sealed.
#[derive(Debug)]
pub enum SealError {
    /// No random nonce from the operating system.
    Random(getrandom::Error),
    /// Beyond what the cipher takes in one message (256 GiB).
    TooLarge,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random(e) => write!(f, "no random nonce from the operating system: {e}"),
            Self::TooLarge => f.write_str("record too large to seal"),
        }
    }
}

impl std::error::Error for SealError {}

impl SealKey {
    /// Reads a key file: root-owned, no access for group or others, 32 bytes.
    pub fn load(path: &Path) -> Result<SealKey, KeyFileError> {
        SealKey::load_owned_by(path, 0)
    }

    /// The same checks for a file owned by `owner` (tests).
    pub fn load_owned_by(path: &Path, owner: u32) -> Result<SealKey, KeyFileError> {
        let bytes = secure_fs::read_file(path, Trust::ROOT_PRIVATE.owned_by(owner), 4096)
            .map_err(KeyFileError::File)?;
        SealKey::from_bytes(&bytes).ok_or(KeyFileError::Length {
            path: path.to_owned(),
            len: bytes.len(),
        })
    }

    /// A key from its bytes; `None` unless exactly [`KEY_LEN`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<SealKey> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes).ok()?;
        let mut h = Sha256::new();
        h.update(b"pam_mfa key id\0");
        h.update(bytes);
        let digest = h.finalize();
        let id = hex::encode(&digest[..8]);
        Some(SealKey {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// The key's identifier, stored next to what it sealed: a hash, it tells nothing
    /// about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plain` for `user` under a fresh random nonce.
    pub fn seal(&self, user: &UserName, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + CHACHA20_POLY1305.tag_len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated(user)),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| SealError::TooLarge)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens what [`SealKey::seal`] sealed for `user`.
    pub fn open(&self, user: &UserName, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(OpenError::Truncated);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Truncated)?;
        let mut buf = Zeroizing::new(rest.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(associated(user)), &mut buf)
            .map_err(|_| OpenError::Forged)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

fn associated(user: &UserName) -> Vec<u8> {
    let mut ad = CONTEXT.to_vec();
    ad.extend_from_slice(user.as_str().as_bytes());
    ad
}

/// The key that seals, and the one a rotation is moving away from.
#[derive(Debug)]
pub struct Keys {
    pub current: SealKey,
    pub previous: Option<SealKey>,
}

impl Keys {
    /// The key with identifier `id`, if this host has it.
    pub fn by_id(&self, id: &str) -> Option<&SealKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
    }

    /// Opens a record sealed under the key with identifier `id`.
    pub fn open(
        &self,
        id: &str,
        user: &UserName,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        self.by_id(id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?
            .open(user, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::new(name).unwrap()
    }

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes(&[byte; KEY_LEN]).unwrap()
    }

    #[test]
    fn a_sealed_record_opens_for_its_user_only() {
        let k = key(7);
        let sealed = k.seal(&user("alice"), b"secret record").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            &k.open(&user("alice"), &sealed).unwrap()[..],
            b"secret record"
        );
        assert_eq!(k.open(&user("bob"), &sealed), Err(OpenError::Forged));
    }

    #[test]
    fn every_seal_has_a_fresh_nonce() {
        let k = key(1);
        let a = k.seal(&user("alice"), b"same").unwrap();
        let b = k.seal(&user("alice"), b"same").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn altered_truncated_or_foreign_records_are_refused() {
        let k = key(2);
        let mut sealed = k.seal(&user("alice"), b"record").unwrap();
        assert_eq!(key(3).open(&user("alice"), &sealed), Err(OpenError::Forged));
        assert_eq!(
            k.open(&user("alice"), &sealed[..20]),
            Err(OpenError::Truncated)
        );
        assert_eq!(k.open(&user("alice"), &[]), Err(OpenError::Truncated));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(k.open(&user("alice"), &sealed), Err(OpenError::Forged));
    }

    #[test]
    fn keys_open_by_identifier() {
        let keys = Keys {
            current: key(4),
            previous: Some(key(5)),
        };
        let old = key(5).seal(&user("alice"), b"old").unwrap();
        let id5 = key(5).id().to_owned();
        assert_eq!(&keys.open(&id5, &user("alice"), &old).unwrap()[..], b"old");
        assert_eq!(
            keys.open("0000000000000000", &user("alice"), &old),
            Err(OpenError::UnknownKey("0000000000000000".into()))
        );
        assert_ne!(key(4).id(), key(5).id());
        assert_eq!(key(4).id().len(), 16);
    }

    #[test]
    fn key_files_must_be_private_and_32_bytes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pam_mfa-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let me = secure_fs::effective_uid().unwrap();
        let path = dir.join("key");
        std::fs::write(&path, [9u8; KEY_LEN]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(SealKey::load_owned_by(&path, me).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SealKey::load_owned_by(&path, me),
            Err(KeyFileError::File(_))
        ));
        std::fs::write(&path, [9u8; 16]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = SealKey::load_owned_by(&path, me).unwrap_err();
        assert!(matches!(e, KeyFileError::Length { len: 16, .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
