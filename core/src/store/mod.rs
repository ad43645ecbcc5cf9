//! Where user records live, behind one trait.
//!
//! Invariant: a record only changes inside [`Store::update`], which holds the user's
//! lock from reading the current record to committing the new one; a reader sees the
//! old record or the new one, never a mix.

mod backend;
mod file;
#[cfg(test)]
pub(crate) mod memory;
pub mod postgres;
mod record;
pub mod seal;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use backend::AnyStore;
pub use file::FileStore;
pub use postgres::PgStore;
pub use record::{
    Factors, HotpToken, Record, RecordError, RecoveryCodes, Remembered, RuleError, State,
    TotpEnrollment, FORMAT_VERSION,
};

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

/// `decide` with the rule every backend applies to what it writes: a record whose
/// factors changed (an app enrolled, replaced or removed, new recovery codes, a
/// key added or revoked, a new contact) forgets the addresses of the grace period
/// ([`crate::grace`]), whichever program or path changed them.
pub(crate) fn guarded<R>(
    decide: impl FnOnce(Option<Record>) -> (Change, R),
) -> impl FnOnce(Option<Record>) -> (Change, R) {
    move |current| {
        let before = current.as_ref().map(Record::factors);
        let (mut change, result) = decide(current);
        if let Change::Write(record) = &mut change {
            if before.as_ref() != Some(&record.factors()) {
                record.state_mut().forget_addresses();
            }
        }
        (change, result)
    }
}

/// A backend holding one record per user.
pub trait Store {
    /// The current record, read without waiting for the lock (a snapshot).
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError>;

    /// Runs `decide` on the current record under the user's lock and applies the
    /// [`Change`] it returns before the lock is released, through [`guarded`].
    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError>;

    /// Every user with a record, sorted by name.
    fn users(&self) -> Result<Vec<UserName>, StoreError>;
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
    /// The database cannot be reached (logged once per outage by the store).
    Unavailable(String),
    /// The database refused a statement (a privilege, a missing table...).
    Database(String),
    /// A database row does not hold a valid record for its user.
    Row {
        user: String,
        error: postgres::RowError,
    },
}

impl StoreError {
    /// Whether this is part of an outage the store already logged.
    pub fn is_outage(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
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
            Self::Unavailable(why) => write!(f, "store database unavailable: {why}"),
            Self::Database(why) => write!(f, "store database: {why}"),
            Self::Row { user, error } => {
                write!(f, "store row of user {user}: {error}; refusing to use it")
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
            Self::Row { error, .. } => Some(error),
            Self::LockTimeout { .. } | Self::Unavailable(_) | Self::Database(_) => None,
        }
    }
}
