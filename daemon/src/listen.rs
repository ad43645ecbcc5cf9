//! The listening socket: handed over by systemd (socket activation) or made here.
//!
//! Invariant: a socket made here is a fresh socket file in a root-owned directory
//! that others cannot write; an existing socket file is replaced only when no
//! daemon answers on it (a stale one), and anything else at the path is refused.
//! The socket is open to every user (mode 0666): screen lockers run as the user,
//! and the daemon, not the file mode, decides what a caller may do (SO_PEERCRED).

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The first descriptor systemd passes (sd_listen_fds(3)).
const SD_LISTEN_FDS_START: RawFd = 3;

/// The listening socket and whether we made its file.
pub struct Listener {
    pub socket: UnixListener,
    made: Option<PathBuf>,
}

impl Listener {
    pub fn describe(&self) -> String {
        match &self.made {
            Some(p) => p.display().to_string(),
            None => "the socket passed by systemd".to_owned(),
        }
    }

    /// Removes the socket file we made (at exit).
    pub fn remove(&self) {
        if let Some(p) = &self.made {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The socket systemd passed, if it passed one to this process.
fn from_systemd() -> Result<Option<UnixListener>, String> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_matches || fds < 1 {
        return Ok(None);
    }
    if fds != 1 {
        return Err(format!("systemd passed {fds} sockets, expected 1"));
    }
    // Children must not believe the socket is theirs.
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    // SAFETY: LISTEN_PID names this process, so descriptor 3 was handed to it by
    // systemd (sd_listen_fds(3)) and nothing else in this process owns it.
    let listener = unsafe { UnixListener::from_raw_fd(SD_LISTEN_FDS_START) };
    nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| format!("socket from systemd: {e}"))?;
    Ok(Some(listener))
}

/// The listening socket: systemd's, or a new one at `path`.
pub fn open(path: &Path) -> Result<Listener, String> {
    if let Some(socket) = from_systemd()? {
        return Ok(Listener { socket, made: None });
    }
    let parent = path
        .parent()
        .ok_or_else(|| format!("{}: no directory", path.display()))?;
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(parent)
            .map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    mfa_core::secure_fs::open_dir(
        parent,
        mfa_core::secure_fs::Trust::ROOT_NOT_WRITABLE.owned_by(nix::unistd::geteuid().as_raw()),
    )
    .map_err(|e| format!("socket directory {e}"))?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "{}: another pam_mfad answers there",
                    path.display()
                ));
            }
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(_) => return Err(format!("{}: exists and is not a socket", path.display())),
        Err(_) => {}
    }
    let socket = UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Listener {
        socket,
        made: Some(path.to_owned()),
    })
}
