//! A software authenticator for unit tests: real ES256/Ed25519 keys (ring), with
//! switches to misbehave.
//!
//! Invariant: by default it answers exactly as a correct key would; each switch
//! breaks one property the verifier must check.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use sha2::{Digest, Sha256};

use super::cose::{Algorithm, PublicKey};
use super::verify::signed_message;
use super::{
    Assertion, Attestation, Authenticator, DeviceError, GetAssertion, KeyCredential, KeyInfo,
    MakeCredential, UserVerification,
};

pub(crate) enum Signer {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    pub(crate) fn new(alg: Algorithm) -> Signer {
        let rng = SystemRandom::new();
        match alg {
            Algorithm::Es256 => {
                let pkcs8 =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
                Signer::Es(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                        .unwrap(),
                )
            }
            Algorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
            }
        }
    }

    pub(crate) fn public(&self) -> PublicKey {
        match self {
            Signer::Es(k) => {
                PublicKey::from_raw(Algorithm::Es256, k.public_key().as_ref()).unwrap()
            }
            Signer::Ed(k) => {
                PublicKey::from_raw(Algorithm::EdDsa, k.public_key().as_ref()).unwrap()
            }
        }
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Signer::Es(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
        }
    }
}

/// How the soft key answers the next assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    #[default]
    Good,
    Timeout,
    NoCredentials,
    TamperSignature,
    ClearUp,
    /// Report this counter instead of the next one.
    Counter(u32),
}

pub(crate) struct SoftKey {
    pub(crate) signer: Signer,
    pub(crate) id: Vec<u8>,
    pub(crate) counter: u32,
    pub(crate) mode: Mode,
    /// Every request seen: (rp_id, challenge, pin given, uv asked).
    pub(crate) seen: Vec<(String, [u8; 32], bool, bool)>,
}

impl SoftKey {
    pub(crate) fn new(alg: Algorithm) -> SoftKey {
        SoftKey {
            signer: Signer::new(alg),
            id: vec![0xC0, 0xFF, 0xEE],
            counter: 0,
            mode: Mode::Good,
            seen: vec![],
        }
    }

    /// The credential a registration with this key would store.
    pub(crate) fn credential(&self, rp_id: &str) -> KeyCredential {
        KeyCredential {
            name: "soft".into(),
            credential_id: self.id.clone(),
            public_key: self.signer.public(),
            rp_id: rp_id.into(),
            user_verification: UserVerification::Discouraged,
            pin: false,
            sign_count: self.counter,
            created: 0,
        }
    }
}

pub(crate) fn auth_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut v = Sha256::digest(rp_id.as_bytes()).to_vec();
    v.push(flags);
    v.extend_from_slice(&counter.to_be_bytes());
    v
}

impl Authenticator for SoftKey {
    fn info(&mut self) -> Result<KeyInfo, DeviceError> {
        Ok(KeyInfo::default())
    }

    fn make_credential(&mut self, _req: &MakeCredential<'_>) -> Result<Attestation, DeviceError> {
        Err(DeviceError::Protocol("not used in these tests".into()))
    }

    fn get_assertion(&mut self, req: &GetAssertion<'_>) -> Result<Assertion, DeviceError> {
        self.seen.push((
            req.rp_id.to_owned(),
            req.challenge,
            req.pin.is_some(),
            req.uv,
        ));
        let uv_flag = if req.pin.is_some() || req.uv { 0x04 } else { 0 };
        let counter = match self.mode {
            Mode::Timeout => return Err(DeviceError::Timeout),
            Mode::NoCredentials => return Err(DeviceError::NoCredentials),
            Mode::Counter(c) => c,
            _ => self.counter + 1,
        };
        self.counter = self.counter.max(counter);
        let up = if self.mode == Mode::ClearUp { 0 } else { 0x01 };
        let data = auth_data(req.rp_id, up | uv_flag, counter);
        let mut signature = self.signer.sign(&signed_message(&data, &req.challenge));
        if self.mode == Mode::TamperSignature {
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }
        Ok(Assertion {
            credential_id: self.id.clone(),
            auth_data: data,
            signature,
        })
    }
}
