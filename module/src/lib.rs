//! pam_mfa.so: the PAM module, a thin client of the pam_mfad service.
//!
//! The module describes the login (user, service, remote host, tty, remote user,
//! locale, signs of an SSH session) to pam_mfad over its socket, relays the
//! daemon's prompts and messages through the application's conversation, and
//! returns the daemon's verdict. It holds no config, store, key or secret, starts
//! no thread and links nothing but libpam, libc and the protocol.
//!
//! Invariant: every hook returns exactly one code: `authenticate` the daemon's
//! verdict through one table ([`client`]), PAM_SERVICE_ERR for bad arguments,
//! PAM_AUTHINFO_UNAVAIL when the daemon cannot be asked, PAM_IGNORE on the first
//! line of a combined stack ([`combined`]); the others a fixed, documented
//! answer, refusing only when a code typed with the password was never checked. Nothing here prints or lets a panic cross into C
//! (pam-bindings' guard turns one into `PAM_ABORT`). The environment is read only
//! for the message language and the signs of a remote session, which can never
//! let a login through.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// A text PAM item (`Service`, `RHost`, `Tty`, `RUser`) as a string, empty when
/// unset; bytes that are not UTF-8 are replaced, as the item is only described.
macro_rules! text_item {
    ($pamh:expr, $item:ty) => {
        $pamh
            .get_item::<$item>()
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(s.0.to_bytes()).into_owned())
            .unwrap_or_default()
    };
}

mod args;
mod client;
mod combined;
mod ffi;

use std::ffi::CStr;

use pam_bindings::constants::{PamFlag, PamResultCode};
use pam_bindings::module::{PamHandle, PamHooks};

use args::ModuleArgs;

/// The module, as seen by libpam.
pub struct PamMfa;

pam_bindings::pam_hooks!(PamMfa);

impl PamHooks for PamMfa {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        match ModuleArgs::parse(args.iter().map(|a| a.to_bytes())) {
            Ok(args) => client::authenticate(pamh, &args, flags),
            Err(e) => {
                ffi::syslog(pamh, libc::LOG_ERR, &format!("refusing to run: {e}"));
                PamResultCode::PAM_SERVICE_ERR
            }
        }
    }

    /// Establishing credentials is not our business, but `auth required pam_mfa.so`
    /// must not make `pam_setcred` fail for the whole stack. (No use as a guard
    /// for a code never checked: libpam replays the chain pam_authenticate froze
    /// and ignores the pam_setcred result of a line whose authentication returned
    /// PAM_IGNORE, which the first line of a combined stack does; the account
    /// hook below is the guard.)
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    /// A second factor has no account to manage (PAM_IGNORE), but `account
    /// required pam_mfa.so` refuses a login whose code typed with the password was
    /// never checked: a combined stack that lost its second line.
    fn acct_mgmt(pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        if combined::untaken(pamh) {
            combined::refuse(pamh, "pam_acct_mgmt");
            return PamResultCode::PAM_PERM_DENIED;
        }
        PamResultCode::PAM_IGNORE
    }

    // open/close_session and chauthtok keep pam-bindings' default, PAM_IGNORE: a
    // second factor has no session or password to manage.
}

/// A variable of the login's environment: the PAM environment (pam_env, the
/// application), else the process environment (sudo, su and login run with the
/// caller's). Read only for what cannot loosen a login: the language of messages
/// and the signs of a remote session.
fn session_env(pamh: &PamHandle, name: &str) -> Option<String> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // An empty PAM variable must not hide the process's (SSH_CONNECTION).
    ffi::getenv(pamh, &c_name)
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(name).ok())
}
