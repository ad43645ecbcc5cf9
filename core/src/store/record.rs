//! One user's record: enrolled factors and login state, and its on-disk TOML form.
//!
//! Invariant: a [`Record`] in memory is always valid (secret decodes, parameters in
//! range, hashes well-formed); text that does not describe a valid record is refused
//! with the reason, never repaired. Unknown keys are refused too: a newer record
//! format must not be silently truncated by an older module.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::contact::{Channel, Contact};
use crate::fido2::{cose, KeyCredential, PublicKey, UserVerification};
use crate::oob::{OobState, Pending};
use crate::recovery::Hashed;
use crate::totp::{Algorithm, Params, Secret};

/// The record format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A TOTP enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    pub secret: Secret,
    pub params: Params,
    /// Unix time of enrollment.
    pub created: u64,
    /// The newest time step accepted; no code for it or earlier is accepted again.
    pub last_step: Option<u64>,
}

/// A set of recovery codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodes {
    pub hashed: Hashed,
    /// Unix time the set was generated.
    pub created: u64,
}

/// Login state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Consecutive failures since the last success or lockout.
    pub failures: u32,
    /// Unix time until which the user is locked out; 0: not locked.
    pub locked_until: u64,
    /// Unix time of the last successful second factor.
    pub last_success: Option<u64>,
    /// Unix time of the last failed attempt.
    pub last_failure: Option<u64>,
}

/// Everything the store keeps about one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub totp: Option<TotpEnrollment>,
    pub recovery: Option<RecoveryCodes>,
    /// Registered security keys, in registration order.
    pub keys: Vec<KeyCredential>,
    /// Where out-of-band codes go.
    pub contact: Option<Contact>,
    /// The out-of-band code in flight and recent sends.
    pub oob: OobState,
    pub state: State,
}

impl Record {
    /// Whether the user is enrolled: a factor is present (perhaps used up).
    pub fn has_factor(&self) -> bool {
        // A set of recovery codes counts even when every code is used: a user who
        // spent them all is enrolled and refused, never "unenrolled" (which
        // `ignore` would let through, or `enroll` would let anyone re-enroll).
        self.totp.is_some() || !self.keys.is_empty() || self.recovery.is_some()
    }

    /// Enrolled, and every factor is used up: no app, no key, no recovery code left.
    pub fn is_spent(&self) -> bool {
        self.totp.is_none()
            && self.keys.is_empty()
            && self
                .recovery
                .as_ref()
                .is_some_and(|r| r.hashed.hashes.is_empty())
    }
}

/// Why record text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordError {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp: Option<TotpForm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovery: Option<RecoveryForm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyForm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contact: Option<ContactForm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oob: Option<OobForm>,
    #[serde(default)]
    state: StateForm,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactForm {
    channel: String,
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verified: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OobForm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sends: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyForm {
    name: String,
    credential_id: String,
    public_key: String,
    rp_id: String,
    user_verification: String,
    #[serde(default)]
    pin: bool,
    sign_count: u32,
    created: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpForm {
    secret: Zeroizing<String>,
    algorithm: String,
    digits: u8,
    period: u32,
    created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_step: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryForm {
    salt: String,
    hashes: Vec<String>,
    created: u64,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StateForm {
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    locked_until: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_success: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_failure: Option<u64>,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Record {
    /// Parses the on-disk form.
    pub fn from_toml(text: &str) -> Result<Record, RecordError> {
        let form: FileForm = toml::from_str(text)
            .map_err(|e| RecordError(format!("not a valid record: {}", e.message().trim_end())))?;
        if form.version != FORMAT_VERSION {
            return Err(RecordError(format!(
                "record format version {} (this module reads version {FORMAT_VERSION})",
                form.version
            )));
        }
        let totp = match form.totp {
            None => None,
            Some(t) => {
                let algorithm = Algorithm::from_name(&t.algorithm).ok_or_else(|| {
                    RecordError(format!("totp.algorithm {:?} unknown", t.algorithm))
                })?;
                let params = Params {
                    algorithm,
                    digits: t.digits,
                    period: t.period,
                }
                .validate()
                .map_err(|e| RecordError(format!("totp: {e}")))?;
                let secret = Secret::from_base32(&t.secret)
                    .map_err(|e| RecordError(format!("totp.secret: {e}")))?;
                Some(TotpEnrollment {
                    secret,
                    params,
                    created: t.created,
                    last_step: t.last_step,
                })
            }
        };
        let recovery = match form.recovery {
            None => None,
            Some(r) => {
                if !is_hex(&r.salt, 32) {
                    return Err(RecordError("recovery.salt is not 32 hex digits".into()));
                }
                if let Some(bad) = r.hashes.iter().position(|h| !is_hex(h, 64)) {
                    return Err(RecordError(format!(
                        "recovery.hashes[{bad}] is not a SHA-256 in hex"
                    )));
                }
                Some(RecoveryCodes {
                    hashed: Hashed {
                        salt: r.salt,
                        hashes: r.hashes,
                    },
                    created: r.created,
                })
            }
        };
        let keys = form
            .keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                let bad = |what: &str| RecordError(format!("keys[{i}].{what} is invalid"));
                Ok(KeyCredential {
                    credential_id: cose::id_from_text(&k.credential_id)
                        .ok_or_else(|| bad("credential_id"))?,
                    public_key: PublicKey::from_text(&k.public_key)
                        .map_err(|_| bad("public_key"))?,
                    user_verification: UserVerification::from_name(&k.user_verification)
                        .ok_or_else(|| bad("user_verification"))?,
                    name: k.name,
                    rp_id: k.rp_id,
                    pin: k.pin,
                    sign_count: k.sign_count,
                    created: k.created,
                })
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        let contact = match form.contact {
            None => None,
            Some(c) => {
                let channel = Channel::from_name(&c.channel).ok_or_else(|| {
                    RecordError(format!("contact.channel {:?} unknown", c.channel))
                })?;
                let mut contact = Contact::parse(channel, &c.address)
                    .map_err(|e| RecordError(format!("contact.address: {e}")))?;
                contact.verified = c.verified;
                Some(contact)
            }
        };
        let oob = match form.oob {
            None => OobState::default(),
            Some(o) => {
                let pending = match (o.salt, o.hash, o.expires) {
                    (None, None, None) => None,
                    (Some(salt), Some(hash), Some(expires))
                        if is_hex(&salt, 32) && is_hex(&hash, 64) =>
                    {
                        Some(Pending {
                            salt,
                            hash,
                            expires,
                        })
                    }
                    _ => {
                        return Err(RecordError(
                            "oob: salt (32 hex digits), hash (64) and expires go together".into(),
                        ))
                    }
                };
                OobState {
                    pending,
                    sends: o.sends,
                }
            }
        };
        Ok(Record {
            totp,
            recovery,
            keys,
            contact,
            oob,
            state: State {
                failures: form.state.failures,
                locked_until: form.state.locked_until,
                last_success: form.state.last_success,
                last_failure: form.state.last_failure,
            },
        })
    }

    /// The on-disk form. Holds the secret, hence wiped on drop.
    pub fn to_toml(&self) -> Result<Zeroizing<String>, RecordError> {
        let form = FileForm {
            version: FORMAT_VERSION,
            totp: self.totp.as_ref().map(|t| TotpForm {
                secret: t.secret.to_base32(),
                algorithm: t.params.algorithm.name().to_owned(),
                digits: t.params.digits,
                period: t.params.period,
                created: t.created,
                last_step: t.last_step,
            }),
            recovery: self.recovery.as_ref().map(|r| RecoveryForm {
                salt: r.hashed.salt.clone(),
                hashes: r.hashed.hashes.clone(),
                created: r.created,
            }),
            keys: self
                .keys
                .iter()
                .map(|k| KeyForm {
                    name: k.name.clone(),
                    credential_id: cose::id_to_text(&k.credential_id),
                    public_key: k.public_key.to_text(),
                    rp_id: k.rp_id.clone(),
                    user_verification: k.user_verification.name().to_owned(),
                    pin: k.pin,
                    sign_count: k.sign_count,
                    created: k.created,
                })
                .collect(),
            contact: self.contact.as_ref().map(|c| ContactForm {
                channel: c.channel.name().to_owned(),
                address: c.address.clone(),
                verified: c.verified,
            }),
            oob: (self.oob != OobState::default()).then(|| OobForm {
                sends: self.oob.sends.clone(),
                salt: self.oob.pending.as_ref().map(|p| p.salt.clone()),
                hash: self.oob.pending.as_ref().map(|p| p.hash.clone()),
                expires: self.oob.pending.as_ref().map(|p| p.expires),
            }),
            state: StateForm {
                failures: self.state.failures,
                locked_until: self.state.locked_until,
                last_success: self.state.last_success,
                last_failure: self.state.last_failure,
            },
        };
        toml::to_string(&form)
            .map(Zeroizing::new)
            .map_err(|e| RecordError(format!("cannot serialize record: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn sample() -> Record {
        let (_, hashed) = crate::recovery::generate(3, &mut OsRandom).unwrap();
        Record {
            totp: Some(TotpEnrollment {
                secret: Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap(),
                params: Params {
                    algorithm: Algorithm::Sha256,
                    digits: 8,
                    period: 60,
                },
                created: 1_700_000_000,
                last_step: Some(28_333_334),
            }),
            recovery: Some(RecoveryCodes {
                hashed,
                created: 1_700_000_001,
            }),
            keys: vec![KeyCredential {
                name: "blue key".into(),
                credential_id: vec![1, 2, 3, 250],
                public_key: PublicKey::EdDsa([7; 32]),
                rp_id: "pam://pam_mfa".into(),
                user_verification: UserVerification::Required,
                pin: true,
                sign_count: 17,
                created: 1_700_000_002,
            }],
            contact: Some(Contact {
                verified: Some(1_700_000_003),
                ..Contact::email("alice@example.org").unwrap()
            }),
            oob: OobState {
                pending: Some(Pending {
                    salt: "0".repeat(32),
                    hash: "a".repeat(64),
                    expires: 1_700_000_300,
                }),
                sends: vec![1_700_000_000],
            },
            state: State {
                failures: 2,
                locked_until: 1_700_000_500,
                last_success: Some(1_700_000_100),
                last_failure: None,
            },
        }
    }

    #[test]
    fn a_record_survives_the_round_trip() {
        let r = sample();
        let text = r.to_toml().unwrap();
        assert_eq!(Record::from_toml(&text).unwrap(), r);
        assert_eq!(
            Record::from_toml(&Record::default().to_toml().unwrap()).unwrap(),
            Record::default()
        );
    }

    #[test]
    fn broken_records_are_refused_with_a_reason() {
        let good = sample().to_toml().unwrap().to_string();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "missing field `version`"),
            ("version = 2\n".into(), "format version 2"),
            (
                good.replace("algorithm = \"SHA256\"", "algorithm = \"MD5\""),
                "MD5",
            ),
            (good.replace("digits = 8", "digits = 12"), "12 digits"),
            (good.replace("period = 60", "period = 0"), "period of 0"),
            (good.replace("JBSWY3DP", "!!!!!!!!"), "totp.secret"),
            (good.replace("salt = \"", "salt = \"x"), "recovery.salt"),
            (format!("{good}\n[extra]\nx = 1\n"), "unknown field `extra`"),
            (
                good.replace("failures = 2", "failures = 2\nadmin = true"),
                "unknown field `admin`",
            ),
            (good[..good.len() / 2].to_owned(), "not a valid record"),
            (
                good.replace("channel = \"email\"", "channel = \"pigeon\""),
                "contact.channel",
            ),
            (
                good.replace("alice@example.org", "alice@example.org; id"),
                "contact.address",
            ),
            (good.replace("expires = ", "expired = "), "unknown field"),
            (
                good.replace(&format!("hash = \"{}\"", "a".repeat(64)), ""),
                "go together",
            ),
        ];
        for (text, want) in cases {
            let e = Record::from_toml(&text).unwrap_err();
            assert!(e.0.contains(want), "want {want:?} in {e}");
        }
    }

    #[test]
    fn factors_are_reported() {
        assert!(!Record::default().has_factor());
        assert!(sample().has_factor());
        let mut only_used_codes = sample();
        only_used_codes.totp = None;
        only_used_codes
            .recovery
            .as_mut()
            .unwrap()
            .hashed
            .hashes
            .clear();
        assert!(only_used_codes.has_factor(), "a security key is a factor");
        assert!(!only_used_codes.is_spent());
        only_used_codes.keys.clear();
        assert!(
            only_used_codes.has_factor(),
            "used-up recovery codes still make the user enrolled"
        );
        assert!(only_used_codes.is_spent());
        only_used_codes.recovery = None;
        assert!(!only_used_codes.has_factor());
        assert!(!only_used_codes.is_spent());
    }
}
