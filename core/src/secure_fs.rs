//! Opening files that decide who may log in.
//!
//! Invariant: a file is only read if the last path component is not a symlink
//! (`O_NOFOLLOW`), the opened descriptor is a regular file (directory for
//! [`open_dir`]) owned by the expected user, carries none of the forbidden mode bits
//! and is no larger than the caller's limit. The checks run on the opened descriptor
//! (`fstat`), never on the path, so the file checked is the file read.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Who must own a trusted file and which mode bits it must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust {
    /// The required owner uid (root in production).
    pub owner: u32,
    /// Mode bits that must all be clear, e.g. `0o022` (group/world-writable).
    pub forbidden_mode: u32,
}

impl Trust {
    /// Root-owned, not writable by group or others: config files and directories.
    pub const ROOT_NOT_WRITABLE: Trust = Trust {
        owner: 0,
        forbidden_mode: 0o022,
    };
    /// Root-owned, no access at all for group or others: files holding secrets.
    pub const ROOT_PRIVATE: Trust = Trust {
        owner: 0,
        forbidden_mode: 0o077,
    };

    /// The same mode rule for another owner (tests, and a store run by a non-root
    /// service account).
    pub fn owned_by(self, owner: u32) -> Trust {
        Trust { owner, ..self }
    }
}

/// Why a file was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The file does not exist.
    Missing(PathBuf),
    /// The last path component is a symbolic link.
    Symlink(PathBuf),
    /// open(2) or read(2) failed for another reason.
    Io(PathBuf, io::Error),
    /// The path names something other than the expected kind of file.
    WrongType(PathBuf, &'static str),
    /// The file belongs to the wrong user.
    Owner {
        path: PathBuf,
        uid: u32,
        expected: u32,
    },
    /// The file has forbidden permission bits.
    Mode {
        path: PathBuf,
        mode: u32,
        forbidden: u32,
    },
    /// The file is larger than the caller accepts.
    TooLarge { path: PathBuf, size: u64, max: u64 },
}

impl FileError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing(p) | Self::Symlink(p) | Self::Io(p, _) | Self::WrongType(p, _) => p,
            Self::Owner { path, .. } | Self::Mode { path, .. } | Self::TooLarge { path, .. } => {
                path
            }
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(f, "{}: no such file", p.display()),
            Self::Symlink(p) => write!(f, "{}: is a symbolic link, refused", p.display()),
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::WrongType(p, want) => write!(f, "{}: not a {want}", p.display()),
            Self::Owner {
                path,
                uid,
                expected,
            } => write!(
                f,
                "{}: owned by uid {uid}, must be owned by uid {expected}",
                path.display()
            ),
            Self::Mode {
                path,
                mode,
                forbidden,
            } => write!(
                f,
                "{}: mode {:04o} is insecure (bits {:04o} must be clear)",
                path.display(),
                mode & 0o7777,
                forbidden
            ),
            Self::TooLarge { path, size, max } => {
                write!(
                    f,
                    "{}: {size} bytes, larger than the limit of {max}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

fn open_error(path: &Path, e: io::Error) -> FileError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => FileError::Missing(path.to_owned()),
        // O_NOFOLLOW reports a symlink as ELOOP.
        Some(libc::ELOOP) => FileError::Symlink(path.to_owned()),
        _ => FileError::Io(path.to_owned(), e),
    }
}

fn check_owner_mode(path: &Path, meta: &std::fs::Metadata, trust: Trust) -> Result<(), FileError> {
    if meta.uid() != trust.owner {
        return Err(FileError::Owner {
            path: path.to_owned(),
            uid: meta.uid(),
            expected: trust.owner,
        });
    }
    if meta.mode() & trust.forbidden_mode != 0 {
        return Err(FileError::Mode {
            path: path.to_owned(),
            mode: meta.mode(),
            forbidden: trust.forbidden_mode,
        });
    }
    Ok(())
}

/// Checks an already open file: a regular file under `trust`. Returns its metadata.
pub fn check_regular(
    path: &Path,
    file: &File,
    trust: Trust,
) -> Result<std::fs::Metadata, FileError> {
    let meta = file
        .metadata()
        .map_err(|e| FileError::Io(path.to_owned(), e))?;
    if !meta.is_file() {
        return Err(FileError::WrongType(path.to_owned(), "regular file"));
    }
    check_owner_mode(path, &meta, trust)?;
    Ok(meta)
}

/// Opens a directory under `trust` and returns its handle (used to fsync it).
pub fn open_dir(path: &Path, trust: Trust) -> Result<File, FileError> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // With O_DIRECTORY a symlink is reported as ENOTDIR, not ELOOP.
            Some(libc::ENOTDIR) if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) => {
                FileError::Symlink(path.to_owned())
            }
            Some(libc::ENOTDIR) => FileError::WrongType(path.to_owned(), "directory"),
            _ => open_error(path, e),
        })?;
    let meta = dir
        .metadata()
        .map_err(|e| FileError::Io(path.to_owned(), e))?;
    if !meta.is_dir() {
        return Err(FileError::WrongType(path.to_owned(), "directory"));
    }
    check_owner_mode(path, &meta, trust)?;
    Ok(dir)
}

/// Reads a whole regular file under `trust`, at most `max` bytes.
///
/// The buffer is wiped when dropped, as trusted files may hold secrets.
pub fn read_file(path: &Path, trust: Trust, max: u64) -> Result<Zeroizing<Vec<u8>>, FileError> {
    // O_NONBLOCK: a FIFO planted under the name must not hang the login.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let meta = check_regular(path, &file, trust)?;
    if meta.len() > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            max,
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0)));
    // Read one byte past the limit to notice a file that grew after fstat.
    file.by_ref()
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| FileError::Io(path.to_owned(), e))?;
    if buf.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            size: buf.len() as u64,
            max,
        });
    }
    Ok(buf)
}

/// Opens a program to run as a trusted helper, as sshd checks an
/// AuthorizedKeysCommand: the path is resolved once (`/sbin` may be a link to
/// `usr/sbin`), then walked from `/` down with `O_NOFOLLOW` at every step, each
/// directory opened relative to its parent and checked on its descriptor: owned by
/// root or `trust.owner`, and not writable by group or others unless sticky (like
/// /tmp, where nobody can replace another owner's entry). The program itself must be
/// a regular file under `trust` with an execute bit. The descriptor returned is the
/// file checked: run it through `/proc/self/fd`, never by its path again.
pub fn open_executable(path: &Path, trust: Trust) -> Result<File, FileError> {
    use std::path::Component;
    let resolved = std::fs::canonicalize(path).map_err(|e| open_error(path, e))?;
    let nofollow = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC;
    let mut dir = open_dir_step(Path::new("/"), None, Path::new("/"), trust)?;
    let mut here = PathBuf::from("/");
    let names: Vec<_> = resolved
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let Some((program, dirs)) = names.split_last() else {
        return Err(FileError::WrongType(path.to_owned(), "regular file"));
    };
    for name in dirs {
        here.push(name);
        dir = open_dir_step(&here, Some(&dir), Path::new(name), trust)?;
    }
    here.push(program);
    let file = File::from(
        nix::fcntl::openat(
            &dir,
            Path::new(program),
            nofollow | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| open_error(&here, e.into()))?,
    );
    let meta = check_regular(&here, &file, trust)?;
    if meta.mode() & 0o111 == 0 {
        return Err(FileError::WrongType(here, "executable file"));
    }
    Ok(file)
}

/// One directory of [`open_executable`]'s walk: `name` opened in `parent` (or `/`).
fn open_dir_step(
    full: &Path,
    parent: Option<&File>,
    name: &Path,
    trust: Trust,
) -> Result<File, FileError> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let opened = match parent {
        Some(parent) => nix::fcntl::openat(parent, name, flags, nix::sys::stat::Mode::empty()),
        None => nix::fcntl::open(name, flags, nix::sys::stat::Mode::empty()),
    };
    let dir = File::from(opened.map_err(|e| match e {
        // Swapped for a link after the path was resolved.
        nix::errno::Errno::ENOTDIR | nix::errno::Errno::ELOOP => {
            FileError::Symlink(full.to_owned())
        }
        e => open_error(full, e.into()),
    })?);
    let meta = dir
        .metadata()
        .map_err(|e| FileError::Io(full.to_owned(), e))?;
    if meta.uid() != 0 && meta.uid() != trust.owner {
        return Err(FileError::Owner {
            path: full.to_owned(),
            uid: meta.uid(),
            expected: trust.owner,
        });
    }
    let sticky = meta.mode() & 0o1000 != 0;
    if meta.mode() & 0o022 != 0 && !sticky {
        return Err(FileError::Mode {
            path: full.to_owned(),
            mode: meta.mode(),
            forbidden: 0o022,
        });
    }
    Ok(dir)
}

/// The uid that owns this process's files (`/proc/self` belongs to the caller's
/// effective uid), for tests and diagnostics; avoids an unsafe `geteuid` here.
pub fn effective_uid() -> io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{owned_by_me, Scratch};
    use std::os::unix::fs::PermissionsExt;

    fn me() -> Trust {
        owned_by_me(Trust::ROOT_NOT_WRITABLE)
    }

    #[test]
    fn a_trusted_file_is_read() {
        let dir = Scratch::new(0o700);
        let f = dir.write("ok", b"hello", 0o644);
        assert_eq!(&read_file(&f, me(), 100).unwrap()[..], b"hello");
    }

    #[test]
    fn symlink_wrong_owner_mode_size_and_type_are_refused() {
        let dir = Scratch::new(0o700);
        let f = dir.write("f", b"hello", 0o644);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(
            read_file(&link, me(), 100),
            Err(FileError::Symlink(_))
        ));
        assert!(matches!(
            read_file(&f, me().owned_by(me().owner + 1), 100),
            Err(FileError::Owner { .. })
        ));
        dir.write("f", b"hello", 0o664);
        assert!(matches!(
            read_file(&f, me(), 100),
            Err(FileError::Mode { .. })
        ));
        dir.write("f", b"hello", 0o600);
        assert!(matches!(
            read_file(&f, me(), 4),
            Err(FileError::TooLarge { .. })
        ));
        assert!(matches!(
            read_file(dir.path(), me(), 4),
            Err(FileError::WrongType(..))
        ));
        assert!(matches!(
            read_file(&dir.path().join("nope"), me(), 4),
            Err(FileError::Missing(_))
        ));
        assert!(matches!(open_dir(&f, me()), Err(FileError::WrongType(..))));
        let dlink = dir.path().join("dlink");
        std::os::unix::fs::symlink(dir.path(), &dlink).unwrap();
        assert!(matches!(open_dir(&dlink, me()), Err(FileError::Symlink(_))));
    }

    #[test]
    fn an_executable_is_opened_only_through_trusted_directories() {
        let dir = Scratch::new(0o755);
        let sub = dir.path().join("bin");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let prog = sub.join("send");
        std::fs::write(&prog, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(open_executable(&prog, me()).is_ok());
        // A link to it is resolved once; the walk then checks the real path.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&prog, &link).unwrap();
        assert!(open_executable(&link, me()).is_ok());
        // A directory on the way that others may write: anyone could swap the file.
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            open_executable(&prog, me()),
            Err(FileError::Mode { path, .. }) if path == sub
        ));
        // Sticky (like /tmp): others cannot replace our entries.
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(open_executable(&prog, me()).is_ok());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Not executable, writable by others, a directory.
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            open_executable(&prog, me()),
            Err(FileError::WrongType(..))
        ));
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o757)).unwrap();
        assert!(matches!(
            open_executable(&prog, me()),
            Err(FileError::Mode { .. })
        ));
        assert!(matches!(
            open_executable(&sub, me()),
            Err(FileError::WrongType(..))
        ));
        assert!(matches!(
            open_executable(&sub.join("nope"), me()),
            Err(FileError::Missing(_))
        ));
    }

    #[test]
    fn private_trust_refuses_group_readable_files() {
        let dir = Scratch::new(0o700);
        let f = dir.write("secret", b"s", 0o640);
        let private = owned_by_me(Trust::ROOT_PRIVATE);
        assert!(matches!(
            read_file(&f, private, 10),
            Err(FileError::Mode { .. })
        ));
        dir.write("secret", b"s", 0o600);
        assert!(read_file(&f, private, 10).is_ok());
    }
}
