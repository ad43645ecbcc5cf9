//! pam_mfa: a second factor for Linux logins.
//!
//! The crate is both the PAM module (`libpam_mfa.so`, entry points in [`pam`]) and the
//! library `mfa-token` uses. Data flows one way: hook → [`config::Config::load`] →
//! [`store::Store`] snapshot → prompt → check and commit under the user's lock
//! ([`auth`]) → [`audit`] → one PAM return code ([`error::pam_code`]).
//!
//! Only [`pam`] and `oob::spawn` (descriptors of the delivery command) may contain
//! `unsafe`; everything else is plain Rust that takes its
//! clock, randomness and conversation as parameters.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accounts;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod config;
pub mod contact;
pub mod error;
pub mod fido2;
pub mod i18n;
pub mod import;
pub mod locality;
pub mod oob;
pub mod otpauth;
#[allow(unsafe_code)]
pub mod pam;
pub mod policy;
pub mod qr;
pub mod random;
pub mod recovery;
pub mod secure_fs;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod totp;
pub mod username;
