//! The config parser: never panics; whatever it accepts is within the documented
//! ranges, and every refusal names a line inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::config::{Config, ConfigError};
use std::path::Path;

fuzz_target!(|text: &str| {
    match Config::parse(Path::new("/fuzz.toml"), text) {
        Ok(c) => {
            assert!(c.totp.window <= 10);
            assert!((6..=8).contains(&c.totp.digits));
            assert!(c.store.dir.is_absolute());
        }
        Err(ConfigError::Invalid { line, .. } | ConfigError::Syntax { line, .. }) => {
            assert!(
                line >= 1 && line <= text.lines().count().max(1) + 1,
                "line {line}"
            );
        }
        Err(_) => {}
    }
});
