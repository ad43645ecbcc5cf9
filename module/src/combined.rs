//! Password and code in one answer, for clients with a single field (module
//! argument `combined`, or `[policy] prompt = "combined"` in pam_mfad's config).
//! The first pam_mfa line asks the daemon's prompt, cuts the code off the end of
//! the answer ([`mfa_proto::split_combined`]), hands the rest to the next module
//! as PAM_AUTHTOK (`pam_unix.so use_first_pass`) and keeps the code in the handle
//! (pam_set_data); a later pam_mfa line, reached only when the password module
//! succeeded, answers the daemon's code prompt with it and never asks the user.
//!
//! Invariant: a kept code is handed out at most once, and only to a later line of
//! the same pam_authenticate call (PAM_AUTHTOK still set: libpam clears it at the
//! start and the end of every call, so a code kept by a failed attempt is never
//! checked by the next); it is wiped when taken and when the handle ends. Only the
//! password part becomes PAM_AUTHTOK; nothing goes into the PAM environment. A
//! kept code that no line took makes this module's pam_acct_mgmt refuse: with
//! `account required pam_mfa.so`, a stack that lost its second line does not let
//! the password alone in.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;

use pam_bindings::constants::PamResultCode;
use pam_bindings::items::AuthTok;
use pam_bindings::module::PamHandle;
use zeroize::Zeroizing;

use crate::ffi;

/// The name of the kept code in the handle. Only this module stores under it,
/// always a [`Kept`]; the version keeps another build's layout apart.
const KEY: &str = "pam_mfa/combined/2";

/// The code the first line kept.
struct Kept {
    /// The code as typed after the password; `None` when the answer ended in
    /// none (the check then fails).
    code: RefCell<Option<Zeroizing<String>>>,
    /// Whether a later line took it.
    taken: Cell<bool>,
}

fn kept(pamh: &PamHandle) -> Option<&Kept> {
    // SAFETY: data under KEY is only ever stored by `keep` below, as a Box<Kept>
    // (pam-bindings' set_data), and lives until pam_end or the next `keep`.
    unsafe { pamh.get_data::<Kept>(KEY) }.ok()
}

/// Whether PAM_AUTHTOK is set (by the first line of this call, or by a module
/// that asked for the password before).
pub(crate) fn authtok_set(pamh: &PamHandle) -> bool {
    matches!(pamh.get_item::<AuthTok>(), Ok(Some(_)))
}

/// The code kept by an earlier line of this call, taken for the check: `Some`
/// (empty when the answer held no code) makes this line the one that checks.
pub(crate) fn take(pamh: &PamHandle) -> Option<Zeroizing<String>> {
    let kept = kept(pamh).filter(|k| !k.taken.get())?;
    if !authtok_set(pamh) {
        // Left by an attempt whose password module failed.
        return None;
    }
    kept.taken.set(true);
    let code = kept.code.borrow_mut().take();
    Some(code.unwrap_or_default())
}

/// Whether a code was kept and no line took it: the stack lacks its second line.
pub(crate) fn untaken(pamh: &PamHandle) -> bool {
    kept(pamh).is_some_and(|k| !k.taken.get())
}

/// The first line's work once the user answered: the password part becomes
/// PAM_AUTHTOK, the code is kept, and the stack goes on (PAM_IGNORE).
pub(crate) fn keep(pamh: &mut PamHandle, answer: &[u8], digits: u8) -> PamResultCode {
    let cut = mfa_proto::split_combined(answer, digits).unwrap_or(answer.len());
    let (password, code) = answer.split_at(cut);
    let mut token = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    token.extend_from_slice(password);
    token.push(0);
    let Ok(token) = CStr::from_bytes_with_nul(&token) else {
        // A conversation answer is a C string: no NUL inside.
        return PamResultCode::PAM_CONV_ERR;
    };
    let kept = Kept {
        code: RefCell::new(
            (!code.is_empty()).then(|| Zeroizing::new(String::from_utf8_lossy(code).into_owned())),
        ),
        taken: Cell::new(false),
    };
    if pamh.set_data(KEY, Box::new(kept)).is_err() || !ffi::set_authtok(pamh, token) {
        ffi::syslog(
            pamh,
            libc::LOG_ERR,
            "combined: libpam refused to keep the code or the password",
        );
        return PamResultCode::PAM_SYSTEM_ERR;
    }
    PamResultCode::PAM_IGNORE
}

/// Logs why `hook` refuses: a kept code was never checked.
pub(crate) fn refuse(pamh: &PamHandle, hook: &str) {
    ffi::syslog(
        pamh,
        libc::LOG_ERR,
        &format!(
            "{hook} refused: the verification code typed with the password was never checked; \
             the stack needs a second pam_mfa.so line after the password module (see conf/pam.d/combined)"
        ),
    );
}
