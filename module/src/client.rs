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
use std::time::Duration;

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

/// Connects within [`CONNECT`], to a root listener only ([`mfa_proto::connect`]),
/// and sends `request`, the login's first frame, before anything else: the
/// daemon, woken by the connection, then finds it waiting instead of waking a
/// second time for it. A new connection's send buffer is empty and far larger
/// than a frame can be ([`mfa_proto::MAX_FRAME`]), so that write does not wait
/// (and would be bounded by [`CONNECT`] if it did); the timeouts set after it
/// bound every later read and write.
fn connect(socket: &Path, request: &[u8]) -> io::Result<UnixStream> {
    let mut stream = mfa_proto::connect(socket, CONNECT)?;
    stream.write_all(request)?;
    stream.set_read_timeout(Some(REPLY))?;
    stream.set_write_timeout(Some(WRITE))?;
    Ok(stream)
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
