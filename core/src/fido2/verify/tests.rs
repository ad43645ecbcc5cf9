use super::*;
use crate::fido2::cose::Algorithm;
use crate::fido2::soft::{auth_data, Signer};

fn credential(signer: &Signer, uv: UserVerification, count: u32) -> KeyCredential {
    KeyCredential {
        name: "k".into(),
        credential_id: vec![9, 9, 9],
        public_key: signer.public(),
        rp_id: "pam://pam_mfa".into(),
        user_verification: uv,
        pin: false,
        sign_count: count,
        created: 0,
    }
}

fn assertion(
    signer: &Signer,
    rp: &str,
    flags: u8,
    counter: u32,
    challenge: &[u8; 32],
) -> Assertion {
    let data = auth_data(rp, flags, counter);
    let signature = signer.sign(&signed_message(&data, challenge));
    Assertion {
        credential_id: vec![9, 9, 9],
        auth_data: data,
        signature,
    }
}

const C: [u8; 32] = [5; 32];

#[test]
fn a_good_assertion_passes_with_both_algorithms() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let s = Signer::new(alg);
        let cred = credential(&s, UserVerification::Discouraged, 10);
        let a = assertion(&s, "pam://pam_mfa", 0x01, 11, &C);
        assert_eq!(
            verify_assertion(&[cred], &C, &a, false),
            Ok(Verified {
                index: 0,
                sign_count: 11
            }),
            "{alg:?}"
        );
    }
}

#[test]
fn each_defect_has_its_reason() {
    let s = Signer::new(Algorithm::Es256);
    let other = Signer::new(Algorithm::Es256);
    let cred = credential(&s, UserVerification::Discouraged, 10);
    let uv_cred = credential(&s, UserVerification::Required, 10);
    let good = assertion(&s, "pam://pam_mfa", 0x01, 11, &C);
    let check =
        |creds: &[KeyCredential], a: &Assertion, force: bool| verify_assertion(creds, &C, a, force);

    let mut unknown = good.clone();
    unknown.credential_id = vec![1];
    assert_eq!(
        check(std::slice::from_ref(&cred), &unknown, false),
        Err(Rejection::UnknownCredential)
    );
    assert_eq!(
        check(
            std::slice::from_ref(&cred),
            &assertion(&s, "pam://other", 0x01, 11, &C),
            false
        ),
        Err(Rejection::WrongRpId)
    );
    assert_eq!(
        check(
            std::slice::from_ref(&cred),
            &assertion(&s, "pam://pam_mfa", 0x00, 11, &C),
            false
        ),
        Err(Rejection::NoUserPresence)
    );
    assert_eq!(
        check(std::slice::from_ref(&uv_cred), &good, false),
        Err(Rejection::NoUserVerification)
    );
    assert_eq!(
        check(std::slice::from_ref(&cred), &good, true),
        Err(Rejection::NoUserVerification)
    );
    assert!(check(
        &[uv_cred],
        &assertion(&s, "pam://pam_mfa", 0x05, 11, &C),
        false
    )
    .is_ok());
    let mut tampered = good.clone();
    tampered.auth_data[32] |= 0x04; // claims UV after signing
    assert_eq!(
        check(std::slice::from_ref(&cred), &tampered, false),
        Err(Rejection::BadSignature)
    );
    let mut bad_sig = good.clone();
    let last = bad_sig.signature.len() - 1;
    bad_sig.signature[last] ^= 1;
    assert_eq!(
        check(std::slice::from_ref(&cred), &bad_sig, false),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        check(
            std::slice::from_ref(&cred),
            &assertion(&other, "pam://pam_mfa", 0x01, 11, &C),
            false
        ),
        Err(Rejection::BadSignature)
    );
    let other_challenge = assertion(&s, "pam://pam_mfa", 0x01, 11, &[6; 32]);
    assert_eq!(
        check(std::slice::from_ref(&cred), &other_challenge, false),
        Err(Rejection::BadSignature)
    );
    for counter in [10, 3, 0] {
        assert_eq!(
            check(
                std::slice::from_ref(&cred),
                &assertion(&s, "pam://pam_mfa", 0x01, counter, &C),
                false
            ),
            Err(Rejection::CounterRegression {
                stored: 10,
                reported: counter
            })
        );
    }
    let mut short = good;
    short.auth_data.truncate(20);
    assert!(matches!(
        check(&[cred], &short, false),
        Err(Rejection::Malformed(_))
    ));
}

#[test]
fn keys_that_always_report_zero_are_allowed() {
    let s = Signer::new(Algorithm::EdDsa);
    let cred = credential(&s, UserVerification::Discouraged, 0);
    assert_eq!(
        verify_assertion(
            &[cred],
            &C,
            &assertion(&s, "pam://pam_mfa", 0x01, 0, &C),
            false
        )
        .map(|v| v.sign_count),
        Ok(0)
    );
}
