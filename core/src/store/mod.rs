//! Where user records live, behind one trait.
//!
//! Invariant: a record only changes inside [`Store::update`], which holds the user's
//! lock from reading the current record to committing the new one; a reader sees the
//! old record or the new one, never a mix.

mod file;
#[cfg(test)]
pub(crate) mod memory;
mod record;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use file::FileStore;
pub use record::{Record, RecordError, RecoveryCodes, State, TotpEnrollment, FORMAT_VERSION};

use crate::secure_fs::FileError;
use crate::username::UserName;

/// What an update does with the record once the closure has decided.
// One value per update, moved once into the write: boxing the record would buy
// nothing measurable and cost every caller a `Box::new`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Change {
    /// Leave the record as it is.
    Keep,
    /// Replace (or create) the record.
    Write(Record),
    /// Remove the record.
    Delete,
}

/// A backend holding one record per user.
pub trait Store {
    /// The current record, read without waiting for the lock (a snapshot).
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError>;

    /// Runs `decide` on the current record under the user's lock and applies the
    /// [`Change`] it returns before the lock is released.
    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError>;
}

/// Why the store could not serve a request. Every variant fails the login closed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store directory is missing or insecure.
    Dir(FileError),
    /// A record (or its lock file) is insecure, unreadable or not a regular file.
    File(FileError),
    /// A record's contents are invalid.
    Corrupt { path: PathBuf, error: RecordError },
    /// The user's lock could not be taken within the time limit.
    LockTimeout { path: PathBuf, seconds: u64 },
    /// Writing the new record failed; the old one is still in place.
    Write { path: PathBuf, error: io::Error },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(e) => write!(f, "store directory {e}"),
            Self::File(e) => write!(f, "store file {e}"),
            Self::Corrupt { path, error } => {
                write!(
                    f,
                    "store file {}: {error}; refusing to use it",
                    path.display()
                )
            }
            Self::LockTimeout { path, seconds } => {
                write!(
                    f,
                    "store lock {}: still held by another process after {seconds} s",
                    path.display()
                )
            }
            Self::Write { path, error } => {
                write!(
                    f,
                    "store file {}: cannot write: {error}; the previous record is unchanged",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Dir(e) | Self::File(e) => Some(e),
            Self::Corrupt { error, .. } => Some(error),
            Self::Write { error, .. } => Some(error),
            Self::LockTimeout { .. } => None,
        }
    }
}
