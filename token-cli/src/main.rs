//! The `mfa-token` binary; everything lives in the library (see lib.rs).

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    mfa_token::main()
}
