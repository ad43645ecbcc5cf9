//! Lines to the system log (authpriv) through /dev/log, for pam_mfad and mfa-token.
//!
//! Invariant: sending never blocks for long: a syslog that is missing fails at once
//! and one that does not keep up costs at most [`SEND_FOR`] per line; lines dropped
//! that way are counted and the count rides on the next line that gets through.
//! What a line says is the caller's ([`crate::audit::Event`] carries no secret).

use std::cell::RefCell;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// syslog(3)'s socket.
const SOCKET: &str = "/dev/log";
/// LOG_AUTHPRIV.
const FACILITY: u8 = 10 << 3;
pub const ERROR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// How long a line may wait for a syslog that does not keep up.
const SEND_FOR: Duration = Duration::from_millis(200);

/// Lines dropped because syslog did not take them in time.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Sends `text` at `severity`, tagged `tag[pid]`. An error says the line was not
/// sent (no syslog socket, or it stayed full for [`SEND_FOR`]).
pub fn send(tag: &str, severity: u8, text: &str) -> io::Result<()> {
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    let note = if dropped > 0 {
        format!(" ({dropped} earlier lines dropped: syslog did not keep up)")
    } else {
        String::new()
    };
    let message = format!(
        "<{}>{tag}[{}]: {text}{note}",
        FACILITY | severity,
        std::process::id()
    );
    let lost = |e| {
        DROPPED.fetch_add(1 + dropped, Ordering::Relaxed);
        e
    };
    SENDER
        .with(|sender| {
            let mut sender = sender.borrow_mut();
            if sender.is_none() {
                let socket = UnixDatagram::unbound()?;
                socket.set_nonblocking(true)?;
                *sender = Some(socket);
            }
            let Some(socket) = sender.as_ref() else {
                return Err(io::Error::other("no socket"));
            };
            let started = Instant::now();
            loop {
                match socket.send_to(message.as_bytes(), SOCKET) {
                    Ok(_) => return Ok(()),
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            && started.elapsed() < SEND_FOR =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .map_err(lost)
}

thread_local! {
    /// Each thread's unbound datagram socket, made at its first line and kept: a
    /// login's lines cost one `sendto` each, not a socket made and closed. Sending
    /// by path reaches a syslog daemon restarted since.
    static SENDER: RefCell<Option<UnixDatagram>> = const { RefCell::new(None) };
}
