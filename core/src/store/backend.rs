//! The store the config names: files on this host, or the fleet's database.
//!
//! Invariant: everything that reads or changes records goes through [`AnyStore`],
//! so pam_mfad and mfa-token treat both backends alike and neither can bypass the
//! per-user atomic update.

use std::sync::Arc;

use super::postgres::{Notify, PgStore, SetupError};
use super::{Change, FileStore, Record, Store, StoreError};
use crate::config::{Backend, StoreConfig};
use crate::username::UserName;

/// The configured backend. Cloning shares the database connections.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Files(FileStore),
    Postgres(Arc<PgStore>),
}

impl AnyStore {
    /// The store `[store]` describes; for a database, the key, password and CA
    /// files are read now, and the first connection is made when first used.
    /// `application` names the program to the database server.
    pub fn open(
        cfg: &StoreConfig,
        application: &str,
        notify: Notify,
    ) -> Result<AnyStore, SetupError> {
        Ok(match cfg.backend {
            Backend::Files => AnyStore::Files(FileStore::new(&cfg.dir)),
            Backend::Postgres => {
                AnyStore::Postgres(Arc::new(PgStore::new(&cfg.postgres, application, notify)?))
            }
        })
    }

    /// Where the records are, for messages.
    pub fn describe(&self) -> String {
        match self {
            AnyStore::Files(f) => format!("store directory {}", f.dir().display()),
            AnyStore::Postgres(p) => p.describe().to_owned(),
        }
    }
}

impl Store for AnyStore {
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        match self {
            AnyStore::Files(f) => f.read(user),
            AnyStore::Postgres(p) => p.read(user),
        }
    }

    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError> {
        match self {
            AnyStore::Files(f) => f.update(user, decide),
            AnyStore::Postgres(p) => p.update(user, decide),
        }
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        match self {
            AnyStore::Files(f) => f.users(),
            AnyStore::Postgres(p) => p.users(),
        }
    }
}
