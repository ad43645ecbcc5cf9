//! Authenticator data (WebAuthn §6.1), the bytes every assertion signs.
//!
//! Invariant: parsing never reads past the end, and a field is only reported if it
//! was completely present; trailing garbage after the declared parts is an error.

use std::fmt;

use super::cose::{KeyError, PublicKey};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

/// The attested credential of a makeCredential answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<Attested>,
}

/// Why authenticator data was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthDataError {
    /// A part ends before its declared length.
    Truncated,
    /// The attested credential id is empty.
    EmptyCredentialId,
    /// The attested public key is not one CBOR item.
    InvalidCoseKey,
    /// The attested public key is CBOR but not a key we accept.
    UnsupportedCoseKey(KeyError),
    /// The extensions are not one CBOR item.
    InvalidExtensions,
    /// Bytes after the declared parts.
    TrailingBytes,
}

impl fmt::Display for AuthDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("authenticator data: ")?;
        match self {
            AuthDataError::Truncated => f.write_str("truncated"),
            AuthDataError::EmptyCredentialId => f.write_str("empty credential id"),
            AuthDataError::InvalidCoseKey => f.write_str("invalid COSE key"),
            AuthDataError::UnsupportedCoseKey(e) => write!(f, "unsupported COSE key: {e}"),
            AuthDataError::InvalidExtensions => f.write_str("invalid extensions"),
            AuthDataError::TrailingBytes => f.write_str("trailing bytes"),
        }
    }
}

impl std::error::Error for AuthDataError {}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], AuthDataError> {
    if data.len() < n {
        return Err(AuthDataError::Truncated);
    }
    let (head, tail) = data.split_at(n);
    *data = tail;
    Ok(head)
}

impl AuthData {
    pub fn parse(bytes: &[u8]) -> Result<AuthData, AuthDataError> {
        let mut rest = bytes;
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(take(&mut rest, 32)?);
        let flags = *take(&mut rest, 1)?
            .first()
            .ok_or(AuthDataError::Truncated)?;
        let mut counter = [0u8; 4];
        counter.copy_from_slice(take(&mut rest, 4)?);
        let attested = if flags & AT != 0 {
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(take(&mut rest, 16)?);
            let len = take(&mut rest, 2)?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let credential_id = take(&mut rest, len)?.to_vec();
            if credential_id.is_empty() {
                return Err(AuthDataError::EmptyCredentialId);
            }
            // The COSE key is one CBOR item; read it and see how much it used.
            let mut cursor = std::io::Cursor::new(rest);
            let value: ciborium::value::Value = ciborium::de::from_reader(&mut cursor)
                .map_err(|_| AuthDataError::InvalidCoseKey)?;
            let used =
                usize::try_from(cursor.position()).map_err(|_| AuthDataError::InvalidCoseKey)?;
            take(&mut rest, used)?;
            let public_key =
                PublicKey::from_cose(&value).map_err(AuthDataError::UnsupportedCoseKey)?;
            Some(Attested {
                aaguid,
                credential_id,
                public_key,
            })
        } else {
            None
        };
        if flags & ED != 0 {
            let mut cursor = std::io::Cursor::new(rest);
            let _: ciborium::value::Value = ciborium::de::from_reader(&mut cursor)
                .map_err(|_| AuthDataError::InvalidExtensions)?;
            let used =
                usize::try_from(cursor.position()).map_err(|_| AuthDataError::InvalidExtensions)?;
            take(&mut rest, used)?;
        }
        if !rest.is_empty() {
            return Err(AuthDataError::TrailingBytes);
        }
        Ok(AuthData {
            rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(counter),
            attested,
        })
    }

    pub fn user_present(&self) -> bool {
        self.flags & UP != 0
    }

    pub fn user_verified(&self) -> bool {
        self.flags & UV != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(flags: u8, counter: u32) -> Vec<u8> {
        let mut v = vec![7u8; 32];
        v.push(flags);
        v.extend_from_slice(&counter.to_be_bytes());
        v
    }

    #[test]
    fn assertion_data_parses() {
        let a = AuthData::parse(&plain(0x05, 42)).unwrap();
        assert_eq!(a.rp_id_hash, [7; 32]);
        assert!(a.user_present() && a.user_verified());
        assert_eq!(a.sign_count, 42);
        assert_eq!(a.attested, None);
    }

    #[test]
    fn truncated_or_padded_data_is_refused() {
        let good = plain(0x01, 1);
        for n in 0..good.len() {
            assert_eq!(
                AuthData::parse(&good[..n]),
                Err(AuthDataError::Truncated),
                "{n}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(AuthData::parse(&long), Err(AuthDataError::TrailingBytes));
        // AT set without attested data.
        assert_eq!(
            AuthData::parse(&plain(0x41, 1)),
            Err(AuthDataError::Truncated)
        );
        // An attested credential with an empty id.
        let mut empty_id = plain(0x41, 1);
        empty_id.extend_from_slice(&[0; 18]);
        assert_eq!(
            AuthData::parse(&empty_id),
            Err(AuthDataError::EmptyCredentialId)
        );
        // ED set with garbage.
        let mut ed = plain(0x81, 1);
        ed.push(0xff);
        assert_eq!(AuthData::parse(&ed), Err(AuthDataError::InvalidExtensions));
    }
}
