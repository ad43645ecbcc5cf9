//! The locked addition to a user's record that enroll and import commands share.
//!
//! Invariant: the change happens inside `Store::update`, under the user's lock, on
//! the record as it is then (a new one when the user has none); it is written only
//! when the addition succeeds, and an error leaves the stored record as it was.

use mfa_core::store::{Change, Record, Store};
use mfa_core::username::UserName;

use crate::error::CliError;

/// Applies `add` to `user`'s record under the lock; writes it only on success.
pub(super) fn add_to_record<T>(
    store: &impl Store,
    user: &UserName,
    add: impl FnOnce(&mut Record) -> Result<T, CliError>,
) -> Result<T, CliError> {
    store.update(user, |current| {
        let mut record = current.unwrap_or_default();
        match add(&mut record) {
            Ok(done) => (Change::Write(record), Ok(done)),
            Err(e) => (Change::Keep, Err(e)),
        }
    })?
}
