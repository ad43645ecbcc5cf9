//! The module as a client of pam_mfad (module argument `socket=PATH`): it describes
//! the login, relays the daemon's prompts and messages through the application's
//! conversation, and returns the daemon's verdict.
//!
//! Invariant: fails closed and never hangs. No daemon, a daemon that goes away, a
//! malformed reply or a wait past its bound is PAM_AUTHINFO_UNAVAIL, with one log
//! line; only the daemon's `success` verdict is PAM_SUCCESS and only its `ignore`
//! PAM_IGNORE, besides the first line of a combined stack ([`combined`]), which
//! goes on with PAM_IGNORE once the password is PAM_AUTHTOK. The module holds no
//! key and reads no store: the only secret it touches is what the user typed, on
//! its way to the daemon (the code) or to the next module (the password).

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use pam_bindings::constants::{
    PamFlag, PamResultCode, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_SILENT, PAM_TEXT_INFO,
};
use pam_bindings::conv::Conv;
use pam_bindings::items::{RHost, RUser, Service, Tty};
use pam_bindings::module::PamHandle;
use zeroize::Zeroizing;

use mfa_proto::{
    encode, read_frame, write_frame, Combined, Login, LoginReply, Request, Secret, Verdict,
    MAX_ANSWER, SSH_VARIABLES, VERSION,
};

use crate::args::ModuleArgs;
use crate::{combined, ffi};

/// How long connecting to the daemon may take.
const CONNECT: Duration = Duration::from_secs(1);
/// How long one reply may take: longer than the daemon's own longest wait (a user
/// answering, a key being touched, a delivery command running).
const REPLY: Duration = Duration::from_secs(600);
/// How long a write to the daemon may block.
const WRITE: Duration = Duration::from_secs(10);

/// One authentication through the daemon at `args.socket`.
pub(super) fn authenticate(
    pamh: &mut PamHandle,
    args: &ModuleArgs,
    flags: PamFlag,
) -> PamResultCode {
    let socket = args.socket.as_path();
    let unavailable = |pamh: &PamHandle, why: String| {
        ffi::syslog(pamh, libc::LOG_ERR, &why);
        PamResultCode::PAM_AUTHINFO_UNAVAIL
    };
    let user = match pamh.get_user(None) {
        Ok(u) => u.as_bytes().to_vec(),
        Err(code) => return code,
    };
    let mut login = describe(pamh, args, user, flags);
    // A code kept by an earlier line of this call makes this the line that checks
    // it; else the module argument, or the daemon's config, may make it the first.
    let kept = combined::take(pamh);
    login.combined = match (&kept, args.combined) {
        (Some(_), _) => Combined::Check,
        (None, true) => Combined::Split,
        (None, false) => Combined::Off,
    };
    let conv = match pamh.get_item::<Conv>() {
        Ok(Some(conv)) => conv,
        _ => return PamResultCode::PAM_CONV_ERR,
    };
    let request = match encode(&Request::Login(login.clone())) {
        Ok(r) => r,
        Err(e) => return unavailable(pamh, format!("cannot describe the login: {e}")),
    };
    let stream = match connect(socket, &request) {
        Ok(s) => s,
        Err(e) => {
            return unavailable(
                pamh,
                format!("cannot reach pam_mfad at {}: {e}", socket.display()),
            )
        }
    };
    match converse(&stream, &login, &conv, kept) {
        Ok(Ended::Verdict(verdict, fail_delay_ms)) => {
            ffi::fail_delay(pamh, fail_delay_ms);
            code(verdict)
        }
        Ok(Ended::Split { .. }) if login.combined == Combined::Check => unavailable(
            pamh,
            format!(
                "pam_mfad at {}: asked to split an answer on the line that checks the code",
                socket.display()
            ),
        ),
        Ok(Ended::Split { text, digits }) => {
            if combined::authtok_set(pamh) {
                ffi::syslog(
                    pamh,
                    libc::LOG_ERR,
                    "combined: a module before this line already asked for the password; \
                     a combined stack asks here first (see conf/pam.d/combined)",
                );
                return PamResultCode::PAM_SERVICE_ERR;
            }
            let answer = match conv.send(PAM_PROMPT_ECHO_OFF, &text) {
                Ok(Some(answer)) => answer,
                _ => return PamResultCode::PAM_CONV_ERR,
            };
            combined::keep(pamh, answer.as_bytes(), digits)
        }
        Err(e) => unavailable(pamh, format!("pam_mfad at {}: {e}", socket.display())),
    }
}

/// How the daemon ended the conversation.
enum Ended {
    /// The verdict and the failure delay it asks for.
    Verdict(Verdict, u32),
    /// Ask for password and code in one answer (see [`combined`]).
    Split { text: String, digits: u8 },
}

/// The login as the daemon needs it: PAM items, locale, signs of a remote session.
fn describe(pamh: &PamHandle, args: &ModuleArgs, user: Vec<u8>, flags: PamFlag) -> Login {
    let env = |name: &str| super::session_env(pamh, name).filter(|v| !v.is_empty());
    Login {
        version: VERSION,
        user,
        service: text_item!(pamh, Service),
        rhost: text_item!(pamh, RHost),
        tty: text_item!(pamh, Tty),
        ruser: text_item!(pamh, RUser),
        locale: ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|name| env(name))
            .unwrap_or_default(),
        // The daemon also reads the environment this process started with
        // (/proc/PID/environ of the caller), which a host may have cleared since.
        ssh: SSH_VARIABLES
            .iter()
            .filter(|name| env(name).is_some())
            .map(|name| (*name).to_owned())
            .collect(),
        require_key: args.require_key,
        silent: flags & PAM_SILENT != 0,
        debug: args.debug,
        // Set by `authenticate`, which knows what earlier lines kept.
        combined: Combined::Off,
    }
}

/// Connects within [`CONNECT`] and sends `request`, the login's first frame,
/// before anything else: the daemon, woken by the connection, then finds it
/// waiting instead of waking a second time for it. A new connection's send
/// buffer is empty and far larger than a frame can be ([`mfa_proto::MAX_FRAME`]),
/// so that write does not wait (and would be bounded by [`CONNECT`] if it did);
/// the timeouts set after it bound every later read and write.
fn connect(socket: &Path, request: &[u8]) -> io::Result<UnixStream> {
    let mut stream = connect_within(socket, CONNECT)?;
    listener_is_root(&stream)?;
    stream.write_all(request)?;
    stream.set_read_timeout(Some(REPLY))?;
    stream.set_write_timeout(Some(WRITE))?;
    Ok(stream)
}

/// Whether root listens at the other end: pam_mfad, or systemd holding its
/// socket. The kernel took these credentials from the process that called
/// listen(), so no file planted at the path, and no process of a user's that
/// binds it where the directory lets it (a `socket=` under /tmp), is asked
/// for a verdict or told who logs in.
fn listener_is_root(stream: &UnixStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;

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

/// A Unix stream socket connected to `path`, waiting at most `bound`. A daemon
/// that is alive but does not accept (stopped, wedged, swamped) leaves its
/// listen backlog full, and a blocking connect() then waits for a free slot as
/// long as the socket's send timeout allows: forever unless one is set before,
/// as here (EAGAIN when it runs out).
fn connect_within(path: &Path, bound: Duration) -> io::Result<UnixStream> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;

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
            return Ok(stream);
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
}

/// Relays the conversation, whose first frame [`connect`] sent, until the
/// verdict. On the line that checks a kept
/// code (`kept`), the first prompt is answered with it and any later one fails:
/// the user, on a client with a single field, is never asked twice.
fn converse(
    stream: &UnixStream,
    login: &Login,
    conv: &Conv<'_>,
    mut kept: Option<Zeroizing<String>>,
) -> Result<Ended, String> {
    let mut stream = stream;
    loop {
        let reply: LoginReply = read_frame(&mut stream).map_err(|e| e.to_string())?;
        match reply {
            LoginReply::Verdict {
                verdict,
                fail_delay_ms,
            } => return Ok(Ended::Verdict(verdict, fail_delay_ms)),
            LoginReply::Split { text, digits } => return Ok(Ended::Split { text, digits }),
            LoginReply::Prompt { .. } if login.combined == Combined::Check => {
                let answer = kept.take().map(|code| Secret::new(&code));
                write_frame(&mut stream, &Request::Answer { text: answer })
                    .map_err(|e| e.to_string())?;
            }
            LoginReply::Prompt { text } => {
                let answer = conv.send(PAM_PROMPT_ECHO_OFF, &text).ok().map(|a| {
                    let a = a.as_ref();
                    let bytes = a.map_or(&[][..], |a| a.as_bytes());
                    // Longer than any code: cut, and still too long to be one.
                    let bytes = &bytes[..bytes.len().min(MAX_ANSWER)];
                    let text = Zeroizing::new(String::from_utf8_lossy(bytes).into_owned());
                    Secret::new(&text)
                });
                write_frame(&mut stream, &Request::Answer { text: answer })
                    .map_err(|e| e.to_string())?;
            }
            // Whether the application showed it: the daemon decides what a
            // login needs to have seen (a QR code to enroll with).
            LoginReply::Info { text } => {
                let ok = conv.send(PAM_TEXT_INFO, &text).is_ok();
                write_frame(&mut stream, &Request::Shown { ok }).map_err(|e| e.to_string())?;
            }
            LoginReply::Error { text } => {
                let ok = conv.send(PAM_ERROR_MSG, &text).is_ok();
                write_frame(&mut stream, &Request::Shown { ok }).map_err(|e| e.to_string())?;
            }
        }
    }
}

/// The PAM code of a verdict.
fn code(verdict: Verdict) -> PamResultCode {
    match verdict {
        Verdict::Success => PamResultCode::PAM_SUCCESS,
        Verdict::Failure => PamResultCode::PAM_AUTH_ERR,
        Verdict::Ignore => PamResultCode::PAM_IGNORE,
        Verdict::Unavailable => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Verdict::ServiceError => PamResultCode::PAM_SERVICE_ERR,
        Verdict::ConversationError => PamResultCode::PAM_CONV_ERR,
        Verdict::SystemError => PamResultCode::PAM_SYSTEM_ERR,
    }
}
