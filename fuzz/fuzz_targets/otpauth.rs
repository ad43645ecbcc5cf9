//! otpauth URIs: never panics, and parse → to_uri → parse is the identity.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::otpauth::OtpAuth;

fuzz_target!(|text: &str| {
    if let Ok(auth) = OtpAuth::parse(text) {
        let again = OtpAuth::parse(&auth.to_uri()).expect("what we write parses");
        assert_eq!(again, auth);
    }
});
