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

    /// The curve, as people name it in messages.
    fn curve(self) -> &'static str {
        match self {
            Algorithm::Es256 => "P-256",
            Algorithm::EdDsa => "Ed25519",
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
#[non_exhaustive]
pub enum KeyError {
    /// The COSE key is not a CBOR map.
    NotAMap,
    /// A parameter the key needs is missing: `kty`, `alg` or a coordinate.
    Missing(&'static str),
    /// A key type and algorithm we do not verify (RS256 and others).
    Unsupported { kty: i128, alg: i128 },
    /// A COSE coordinate of the wrong length (P-256 and Ed25519 use 32 bytes).
    Coordinate { alg: Algorithm, len: usize },
    /// Raw or stored key bytes of the wrong length for their algorithm.
    Length { alg: Algorithm, len: usize },
    /// Stored text that is not `<alg>:<base64>`.
    NotText,
    /// Stored text naming an algorithm we do not know.
    UnknownAlgorithm(String),
    /// Stored text whose key part is not base64.
    NotBase64,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAMap => f.write_str("COSE key is not a map"),
            KeyError::Missing(what) => write!(f, "COSE key without {what}"),
            KeyError::Unsupported { kty, alg } => {
                write!(f, "unsupported COSE key (kty {kty}, alg {alg})")
            }
            KeyError::Coordinate { alg, len } => {
                write!(f, "{} coordinate of {len} bytes, not 32", alg.curve())
            }
            KeyError::Length { alg, len } => write!(f, "{} key of {len} bytes", alg.curve()),
            KeyError::NotText => f.write_str("key is not <alg>:<base64>"),
            KeyError::UnknownAlgorithm(a) => write!(f, "unknown key algorithm {a:?}"),
            KeyError::NotBase64 => f.write_str("key is not base64"),
        }
    }
}

impl std::error::Error for KeyError {}

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
        let map = value.as_map().ok_or(KeyError::NotAMap)?;
        let get = |label: i128| {
            map.iter()
                .find(|(k, _)| int(k) == Some(label))
                .map(|(_, v)| v)
        };
        let kty = get(1).and_then(int).ok_or(KeyError::Missing("kty"))?;
        let alg = get(3).and_then(int).ok_or(KeyError::Missing("alg"))?;
        let crv = get(-1).and_then(int);
        let bytes = |label| {
            get(label)
                .and_then(Value::as_bytes)
                .ok_or(KeyError::Missing("a coordinate"))
        };
        match (kty, alg, crv) {
            (2, -7, Some(1)) => {
                let (x, y) = (bytes(-2)?, bytes(-3)?);
                if let Some(bad) = [x, y].into_iter().find(|c| c.len() != 32) {
                    return Err(KeyError::Coordinate {
                        alg: Algorithm::Es256,
                        len: bad.len(),
                    });
                }
                let mut p = [0u8; 65];
                p[0] = 4;
                p[1..33].copy_from_slice(x);
                p[33..].copy_from_slice(y);
                Ok(PublicKey::Es256(p))
            }
            (1, -8, Some(6)) => {
                let x = bytes(-2)?;
                let k: [u8; 32] = x.as_slice().try_into().map_err(|_| KeyError::Coordinate {
                    alg: Algorithm::EdDsa,
                    len: x.len(),
                })?;
                Ok(PublicKey::EdDsa(k))
            }
            _ => Err(KeyError::Unsupported { kty, alg }),
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
                    len => return Err(KeyError::Length { alg, len }),
                }
                Ok(PublicKey::Es256(p))
            }
            Algorithm::EdDsa => {
                raw.try_into()
                    .map(PublicKey::EdDsa)
                    .map_err(|_| KeyError::Length {
                        alg,
                        len: raw.len(),
                    })
            }
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
        let (alg, b64) = text.split_once(':').ok_or(KeyError::NotText)?;
        let alg = match alg {
            "es256" => Algorithm::Es256,
            "eddsa" => Algorithm::EdDsa,
            other => return Err(KeyError::UnknownAlgorithm(other.to_owned())),
        };
        let raw = STANDARD.decode(b64).map_err(|_| KeyError::NotBase64)?;
        if alg == Algorithm::Es256 && raw.len() != 65 {
            return Err(KeyError::Length {
                alg,
                len: raw.len(),
            });
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
        assert_eq!(
            PublicKey::from_cose(&rs256),
            Err(KeyError::Unsupported { kty: 3, alg: -257 })
        );
        let short = cose_map(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(1.into())),
            (-2, Value::Bytes(vec![1; 31])),
            (-3, Value::Bytes(vec![2; 32])),
        ]);
        assert_eq!(
            PublicKey::from_cose(&short),
            Err(KeyError::Coordinate {
                alg: Algorithm::Es256,
                len: 31
            })
        );
        assert_eq!(
            PublicKey::from_cose(&Value::Integer(1.into())),
            Err(KeyError::NotAMap)
        );
        assert_eq!(
            PublicKey::from_cose(&cose_map(vec![(1, Value::Integer(2.into()))])),
            Err(KeyError::Missing("alg"))
        );
        assert_eq!(
            PublicKey::from_text("rs256:AAAA"),
            Err(KeyError::UnknownAlgorithm("rs256".into()))
        );
        assert_eq!(
            PublicKey::from_text("es256:AAAA"),
            Err(KeyError::Length {
                alg: Algorithm::Es256,
                len: 3
            })
        );
        assert_eq!(PublicKey::from_text("es256"), Err(KeyError::NotText));
        assert_eq!(PublicKey::from_text("es256:!"), Err(KeyError::NotBase64));
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
        assert_eq!(
            PublicKey::from_raw(Algorithm::Es256, &[5; 65]),
            Err(KeyError::Length {
                alg: Algorithm::Es256,
                len: 65
            })
        );
        assert_eq!(
            PublicKey::from_raw(Algorithm::EdDsa, &[0; 31]),
            Err(KeyError::Length {
                alg: Algorithm::EdDsa,
                len: 31
            })
        );
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
