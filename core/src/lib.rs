//! The core of pam_mfa: the decisions, the store and the factors, for pam_mfad
//! and `mfa-token`. No FFI: the PAM module (`module/`, `libpam_mfa.so`) is a thin
//! client of pam_mfad and does not link this crate.
//!
//! Data flows one way: a login → [`config::Config::load`] → [`store::Store`]
//! snapshot → prompt → check and commit under the user's lock ([`auth`]) →
//! [`audit`] → one verdict ([`error::verdict`]).
//!
//! Only `oob::spawn` (descriptors of the delivery command) may contain `unsafe`;
//! everything else is plain Rust that takes its clock, randomness and
//! conversation as parameters.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accounts;
pub mod activation;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod config;
pub mod contact;
pub mod date;
pub mod error;
pub mod fido2;
pub mod grace;
pub mod host;
pub mod hotp;
pub mod i18n;
pub mod import;
pub mod locality;
pub mod network;
pub mod oob;
pub mod otpauth;
pub mod policy;
pub mod qr;
pub mod random;
pub mod recovery;
pub mod salted_hash;
pub mod secure_fs;
pub mod sent_code;
pub mod store;
pub mod syslog;
#[cfg(test)]
mod test_support;
pub mod totp;
pub mod username;
