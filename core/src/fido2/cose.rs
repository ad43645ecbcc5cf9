//! Credential public keys: COSE keys from authenticator data, and their stored
//! text form.
//!
//! Invariant: a [`PublicKey`] is a well-formed ES256 point (uncompressed, on the
//! curve as far as ring checks at verification) or a 32-byte Ed25519 key; any
//! other COSE key is refused, never approximated.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ciborium::value::Value;

/// Signature algorithms we accept (COSE numbers -7 and -8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    EdDsa,
}

impl Algorithm {
    pub fn cose(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "es256",
            Algorithm::EdDsa => "eddsa",
        }
    }
}

/// A credential's public key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// P-256, as the uncompressed point `04 || x || y`.
    Es256([u8; 65]),
    /// Ed25519.
    EdDsa([u8; 32]),
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

fn err(s: &str) -> KeyError {
    KeyError(s.to_owned())
}

fn int(v: &Value) -> Option<i128> {
    v.as_integer().map(i128::from)
}

impl PublicKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The key as ring verifies it.
    pub fn bytes(&self) -> &[u8] {
        match self {
            PublicKey::Es256(p) => p,
            PublicKey::EdDsa(k) => k,
        }
    }

    /// From a decoded COSE_Key map.
    pub fn from_cose(value: &Value) -> Result<PublicKey, KeyError> {
        let map = value.as_map().ok_or_else(|| err("COSE key is not a map"))?;
        let get = |label: i128| {
            map.iter()
                .find(|(k, _)| int(k) == Some(label))
                .map(|(_, v)| v)
        };
        let kty = get(1)
            .and_then(int)
            .ok_or_else(|| err("COSE key without kty"))?;
        let alg = get(3)
            .and_then(int)
            .ok_or_else(|| err("COSE key without alg"))?;
        let crv = get(-1).and_then(int);
        let bytes = |label| {
            get(label)
                .and_then(Value::as_bytes)
                .ok_or_else(|| err("COSE key coordinate missing"))
        };
        match (kty, alg, crv) {
            (2, -7, Some(1)) => {
                let (x, y) = (bytes(-2)?, bytes(-3)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(err("P-256 coordinates are not 32 bytes"));
                }
                let mut p = [0u8; 65];
                p[0] = 4;
                p[1..33].copy_from_slice(x);
                p[33..].copy_from_slice(y);
                Ok(PublicKey::Es256(p))
            }
            (1, -8, Some(6)) => {
                let x = bytes(-2)?;
                let k: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| err("Ed25519 key is not 32 bytes"))?;
                Ok(PublicKey::EdDsa(k))
            }
            _ => Err(KeyError(format!(
                "unsupported COSE key (kty {kty}, alg {alg})"
            ))),
        }
    }

    /// From raw bytes of `alg`: an ES256 point with or without its 0x04 prefix
    /// (pam_u2f writes 64 bytes), or an Ed25519 key.
    pub fn from_raw(alg: Algorithm, raw: &[u8]) -> Result<PublicKey, KeyError> {
        match alg {
            Algorithm::Es256 => {
                let mut p = [0u8; 65];
                match raw.len() {
                    65 if raw[0] == 4 => p.copy_from_slice(raw),
                    64 => {
                        p[0] = 4;
                        p[1..].copy_from_slice(raw);
                    }
                    n => return Err(KeyError(format!("P-256 key of {n} bytes"))),
                }
                Ok(PublicKey::Es256(p))
            }
            Algorithm::EdDsa => raw
                .try_into()
                .map(PublicKey::EdDsa)
                .map_err(|_| KeyError(format!("Ed25519 key of {} bytes", raw.len()))),
        }
    }

    /// `es256:<base64>` or `eddsa:<base64>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.algorithm().name(),
            STANDARD.encode(self.bytes())
        )
    }

    /// Parses [`PublicKey::to_text`].
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        let (alg, b64) = text
            .split_once(':')
            .ok_or_else(|| err("key is not <alg>:<base64>"))?;
        let alg = match alg {
            "es256" => Algorithm::Es256,
            "eddsa" => Algorithm::EdDsa,
            other => return Err(KeyError(format!("unknown key algorithm {other:?}"))),
        };
        let raw = STANDARD.decode(b64).map_err(|_| err("key is not base64"))?;
        if alg == Algorithm::Es256 && raw.len() != 65 {
            return Err(err("stored P-256 key is not 65 bytes"));
        }
        PublicKey::from_raw(alg, &raw)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Credential ids in records: URL-safe base64 without padding.
pub fn id_to_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Parses [`id_to_text`]; also accepts the standard alphabet and padding, as other
/// tools write them.
pub fn id_from_text(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .ok()
        })
        .filter(|id| !id.is_empty() && id.len() <= 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cose_map(entries: Vec<(i64, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Integer(k.into()), v))
                .collect(),
        )
    }

    #[test]
    fn es256_and_eddsa_cose_keys_parse_and_round_trip() {
        let es = cose_map(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(1.into())),
            (-2, Value::Bytes(vec![1; 32])),
            (-3, Value::Bytes(vec![2; 32])),
        ]);
        let k = PublicKey::from_cose(&es).unwrap();
        assert_eq!(k.bytes()[0], 4);
        assert_eq!(PublicKey::from_text(&k.to_text()).unwrap(), k);
        let ed = cose_map(vec![
            (1, Value::Integer(1.into())),
            (3, Value::Integer((-8).into())),
            (-1, Value::Integer(6.into())),
            (-2, Value::Bytes(vec![3; 32])),
        ]);
        let k = PublicKey::from_cose(&ed).unwrap();
        assert_eq!(k, PublicKey::EdDsa([3; 32]));
        assert_eq!(PublicKey::from_text(&k.to_text()).unwrap(), k);
    }

    #[test]
    fn other_keys_are_refused() {
        let rs256 = cose_map(vec![
            (1, Value::Integer(3.into())),
            (3, Value::Integer((-257).into())),
        ]);
        assert!(PublicKey::from_cose(&rs256).is_err());
        let short = cose_map(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(1.into())),
            (-2, Value::Bytes(vec![1; 31])),
            (-3, Value::Bytes(vec![2; 32])),
        ]);
        assert!(PublicKey::from_cose(&short).is_err());
        assert!(PublicKey::from_cose(&Value::Integer(1.into())).is_err());
        assert!(PublicKey::from_text("rs256:AAAA").is_err());
        assert!(PublicKey::from_text("es256:AAAA").is_err());
    }

    #[test]
    fn raw_points_with_and_without_prefix() {
        let with = PublicKey::from_raw(Algorithm::Es256, &[4; 65]).unwrap();
        let mut without = [4u8; 64];
        without[0] = 4;
        assert_eq!(
            PublicKey::from_raw(Algorithm::Es256, &without).unwrap(),
            with
        );
        assert!(PublicKey::from_raw(Algorithm::Es256, &[5; 65]).is_err());
        assert!(PublicKey::from_raw(Algorithm::EdDsa, &[0; 31]).is_err());
    }

    #[test]
    fn credential_ids_in_both_alphabets() {
        let id = vec![0xfb, 0xff, 0x01, 0x02];
        assert_eq!(id_from_text(&id_to_text(&id)), Some(id.clone()));
        assert_eq!(id_from_text("+/8BAg=="), Some(id));
        assert_eq!(id_from_text(""), None);
        assert_eq!(id_from_text("!!"), None);
    }
}
