//! One user's record: enrolled factors and login state, and its on-disk TOML form.
//!
//! Invariant: a [`Record`] in memory is always valid (secret decodes, parameters in
//! range, hashes well-formed); text that does not describe a valid record is refused
//! with the reason, never repaired. Unknown keys are refused too: a newer record
//! format must not be silently truncated by an older module. What could not be
//! read back (two apps of one name, a bad name, too many apps) is not written
//! either; a user whose only app is the default one gets the single `[totp]` table
//! every earlier version wrote.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::contact::{Channel, Contact};
use crate::fido2::{cose, KeyCredential, PublicKey, UserVerification};
use crate::recovery::Hashed;
use crate::salted_hash::{Digest, Salt, SaltedHash};
use crate::sent_code::{OobState, Pending};
use crate::totp::{self, Algorithm, Params, Secret};

/// The record format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A TOTP enrollment: one authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The user's name for the app, unique for the user ([`totp::check_name`]);
    /// [`totp::DEFAULT_NAME`] when nobody named it.
    pub name: String,
    pub secret: Secret,
    pub params: Params,
    /// Unix time of enrollment.
    pub created: u64,
    /// The newest time step accepted for this app; no code of this app for it or
    /// earlier is accepted again.
    pub last_step: Option<u64>,
}

/// A counter-based (HOTP) token: a key fob, a YubiKey OATH slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotpToken {
    /// Unique among the user's tokens; see [`crate::hotp::name_problem`].
    pub name: String,
    pub secret: Secret,
    /// 6 or 8.
    pub digits: u8,
    /// The next expected counter value: every value before it is used up.
    pub counter: u64,
    /// Unix time of enrollment.
    pub created: u64,
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
    /// Where a second factor passed recently (`policy.remember_seconds`), oldest
    /// first, at most [`crate::grace::MAX_REMEMBERED`]. Forgotten on a failure and
    /// on any change of the factors.
    pub remembered: Vec<Remembered>,
}

/// A remote address a second factor passed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// Canonical: an IPv4-mapped IPv6 address is stored as IPv4.
    pub ip: IpAddr,
    /// Unix time of that success.
    pub at: u64,
}

/// What makes up a user's factors, to tell a change of them from a login's
/// bookkeeping (replay step, used recovery code, sign counter, lockout).
#[derive(PartialEq, Eq)]
pub struct Factors {
    totp: Vec<(Secret, Params, u64)>,
    recovery: Option<(String, u64)>,
    keys: Vec<Vec<u8>>,
    /// Not the counter: it moves with every login.
    hotp: Vec<(Secret, u8, u64)>,
    contact: Option<(&'static str, String)>,
}

/// Everything the store keeps about one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Authenticator apps, in enrollment order, at most [`totp::MAX_APPS`], names
    /// unique.
    pub totp: Vec<TotpEnrollment>,
    pub recovery: Option<RecoveryCodes>,
    /// Registered security keys, in registration order.
    pub keys: Vec<KeyCredential>,
    /// Counter-based tokens, in enrollment order.
    pub hotp: Vec<HotpToken>,
    /// Where out-of-band codes go.
    pub contact: Option<Contact>,
    /// The out-of-band code in flight and recent sends.
    pub oob: OobState,
    pub state: State,
}

impl Record {
    /// The user's factors, without the state a login changes.
    pub fn factors(&self) -> Factors {
        Factors {
            totp: self
                .totp
                .iter()
                .map(|t| (t.secret.clone(), t.params, t.created))
                .collect(),
            recovery: self
                .recovery
                .as_ref()
                .map(|r| (r.hashed.salt().to_hex(), r.created)),
            keys: self.keys.iter().map(|k| k.credential_id.clone()).collect(),
            hotp: self
                .hotp
                .iter()
                .map(|h| (h.secret.clone(), h.digits, h.created))
                .collect(),
            contact: self
                .contact
                .as_ref()
                .map(|c| (c.channel().name(), c.address().to_owned())),
        }
    }

    /// The authenticator app named `name`.
    pub fn app(&self, name: &str) -> Option<&TotpEnrollment> {
        self.totp.iter().find(|t| t.name == name)
    }

    /// Whether the user is enrolled: a factor is present (perhaps used up).
    pub fn has_factor(&self) -> bool {
        // A set of recovery codes counts even when every code is used: a user who
        // spent them all is enrolled and refused, never "unenrolled" (which
        // `ignore` would let through, or `enroll` would let anyone re-enroll).
        !self.totp.is_empty()
            || !self.keys.is_empty()
            || !self.hotp.is_empty()
            || self.recovery.is_some()
    }

    /// Enrolled, and every factor is used up: no app, no key, no recovery code left.
    pub fn is_spent(&self) -> bool {
        self.totp.is_empty()
            && self.keys.is_empty()
            && self.hotp.is_empty()
            && self.recovery.as_ref().is_some_and(|r| r.hashed.is_empty())
    }
}

/// Why record text was refused (or a record could not be written).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The file is not UTF-8 text.
    NotUtf8,
    /// Not TOML, or not a record's shape: a missing or unknown key, a wrong type
    /// (the TOML parser's message).
    Syntax(String),
    /// A record format version this code does not read.
    Version(u32),
    /// A field whose value is invalid: its name (`totp.secret`,
    /// `keys[0].public_key`) and why.
    Invalid { field: String, reason: String },
    /// The pending out-of-band code's salt, hash and expiry are not all present
    /// or all absent.
    OobIncomplete,
    /// The record could not be written as TOML.
    Serialize(String),
}

impl RecordError {
    fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> RecordError {
        RecordError::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NotUtf8 => f.write_str("not valid UTF-8"),
            RecordError::Syntax(m) => write!(f, "not a valid record: {m}"),
            RecordError::Version(v) => write!(
                f,
                "record format version {v} (this module reads version {FORMAT_VERSION})"
            ),
            RecordError::Invalid { field, reason } => write!(f, "{field}: {reason}"),
            RecordError::OobIncomplete => {
                f.write_str("oob: salt (32 hex digits), hash (64) and expires go together")
            }
            RecordError::Serialize(m) => write!(f, "cannot serialize record: {m}"),
        }
    }
}

impl std::error::Error for RecordError {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp: Option<TotpTables>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovery: Option<RecoveryForm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyForm>,
    // Absent when empty: records without tokens stay as older versions wrote them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hotp: Vec<HotpForm>,
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

/// The apps in the file: one `[totp]` table (the form before several apps
/// existed, still written when the only app is the default one, so that an older
/// version reads it) or an array of `[[totp]]` tables, each with its name.
#[derive(Serialize)]
#[serde(untagged)]
enum TotpTables {
    One(TotpForm),
    Many(Vec<TotpForm>),
}

impl<'de> Deserialize<'de> for TotpTables {
    // By hand rather than `untagged`: the parser's own message (an unknown key, a
    // missing one) reaches the admin instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = TotpTables;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [totp] table or [[totp]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TotpTables, A::Error> {
                TotpForm::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TotpTables::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<TotpTables, A::Error> {
                Vec::<TotpForm>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(TotpTables::Many)
            }
        }
        d.deserialize_any(Tables)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpForm {
    /// Absent: [`totp::DEFAULT_NAME`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
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
struct HotpForm {
    name: String,
    secret: Zeroizing<String>,
    digits: u8,
    counter: u64,
    created: u64,
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
    // Absent when empty: a record without memories stays readable by versions
    // that do not know the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    remembered: Vec<RememberedForm>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RememberedForm {
    ip: String,
    at: u64,
}

impl StateForm {
    fn parse(self) -> Result<State, RecordError> {
        if self.remembered.len() > crate::grace::MAX_REMEMBERED {
            return Err(RecordError::invalid(
                "state.remembered",
                format!("more than {} addresses", crate::grace::MAX_REMEMBERED),
            ));
        }
        let remembered = self
            .remembered
            .into_iter()
            .enumerate()
            .map(|(i, r)| match crate::network::rhost_ip(&r.ip) {
                Some(ip) if ip.to_string() == r.ip => Ok(Remembered { ip, at: r.at }),
                _ => Err(RecordError::invalid(
                    format!("state.remembered[{i}].ip"),
                    format!("{:?} is not a canonical IP address", r.ip),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(State {
            failures: self.failures,
            locked_until: self.locked_until,
            last_success: self.last_success,
            last_failure: self.last_failure,
            remembered,
        })
    }
}

// Each section of the file form becomes its typed part, or the reason it cannot.

impl TotpTables {
    /// The apps, in file order: names valid and unique, at most
    /// [`totp::MAX_APPS`]. Errors name `totp.FIELD` for the single table and
    /// `totp[i].FIELD` for the array.
    fn parse(self) -> Result<Vec<TotpEnrollment>, RecordError> {
        let apps = match self {
            TotpTables::One(form) => vec![form.parse("totp")?],
            TotpTables::Many(forms) => {
                too_many(forms.len())?;
                forms
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| f.parse(&format!("totp[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        check_apps(&apps)?;
        Ok(apps)
    }

    /// The file form of `apps`; `None` when there are none.
    fn of(apps: &[TotpEnrollment]) -> Option<TotpTables> {
        match apps {
            [] => None,
            [only] if only.name == totp::DEFAULT_NAME => Some(TotpTables::One(TotpForm {
                name: None,
                ..TotpForm::of(only)
            })),
            apps => Some(TotpTables::Many(apps.iter().map(TotpForm::of).collect())),
        }
    }
}

fn too_many(apps: usize) -> Result<(), RecordError> {
    if apps > totp::MAX_APPS {
        return Err(RecordError::invalid(
            "totp",
            format!("more than {} authenticator apps", totp::MAX_APPS),
        ));
    }
    Ok(())
}

/// What holds for a user's apps besides each one's own fields: at most
/// [`totp::MAX_APPS`], valid names, each name once. Checked when a record is
/// read and before one is written, so a record that could not be read back is
/// never written.
fn check_apps(apps: &[TotpEnrollment]) -> Result<(), RecordError> {
    too_many(apps.len())?;
    for (i, app) in apps.iter().enumerate() {
        let field = || format!("totp[{i}].name");
        totp::check_name(&app.name).map_err(|e| RecordError::invalid(field(), e))?;
        if apps[..i].iter().any(|a| a.name == app.name) {
            return Err(RecordError::invalid(
                field(),
                format!("{:?} appears twice", app.name),
            ));
        }
    }
    Ok(())
}

impl TotpForm {
    fn of(t: &TotpEnrollment) -> TotpForm {
        TotpForm {
            name: Some(t.name.clone()),
            secret: t.secret.to_base32(),
            algorithm: t.params.algorithm.name().to_owned(),
            digits: t.params.digits,
            period: t.params.period,
            created: t.created,
            last_step: t.last_step,
        }
    }

    /// The app at `at` (`totp`, `totp[1]`).
    fn parse(self, at: &str) -> Result<TotpEnrollment, RecordError> {
        let name = self.name.unwrap_or_else(|| totp::DEFAULT_NAME.to_owned());
        totp::check_name(&name).map_err(|e| RecordError::invalid(format!("{at}.name"), e))?;
        let algorithm = Algorithm::from_name(&self.algorithm).ok_or_else(|| {
            RecordError::invalid(
                format!("{at}.algorithm"),
                format!("{:?} unknown", self.algorithm),
            )
        })?;
        let params = Params {
            algorithm,
            digits: self.digits,
            period: self.period,
        }
        .validate()
        .map_err(|e| RecordError::invalid(at, e))?;
        let secret = Secret::from_base32(&self.secret)
            .map_err(|e| RecordError::invalid(format!("{at}.secret"), e))?;
        Ok(TotpEnrollment {
            name,
            secret,
            params,
            created: self.created,
            last_step: self.last_step,
        })
    }
}

impl RecoveryForm {
    fn parse(self) -> Result<RecoveryCodes, RecordError> {
        let salt =
            Salt::from_hex(&self.salt).map_err(|e| RecordError::invalid("recovery.salt", e))?;
        let hashes = self
            .hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Digest::from_hex(h)
                    .map_err(|e| RecordError::invalid(format!("recovery.hashes[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hashed = Hashed::from_parts(salt, hashes)
            .map_err(|i| RecordError::invalid(format!("recovery.hashes[{i}]"), "appears twice"))?;
        Ok(RecoveryCodes {
            hashed,
            created: self.created,
        })
    }
}

impl KeyForm {
    /// The `i`th key.
    fn parse(self, i: usize) -> Result<KeyCredential, RecordError> {
        let bad = |what: &str, why: &dyn fmt::Display| {
            RecordError::invalid(format!("keys[{i}].{what}"), why)
        };
        Ok(KeyCredential {
            credential_id: cose::id_from_text(&self.credential_id)
                .ok_or_else(|| bad("credential_id", &"not base64 of 1 to 1024 bytes"))?,
            public_key: PublicKey::from_text(&self.public_key)
                .map_err(|e| bad("public_key", &e))?,
            user_verification: UserVerification::from_name(&self.user_verification)
                .ok_or_else(|| bad("user_verification", &"unknown"))?,
            name: self.name,
            rp_id: self.rp_id,
            pin: self.pin,
            sign_count: self.sign_count,
            created: self.created,
        })
    }
}

impl HotpForm {
    /// The `i`th token.
    fn parse(self, i: usize) -> Result<HotpToken, RecordError> {
        let bad = |what: &str, why: &dyn fmt::Display| {
            RecordError::invalid(format!("hotp[{i}].{what}"), why)
        };
        if let Some(why) = crate::hotp::name_problem(&self.name) {
            return Err(bad("name", &why));
        }
        if !crate::hotp::valid_digits(self.digits) {
            return Err(bad("digits", &format!("{} (6 or 8)", self.digits)));
        }
        Ok(HotpToken {
            secret: Secret::from_base32(&self.secret).map_err(|e| bad("secret", &e))?,
            name: self.name,
            digits: self.digits,
            counter: self.counter,
            created: self.created,
        })
    }
}

/// The tokens of `forms`, refused if there are too many, or if two share a name
/// or a key (the same key twice would accept each code twice).
fn parse_hotp(forms: Vec<HotpForm>) -> Result<Vec<HotpToken>, RecordError> {
    if forms.len() > crate::hotp::MAX_TOKENS {
        return Err(RecordError::invalid(
            "hotp",
            format!("more than {} tokens", crate::hotp::MAX_TOKENS),
        ));
    }
    let mut tokens: Vec<HotpToken> = Vec::with_capacity(forms.len());
    for (i, form) in forms.into_iter().enumerate() {
        let token = form.parse(i)?;
        if tokens.iter().any(|t| t.name == token.name) {
            return Err(RecordError::invalid(
                format!("hotp[{i}].name"),
                "appears twice",
            ));
        }
        if tokens.iter().any(|t| t.secret == token.secret) {
            return Err(RecordError::invalid(
                format!("hotp[{i}].secret"),
                "appears twice",
            ));
        }
        tokens.push(token);
    }
    Ok(tokens)
}

impl ContactForm {
    fn parse(self) -> Result<Contact, RecordError> {
        let channel = Channel::from_name(&self.channel).ok_or_else(|| {
            RecordError::invalid("contact.channel", format!("{:?} unknown", self.channel))
        })?;
        let mut contact = Contact::parse(channel, &self.address)
            .map_err(|e| RecordError::invalid("contact.address", e))?;
        contact.set_verified(self.verified);
        Ok(contact)
    }
}

impl OobForm {
    fn parse(self) -> Result<OobState, RecordError> {
        let pending = match (self.salt, self.hash, self.expires) {
            (None, None, None) => None,
            (Some(salt), Some(hash), Some(expires)) => {
                let salt =
                    Salt::from_hex(&salt).map_err(|e| RecordError::invalid("oob.salt", e))?;
                let digest =
                    Digest::from_hex(&hash).map_err(|e| RecordError::invalid("oob.hash", e))?;
                Some(Pending::new(SaltedHash::from_parts(salt, digest), expires))
            }
            _ => return Err(RecordError::OobIncomplete),
        };
        Ok(OobState {
            pending,
            sends: self.sends,
        })
    }
}

impl Record {
    /// Parses the on-disk form.
    pub fn from_toml(text: &str) -> Result<Record, RecordError> {
        let form: FileForm = toml::from_str(text)
            .map_err(|e| RecordError::Syntax(e.message().trim_end().to_owned()))?;
        if form.version != FORMAT_VERSION {
            return Err(RecordError::Version(form.version));
        }
        let totp = form
            .totp
            .map(TotpTables::parse)
            .transpose()?
            .unwrap_or_default();
        let recovery = form.recovery.map(RecoveryForm::parse).transpose()?;
        let keys = form
            .keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| k.parse(i))
            .collect::<Result<Vec<_>, RecordError>>()?;
        let hotp = parse_hotp(form.hotp)?;
        let contact = form.contact.map(ContactForm::parse).transpose()?;
        let oob = form
            .oob
            .map(OobForm::parse)
            .transpose()?
            .unwrap_or_default();
        Ok(Record {
            totp,
            recovery,
            keys,
            hotp,
            contact,
            oob,
            state: form.state.parse()?,
        })
    }

    /// The on-disk form. Holds the secret, hence wiped on drop.
    pub fn to_toml(&self) -> Result<Zeroizing<String>, RecordError> {
        check_apps(&self.totp)?;
        let form = FileForm {
            version: FORMAT_VERSION,
            totp: TotpTables::of(&self.totp),
            recovery: self.recovery.as_ref().map(|r| RecoveryForm {
                salt: r.hashed.salt().to_hex(),
                hashes: r.hashed.hashes().iter().map(Digest::to_hex).collect(),
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
            hotp: self
                .hotp
                .iter()
                .map(|h| HotpForm {
                    name: h.name.clone(),
                    secret: h.secret.to_base32(),
                    digits: h.digits,
                    counter: h.counter,
                    created: h.created,
                })
                .collect(),
            contact: self.contact.as_ref().map(|c| ContactForm {
                channel: c.channel().name().to_owned(),
                address: c.address().to_owned(),
                verified: c.verified(),
            }),
            oob: (self.oob != OobState::default()).then(|| OobForm {
                sends: self.oob.sends.clone(),
                salt: self.oob.pending.as_ref().map(|p| p.hash().salt().to_hex()),
                hash: self
                    .oob
                    .pending
                    .as_ref()
                    .map(|p| p.hash().digest().to_hex()),
                expires: self.oob.pending.as_ref().map(Pending::expires),
            }),
            state: StateForm {
                failures: self.state.failures,
                locked_until: self.state.locked_until,
                last_success: self.state.last_success,
                last_failure: self.state.last_failure,
                remembered: self
                    .state
                    .remembered
                    .iter()
                    .map(|r| RememberedForm {
                        ip: r.ip.to_string(),
                        at: r.at,
                    })
                    .collect(),
            },
        };
        toml::to_string(&form)
            .map(Zeroizing::new)
            .map_err(|e| RecordError::Serialize(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn sample() -> Record {
        let (_, hashed) = crate::recovery::generate(3, &mut OsRandom).unwrap();
        Record {
            totp: vec![TotpEnrollment {
                name: totp::DEFAULT_NAME.into(),
                secret: Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap(),
                params: Params {
                    algorithm: Algorithm::Sha256,
                    digits: 8,
                    period: 60,
                },
                created: 1_700_000_000,
                last_step: Some(28_333_334),
            }],
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
            hotp: vec![
                HotpToken {
                    name: "fob".into(),
                    secret: Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(),
                    digits: 6,
                    counter: 41,
                    created: 1_700_000_004,
                },
                HotpToken {
                    name: "yubikey slot 2".into(),
                    secret: Secret::from_base32("MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U").unwrap(),
                    digits: 8,
                    counter: 0,
                    created: 1_700_000_005,
                },
            ],
            contact: Some({
                let mut c = Contact::email("alice@example.org").unwrap();
                c.set_verified(Some(1_700_000_003));
                c
            }),
            oob: OobState {
                pending: Some(Pending::new(
                    SaltedHash::from_parts(
                        Salt::from_hex(&"0".repeat(32)).unwrap(),
                        Digest::from_hex(&"a".repeat(64)).unwrap(),
                    ),
                    1_700_000_300,
                )),
                sends: vec![1_700_000_000],
            },
            state: State {
                failures: 2,
                locked_until: 1_700_000_500,
                last_success: Some(1_700_000_100),
                last_failure: None,
                remembered: vec![
                    Remembered {
                        ip: "192.0.2.7".parse().unwrap(),
                        at: 1_700_000_090,
                    },
                    Remembered {
                        ip: "2001:db8::1".parse().unwrap(),
                        at: 1_700_000_100,
                    },
                ],
            },
        }
    }

    fn app(name: &str, secret: &str) -> TotpEnrollment {
        TotpEnrollment {
            name: name.into(),
            secret: Secret::from_base32(secret).unwrap(),
            params: Params::DEFAULT,
            created: 1_700_000_010,
            last_step: None,
        }
    }

    /// A record as every version before several apps wrote it.
    const OLD_RECORD: &str = r#"version = 1

[totp]
secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
algorithm = "SHA1"
digits = 6
period = 30
created = 1700000000
last_step = 56666666

[recovery]
salt = "00000000000000000000000000000000"
hashes = []
created = 1700000001

[state]
failures = 1
locked_until = 0
"#;

    #[test]
    fn an_old_record_reads_as_one_app_named_default_and_is_written_as_it_was() {
        let r = Record::from_toml(OLD_RECORD).unwrap();
        assert_eq!(r.totp.len(), 1);
        let t = &r.totp[0];
        assert_eq!(t.name, "default");
        assert_eq!(t.secret, Secret::from_base32(SECRET).unwrap());
        assert_eq!((t.params, t.created), (Params::DEFAULT, 1_700_000_000));
        assert_eq!(t.last_step, Some(56_666_666));
        assert_eq!(r.app("default"), Some(t));
        // Written back in the single-table form, without a name: an older version
        // (which refuses unknown keys and [[totp]]) still reads it.
        let text = r.to_toml().unwrap();
        assert_eq!(text.as_str(), OLD_RECORD);
    }

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn several_apps_are_written_as_named_tables_in_their_order() {
        let mut r = sample();
        r.totp
            .push(app("work-phone", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        r.totp[1].last_step = Some(56_666_667);
        let text = r.to_toml().unwrap();
        assert!(text.contains("[[totp]]\nname = \"default\"\n"), "{}", *text);
        assert!(
            text.contains("[[totp]]\nname = \"work-phone\"\n"),
            "{}",
            *text
        );
        assert!(!text.contains("\n[totp]\n"), "{}", *text);
        assert_eq!(Record::from_toml(&text).unwrap(), r);
        // One app that is not the default one needs its name: the array form.
        let mut other = Record::default();
        other.totp.push(app("work-phone", SECRET));
        let text = other.to_toml().unwrap();
        assert!(
            text.contains("[[totp]]\nname = \"work-phone\"\n"),
            "{}",
            *text
        );
        assert_eq!(Record::from_toml(&text).unwrap(), other);
        // A named single table (hand-written) reads too; an array entry without a
        // name is the default one.
        let named = OLD_RECORD.replace("[totp]\n", "[totp]\nname = \"laptop\"\n");
        assert_eq!(Record::from_toml(&named).unwrap().totp[0].name, "laptop");
        let unnamed = OLD_RECORD.replace("[totp]\n", "[[totp]]\n");
        assert_eq!(Record::from_toml(&unnamed).unwrap().totp[0].name, "default");
    }

    #[test]
    fn duplicate_bad_and_too_many_apps_are_refused_naming_the_field() {
        let two = |a: &str, b: &str| {
            let entry = |n: &str| {
                format!("[[totp]]\nname = {n:?}\nsecret = \"{SECRET}\"\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\ncreated = 1\n\n")
            };
            format!("version = 1\n\n{}{}", entry(a), entry(b))
        };
        assert_eq!(Record::from_toml(&two("a", "b")).unwrap().totp.len(), 2);
        for (text, field) in [
            (two("phone", "phone"), "totp[1].name"),
            (two("phone", "work phone"), "totp[1].name"),
            (two("", "phone"), "totp[0].name"),
            (two("phone", &"x".repeat(33)), "totp[1].name"),
            (
                OLD_RECORD.replace("[totp]\n", "[totp]\nname = \"-x\"\n"),
                "totp.name",
            ),
            (
                two("a", "b").replace(
                    "algorithm = \"SHA1\"\ndigits = 6\nperiod = 30\ncreated = 1\n\n",
                    "algorithm = \"MD5\"\ndigits = 6\nperiod = 30\ncreated = 1\n\n",
                ),
                "totp[0].algorithm",
            ),
        ] {
            match Record::from_toml(&text) {
                Err(RecordError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        let nine: String = (0..9)
            .map(|i| {
                format!("[[totp]]\nname = \"p{i}\"\nsecret = \"{SECRET}\"\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\ncreated = 1\n\n")
            })
            .collect();
        match Record::from_toml(&format!("version = 1\n\n{nine}")) {
            Err(RecordError::Invalid { field, reason }) => {
                assert_eq!(field, "totp");
                assert!(reason.contains("more than 8"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // An unknown key in an app names itself, in either form.
        for text in [
            OLD_RECORD.replace("digits = 6", "digits = 6\ncounter = 1"),
            two("a", "b").replacen("digits = 6", "digits = 6\ncounter = 1", 2),
        ] {
            match Record::from_toml(&text) {
                Err(RecordError::Syntax(m)) => {
                    assert!(m.contains("unknown field `counter`"), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
        // A record that could not be read back is not written either.
        let mut r = sample();
        r.totp.push(app("default", SECRET));
        assert!(matches!(
            r.to_toml(),
            Err(RecordError::Invalid { field, .. }) if field == "totp[1].name"
        ));
        r.totp[1].name = "a b".into();
        assert!(r.to_toml().is_err());
        r.totp = (0..9).map(|i| app(&format!("p{i}"), SECRET)).collect();
        assert!(matches!(r.to_toml(), Err(RecordError::Invalid { field, .. }) if field == "totp"));
        r.totp.pop();
        assert!(r.to_toml().is_ok(), "8 apps are fine");
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
    fn records_without_tokens_are_written_as_before() {
        let mut r = sample();
        r.hotp.clear();
        let text = r.to_toml().unwrap();
        assert!(!text.contains("hotp"), "{}", text.as_str());
        let with = sample().to_toml().unwrap();
        assert!(
            with.contains("[[hotp]]\nname = \"fob\""),
            "{}",
            with.as_str()
        );
    }

    #[test]
    fn broken_records_are_refused_with_a_reason() {
        let record = sample();
        let good = record.to_toml().unwrap().to_string();
        let hashed = &record.recovery.as_ref().unwrap().hashed;
        let salt = format!("salt = \"{}\"", hashed.salt().to_hex());
        let first_hash = hashed.hashes()[0].to_hex();
        let second_hash = hashed.hashes()[1].to_hex();
        // Not TOML or not a record's shape: the parser's message names the key.
        for (text, want) in [
            (String::new(), "missing field `version`"),
            (format!("{good}\n[extra]\nx = 1\n"), "unknown field `extra`"),
            (
                good.replace("failures = 2", "failures = 2\nadmin = true"),
                "unknown field `admin`",
            ),
            (
                good.replace("expires = ", "expired = "),
                "unknown field `expired`",
            ),
            (good[..good.len() / 2].to_owned(), ""),
        ] {
            match Record::from_toml(&text) {
                Err(RecordError::Syntax(m)) => assert!(m.contains(want), "{want:?} in {m}"),
                other => panic!("{want:?}: {other:?}"),
            }
        }
        assert_eq!(
            Record::from_toml("version = 2\n"),
            Err(RecordError::Version(2))
        );
        assert_eq!(
            Record::from_toml(&good.replace(&format!("hash = \"{}\"", "a".repeat(64)), "")),
            Err(RecordError::OobIncomplete)
        );
        // A value that does not hold: the error names the field.
        for (text, field) in [
            (
                good.replace("algorithm = \"SHA256\"", "algorithm = \"MD5\""),
                "totp.algorithm",
            ),
            (good.replace("digits = 8", "digits = 12"), "totp"),
            (good.replace("period = 60", "period = 0"), "totp"),
            (good.replace("JBSWY3DP", "!!!!!!!!"), "totp.secret"),
            (good.replace(&salt, "salt = \"x\""), "recovery.salt"),
            (
                good.replace(&salt, &salt.to_uppercase().replace("SALT", "salt")),
                "recovery.salt",
            ),
            (good.replace(&first_hash, "abc"), "recovery.hashes[0]"),
            (
                good.replace(&second_hash, &first_hash),
                "recovery.hashes[1]",
            ),
            (good.replace(&"a".repeat(64), &"a".repeat(62)), "oob.hash"),
            (good.replace(&"0".repeat(32), &"0".repeat(31)), "oob.salt"),
            (
                good.replace("public_key = \"eddsa:", "public_key = \"rsa:"),
                "keys[0].public_key",
            ),
            (
                good.replace(
                    "user_verification = \"required\"",
                    "user_verification = \"maybe\"",
                ),
                "keys[0].user_verification",
            ),
            (
                good.replace("channel = \"email\"", "channel = \"pigeon\""),
                "contact.channel",
            ),
            (
                good.replace("alice@example.org", "alice@example.org; id"),
                "contact.address",
            ),
            (
                good.replace("ip = \"192.0.2.7\"", "ip = \"gateway\""),
                "state.remembered[0].ip",
            ),
            (good.replace("GEZDGNBV", "!!!!!!!!"), "hotp[0].secret"),
            (
                good.replace("MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
                "hotp[1].secret",
            ),
            (
                good.replace("name = \"yubikey slot 2\"", "name = \"fob\""),
                "hotp[1].name",
            ),
            (
                good.replace("name = \"yubikey slot 2\"", "name = \"\""),
                "hotp[1].name",
            ),
            (
                good.replace("name = \"fob\"", "name = \"fob\\n\""),
                "hotp[0].name",
            ),
            (
                good.replace("digits = 6\ncounter = 41", "digits = 7\ncounter = 41"),
                "hotp[0].digits",
            ),
            (
                format!(
                    "{good}{}",
                    (0..15)
                        .map(|i| format!(
                            "[[hotp]]\nname = \"t{i}\"\nsecret = \"{}\"\ndigits = 6\ncounter = 0\ncreated = 1\n",
                            Secret::from_bytes(vec![i as u8 + 1; 20]).unwrap().to_base32().as_str()
                        ))
                        .collect::<String>()
                ),
                "hotp",
            ),
            (
                good.replace("ip = \"192.0.2.7\"", "ip = \"::ffff:192.0.2.7\""),
                "state.remembered[0].ip",
            ),
            (
                good.replace("ip = \"2001:db8::1\"", "ip = \"2001:DB8::1\""),
                "state.remembered[1].ip",
            ),
            (
                format!(
                    "{good}{}",
                    "[[state.remembered]]\nip = \"10.0.0.1\"\nat = 1\n".repeat(15)
                ),
                "state.remembered",
            ),
        ] {
            match Record::from_toml(&text) {
                Err(RecordError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = RecordError::invalid("totp.secret", "not base32");
        assert_eq!(e.to_string(), "totp.secret: not base32");
        // The store's log line for a file that is not text (tests/suites grep it).
        assert_eq!(RecordError::NotUtf8.to_string(), "not valid UTF-8");
    }

    #[test]
    fn factors_change_with_enrollment_not_with_logins() {
        let r = sample();
        let mut login = r.clone();
        login.totp[0].last_step = Some(28_333_335);
        login.recovery.as_mut().unwrap().hashed.clear();
        login.keys[0].sign_count = 18;
        login.keys[0].name = "renamed".into();
        login.hotp[0].counter = 57;
        login.contact.as_mut().unwrap().set_verified(None);
        login.state = State::default();
        login.oob = OobState::default();
        assert!(login.factors() == r.factors(), "a login's bookkeeping");
        let changes: [&dyn Fn(&mut Record); 10] = [
            &|r| r.hotp.clear(),
            &|r| r.hotp[1].secret = Secret::from_base32("GEZDGNBVGY3TQOJR").unwrap(),
            &|r| r.hotp[0].digits = 8,
            &|r| r.totp.clear(),
            &|r| r.totp[0].created += 1,
            &|r| r.totp[0].secret = Secret::from_base32("GEZDGNBVGY3TQOJQ").unwrap(),
            &|r| r.totp.push(app("work-phone", "GEZDGNBVGY3TQOJQ")),
            &|r| {
                let (_, hashed) = crate::recovery::generate(3, &mut OsRandom).unwrap();
                r.recovery.as_mut().unwrap().hashed = hashed;
            },
            &|r| r.keys[0].credential_id.push(1),
            &|r| r.contact = Some(Contact::email("mallory@example.org").unwrap()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = r.clone();
            change(&mut changed);
            assert!(changed.factors() != r.factors(), "change {i}");
        }
    }

    #[test]
    fn factors_are_reported() {
        assert!(!Record::default().has_factor());
        assert!(sample().has_factor());
        let mut only_used_codes = sample();
        only_used_codes.totp.clear();
        only_used_codes.recovery.as_mut().unwrap().hashed.clear();
        assert!(only_used_codes.has_factor(), "a security key is a factor");
        assert!(!only_used_codes.is_spent());
        only_used_codes.keys.clear();
        assert!(!only_used_codes.is_spent(), "an HOTP token is a factor");
        only_used_codes.hotp.clear();
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
