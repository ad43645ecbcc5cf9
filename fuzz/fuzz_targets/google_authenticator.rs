//! ~/.google_authenticator files: never panics; what parses converts, and its
//! scratch codes all become recovery codes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::config::Config;
use mfa_core::import::google_authenticator::{convert, parse, Mode};
use mfa_core::random::{Random, RandomError};

struct Zero;
impl Random for Zero {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        buf.fill(0);
        Ok(())
    }
}

fuzz_target!(|text: &str| {
    if let Ok(file) = parse(text) {
        let hotp = matches!(file.mode, Mode::Hotp { .. });
        let scratch = file.scratch_codes.len();
        let cfg = Config::defaults(std::path::Path::new("/fuzz.toml"));
        match convert(file, &cfg, 1_700_000_000, &mut Zero) {
            Ok(i) => {
                assert!(!hotp);
                let kept = i.recovery.map_or(0, |r| r.hashed.len());
                assert!(kept <= scratch && (scratch == 0) == (kept == 0));
            }
            Err(_) => assert!(hotp),
        }
    }
});
