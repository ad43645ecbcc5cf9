//! Everything that can stop an authentication, and the one mapping to verdicts.
//!
//! Invariant: [`verdict`] is the only place a result becomes the verdict pam_mfad
//! sends (and the module turns into a PAM code, one to one); only
//! [`Outcome::Success`] maps to [`Verdict::Success`] and only [`Outcome::Ignore`]
//! (which the policy produces only when the config says so: `unenrolled =
//! "ignore"`, or a `[policy]` exemption — `exempt_users`, `exempt_groups`,
//! `exempt_networks`, or a user outside `require_groups`) to [`Verdict::Ignore`].

use std::fmt;

use mfa_proto::Verdict;

use crate::config::ConfigError;
use crate::store::StoreError;

/// How an authentication that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The second factor passed.
    Success,
    /// The user did not pass (wrong code, replay, lockout, not enrolled...).
    Failure,
    /// The config says to let the stack decide: the user has no factor under
    /// `unenrolled = "ignore"`, or the login is exempt by `[policy]`.
    Ignore,
}

/// Why an authentication could not run to its end.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The config file is missing, insecure or invalid.
    Config(ConfigError),
    /// The store could not be read or written.
    Store(StoreError),
    /// The application's conversation function failed.
    Conversation,
    /// No random bytes for a challenge.
    Random(crate::random::RandomError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
            Error::Conversation => f.write_str("the conversation with the application failed"),
            Error::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Store(e) => Some(e),
            Error::Random(e) => Some(e),
            Error::Conversation => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// The verdict of an authentication result.
pub fn verdict(result: &Result<Outcome, Error>) -> Verdict {
    match result {
        Ok(Outcome::Success) => Verdict::Success,
        Ok(Outcome::Failure) => Verdict::Failure,
        Ok(Outcome::Ignore) => Verdict::Ignore,
        Err(Error::Config(_)) => Verdict::ServiceError,
        Err(Error::Store(_)) => Verdict::Unavailable,
        Err(Error::Conversation) => Verdict::ConversationError,
        Err(Error::Random(_)) => Verdict::SystemError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure_fs::FileError;
    use std::path::PathBuf;

    #[test]
    fn the_mapping_table() {
        use Verdict as V;
        let path = || PathBuf::from("/x");
        let table: Vec<(Result<Outcome, Error>, Verdict)> = vec![
            (Ok(Outcome::Success), V::Success),
            (Ok(Outcome::Failure), V::Failure),
            (Ok(Outcome::Ignore), V::Ignore),
            (
                Err(Error::Config(ConfigError::File(FileError::Missing(path())))),
                V::ServiceError,
            ),
            (
                Err(Error::Store(StoreError::Dir(FileError::Missing(path())))),
                V::Unavailable,
            ),
            (
                Err(Error::Store(StoreError::LockTimeout {
                    path: path(),
                    seconds: 1,
                })),
                V::Unavailable,
            ),
            (Err(Error::Conversation), V::ConversationError),
            (
                Err(Error::Random(crate::random::RandomError::Os(
                    getrandom::Error::UNSUPPORTED,
                ))),
                V::SystemError,
            ),
        ];
        for (result, want) in &table {
            assert_eq!(verdict(result), *want, "{result:?}");
        }
    }
}
