//! Everything that can stop an authentication, and the one mapping to PAM codes.
//!
//! Invariant: [`pam_code`] is the only place a result becomes a PAM return code; only
//! [`Outcome::Success`] maps to `PAM_SUCCESS` and only [`Outcome::Ignore`] (which the
//! policy produces only when the config says `unenrolled = "ignore"`) to `PAM_IGNORE`.

use std::fmt;

use pam_bindings::constants::PamResultCode;

use crate::config::{ArgError, ConfigError};
use crate::store::StoreError;

/// How an authentication that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The second factor passed.
    Success,
    /// The user did not pass (wrong code, replay, lockout, not enrolled...).
    Failure,
    /// The user has no factor and the config says to let the stack decide.
    Ignore,
}

/// Why an authentication could not run to its end.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The module arguments in the pam.d line are wrong.
    Args(ArgError),
    /// The config file is missing, insecure or invalid.
    Config(ConfigError),
    /// The store could not be read or written.
    Store(StoreError),
    /// The application's conversation function failed.
    Conversation,
    /// libpam refused a request (e.g. `pam_get_user`) with this raw code.
    Pam(i32),
    /// No random bytes for a challenge.
    Random(crate::random::RandomError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Args(e) => e.fmt(f),
            Error::Config(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
            Error::Conversation => f.write_str("the conversation with the application failed"),
            Error::Pam(code) => write!(f, "libpam returned error {code}"),
            Error::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Args(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Store(e) => Some(e),
            Error::Random(e) => Some(e),
            Error::Conversation | Error::Pam(_) => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// The PAM return code of an authentication result.
pub fn pam_code(result: &Result<Outcome, Error>) -> PamResultCode {
    use PamResultCode as C;
    match result {
        Ok(Outcome::Success) => C::PAM_SUCCESS,
        Ok(Outcome::Failure) => C::PAM_AUTH_ERR,
        Ok(Outcome::Ignore) => C::PAM_IGNORE,
        Err(Error::Args(_) | Error::Config(_)) => C::PAM_SERVICE_ERR,
        Err(Error::Store(_)) => C::PAM_AUTHINFO_UNAVAIL,
        Err(Error::Conversation) => C::PAM_CONV_ERR,
        Err(Error::Random(_)) => C::PAM_SYSTEM_ERR,
        // libpam's own failure, passed on; a "success" or unknown code here would be a
        // libpam bug and must not let anybody in.
        Err(Error::Pam(raw)) => match C::try_from(*raw) {
            Ok(C::PAM_SUCCESS | C::PAM_IGNORE) | Err(_) => C::PAM_SYSTEM_ERR,
            Ok(code) => code,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure_fs::FileError;
    use std::path::PathBuf;

    #[test]
    fn the_mapping_table() {
        use PamResultCode as C;
        let path = || PathBuf::from("/x");
        let table: Vec<(Result<Outcome, Error>, PamResultCode)> = vec![
            (Ok(Outcome::Success), C::PAM_SUCCESS),
            (Ok(Outcome::Failure), C::PAM_AUTH_ERR),
            (Ok(Outcome::Ignore), C::PAM_IGNORE),
            (
                Err(Error::Args(ArgError::Unknown("x".into()))),
                C::PAM_SERVICE_ERR,
            ),
            (
                Err(Error::Config(ConfigError::File(FileError::Missing(path())))),
                C::PAM_SERVICE_ERR,
            ),
            (
                Err(Error::Store(StoreError::Dir(FileError::Missing(path())))),
                C::PAM_AUTHINFO_UNAVAIL,
            ),
            (
                Err(Error::Store(StoreError::LockTimeout {
                    path: path(),
                    seconds: 1,
                })),
                C::PAM_AUTHINFO_UNAVAIL,
            ),
            (Err(Error::Conversation), C::PAM_CONV_ERR),
            (
                Err(Error::Random(crate::random::RandomError("x".into()))),
                C::PAM_SYSTEM_ERR,
            ),
            (Err(Error::Pam(C::PAM_CONV_ERR as i32)), C::PAM_CONV_ERR),
            (Err(Error::Pam(C::PAM_SUCCESS as i32)), C::PAM_SYSTEM_ERR),
            (Err(Error::Pam(C::PAM_IGNORE as i32)), C::PAM_SYSTEM_ERR),
            (Err(Error::Pam(-1)), C::PAM_SYSTEM_ERR),
            (Err(Error::Pam(9999)), C::PAM_SYSTEM_ERR),
        ];
        for (result, want) in &table {
            assert_eq!(pam_code(result), *want, "{result:?}");
        }
    }

    #[test]
    fn no_error_maps_to_success_or_ignore() {
        // Every libpam code an application might hand back, wrapped as an error.
        for raw in -5..=40 {
            let got = pam_code(&Err(Error::Pam(raw)));
            assert_ne!(got, PamResultCode::PAM_SUCCESS, "{raw}");
            assert_ne!(got, PamResultCode::PAM_IGNORE, "{raw}");
        }
    }
}
