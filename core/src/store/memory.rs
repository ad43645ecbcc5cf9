//! An in-memory store for unit tests of the decision logic.
//!
//! Invariant: one mutex serializes every update, which is the same guarantee the
//! file store's per-user lock gives to a single user.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Change, Record, Store, StoreError};
use crate::username::UserName;

#[derive(Default)]
pub(crate) struct MemoryStore {
    records: Mutex<HashMap<String, Record>>,
}

impl MemoryStore {
    pub(crate) fn with(user: &str, record: Record) -> MemoryStore {
        let store = MemoryStore::default();
        store
            .records
            .lock()
            .unwrap()
            .insert(user.to_owned(), record);
        store
    }

    pub(crate) fn get(&self, user: &str) -> Option<Record> {
        self.records.lock().unwrap().get(user).cloned()
    }
}

impl Store for MemoryStore {
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        Ok(self.get(user.as_str()))
    }

    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError> {
        let mut records = self.records.lock().unwrap();
        let (change, result) = super::guarded(decide)(records.get(user.as_str()).cloned());
        match change {
            Change::Keep => {}
            Change::Write(r) => {
                records.insert(user.as_str().to_owned(), r);
            }
            Change::Delete => {
                records.remove(user.as_str());
            }
        }
        Ok(result)
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        let mut names: Vec<UserName> = self
            .records
            .lock()
            .unwrap()
            .keys()
            .filter_map(|n| UserName::new(n).ok())
            .collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }
}
