//! Module arguments (one per line of input): never panics; an accepted list has
//! an absolute config path.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pam_mfa::config::ModuleArgs;

fuzz_target!(|data: &[u8]| {
    if let Ok(args) = ModuleArgs::parse(data.split(|&b| b == b'\n')) {
        assert!(args.config.is_absolute());
    }
});
