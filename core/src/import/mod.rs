//! Enrollments carried over from other tools.
//!
//! Invariant: importers read other tools' files and never write or move them.

pub mod google_authenticator;
pub mod pam_u2f;
