//! One user's record: enrolled factors and login state, and its on-disk TOML form.
//!
//! Invariant: a [`Record`] in memory is always valid (secret decodes, parameters in
//! range, hashes well-formed, at most [`totp::MAX_APPS`] apps and
//! [`crate::hotp::MAX_TOKENS`] tokens with valid, unique names, no token key twice,
//! key names unique, at most [`crate::grace::MAX_REMEMBERED`] canonical addresses),
//! and this holds by construction: the fields are private, and the constructors and
//! mutators that reading a record and every program use check each rule in one
//! place ([`RuleError`] says which one a change would break). Text that does not
//! describe a valid record is refused with the reason, never repaired. Unknown keys
//! are refused too: a newer record format must not be silently truncated by an
//! older module. A user whose only app is the default one gets the single `[totp]`
//! table every earlier version wrote.

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

/// A TOTP enrollment: one authenticator app. Its name and parameters are valid by
/// construction ([`TotpEnrollment::new`]); in a record only its replay state
/// changes, and only forward ([`Record::use_app_step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The user's name for the app, unique for the user ([`totp::check_name`]);
    /// [`totp::DEFAULT_NAME`] when nobody named it.
    name: String,
    secret: Secret,
    params: Params,
    /// Unix time of enrollment.
    created: u64,
    /// The newest time step accepted for this app; no code of this app for it or
    /// earlier is accepted again.
    last_step: Option<u64>,
}

impl TotpEnrollment {
    /// An app named `name` (checked: [`totp::check_name`]) with `params` (checked:
    /// [`Params::validate`]), enrolled at `created`, no code used yet.
    pub fn new(
        name: &str,
        secret: Secret,
        params: Params,
        created: u64,
    ) -> Result<TotpEnrollment, RuleError> {
        totp::check_name(name).map_err(RuleError::AppName)?;
        let params = params.validate().map_err(RuleError::AppParams)?;
        Ok(TotpEnrollment {
            name: name.to_owned(),
            secret,
            params,
            created,
            last_step: None,
        })
    }

    /// The same app with `last_step` as its newest used step (a stored or
    /// imported replay state, a confirmation code just typed).
    pub fn with_last_step(self, last_step: Option<u64>) -> TotpEnrollment {
        TotpEnrollment { last_step, ..self }
    }

    /// The same app under the name `name` (checked).
    pub fn renamed(self, name: &str) -> Result<TotpEnrollment, RuleError> {
        totp::check_name(name).map_err(RuleError::AppName)?;
        Ok(TotpEnrollment {
            name: name.to_owned(),
            ..self
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// Unix time of enrollment.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The newest time step accepted for this app.
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }
}

/// A counter-based (HOTP) token: a key fob, a YubiKey OATH slot. Its name and code
/// length are valid by construction ([`HotpToken::new`]); its counter only moves
/// forward ([`HotpToken::advance`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotpToken {
    /// Unique among the user's tokens; see [`crate::hotp::name_problem`].
    name: String,
    secret: Secret,
    /// 6 or 8.
    digits: u8,
    /// The next expected counter value: every value before it is used up.
    counter: u64,
    /// Unix time of enrollment.
    created: u64,
}

impl HotpToken {
    /// A token named `name` (checked: [`crate::hotp::name_problem`]) making codes
    /// of `digits` digits (checked: [`crate::hotp::valid_digits`]), whose next
    /// code is the one for `counter`.
    pub fn new(
        name: &str,
        secret: Secret,
        digits: u8,
        counter: u64,
        created: u64,
    ) -> Result<HotpToken, RuleError> {
        if let Some(why) = crate::hotp::name_problem(name) {
            return Err(RuleError::TokenName(why));
        }
        if !crate::hotp::valid_digits(digits) {
            return Err(RuleError::TokenDigits(digits));
        }
        Ok(HotpToken {
            name: name.to_owned(),
            secret,
            digits,
            counter,
            created,
        })
    }

    /// Moves the next expected counter to `next` if that is ahead: codes used
    /// never become valid again.
    pub fn advance(&mut self, next: u64) {
        self.counter = self.counter.max(next);
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// 6 or 8.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The next expected counter value.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Unix time of enrollment.
    pub fn created(&self) -> u64 {
        self.created
    }
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
    /// first, at most [`crate::grace::MAX_REMEMBERED`], canonical, each address
    /// once. Forgotten on a failure and on any change of the factors.
    remembered: Vec<Remembered>,
}

impl State {
    /// Where a second factor passed recently, oldest first.
    pub fn remembered(&self) -> &[Remembered] {
        &self.remembered
    }

    /// Remembers a second factor passed from `ip` (made canonical) at `at`: the
    /// address once, oldest first, the oldest dropped beyond
    /// [`crate::grace::MAX_REMEMBERED`].
    pub fn remember(&mut self, ip: IpAddr, at: u64) {
        let ip = crate::network::canonical(ip);
        self.remembered.retain(|r| r.ip != ip);
        self.remembered.push(Remembered { ip, at });
        self.remembered.sort_by_key(|r| r.at);
        let excess = self
            .remembered
            .len()
            .saturating_sub(crate::grace::MAX_REMEMBERED);
        self.remembered.drain(..excess);
    }

    /// Forgets every remembered address.
    pub fn forget_addresses(&mut self) {
        self.remembered.clear();
    }
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

/// Everything the store keeps about one user. Private fields: every change goes
/// through a method that keeps the invariant of this module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Authenticator apps, in enrollment order, at most [`totp::MAX_APPS`], names
    /// unique.
    totp: Vec<TotpEnrollment>,
    recovery: Option<RecoveryCodes>,
    /// Registered security keys, in registration order, names unique.
    keys: Vec<KeyCredential>,
    /// Counter-based tokens, in enrollment order, at most
    /// [`crate::hotp::MAX_TOKENS`], names unique, no key twice.
    hotp: Vec<HotpToken>,
    /// Where out-of-band codes go.
    contact: Option<Contact>,
    /// The out-of-band code in flight and recent sends.
    oob: OobState,
    state: State,
}

/// Why a change to a record (or the making of one of its parts) was refused: the
/// rule it would break.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// An app name that [`totp::check_name`] refuses.
    AppName(totp::NameError),
    /// App parameters out of range ([`Params::validate`]).
    AppParams(totp::SecretError),
    /// The user has an app of this name already.
    AppTaken(String),
    /// The user has [`totp::MAX_APPS`] apps already.
    TooManyApps,
    /// A token name that [`crate::hotp::name_problem`] refuses, and why.
    TokenName(&'static str),
    /// A code length HOTP tokens do not use.
    TokenDigits(u8),
    /// The user has a token of this name already.
    TokenTaken(String),
    /// The user's token of this name holds the same key (each code would be
    /// accepted twice).
    TokenKeyTaken(String),
    /// The user has [`crate::hotp::MAX_TOKENS`] tokens already.
    TooManyTokens,
    /// The user has a security key of this name already.
    KeyTaken(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::AppName(e) => e.fmt(f),
            RuleError::AppParams(e) => e.fmt(f),
            RuleError::AppTaken(name) => write!(f, "{name:?} appears twice"),
            RuleError::TooManyApps => {
                write!(f, "more than {} authenticator apps", totp::MAX_APPS)
            }
            RuleError::TokenName(why) => f.write_str(why),
            RuleError::TokenDigits(d) => write!(f, "{d} (6 or 8)"),
            RuleError::TokenTaken(_) | RuleError::TokenKeyTaken(_) | RuleError::KeyTaken(_) => {
                f.write_str("appears twice")
            }
            RuleError::TooManyTokens => {
                write!(f, "more than {} tokens", crate::hotp::MAX_TOKENS)
            }
        }
    }
}

impl std::error::Error for RuleError {}

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

    /// The authenticator apps, in enrollment order.
    pub fn apps(&self) -> &[TotpEnrollment] {
        &self.totp
    }

    /// The authenticator app named `name`.
    pub fn app(&self, name: &str) -> Option<&TotpEnrollment> {
        self.totp.iter().find(|t| t.name == name)
    }

    /// Adds `app` after the others: refused if its name is taken or the user has
    /// [`totp::MAX_APPS`] apps.
    pub fn add_app(&mut self, app: TotpEnrollment) -> Result<(), RuleError> {
        if self.app(&app.name).is_some() {
            return Err(RuleError::AppTaken(app.name));
        }
        if self.totp.len() >= totp::MAX_APPS {
            return Err(RuleError::TooManyApps);
        }
        self.totp.push(app);
        Ok(())
    }

    /// Puts `app` in the place of the app of its name, or adds it after the others
    /// (refused when the user has [`totp::MAX_APPS`] apps).
    pub fn add_or_replace_app(&mut self, app: TotpEnrollment) -> Result<(), RuleError> {
        match self.totp.iter_mut().find(|t| t.name == app.name) {
            Some(slot) => {
                *slot = app;
                Ok(())
            }
            None => self.add_app(app),
        }
    }

    /// Removes the app named `name`, if there is one.
    pub fn remove_app(&mut self, name: &str) -> Option<TotpEnrollment> {
        let i = self.totp.iter().position(|t| t.name == name)?;
        Some(self.totp.remove(i))
    }

    /// Removes every app.
    pub fn remove_apps(&mut self) -> Vec<TotpEnrollment> {
        std::mem::take(&mut self.totp)
    }

    /// Marks `step` used for the app named `name` (forward only: an earlier step
    /// never becomes usable again).
    pub fn use_app_step(&mut self, name: &str, step: u64) {
        if let Some(t) = self.totp.iter_mut().find(|t| t.name == name) {
            t.last_step = t.last_step.max(Some(step));
        }
    }

    /// The recovery codes, if a set was generated.
    pub fn recovery(&self) -> Option<&RecoveryCodes> {
        self.recovery.as_ref()
    }

    /// Replaces the recovery codes: the earlier set stops working.
    pub fn set_recovery(&mut self, codes: RecoveryCodes) {
        self.recovery = Some(codes);
    }

    /// Removes the recovery codes: whether there were any.
    pub fn remove_recovery(&mut self) -> bool {
        self.recovery.take().is_some()
    }

    /// Uses up the recovery code `normalized`: how many are left, or `None` if it
    /// is not an unused code.
    pub fn use_recovery_code(&mut self, normalized: &str) -> Option<usize> {
        let codes = self.recovery.as_mut()?;
        codes.hashed.consume(normalized).then(|| codes.hashed.len())
    }

    /// The registered security keys, in registration order.
    pub fn keys(&self) -> &[KeyCredential] {
        &self.keys
    }

    /// Adds `key` after the others: refused if its name is taken.
    pub fn add_key(&mut self, key: KeyCredential) -> Result<(), RuleError> {
        if self.keys.iter().any(|k| k.name == key.name) {
            return Err(RuleError::KeyTaken(key.name));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Removes the key whose credential id is `id`, if there is one.
    pub fn remove_key(&mut self, id: &[u8]) -> Option<KeyCredential> {
        let i = self.keys.iter().position(|k| k.credential_id == id)?;
        Some(self.keys.remove(i))
    }

    /// Stores `count` as the signature counter of the key whose credential id is
    /// `id` (forward only).
    pub fn use_key(&mut self, id: &[u8], count: u32) {
        if let Some(k) = self.keys.iter_mut().find(|k| k.credential_id == id) {
            k.sign_count = k.sign_count.max(count);
        }
    }

    /// The counter-based tokens, in enrollment order.
    pub fn tokens(&self) -> &[HotpToken] {
        &self.hotp
    }

    /// Adds `token` after the others: refused if its name or its key is another
    /// token's, or the user has [`crate::hotp::MAX_TOKENS`] tokens.
    pub fn add_token(&mut self, token: HotpToken) -> Result<(), RuleError> {
        if self.hotp.iter().any(|t| t.name == token.name) {
            return Err(RuleError::TokenTaken(token.name));
        }
        if let Some(same) = self.hotp.iter().find(|t| t.secret == token.secret) {
            return Err(RuleError::TokenKeyTaken(same.name.clone()));
        }
        if self.hotp.len() >= crate::hotp::MAX_TOKENS {
            return Err(RuleError::TooManyTokens);
        }
        self.hotp.push(token);
        Ok(())
    }

    /// Removes the token named `name`, if there is one.
    pub fn remove_token(&mut self, name: &str) -> Option<HotpToken> {
        let i = self.hotp.iter().position(|t| t.name == name)?;
        Some(self.hotp.remove(i))
    }

    /// Moves the next expected counter of the token named `name` to `next` if
    /// that is ahead ([`HotpToken::advance`]).
    pub fn advance_token(&mut self, name: &str, next: u64) {
        if let Some(t) = self.hotp.iter_mut().find(|t| t.name == name) {
            t.advance(next);
        }
    }

    /// Where out-of-band codes go.
    pub fn contact(&self) -> Option<&Contact> {
        self.contact.as_ref()
    }

    /// Sends out-of-band codes to `contact` from now on; a code sent to the
    /// earlier contact stops working.
    pub fn set_contact(&mut self, contact: Contact) {
        self.contact = Some(contact);
        self.oob.pending = None;
    }

    /// Removes the contact, with the code in flight and the recent sends: whether
    /// there was one.
    pub fn remove_contact(&mut self) -> bool {
        let had = self.contact.take().is_some();
        if had {
            self.oob = OobState::default();
        }
        had
    }

    /// The out-of-band code in flight and recent sends.
    pub fn oob(&self) -> &OobState {
        &self.oob
    }

    /// The out-of-band state, to send or use a code (no rule of the record
    /// depends on it).
    pub fn oob_mut(&mut self) -> &mut OobState {
        &mut self.oob
    }

    /// Login state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Login state, to record a login's outcome ([`State`] keeps its own rule on
    /// remembered addresses).
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
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

// Each section of the file form becomes its typed part, or the reason it cannot;
// the parts are put together with the same constructors and mutators as in code.

impl RuleError {
    /// The record error for this refusal of the entry at `at` (`totp[1]`,
    /// `hotp[0]`) of the section `section`.
    fn at(self, section: &str, at: &str) -> RecordError {
        let field = match &self {
            RuleError::TooManyApps | RuleError::TooManyTokens => section.to_owned(),
            RuleError::AppParams(_) => at.to_owned(),
            RuleError::TokenDigits(_) => format!("{at}.digits"),
            RuleError::TokenKeyTaken(_) => format!("{at}.secret"),
            RuleError::AppName(_)
            | RuleError::AppTaken(_)
            | RuleError::TokenName(_)
            | RuleError::TokenTaken(_)
            | RuleError::KeyTaken(_) => format!("{at}.name"),
        };
        RecordError::invalid(field, self)
    }
}

impl TotpTables {
    /// Adds the apps to `record`, in file order. Errors name `totp.FIELD` for the
    /// single table and `totp[i].FIELD` for the array.
    fn parse_into(self, record: &mut Record) -> Result<(), RecordError> {
        let forms = match self {
            TotpTables::One(form) => vec![(form, "totp".to_owned())],
            TotpTables::Many(forms) => forms
                .into_iter()
                .enumerate()
                .map(|(i, f)| (f, format!("totp[{i}]")))
                .collect(),
        };
        for (form, at) in forms {
            let app = form.parse(&at)?;
            record.add_app(app).map_err(|e| e.at("totp", &at))?;
        }
        Ok(())
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
        let name = self.name.as_deref().unwrap_or(totp::DEFAULT_NAME);
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
        };
        let secret = Secret::from_base32(&self.secret)
            .map_err(|e| RecordError::invalid(format!("{at}.secret"), e))?;
        let app = TotpEnrollment::new(name, secret, params, self.created)
            .map_err(|e| e.at("totp", at))?;
        Ok(app.with_last_step(self.last_step))
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
        let secret = Secret::from_base32(&self.secret)
            .map_err(|e| RecordError::invalid(format!("hotp[{i}].secret"), e))?;
        HotpToken::new(&self.name, secret, self.digits, self.counter, self.created)
            .map_err(|e| e.at("hotp", &format!("hotp[{i}]")))
    }
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
        let mut record = Record::default();
        if let Some(tables) = form.totp {
            tables.parse_into(&mut record)?;
        }
        record.recovery = form.recovery.map(RecoveryForm::parse).transpose()?;
        for (i, k) in form.keys.into_iter().enumerate() {
            let key = k.parse(i)?;
            record
                .add_key(key)
                .map_err(|e| e.at("keys", &format!("keys[{i}]")))?;
        }
        for (i, h) in form.hotp.into_iter().enumerate() {
            let token = h.parse(i)?;
            record
                .add_token(token)
                .map_err(|e| e.at("hotp", &format!("hotp[{i}]")))?;
        }
        record.contact = form.contact.map(ContactForm::parse).transpose()?;
        record.oob = form
            .oob
            .map(OobForm::parse)
            .transpose()?
            .unwrap_or_default();
        record.state = form.state.parse()?;
        Ok(record)
    }

    /// The on-disk form. Holds the secret, hence wiped on drop.
    pub fn to_toml(&self) -> Result<Zeroizing<String>, RecordError> {
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

    /// A record with one of everything, built as programs build one: through the
    /// validating constructors and mutators.
    fn sample() -> Record {
        let (_, hashed) = crate::recovery::generate(3, &mut OsRandom).unwrap();
        let mut r = Record::default();
        let params = Params {
            algorithm: Algorithm::Sha256,
            digits: 8,
            period: 60,
        };
        let app = TotpEnrollment::new(totp::DEFAULT_NAME, secret(SECRET), params, 1_700_000_000);
        r.add_app(app.unwrap().with_last_step(Some(28_333_334)))
            .unwrap();
        r.set_recovery(RecoveryCodes {
            hashed,
            created: 1_700_000_001,
        });
        r.add_key(KeyCredential {
            name: "blue key".into(),
            credential_id: vec![1, 2, 3, 250],
            public_key: PublicKey::EdDsa([7; 32]),
            rp_id: "pam://pam_mfa".into(),
            user_verification: UserVerification::Required,
            pin: true,
            sign_count: 17,
            created: 1_700_000_002,
        })
        .unwrap();
        for (name, key, digits, counter, created) in [
            (
                "fob",
                "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
                6,
                41,
                1_700_000_004,
            ),
            (
                "yubikey slot 2",
                "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
                8,
                0,
                1_700_000_005,
            ),
        ] {
            let token = HotpToken::new(name, secret(key), digits, counter, created);
            r.add_token(token.unwrap()).unwrap();
        }
        let mut contact = Contact::email("alice@example.org").unwrap();
        contact.set_verified(Some(1_700_000_003));
        r.set_contact(contact);
        *r.oob_mut() = OobState {
            pending: Some(Pending::new(
                SaltedHash::from_parts(
                    Salt::from_hex(&"0".repeat(32)).unwrap(),
                    Digest::from_hex(&"a".repeat(64)).unwrap(),
                ),
                1_700_000_300,
            )),
            sends: vec![1_700_000_000],
        };
        let state = r.state_mut();
        (state.failures, state.locked_until) = (2, 1_700_000_500);
        state.last_success = Some(1_700_000_100);
        state.remember("192.0.2.7".parse().unwrap(), 1_700_000_090);
        state.remember("2001:db8::1".parse().unwrap(), 1_700_000_100);
        r
    }

    fn secret(base32: &str) -> Secret {
        Secret::from_base32(base32).unwrap()
    }

    fn app(name: &str, base32: &str) -> TotpEnrollment {
        TotpEnrollment::new(name, secret(base32), Params::DEFAULT, 1_700_000_010).unwrap()
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
        r.add_app(app("work-phone", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))
            .unwrap();
        r.use_app_step("work-phone", 56_666_667);
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
        other.add_app(app("work-phone", SECRET)).unwrap();
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
    }

    #[test]
    fn apps_are_added_replaced_and_removed_by_the_rules() {
        let mut r = sample();
        assert_eq!(
            r.add_app(app("default", SECRET)),
            Err(RuleError::AppTaken("default".into()))
        );
        for (name, want) in [
            ("a b", totp::NameError::Character),
            ("-x", totp::NameError::Character),
            ("", totp::NameError::Empty),
        ] {
            let made = TotpEnrollment::new(name, secret(SECRET), Params::DEFAULT, 1);
            assert_eq!(made, Err(RuleError::AppName(want.clone())), "{name:?}");
            let renamed = app("phone", SECRET).renamed(name);
            assert_eq!(renamed, Err(RuleError::AppName(want)), "{name:?}");
        }
        let eleven = Params {
            digits: 11,
            ..Params::DEFAULT
        };
        assert_eq!(
            TotpEnrollment::new("phone", secret(SECRET), eleven, 1),
            Err(RuleError::AppParams(totp::SecretError::Digits(11)))
        );
        for i in 1..totp::MAX_APPS {
            r.add_app(app(&format!("p{i}"), SECRET)).unwrap();
        }
        assert_eq!(r.apps().len(), totp::MAX_APPS);
        assert_eq!(r.add_app(app("ninth", SECRET)), Err(RuleError::TooManyApps));
        assert_eq!(
            r.add_or_replace_app(app("ninth", SECRET)),
            Err(RuleError::TooManyApps)
        );
        // Full, yet an app of a taken name replaces that one, in its place.
        let other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        r.add_or_replace_app(app("p3", other)).unwrap();
        assert_eq!(r.apps()[3].secret(), &secret(other));
        assert_eq!(r.apps().len(), totp::MAX_APPS);
        assert_eq!(
            r.remove_app("p3").map(|a| a.name().to_owned()),
            Some("p3".into())
        );
        assert_eq!(r.remove_app("p3"), None);
        r.add_app(app("ninth", SECRET)).unwrap();
        assert_eq!(r.apps().last().map(TotpEnrollment::name), Some("ninth"));
        assert_eq!(r.remove_apps().len(), totp::MAX_APPS);
        assert!(r.apps().is_empty());
    }

    #[test]
    fn an_app_step_only_moves_forward() {
        let mut r = Record::default();
        r.add_app(app("phone", SECRET).with_last_step(Some(10)))
            .unwrap();
        r.use_app_step("phone", 12);
        assert_eq!(r.app("phone").and_then(TotpEnrollment::last_step), Some(12));
        r.use_app_step("phone", 11);
        assert_eq!(r.app("phone").and_then(TotpEnrollment::last_step), Some(12));
        r.use_app_step("laptop", 20);
        assert_eq!(r.apps().len(), 1, "no app of that name: nothing happens");
    }

    #[test]
    fn tokens_are_added_by_the_rules_and_counters_only_move_forward() {
        let key = |b: u8| Secret::from_bytes(vec![b; 20]).unwrap();
        let token = |name: &str, b: u8| HotpToken::new(name, key(b), 6, 0, 1).unwrap();
        assert_eq!(
            HotpToken::new("", key(1), 6, 0, 1),
            Err(RuleError::TokenName("empty"))
        );
        assert_eq!(
            HotpToken::new(" fob", key(1), 6, 0, 1),
            Err(RuleError::TokenName("starts or ends with a blank"))
        );
        assert_eq!(
            HotpToken::new("fob", key(1), 7, 0, 1),
            Err(RuleError::TokenDigits(7))
        );
        let mut r = Record::default();
        r.add_token(token("fob", 1)).unwrap();
        assert_eq!(
            r.add_token(token("fob", 2)),
            Err(RuleError::TokenTaken("fob".into()))
        );
        assert_eq!(
            r.add_token(token("spare", 1)),
            Err(RuleError::TokenKeyTaken("fob".into()))
        );
        for i in 1..crate::hotp::MAX_TOKENS {
            r.add_token(token(&format!("t{i}"), 10 + i as u8)).unwrap();
        }
        assert_eq!(
            r.add_token(token("seventeenth", 2)),
            Err(RuleError::TooManyTokens)
        );
        assert_eq!(r.remove_token("t3").map(|t| t.counter()), Some(0));
        assert_eq!(r.remove_token("t3"), None);
        r.add_token(token("seventeenth", 2)).unwrap();
        r.advance_token("fob", 9);
        r.advance_token("fob", 4);
        assert_eq!(r.tokens()[0].counter(), 9);
    }

    #[test]
    fn key_names_are_unique_and_sign_counts_only_grow() {
        let mut r = sample();
        let mut twin = r.keys()[0].clone();
        twin.credential_id = vec![9, 9];
        assert_eq!(
            r.add_key(twin.clone()),
            Err(RuleError::KeyTaken("blue key".into()))
        );
        twin.name = "spare".into();
        twin.sign_count = 0;
        r.add_key(twin).unwrap();
        r.use_key(&[9, 9], 3);
        r.use_key(&[9, 9], 2);
        assert_eq!(r.keys()[1].sign_count, 3);
        assert_eq!(r.remove_key(&[9, 9]).map(|k| k.name), Some("spare".into()));
        assert_eq!(r.remove_key(&[9, 9]), None);
        // Read the same way: two keys of one name are refused, naming the second.
        let text = sample().to_toml().unwrap();
        let (at, end) = (
            text.find("[[keys]]").unwrap(),
            text.find("[[hotp]]").unwrap(),
        );
        let twice = format!("{}{}{}", &text[..end], &text[at..end], &text[end..]);
        match Record::from_toml(&twice) {
            Err(RecordError::Invalid { field, reason }) => {
                assert_eq!(
                    (field.as_str(), reason.as_str()),
                    ("keys[1].name", "appears twice")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_contact_drops_the_code_in_flight_and_removing_it_drops_the_sends() {
        let mut r = sample();
        assert!(r.oob().pending.is_some());
        r.set_contact(Contact::phone("+31612345678").unwrap());
        assert_eq!(r.oob().pending, None);
        assert_eq!(
            r.oob().sends,
            [1_700_000_000],
            "the rate limit still counts"
        );
        assert!(r.remove_contact());
        assert_eq!(*r.oob(), OobState::default());
        assert!(!r.remove_contact());
    }

    #[test]
    fn recovery_codes_are_set_used_and_removed() {
        let (codes, hashed) = crate::recovery::generate(2, &mut OsRandom).unwrap();
        let mut r = Record::default();
        r.set_recovery(RecoveryCodes { hashed, created: 1 });
        let first = crate::recovery::normalize(&codes[0]).unwrap();
        assert_eq!(r.use_recovery_code(&first), Some(1));
        assert_eq!(r.use_recovery_code(&first), None, "used up");
        assert!(r.remove_recovery());
        assert!(!r.remove_recovery());
        assert_eq!(r.use_recovery_code(&first), None);
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
