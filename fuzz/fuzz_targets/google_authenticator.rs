//! ~/.google_authenticator files: never panics; what parses converts (an app or
//! an HOTP token, by the file's mode), and its scratch codes all become recovery
//! codes.
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
        // Only a failing random source makes a conversion fail.
        let i = convert(file, &cfg, 1_700_000_000, &mut Zero).expect("converts");
        // A counter-based file becomes an HOTP token, a time-based one an app.
        assert_eq!((i.hotp.is_some(), i.totp.is_some()), (hotp, !hotp));
        let kept = i.recovery.map_or(0, |r| r.hashed.len());
        assert!(kept <= scratch && (scratch == 0) == (kept == 0));
    }
});
