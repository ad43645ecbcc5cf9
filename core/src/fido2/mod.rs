//! FIDO2 security keys: the device trait, stored credentials, registration.
//!
//! Invariant: everything that decides (does this assertion log the user in?) is in
//! [`verify`] and works on bytes; devices are reached only through the
//! [`Authenticator`] trait, whose hardware implementation is [`hid`]. Every login
//! uses a fresh random 32-byte challenge; the key signs
//! `authenticatorData || SHA-256(challenge)`.

pub mod authdata;
pub mod cose;
pub mod hid;
#[cfg(test)]
pub(crate) mod independent;
#[cfg(test)]
pub(crate) mod soft;
pub mod verify;

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

pub use cose::PublicKey;

/// What a credential demands at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    /// The key must verify the user (PIN or biometrics); the UV flag must be set.
    Required,
    /// Verify if the key can; not checked.
    Preferred,
    /// Touch only.
    Discouraged,
}

impl UserVerification {
    pub const NAMES: [&'static str; 3] = ["required", "preferred", "discouraged"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
            Self::Discouraged => "discouraged",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "required" => Some(Self::Required),
            "preferred" => Some(Self::Preferred),
            "discouraged" => Some(Self::Discouraged),
            _ => None,
        }
    }
}

/// One registered security key of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    /// The user's name for it ("yubikey-blue").
    pub name: String,
    /// The credential id the key handed out (opaque, often the wrapped private key).
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
    /// The relying party it was made for; its SHA-256 must lead every assertion.
    pub rp_id: String,
    pub user_verification: UserVerification,
    /// Whether a PIN must be asked for and passed to the key.
    pub pin: bool,
    /// The highest signature counter seen; assertions must report more (or 0 forever).
    pub sign_count: u32,
    /// Unix time of registration.
    pub created: u64,
}

/// What a device reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Where it is (`/dev/hidraw0`).
    pub path: String,
    /// The product string, if any.
    pub product: String,
}

/// A makeCredential request.
pub struct MakeCredential<'a> {
    pub rp_id: &'a str,
    pub user_name: &'a str,
    /// 32 random bytes; the key signs its SHA-256.
    pub challenge: [u8; 32],
    /// Algorithms in order of preference.
    pub algorithms: &'a [cose::Algorithm],
    pub pin: Option<Zeroizing<String>>,
    /// Ask the key to verify the user.
    pub uv: bool,
    /// Credentials this key must not register again.
    pub exclude: Vec<Vec<u8>>,
    pub timeout: Duration,
}

/// A made credential: the raw authenticator data (with the attested credential).
#[derive(Debug, Clone)]
pub struct Attestation {
    pub auth_data: Vec<u8>,
}

/// A getAssertion request.
pub struct GetAssertion<'a> {
    pub rp_id: &'a str,
    /// 32 fresh random bytes; the key signs `authData || SHA-256(challenge)`.
    pub challenge: [u8; 32],
    /// The user's credentials for this RP.
    pub allow: Vec<Vec<u8>>,
    pub pin: Option<Zeroizing<String>>,
    /// Ask the key to verify the user.
    pub uv: bool,
    pub timeout: Duration,
}

/// What the key answered.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Why a device operation did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// No FIDO device is connected.
    NoDevice,
    /// More than one, and none was chosen.
    SeveralDevices,
    /// No answer (no touch, or a key that hangs) within the time limit.
    Timeout,
    /// The key answered with an error, or something that is not CTAP2.
    Protocol(String),
    /// The key needs a PIN and none (or a wrong one) was given.
    Pin(String),
    /// The key does not know any of the credentials.
    NoCredentials,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDevice => f.write_str("no security key connected"),
            Self::SeveralDevices => {
                f.write_str("several security keys connected; choose one with --device")
            }
            Self::Timeout => f.write_str("the security key did not answer in time (no touch?)"),
            Self::Protocol(e) => write!(f, "security key error: {e}"),
            Self::Pin(e) => write!(f, "security key PIN: {e}"),
            Self::NoCredentials => {
                f.write_str("the security key holds none of the registered credentials")
            }
        }
    }
}

impl std::error::Error for DeviceError {}

/// A FIDO2 device, whatever carries it.
pub trait Authenticator {
    /// Whether the key supports user verification (a PIN or biometrics) and whether
    /// a PIN is set.
    fn info(&mut self) -> Result<KeyInfo, DeviceError>;
    fn make_credential(&mut self, req: &MakeCredential<'_>) -> Result<Attestation, DeviceError>;
    fn get_assertion(&mut self, req: &GetAssertion<'_>) -> Result<Assertion, DeviceError>;
}

/// What matters of authenticatorGetInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyInfo {
    /// options.clientPin == true
    pub pin_set: bool,
    /// options.uv == true (built-in verification, e.g. fingerprint)
    pub uv: bool,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    Device(DeviceError),
    /// The answer does not hold a usable credential.
    Invalid(String),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => e.fmt(f),
            Self::Invalid(e) => write!(f, "the key's answer is not a usable credential: {e}"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// The credentials a new registration must not duplicate: the user's keys.
pub fn exclude_list(keys: &[KeyCredential]) -> Vec<Vec<u8>> {
    keys.iter().map(|k| k.credential_id.clone()).collect()
}

/// How long a registration waits for the touch: `fido2.timeout_seconds`, at least
/// 30 s (a new key is often still being unpacked).
pub fn register_timeout(timeout_seconds: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(timeout_seconds).max(30))
}

/// Registers a new credential: makeCredential, then checks what came back (RP ID
/// hash, user presence, verification when asked for) before anything is stored.
pub fn register(
    device: &mut dyn Authenticator,
    req: &MakeCredential<'_>,
    name: &str,
    user_verification: UserVerification,
    now: u64,
) -> Result<KeyCredential, RegisterError> {
    let att = device.make_credential(req).map_err(RegisterError::Device)?;
    let parsed = authdata::AuthData::parse(&att.auth_data)
        .map_err(|e| RegisterError::Invalid(e.to_string()))?;
    if !verify::rp_id_hash_matches(&parsed, req.rp_id) {
        return Err(RegisterError::Invalid("RP ID hash does not match".into()));
    }
    if !parsed.user_present() {
        return Err(RegisterError::Invalid("user presence flag not set".into()));
    }
    if user_verification == UserVerification::Required && !parsed.user_verified() {
        return Err(RegisterError::Invalid(
            "user verification required but not performed".into(),
        ));
    }
    let attested = parsed
        .attested
        .ok_or_else(|| RegisterError::Invalid("no attested credential data".into()))?;
    Ok(KeyCredential {
        name: name.to_owned(),
        credential_id: attested.credential_id,
        public_key: attested.public_key,
        rp_id: req.rp_id.to_owned(),
        user_verification,
        pin: req.pin.is_some(),
        sign_count: parsed.sign_count,
        created: now,
    })
}
