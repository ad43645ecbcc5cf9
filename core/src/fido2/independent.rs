//! Our verifier against a CTAP2 authenticator we did not write: 1Password's passkey-rs,
//! behind our [`Authenticator`] trait as `hid.rs` puts a USB key there, registered
//! with [`register`] and checked with [`verify_assertion`].
//!
//! Invariant: what an independent, correct implementation signs, we accept; the same
//! answer with one property broken is refused for that property's reason. `soft.rs`
//! shares our own reading of the spec (signed message, counter byte order, COSE and
//! DER encodings); only a second implementation catches a misreading of it.
//!
//! passkey-rs counts signatures only when asked to; otherwise it reports 0 forever.
//! Its in-memory store does not bind a credential to an RP ID, so it signs for any
//! RP ID it is asked for: that is how the wrong-RP case is made.

use std::time::Duration;

use passkey_authenticator::{
    Authenticator as PasskeyRsAuthenticator, MockUserValidationMethod, UserCheck,
};
use passkey_crypto::coset::AsCborValue;
use passkey_crypto::iana::{self, EnumI64};
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::ctap2::{get_assertion, make_credential, Aaguid, StatusCode};
use passkey_types::{webauthn, Bytes, Passkey};
use sha2::{Digest, Sha256};

use super::cose::Algorithm;
use super::verify::{verify_assertion, Rejection};
use super::*;

const RP: &str = "pam://pam_mfa";

/// passkey-rs's software authenticator, holding at most one credential in memory.
pub(crate) struct PasskeyRs(
    PasskeyRsAuthenticator<Option<Passkey>, MockUserValidationMethod, RustCryptoBackend>,
);

impl PasskeyRs {
    pub(crate) fn new(counter: bool) -> PasskeyRs {
        let mut user = MockUserValidationMethod::new();
        user.expect_is_presence_enabled().return_const(true);
        user.expect_is_verification_enabled()
            .return_const(Some(true));
        // A user who touches the key, and verifies whenever asked to.
        user.expect_check_user().returning(|_, up, uv| {
            Ok(UserCheck {
                presence: up,
                verification: uv,
            })
        });
        let mut inner =
            PasskeyRsAuthenticator::new(Aaguid::new_empty(), None, user, RustCryptoBackend);
        inner.set_make_credentials_with_signature_counter(counter);
        PasskeyRs(inner)
    }

    /// getAssertion for `cred` alone, as the login asks for it.
    fn sign(&mut self, cred: &KeyCredential, rp_id: &str, challenge: [u8; 32]) -> Assertion {
        self.get_assertion(&GetAssertion {
            rp_id,
            challenge,
            allow: vec![cred.credential_id.clone()],
            pin: None,
            uv: false,
            timeout: Duration::from_secs(1),
        })
        .unwrap()
    }
}

/// As `hid.rs` sends it: the key is given SHA-256 of our challenge.
fn client_data_hash(challenge: &[u8; 32]) -> Bytes {
    Sha256::digest(challenge).to_vec().into()
}

fn descriptor(id: &[u8]) -> webauthn::PublicKeyCredentialDescriptor {
    webauthn::PublicKeyCredentialDescriptor {
        ty: webauthn::PublicKeyCredentialType::PublicKey,
        id: id.to_vec().into(),
        transports: None,
    }
}

fn device_error(code: StatusCode) -> DeviceError {
    DeviceError::Protocol(format!("{code:?}"))
}

impl Authenticator for PasskeyRs {
    fn info(&mut self) -> Result<KeyInfo, DeviceError> {
        Ok(KeyInfo::default())
    }

    fn make_credential(&mut self, req: &MakeCredential<'_>) -> Result<Attestation, DeviceError> {
        let request = make_credential::Request {
            client_data_hash: client_data_hash(&req.challenge),
            rp: make_credential::PublicKeyCredentialRpEntity {
                id: req.rp_id.into(),
                name: None,
            },
            user: webauthn::PublicKeyCredentialUserEntity {
                id: req.user_name.as_bytes().to_vec().into(),
                display_name: req.user_name.into(),
                name: req.user_name.into(),
            },
            pub_key_cred_params: req
                .algorithms
                .iter()
                .map(|a| webauthn::PublicKeyCredentialParameters {
                    ty: webauthn::PublicKeyCredentialType::PublicKey,
                    alg: iana::Algorithm::from_i64(a.cose()).unwrap(),
                })
                .collect(),
            exclude_list: Some(req.exclude.iter().map(|id| descriptor(id)).collect()),
            extensions: None,
            options: make_credential::Options {
                rk: false,
                up: true,
                uv: req.uv,
            },
            pin_auth: None,
            pin_protocol: None,
        };
        let answer = pollster::block_on(self.0.make_credential(request)).map_err(device_error)?;
        Ok(Attestation {
            auth_data: answer.auth_data.to_vec(),
        })
    }

    fn get_assertion(&mut self, req: &GetAssertion<'_>) -> Result<Assertion, DeviceError> {
        let request = get_assertion::Request {
            rp_id: req.rp_id.into(),
            client_data_hash: client_data_hash(&req.challenge),
            allow_list: Some(req.allow.iter().map(|id| descriptor(id)).collect()),
            extensions: None,
            options: get_assertion::Options {
                up: true,
                uv: req.uv,
            },
            pin_auth: None,
            pin_protocol: None,
        };
        let answer = pollster::block_on(self.0.get_assertion(request)).map_err(device_error)?;
        let credential = answer.credential.ok_or(DeviceError::NoCredentials)?;
        Ok(Assertion {
            credential_id: credential.id.into(),
            auth_data: answer.auth_data.to_vec(),
            signature: answer.signature.into(),
        })
    }
}

fn random_challenge() -> [u8; 32] {
    let mut c = [0u8; 32];
    getrandom::fill(&mut c).unwrap();
    c
}

/// A passkey-rs key with one ES256 credential for [`RP`], as `mfa-token` registers it.
fn registered(counter: bool) -> (PasskeyRs, KeyCredential) {
    let mut key = PasskeyRs::new(counter);
    let req = MakeCredential {
        rp_id: RP,
        user_name: "alice",
        challenge: random_challenge(),
        algorithms: &[Algorithm::Es256],
        pin: None,
        uv: false,
        exclude: vec![],
        timeout: Duration::from_secs(1),
    };
    let cred = register(&mut key, &req, "rs", UserVerification::Discouraged, 0).unwrap();
    (key, cred)
}

#[test]
fn a_passkey_rs_credential_registers_with_the_key_passkey_rs_holds() {
    let (key, cred) = registered(true);
    let stored = key.0.store().as_ref().unwrap();
    assert_eq!(cred.credential_id, stored.credential_id.to_vec());
    // Its private COSE key carries the public point too; our COSE reader takes that.
    let cose = stored.key.clone().to_cbor_value().unwrap();
    assert_eq!(PublicKey::from_cose(&cose).unwrap(), cred.public_key);
    assert_eq!(cred.public_key.algorithm(), Algorithm::Es256);
    assert_eq!(cred.sign_count, 0);
}

#[test]
fn passkey_rs_assertions_verify_and_report_a_growing_counter() {
    let (mut key, mut cred) = registered(true);
    for expected in 1..=3 {
        let challenge = random_challenge();
        let a = key.sign(&cred, RP, challenge);
        assert_eq!(a.credential_id, cred.credential_id);
        let verified = verify_assertion(std::slice::from_ref(&cred), &challenge, &a, false);
        assert_eq!(verified.map(|v| (v.index, v.sign_count)), Ok((0, expected)));
        cred.sign_count = expected;
    }
}

#[test]
fn tampered_passkey_rs_assertions_are_refused_for_their_reason() {
    let (mut key, mut cred) = registered(true);
    let challenge = random_challenge();
    let check = |cred: &KeyCredential, a: &Assertion| {
        verify_assertion(std::slice::from_ref(cred), &challenge, a, false)
    };

    let mut flags = key.sign(&cred, RP, challenge);
    flags.auth_data[32] ^= 0x04; // claims UV after signing
    assert_eq!(check(&cred, &flags), Err(Rejection::BadSignature));

    let mut counter = key.sign(&cred, RP, challenge);
    counter.auth_data[36] ^= 0x10; // a higher counter than signed
    assert_eq!(check(&cred, &counter), Err(Rejection::BadSignature));

    let mut signature = key.sign(&cred, RP, challenge);
    let last = signature.signature.len() - 1;
    signature.signature[last] ^= 1;
    assert_eq!(check(&cred, &signature), Err(Rejection::BadSignature));

    let other_rp = key.sign(&cred, "pam://other", challenge);
    assert_eq!(check(&cred, &other_rp), Err(Rejection::WrongRpId));

    let stale = key.sign(&cred, RP, random_challenge());
    assert_eq!(check(&cred, &stale), Err(Rejection::BadSignature));

    let good = key.sign(&cred, RP, challenge);
    let sign_count = check(&cred, &good).unwrap().sign_count;
    cred.sign_count = sign_count;
    assert_eq!(
        check(&cred, &good),
        Err(Rejection::CounterRegression {
            stored: sign_count,
            reported: sign_count
        })
    );
}

#[test]
fn a_passkey_rs_key_without_a_counter_reports_zero_and_keeps_verifying() {
    let (mut key, cred) = registered(false);
    for _ in 0..2 {
        let challenge = random_challenge();
        let a = key.sign(&cred, RP, challenge);
        let verified = verify_assertion(std::slice::from_ref(&cred), &challenge, &a, false);
        assert_eq!(verified.map(|v| (v.index, v.sign_count)), Ok((0, 0)));
    }
}
