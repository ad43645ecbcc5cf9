//! The process operations std does not offer: running the very file that was
//! checked (by its descriptor, not its path), closing the descriptors a child would
//! inherit from the application that loaded the module, learning the command's exit
//! status even where the application ignores SIGCHLD, and killing the command's
//! process group.
//!
//! Invariant: the only `unsafe` outside [`crate::pam`]; the `pre_exec` hook calls
//! nothing but async-signal-safe system calls and allocates nothing.

#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::process::Command;

/// Where the program's descriptor is in the child: run it as `/proc/self/fd/3`.
pub(super) const PROGRAM: &str = "/proc/self/fd/3";

/// Prepares `cmd`, a command for [`PROGRAM`], so that in the forked child:
/// - SIGCHLD is back to its default: an application that ignores it (reaping its
///   children itself) would otherwise have the command's status thrown away;
/// - the child forks once more. The new process runs the program, with `program`
///   at descriptor 3 and every other descriptor above 2 closed (sshd's or sudo's
///   sockets and files must not leak into it; not all are close-on-exec). The first
///   one stays behind as a watcher: it closes everything but `status`, waits for
///   the program and writes its raw wait status (4 bytes, native order) to
///   `status`, then exits. The caller reads the status there; the watcher and the
///   program share the child's process group, so [`kill_group`] ends both.
pub(super) fn run_through_watcher(cmd: &mut Command, program: RawFd, status: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec. signal(2), fork(2), waitpid(2),
    // write(2), close_range(2), close(2), dup2(2), fcntl(2) and _exit(2) are
    // async-signal-safe; nothing here allocates or takes a lock, and every
    // descriptor touched is the child's own copy.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            let pid = libc::fork();
            if pid < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if pid > 0 {
                // The watcher: keep only `status`, so that nothing of std's (its
                // exec-error pipe) or of the application stays open because of us.
                if status > 0 {
                    close_from_to(0, status - 1);
                }
                close_from_to(status + 1, libc::c_int::MAX);
                let mut raw: libc::c_int = 0;
                let waited = loop {
                    let r = libc::waitpid(pid, &mut raw, 0);
                    if r == pid {
                        break true;
                    }
                    if r < 0 && *libc::__errno_location() != libc::EINTR {
                        break false;
                    }
                };
                if waited {
                    let bytes = raw.to_ne_bytes();
                    libc::write(status, bytes.as_ptr().cast(), bytes.len());
                }
                libc::_exit(0);
            }
            // The program: its file at 3 (dup2 clears close-on-exec), nothing else.
            if program == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(program, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            close_from_to(4, libc::c_int::MAX);
            Ok(())
        });
    }
}

/// Closes descriptors `first..=last`.
///
/// # Safety
/// Only for a forked child that owns its descriptor table (see above).
unsafe fn close_from_to(first: libc::c_int, last: libc::c_int) {
    let (Ok(from), Ok(to)) = (libc::c_uint::try_from(first), libc::c_uint::try_from(last)) else {
        return;
    };
    // SAFETY: close_range(2) touches only this process's descriptors.
    if unsafe { libc::close_range(from, to, 0) } != 0 {
        // Kernels before 5.9: close what a process can reasonably have open.
        for fd in first..=last.min(65_535) {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

/// Sends SIGKILL to the process group `pid` leads (the child was started with
/// `process_group(0)`, so the watcher, the program and its helpers die with it).
pub(super) fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
