//! What every command needs: the language, the configuration, the store, the clock
//! and checked user names.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mfa_core::accounts::{Accounts, Lookup, NssAccounts};
use mfa_core::config::Backend;
use mfa_core::config::Config;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::store::{AnyStore, Store};
use mfa_core::username::UserName;

use crate::error::CliError;

/// Shared state of one invocation.
pub struct Context {
    pub lang: Lang,
    config_path: PathBuf,
}

/// Whether the account must exist in the user database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// Enrolling: the user must exist.
    MustExist,
    /// Listing or removing: a record left by a deleted account may still be handled.
    MayBeGone,
}

impl Context {
    pub fn new(config_path: &Path) -> Context {
        Context {
            lang: Lang::from_env(|k| std::env::var(k).ok()),
            config_path: config_path.to_owned(),
        }
    }

    pub fn config(&self) -> Result<Config, CliError> {
        Config::load(&self.config_path).map_err(CliError::Config)
    }

    /// The store; with `create`, the files backend's directory is made (0700) if it
    /// does not exist. Only root may use it: records are root-only files, and the
    /// database's key and password files are root-only too.
    pub fn store(&self, cfg: &Config, create: bool) -> Result<AnyStore, CliError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(CliError::NotRoot(match cfg.store.backend {
                Backend::Files => cfg.store.dir.clone(),
                Backend::Postgres => cfg.store.postgres.key_file.clone(),
            }));
        }
        if create && cfg.store.backend == Backend::Files && !cfg.store.dir.exists() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&cfg.store.dir)
                .map_err(|e| {
                    CliError::Store(mfa_core::store::StoreError::Dir(
                        mfa_core::secure_fs::FileError::Io(cfg.store.dir.clone(), e),
                    ))
                })?;
        }
        // The command's own error says what failed; an outage needs no second line.
        let quiet: mfa_core::store::postgres::Notify = std::sync::Arc::new(|_, _| {});
        AnyStore::open(&cfg.store, "mfa-token", quiet)
            .map_err(|e| CliError::StoreSetup(format!("{}: {e}", cfg.path.display())))
    }

    /// The account `name` belongs to, by its own name (getpwnam(3): "ALICE" on a
    /// user database that ignores case is alice), validated for the store. A name
    /// the user database does not know is accepted only per `account`, for a record
    /// left by a deleted account.
    pub fn user(
        &self,
        name: &str,
        account: Account,
        store: &AnyStore,
    ) -> Result<UserName, CliError> {
        match NssAccounts.lookup(name.as_bytes()) {
            Lookup::Found(canonical) => {
                let user = UserName::new(&canonical)
                    .map_err(|e| CliError::InvalidUser(canonical.clone(), e))?;
                if canonical != name {
                    eprintln!(
                        "{}",
                        i18n::format(self.lang, Msg::NoteCanonicalUser, &[&name, &canonical])
                    );
                }
                Ok(user)
            }
            Lookup::Failed(e) => Err(CliError::Lookup(name.to_owned(), e)),
            Lookup::Unknown => {
                let user =
                    UserName::new(name).map_err(|e| CliError::InvalidUser(name.to_owned(), e))?;
                if account == Account::MayBeGone && store.read(&user)?.is_some() {
                    Ok(user)
                } else {
                    Err(CliError::UnknownUser(name.to_owned()))
                }
            }
        }
    }

    pub fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}
