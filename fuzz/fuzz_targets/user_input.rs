//! What users type and what PAM hands over: user names never escape the store
//! directory; typed codes never panic the checks; normalizing a typed answer or a
//! recovery code is idempotent, and a normalized answer is letters and digits only.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::answer;
use mfa_core::recovery::normalize;
use mfa_core::totp::{check, Params, Secret};
use mfa_core::username::UserName;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = UserName::from_bytes(data) {
        let s = u.as_str();
        assert!(!s.contains('/') && !s.starts_with('.') && !s.is_empty());
    }
    if let Some(a) = answer::normalize(data) {
        assert!(!a.is_empty() && a.len() <= answer::MAX_CODE);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(answer::normalize(a.as_bytes()).as_deref(), Some(&*a));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(n) = normalize(text) {
            assert_eq!(
                normalize(&n).as_deref().map(String::as_str),
                Some(n.as_str())
            );
        }
        let secret = Secret::from_bytes(vec![7; 20]).unwrap();
        let _ = check(&secret, Params::DEFAULT, text, 1_700_000_000, 1, Some(5));
        let _ = Secret::from_base32(text);
    }
});
