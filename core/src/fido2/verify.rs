//! Whether an assertion logs the user in.
//!
//! Invariant: an assertion passes only if it names one of the user's credentials
//! for this RP, its authenticator data parses and starts with SHA-256 of that
//! credential's RP ID, the signed user-present flag is set, the signed
//! user-verified flag is set whenever the credential or the config requires it,
//! the signature over `authData || SHA-256(challenge)` verifies with the stored
//! key, and the sign counter grew (a key that has always reported 0 may keep
//! reporting 0). Anything else is a [`Rejection`] with its reason.

use std::fmt;

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ED25519};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authdata::AuthData;
use super::cose::PublicKey;
use super::{Assertion, KeyCredential, UserVerification};

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The credential id is not one of the user's.
    UnknownCredential,
    /// The authenticator data does not parse.
    Malformed(String),
    /// The RP ID hash is not the credential's.
    WrongRpId,
    /// The user-present flag is clear.
    NoUserPresence,
    /// Verification was required and the user-verified flag is clear.
    NoUserVerification,
    /// The signature does not verify.
    BadSignature,
    /// The counter did not grow: possibly a cloned key.
    CounterRegression { stored: u32, reported: u32 },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCredential => f.write_str("unknown credential"),
            Self::Malformed(e) => write!(f, "malformed assertion: {e}"),
            Self::WrongRpId => f.write_str("RP ID hash mismatch"),
            Self::NoUserPresence => f.write_str("user presence flag not set"),
            Self::NoUserVerification => f.write_str("user verification required but not performed"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::CounterRegression { stored, reported } => write!(
                f,
                "sign counter went from {stored} to {reported}: possible cloned key"
            ),
        }
    }
}

/// A passing assertion: which credential, and the counter to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub index: usize,
    pub sign_count: u32,
}

pub(crate) fn rp_id_hash_matches(data: &AuthData, rp_id: &str) -> bool {
    let want = Sha256::digest(rp_id.as_bytes());
    bool::from(data.rp_id_hash.as_slice().ct_eq(want.as_slice()))
}

/// The message a key signs for `challenge`.
pub fn signed_message(auth_data: &[u8], challenge: &[u8; 32]) -> Vec<u8> {
    let mut msg = auth_data.to_vec();
    msg.extend_from_slice(&Sha256::digest(challenge));
    msg
}

fn signature_ok(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let alg: &dyn ring::signature::VerificationAlgorithm = match key {
        PublicKey::Es256(_) => &ECDSA_P256_SHA256_ASN1,
        PublicKey::EdDsa(_) => &ED25519,
    };
    UnparsedPublicKey::new(alg, key.bytes())
        .verify(message, signature)
        .is_ok()
}

/// Verifies `a` against the user's credentials. `force_uv` makes user
/// verification mandatory for every credential (config).
pub fn verify_assertion(
    credentials: &[KeyCredential],
    challenge: &[u8; 32],
    a: &Assertion,
    force_uv: bool,
) -> Result<Verified, Rejection> {
    let index = credentials
        .iter()
        .position(|c| bool::from(c.credential_id.as_slice().ct_eq(&a.credential_id)))
        .ok_or(Rejection::UnknownCredential)?;
    let cred = &credentials[index];
    let data = AuthData::parse(&a.auth_data).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if !rp_id_hash_matches(&data, &cred.rp_id) {
        return Err(Rejection::WrongRpId);
    }
    if !data.user_present() {
        return Err(Rejection::NoUserPresence);
    }
    if (force_uv || cred.user_verification == UserVerification::Required || cred.pin)
        && !data.user_verified()
    {
        return Err(Rejection::NoUserVerification);
    }
    if !signature_ok(
        &cred.public_key,
        &signed_message(&a.auth_data, challenge),
        &a.signature,
    ) {
        return Err(Rejection::BadSignature);
    }
    let reported = data.sign_count;
    let always_zero = cred.sign_count == 0 && reported == 0;
    if !always_zero && reported <= cred.sign_count {
        return Err(Rejection::CounterRegression {
            stored: cred.sign_count,
            reported,
        });
    }
    Ok(Verified {
        index,
        sign_count: reported,
    })
}

#[cfg(test)]
mod tests;
