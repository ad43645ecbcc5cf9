//! The two process operations std does not offer: closing the descriptors a child
//! would inherit from the application that loaded the module, and killing the
//! child's process group.
//!
//! Invariant: the only `unsafe` outside [`crate::pam`]; the `pre_exec` hook calls
//! nothing but async-signal-safe system calls.

#![allow(unsafe_code)]

use std::process::Command;

/// Makes `cmd` close every descriptor above 2 before exec: sshd's or sudo's sockets
/// and files must not leak into the delivery command (not all of them are
/// close-on-exec).
pub(super) fn close_inherited_descriptors(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec; close_range(2) and close(2) are
    // async-signal-safe and touch only the child's descriptor table.
    unsafe {
        cmd.pre_exec(|| {
            if libc::close_range(3, libc::c_uint::MAX, 0) != 0 {
                // Kernels before 5.9: close what a process can reasonably have open.
                for fd in 3..65_536 {
                    libc::close(fd);
                }
            }
            Ok(())
        });
    }
}

/// Sends SIGKILL to the process group `pid` leads (the child was started with
/// `process_group(0)`, so its helpers die with it).
pub(super) fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
