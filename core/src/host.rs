//! This machine's name: the issuer of new enrollments, the host named in a sent
//! code's message, the default pam_u2f origin.
//!
//! Invariant: looked up in this one place; a failed lookup or a name that is not
//! UTF-8 gives the empty string, and every caller has its fallback for that.

/// The host name (gethostname(2)), or "" when there is none to use.
pub fn name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        assert_eq!(super::name(), kernel.trim_end());
    }
}
