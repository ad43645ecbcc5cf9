//! The libpam calls that pam-bindings does not wrap: `pam_syslog`, `pam_fail_delay`,
//! `pam_getenv` and setting PAM_AUTHTOK.
//!
//! Invariant: every call passes the handle libpam gave to the running hook and
//! NUL-terminated strings that outlive the call; nothing libpam returns is kept.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_uint, c_void};

use pam_bindings::module::PamHandle;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_fail_delay(pamh: *mut PamHandle, usec: c_uint) -> c_int;
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
}

/// PAM_AUTHTOK in <security/_pam_types.h>.
const PAM_AUTHTOK: c_int = 6;

/// Logs `message` to syslog (authpriv) with libpam's `pam_mfa(service:type)` prefix.
pub fn syslog(pamh: &PamHandle, priority: c_int, message: &str) {
    // Audit text never contains NUL (names are escaped); replace one rather than lose
    // the line.
    let Ok(c_message) = CString::new(message.replace('\0', "\\0")) else {
        return;
    };
    // SAFETY: `pamh` is the live handle of the current hook; the format is the
    // literal "%s" and the single variadic argument a valid C string matching it.
    unsafe {
        pam_syslog(
            pamh,
            libc::LOG_AUTHPRIV | priority,
            c"%s".as_ptr(),
            c_message.as_ptr(),
        )
    };
}

/// Asks libpam to delay a failure report by at least `millis` (it takes the
/// largest request of the stack, randomized by ±25%).
pub fn fail_delay(pamh: &mut PamHandle, millis: u32) {
    let usec = millis.saturating_mul(1000);
    // SAFETY: `pamh` is the live handle of the current hook; the call only stores
    // the number in it.
    unsafe { pam_fail_delay(pamh, usec) };
}

/// A variable of the PAM environment (pam_env, the application's pam_putenv).
pub fn getenv(pamh: &PamHandle, name: &CStr) -> Option<String> {
    // SAFETY: pam_getenv reads the handle's environment list and returns a pointer
    // into it (or NULL); it does not modify the handle despite its non-const
    // prototype. `name` is a valid C string.
    let value = unsafe { pam_getenv(std::ptr::from_ref(pamh).cast_mut(), name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-NULL results point to a NUL-terminated string owned by the handle,
    // valid until the environment changes; we copy it at once.
    let s = unsafe { CStr::from_ptr(value) };
    Some(s.to_string_lossy().into_owned())
}

/// Sets PAM_AUTHTOK (the password the next module checks with `use_first_pass`)
/// to `token`; libpam keeps its own copy (and wipes it when done). Whether it was
/// set.
pub fn set_authtok(pamh: &mut PamHandle, token: &CStr) -> bool {
    // SAFETY: `pamh` is the live handle of the current hook (a module may set
    // PAM_AUTHTOK); `token` is a valid C string, which libpam copies before
    // returning.
    let rc = unsafe { pam_set_item(pamh, PAM_AUTHTOK, token.as_ptr().cast()) };
    rc == 0
}
