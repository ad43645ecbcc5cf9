//! Enrollment changes to syslog (authpriv), with who made them.
//!
//! Invariant: one line per change, naming the user changed and the person who ran
//! the command (real uid, and `SUDO_USER` when run through sudo); never a secret or
//! a code. A missing syslog socket is reported on stderr but does not undo a change
//! that is already stored.

use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::username::UserName;

/// Who runs this command.
fn actor() -> String {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| "?".to_owned(), |u| u.name);
    let mut who = format!("{name} (uid {uid})");
    // sudo sets SUDO_USER to the invoking account; keep it printable and short.
    if let Ok(sudo_user) = std::env::var("SUDO_USER") {
        let safe: String = sudo_user
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        who.push_str(&format!(" via sudo from {safe}"));
    }
    who
}

/// Logs `what` happened to `user`.
pub fn log(lang: Lang, user: &UserName, what: &str) {
    let line = format!("user={user}: {what} by {}", actor());
    if let Err(e) = mfa_core::syslog::send("mfa-token", mfa_core::syslog::NOTICE, &line) {
        eprintln!(
            "mfa-token: {}",
            i18n::format(lang, Msg::WarnNoSyslog, &[&e])
        );
    }
}
