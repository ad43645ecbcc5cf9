//! The state a record keeps about out-of-band (sent) codes: the code in flight and
//! the times of recent sends. Pure: delivery (running the command) is in `oob`.
//!
//! Invariant: a sent code exists in plaintext only in the delivery command's input
//! and in the user's hands; a [`Pending`] keeps its [`SaltedHash`] and expiry, and the
//! locked update that accepts it removes it, so it works once. The send times make
//! the rate limit hold across processes.
//!
//! A code has only 6 to 10 digits, so its hash would fall to an offline search;
//! that is acceptable because the store is root-only and the code dies within
//! `oob.lifetime_seconds` anyway.

use zeroize::Zeroizing;

use crate::config::OobConfig;
use crate::random::{Random, RandomError};
use crate::salted_hash::SaltedHash;

/// A code that was sent and not used yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    hash: SaltedHash,
    expires: u64,
}

impl Pending {
    /// A stored pending code.
    pub fn new(hash: SaltedHash, expires: u64) -> Pending {
        Pending { hash, expires }
    }

    pub fn hash(&self) -> &SaltedHash {
        &self.hash
    }

    /// Unix time after which the code is refused.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// Whether `typed` is this code and it has not expired at `now`. Spaces and
    /// dashes in what was typed are ignored.
    pub fn matches(&self, typed: &str, now: u64) -> bool {
        if now > self.expires {
            return false;
        }
        let digits: Zeroizing<String> = Zeroizing::new(
            typed
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        self.hash.matches(&digits)
    }
}

/// What a record keeps about out-of-band codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OobState {
    pub pending: Option<Pending>,
    /// Unix times of the sends inside the rate-limit window.
    pub sends: Vec<u64>,
}

/// A fresh code of `digits` digits, uniformly drawn, and its pending form.
pub fn new_code(
    digits: u8,
    lifetime: u32,
    now: u64,
    rng: &mut dyn Random,
) -> Result<(Zeroizing<String>, Pending), RandomError> {
    let mut code = Zeroizing::new(String::with_capacity(usize::from(digits)));
    let mut byte = [0u8; 1];
    while code.len() < usize::from(digits) {
        rng.fill(&mut byte)?;
        // 250 = 25 × 10: rejecting the rest keeps every digit equally likely.
        if byte[0] < 250 {
            code.push(char::from(b'0' + byte[0] % 10));
        }
    }
    let hash = SaltedHash::new(&code, rng)?;
    let pending = Pending::new(hash, now.saturating_add(u64::from(lifetime)));
    Ok((code, pending))
}

/// Records a send at `now` if the rate limit allows it; otherwise `Err` with the
/// unix time when the next send will be allowed. Sends older than the window are
/// forgotten.
pub fn allow_send(state: &mut OobState, cfg: &OobConfig, now: u64) -> Result<(), u64> {
    let since = now.saturating_sub(cfg.per_seconds);
    state.sends.retain(|&t| t > since && t <= now);
    if state.sends.len() >= cfg.max_sends as usize {
        let oldest = state.sends.iter().copied().min().unwrap_or(now);
        return Err(oldest.saturating_add(cfg.per_seconds));
    }
    state.sends.push(now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::random::OsRandom;
    use std::path::Path;

    #[test]
    fn codes_are_digits_and_work_once_until_they_expire() {
        let (code, pending) = new_code(8, 300, 1000, &mut OsRandom).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(pending.expires(), 1300);
        assert!(!pending.hash().digest().to_hex().contains(code.as_str()));
        assert!(pending.matches(&code, 1000));
        assert!(pending.matches(&format!(" {}-{} ", &code[..4], &code[4..]), 1300));
        assert!(!pending.matches(&code, 1301), "expired");
        assert!(!pending.matches("", 1000));
        assert!(!pending.matches(&code[..7], 1000));
        let other = if code.starts_with('1') { "2" } else { "1" };
        assert!(!pending.matches(&format!("{other}{}", &code[1..]), 1000));
    }

    #[test]
    fn every_digit_is_drawn() {
        let mut seen = [0u32; 10];
        for _ in 0..200 {
            let (code, _) = new_code(10, 1, 0, &mut OsRandom).unwrap();
            for b in code.bytes() {
                seen[usize::from(b - b'0')] += 1;
            }
        }
        // 2000 digits: each of the ten appears about 200 times.
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    #[test]
    fn the_rate_limit_counts_sends_in_the_window() {
        let mut c = Config::defaults(Path::new("/etc/pam_mfa/config.toml")).oob;
        c.max_sends = 2;
        c.per_seconds = 100;
        let mut state = OobState::default();
        assert_eq!(allow_send(&mut state, &c, 1000), Ok(()));
        assert_eq!(allow_send(&mut state, &c, 1050), Ok(()));
        assert_eq!(allow_send(&mut state, &c, 1060), Err(1100));
        assert_eq!(allow_send(&mut state, &c, 1099), Err(1100));
        assert_eq!(allow_send(&mut state, &c, 1100), Ok(()));
        assert_eq!(state.sends, [1050, 1100]);
    }
}
