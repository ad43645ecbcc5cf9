//! The default store: one TOML file per user in a root-only directory.
//!
//! Invariant: `<dir>/<user>.toml` is only ever replaced by rename(2) of a fully
//! written and fsynced `<dir>/.<user>.tmp`, followed by an fsync of the directory,
//! all while holding flock(2) on `<dir>/.<user>.lock`. The kernel drops a flock when
//! its holder dies, so a crashed process never blocks the next login; a leftover
//! temp file is never read and is replaced by the next writer, who holds the lock.
//! User names cannot start with '.', so these names never collide with a record.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Change, Record, Store, StoreError};
use crate::secure_fs::{self, FileError, Trust};
use crate::username::UserName;

/// A record is a few hundred bytes; anything this large is not ours.
const MAX_RECORD: u64 = 64 * 1024;
/// How long a login waits for another process holding the same user's lock. Holders
/// only keep it for one read-check-write cycle (milliseconds), never while a human
/// types.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Records as files under one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    owner: u32,
}

impl FileStore {
    /// The store in `dir`, which must be root-owned and not group/world-writable;
    /// records must be root-owned with no group/world access.
    pub fn new(dir: &Path) -> FileStore {
        FileStore::owned_by(dir, 0)
    }

    /// The same checks for files owned by `owner` instead of root.
    pub fn owned_by(dir: &Path, owner: u32) -> FileStore {
        FileStore {
            dir: dir.to_owned(),
            owner,
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `user`'s record.
    pub fn record_path(&self, user: &UserName) -> PathBuf {
        self.dir.join(format!("{user}.toml"))
    }

    fn lock_path(&self, user: &UserName) -> PathBuf {
        self.dir.join(format!(".{user}.lock"))
    }

    fn temp_path(&self, user: &UserName) -> PathBuf {
        self.dir.join(format!(".{user}.tmp"))
    }

    /// The directory's listing and names tell who is enrolled (and its files'
    /// times when they last logged in): no access at all for group or others.
    fn dir_trust(&self) -> Trust {
        Trust::ROOT_PRIVATE.owned_by(self.owner)
    }

    fn file_trust(&self) -> Trust {
        Trust::ROOT_PRIVATE.owned_by(self.owner)
    }

    fn open_dir(&self) -> Result<File, StoreError> {
        secure_fs::open_dir(&self.dir, self.dir_trust()).map_err(StoreError::Dir)
    }

    fn read_record(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        let path = self.record_path(user);
        let bytes = match secure_fs::read_file(&path, self.file_trust(), MAX_RECORD) {
            Ok(b) => b,
            Err(FileError::Missing(_)) => return Ok(None),
            Err(e) => return Err(StoreError::File(e)),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| StoreError::Corrupt {
            path: path.clone(),
            error: super::RecordError::NotUtf8,
        })?;
        Record::from_toml(text)
            .map(Some)
            .map_err(|error| StoreError::Corrupt { path, error })
    }

    /// Takes the user's lock; it is released when the returned file is dropped.
    fn lock(&self, user: &UserName) -> Result<File, StoreError> {
        let path = self.lock_path(user);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| {
                StoreError::File(match e.raw_os_error() {
                    Some(libc::ELOOP) => FileError::Symlink(path.clone()),
                    _ => FileError::Io(path.clone(), e),
                })
            })?;
        secure_fs::check_regular(&path, &file, self.file_trust()).map_err(StoreError::File)?;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        let mut pause = Duration::from_micros(200);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StoreError::LockTimeout {
                        path,
                        seconds: LOCK_TIMEOUT.as_secs(),
                    })
                }
                Err(TryLockError::Error(e)) => {
                    return Err(StoreError::File(FileError::Io(path, e)))
                }
            }
        }
    }

    fn write_record(&self, dir: &File, user: &UserName, record: &Record) -> Result<(), StoreError> {
        let path = self.record_path(user);
        let temp = self.temp_path(user);
        let write_err = |error: io::Error| StoreError::Write {
            path: path.clone(),
            error,
        };
        let text = record.to_toml().map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            error: e,
        })?;
        // Left behind by a writer that died; we hold the lock, so nobody else owns it.
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_err(e)),
        }
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            drop(f);
            fs::rename(&temp, &path)?;
            dir.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(write_err)
    }

    fn delete_record(&self, dir: &File, user: &UserName) -> Result<(), StoreError> {
        let path = self.record_path(user);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(StoreError::Write { path, error }),
        }
        dir.sync_all()
            .map_err(|error| StoreError::Write { path, error })
    }

    /// Users who have a record, sorted. Names that are not valid user names are
    /// skipped (they cannot have been written by us).
    pub fn users(&self) -> Result<Vec<UserName>, StoreError> {
        self.open_dir()?;
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| StoreError::Dir(FileError::Io(self.dir.clone(), e)))?;
        let mut users = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::Dir(FileError::Io(self.dir.clone(), e)))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".toml")) else {
                continue;
            };
            if let Ok(user) = UserName::new(stem) {
                users.push(user);
            }
        }
        users.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(users)
    }
}

impl Store for FileStore {
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        self.open_dir()?;
        self.read_record(user)
    }

    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError> {
        let dir = self.open_dir()?;
        let _lock = self.lock(user)?;
        let current = self.read_record(user)?;
        let (change, result) = super::guarded(decide)(current);
        match change {
            Change::Keep => {}
            Change::Write(record) => self.write_record(&dir, user, &record)?,
            Change::Delete => self.delete_record(&dir, user)?,
        }
        Ok(result)
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        self.open_dir()?;
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| StoreError::Dir(FileError::Io(self.dir.clone(), e)))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::Dir(FileError::Io(self.dir.clone(), e)))?;
            let file = entry.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".toml")) else {
                continue;
            };
            // Temp and lock files start with '.', which no user name does.
            if let Ok(user) = UserName::new(name) {
                names.push(user);
            }
        }
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Scratch;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Barrier};

    fn store(dir: &Scratch) -> FileStore {
        FileStore::owned_by(dir.path(), secure_fs::effective_uid().unwrap())
    }

    fn alice() -> UserName {
        UserName::new("alice").unwrap()
    }

    fn with_failures(n: u32) -> Record {
        let mut r = Record::default();
        r.state_mut().failures = n;
        r
    }

    #[test]
    fn write_read_delete() {
        let s = Scratch::new(0o700);
        let store = store(&s);
        assert_eq!(store.read(&alice()).unwrap(), None);
        store
            .update(&alice(), |cur| {
                assert_eq!(cur, None);
                (Change::Write(with_failures(3)), ())
            })
            .unwrap();
        assert_eq!(store.read(&alice()).unwrap(), Some(with_failures(3)));
        let meta = fs::metadata(store.record_path(&alice())).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(store.users().unwrap(), vec![alice()]);
        store.update(&alice(), |_| (Change::Delete, ())).unwrap();
        assert_eq!(store.read(&alice()).unwrap(), None);
        assert!(store.users().unwrap().is_empty());
    }

    #[test]
    fn leftovers_of_a_crashed_writer_do_not_matter() {
        let s = Scratch::new(0o700);
        let store = store(&s);
        store
            .update(&alice(), |_| (Change::Write(with_failures(1)), ()))
            .unwrap();
        // A half-written temp file and a lock file whose holder is gone.
        fs::write(s.path().join(".alice.tmp"), "version = garbage").unwrap();
        assert_eq!(store.read(&alice()).unwrap(), Some(with_failures(1)));
        store
            .update(&alice(), |_| (Change::Write(with_failures(2)), ()))
            .unwrap();
        assert_eq!(store.read(&alice()).unwrap(), Some(with_failures(2)));
        assert!(!s.path().join(".alice.tmp").exists());
    }

    #[test]
    fn insecure_or_corrupt_records_are_refused_and_left_alone() {
        let s = Scratch::new(0o700);
        let store = store(&s);
        let path = store.record_path(&alice());

        fs::write(&path, "version = 1\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.read(&alice()),
            Err(StoreError::File(FileError::Mode { .. }))
        ));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "version = 1\n[totp]\nsecret = 3\n").unwrap();
        let e = store.read(&alice()).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        // An update must not overwrite what it could not read.
        let e = store
            .update(&alice(), |_| (Change::Write(Record::default()), ()))
            .unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "version = 1\n[totp]\nsecret = 3\n"
        );

        fs::write(&path, b"version = 1\n\xff\n").unwrap();
        assert!(matches!(
            store.read(&alice()),
            Err(StoreError::Corrupt { .. })
        ));

        fs::remove_file(&path).unwrap();
        fs::write(s.path().join("elsewhere"), "version = 1\n").unwrap();
        std::os::unix::fs::symlink(s.path().join("elsewhere"), &path).unwrap();
        assert!(matches!(
            store.read(&alice()),
            Err(StoreError::File(FileError::Symlink(_)))
        ));
    }

    #[test]
    fn the_longest_user_name_can_be_stored() {
        let s = Scratch::new(0o700);
        let store = store(&s);
        let user = UserName::new(&"a".repeat(crate::username::MAX_LEN)).unwrap();
        store
            .update(&user, |_| (Change::Write(with_failures(1)), ()))
            .unwrap();
        assert!(store.read(&user).unwrap().is_some());
    }

    #[test]
    fn a_group_or_world_readable_store_dir_is_refused() {
        for mode in [0o750, 0o705, 0o701] {
            let s = Scratch::new(mode);
            let store = store(&s);
            assert!(
                matches!(
                    store.read(&alice()),
                    Err(StoreError::Dir(FileError::Mode { .. }))
                ),
                "{mode:o}"
            );
        }
    }

    #[test]
    fn a_symlinked_lock_or_store_dir_is_refused() {
        let s = Scratch::new(0o700);
        let store = store(&s);
        std::os::unix::fs::symlink("/tmp/whatever", s.path().join(".alice.lock")).unwrap();
        let e = store.update(&alice(), |_| (Change::Keep, ())).unwrap_err();
        assert!(matches!(e, StoreError::File(FileError::Symlink(_))), "{e}");

        let link = s.path().join("linked-store");
        std::os::unix::fs::symlink(s.path(), &link).unwrap();
        let linked = FileStore::owned_by(&link, store.owner);
        assert!(matches!(
            linked.read(&alice()),
            Err(StoreError::Dir(FileError::Symlink(_)))
        ));

        fs::set_permissions(s.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            store.read(&alice()),
            Err(StoreError::Dir(FileError::Mode { .. }))
        ));
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let s = Scratch::new(0o700);
        let store = Arc::new(store(&s));
        store
            .update(&alice(), |_| (Change::Write(with_failures(0)), ()))
            .unwrap();
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..10 {
                        store
                            .update(&alice(), |cur| {
                                let mut r = cur.unwrap();
                                r.state_mut().failures += 1;
                                (Change::Write(r), ())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(store.read(&alice()).unwrap().unwrap().state().failures, 160);
    }
}
