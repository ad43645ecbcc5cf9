//! What a security key answers: authenticator data (with or without an attested
//! credential) and assertions. Never panics; nothing forged passes verification
//! against a credential whose key the fuzzer does not have.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::fido2::authdata::AuthData;
use mfa_core::fido2::verify::verify_assertion;
use mfa_core::fido2::{Assertion, KeyCredential, PublicKey, UserVerification};

fuzz_target!(|data: &[u8]| {
    let parsed = AuthData::parse(data);
    let split = data.len() / 2;
    let (auth, sig) = data.split_at(split);
    let cred = KeyCredential {
        name: "k".into(),
        credential_id: vec![1, 2, 3],
        // A fixed point that is not on the curve half the time: verification must
        // just fail.
        public_key: PublicKey::EdDsa([7; 32]),
        rp_id: "pam://pam_mfa".into(),
        user_verification: UserVerification::Discouraged,
        pin: false,
        sign_count: 0,
        created: 0,
    };
    let a = Assertion { credential_id: vec![1, 2, 3], auth_data: auth.to_vec(), signature: sig.to_vec() };
    assert!(verify_assertion(&[cred], &[0; 32], &a, false).is_err());
    if let Ok(p) = parsed {
        if let Some(att) = p.attested {
            assert!(!att.credential_id.is_empty());
        }
    }
});
