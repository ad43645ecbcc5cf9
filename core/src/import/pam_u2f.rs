//! pam_u2f authfiles (`~/.config/Yubico/u2f_keys`, or the central file).
//!
//! Invariant: every line is either understood completely or reported with its line
//! number; nothing is guessed. Formats:
//! - current: `user:keyHandle,publicKey,coseType,attributes[:keyHandle,...]` with
//!   base64 key handles and keys, `coseType` es256 or eddsa (rs256 is refused),
//!   attributes like `+presence+verification+pin`;
//! - old: `user:keyHandle,publicKey[:...]`, the key as hex of the 65-byte point.
//!
//! Credentials keep pam_u2f's relying party, its "origin" (`pam://HOSTNAME` unless
//! pam_u2f was given another one), so the same keys keep working.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::fido2::cose::{self, Algorithm, PublicKey};
use crate::fido2::{KeyCredential, UserVerification};

/// One line's user and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct U2fUser {
    pub user: String,
    pub credentials: Vec<KeyCredential>,
}

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct U2fError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for U2fError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for U2fError {}

fn decode_key(text: &str, alg: Algorithm) -> Result<PublicKey, String> {
    // The old format: the 65-byte point in hex (130 digits); base64 never has that
    // length with only hex digits in a valid key.
    let is_hex =
        alg == Algorithm::Es256 && text.len() == 130 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let raw = if is_hex {
        hex::decode(text).map_err(|_| "public key is not hex".to_owned())?
    } else {
        STANDARD
            .decode(text)
            .map_err(|_| "public key is not base64".to_owned())?
    };
    PublicKey::from_raw(alg, &raw).map_err(|e| e.to_string())
}

/// Parses an authfile; `origin` is the RP ID the credentials were made for.
pub fn parse(text: &str, origin: &str, now: u64) -> Result<Vec<U2fUser>, U2fError> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let err = |message: String| U2fError { line: n, message };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(':');
        let user = parts.next().unwrap_or("").to_owned();
        if user.is_empty() {
            return Err(err("no user name".into()));
        }
        let mut credentials = Vec::new();
        for (j, cred) in parts.enumerate() {
            let fields: Vec<&str> = cred.split(',').collect();
            let (kh, pk, alg, attrs) = match fields.as_slice() {
                [kh, pk] => (*kh, *pk, Algorithm::Es256, "+presence"),
                [kh, pk, cose_type, attrs] => {
                    let alg = match *cose_type {
                        "es256" => Algorithm::Es256,
                        "eddsa" => Algorithm::EdDsa,
                        other => {
                            return Err(err(format!(
                                "key type {other:?} is not supported (es256, eddsa)"
                            )))
                        }
                    };
                    (*kh, *pk, alg, *attrs)
                }
                _ => {
                    return Err(err(format!(
                        "credential {} has {} fields (2 or 4 expected)",
                        j + 1,
                        fields.len()
                    )))
                }
            };
            let credential_id = cose::id_from_text(kh)
                .ok_or_else(|| err(format!("credential {}: key handle is not base64", j + 1)))?;
            let public_key =
                decode_key(pk, alg).map_err(|e| err(format!("credential {}: {e}", j + 1)))?;
            let verification = attrs.contains("+verification");
            credentials.push(KeyCredential {
                name: format!("pam_u2f-{}", j + 1),
                credential_id,
                public_key,
                rp_id: origin.to_owned(),
                user_verification: if verification {
                    UserVerification::Required
                } else {
                    UserVerification::Discouraged
                },
                pin: attrs.contains("+pin"),
                sign_count: 0,
                created: now,
            });
        }
        if credentials.is_empty() {
            return Err(err(format!("no credentials for {user}")));
        }
        users.push(U2fUser { user, credentials });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn the_current_format_with_two_keys() {
        let pk = b64(&[4u8; 64]);
        let ed = b64(&[9u8; 32]);
        let line = format!(
            "alice:{},{pk},es256,+presence:{},{ed},eddsa,+presence+verification+pin\n",
            b64(b"kh-one"),
            b64(b"kh-two")
        );
        let users = parse(&line, "pam://host", 7).unwrap();
        assert_eq!(users.len(), 1);
        let [a, b] = users[0].credentials.as_slice() else {
            panic!()
        };
        assert_eq!(
            (a.credential_id.as_slice(), a.rp_id.as_str()),
            (&b"kh-one"[..], "pam://host")
        );
        assert_eq!(a.public_key.algorithm(), Algorithm::Es256);
        assert_eq!(a.user_verification, UserVerification::Discouraged);
        assert_eq!(b.public_key, PublicKey::EdDsa([9; 32]));
        assert!(b.pin && b.user_verification == UserVerification::Required);
    }

    #[test]
    fn the_old_format_with_a_hex_key() {
        let mut point = vec![4u8];
        point.extend_from_slice(&[0xab; 64]);
        let hex = hex::encode(&point);
        let text = format!(
            "# comment\n\nbob:{},{hex}\n",
            cose::id_to_text(b"old-handle")
        );
        let users = parse(&text, "pam://host", 0).unwrap();
        assert_eq!(users[0].user, "bob");
        assert_eq!(users[0].credentials[0].credential_id, b"old-handle");
        assert_eq!(users[0].credentials[0].public_key.bytes(), point.as_slice());
    }

    #[test]
    fn broken_lines_name_their_number() {
        let pk = b64(&[4u8; 64]);
        for (text, want) in [
            (
                format!("x:{},{pk},rs256,+presence", b64(b"k")),
                "line 1: key type \"rs256\"",
            ),
            (
                "alice:only-one-field".to_owned(),
                "line 1: credential 1 has 1 fields",
            ),
            (
                format!("\nalice:!!,{pk},es256,"),
                "line 2: credential 1: key handle",
            ),
            (
                format!("alice:{},AAAA,es256,", b64(b"k")),
                "line 1: credential 1: P-256 key of 3 bytes",
            ),
            (":abc,def".to_owned(), "line 1: no user name"),
            ("alice".to_owned(), "line 1: no credentials"),
        ] {
            let e = parse(&text, "pam://h", 0).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} / {want}");
        }
    }
}
