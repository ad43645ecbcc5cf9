//! Reaching pam_mfad: the client side of the socket, for `pam_mfa.so` and for
//! `mfa-token` run by users.
//!
//! Invariant: [`connect`] returns a stream only to a listener that runs as root
//! (pam_mfad, or systemd holding `pam_mfad.socket`), and never waits longer than
//! its bound, also for a daemon that is alive but does not accept. std offers
//! neither: `UnixStream::connect` waits without bound on a full listen backlog and
//! does not say who listens.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A Unix stream socket connected to the pam_mfad at `path`, within `bound`.
///
/// A daemon that is alive but does not accept (stopped, wedged, swamped) leaves
/// its listen backlog full, and a blocking connect() then waits for a free slot
/// as long as the socket's send timeout allows: forever unless one is set before,
/// as here (the error is then `TimedOut`). The send timeout stays `bound` until
/// the caller sets its own. A listener that is not root is refused before
/// anything is sent (`PermissionDenied`): see [`listener_is_root`].
pub fn connect(path: &Path, bound: Duration) -> io::Result<UnixStream> {
    // SAFETY: all zeroes is a valid sockaddr_un (an empty AF_UNSPEC address).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a usable socket path (too long, or a NUL in it)",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (to, from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns; the stream closes it.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    stream.set_write_timeout(Some(bound))?;
    let started = Instant::now();
    loop {
        // SAFETY: `addr` is an initialised sockaddr_un and `len` covers its family,
        // the path and the path's terminating NUL, within the struct.
        let rc = unsafe {
            libc::connect(
                stream.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                len as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            // A signal before a free slot: the socket is still unconnected.
            io::ErrorKind::Interrupted if started.elapsed() < bound => continue,
            io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "it accepted no connection within {} s (its listen queue is full)",
                        bound.as_secs()
                    ),
                ))
            }
            _ => return Err(e),
        }
    }
    listener_is_root(&stream)?;
    Ok(stream)
}

/// Whether root listens at the other end of `stream`. The kernel took these
/// credentials from the process that called listen(), so no file planted at the
/// path, and no user's process that binds it where the directory lets it (a
/// `socket=` under /tmp), is asked for a verdict or told who logs in.
fn listener_is_root(stream: &UnixStream) -> io::Result<()> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred; `cred` is one and `len` its size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if cred.uid != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the process listening there (pid {}) runs as uid {}, not root: not asked",
                cred.pid, cred.uid
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mfa-proto-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_root_listener_is_reached_and_anything_else_is_refused() {
        let dir = scratch("root");
        let path = dir.join("socket");
        let _listener = UnixListener::bind(&path).unwrap();
        let reached = connect(&path, Duration::from_secs(1));
        // The unit tests run as root in CI (tests/run.sh); as anyone else, the
        // listener is theirs and must be refused.
        if euid() == 0 {
            assert!(reached.is_ok(), "{reached:?}");
        } else {
            let e = reached.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        }
        let missing = connect(&dir.join("none"), Duration::from_secs(1)).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound, "{missing}");
        let long = dir.join("x".repeat(200));
        let e = connect(&long, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn euid() -> u32 {
        // SAFETY: geteuid(2) cannot fail.
        unsafe { libc::geteuid() }
    }
}
