//! The grace period (`policy.remember_seconds`): a user who passed a second factor
//! from a remote address is not asked again from that address for a while.
//!
//! Invariant: pure functions of the state, the address and the `now` they are
//! given. Only an IP literal from PAM_RHOST is remembered or recalled, canonical
//! (IPv4-mapped as IPv4); at most [`MAX_REMEMBERED`] per user, the oldest dropped.
//! A memory from the future (a host whose clock is behind) or older than the
//! period is no memory. A failure forgets every address ([`crate::policy::on_failure`])
//! and so does any change of the user's factors (the store's write rule,
//! [`crate::store::Record::factors`]).

use std::net::IpAddr;

use crate::network;
use crate::store::State;

/// Most addresses remembered per user.
pub const MAX_REMEMBERED: usize = 16;

/// Longest grace period the config accepts: 30 days.
pub const MAX_SECONDS: u64 = 30 * 86_400;

/// Remembers a second factor passed from `ip` at `now`.
pub fn remember(state: &mut State, ip: IpAddr, now: u64) {
    // Canonical, once, oldest first and at most MAX_REMEMBERED: [`State::remember`].
    state.remember(ip, now);
}

/// How many seconds ago a second factor was passed from `ip`, if that is less
/// than `period` (0: the grace period is off).
pub fn recall(state: &State, ip: IpAddr, now: u64, period: u64) -> Option<u64> {
    if period == 0 {
        return None;
    }
    let ip = network::canonical(ip);
    state
        .remembered()
        .iter()
        .filter(|r| r.ip == ip && r.at <= now)
        .map(|r| now - r.at)
        .filter(|age| *age < period)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LockoutConfig;
    use crate::policy;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_address_is_recalled_within_the_period_only() {
        let mut s = State::default();
        remember(&mut s, ip("192.0.2.7"), 1000);
        assert_eq!(recall(&s, ip("192.0.2.7"), 1000, 600), Some(0));
        assert_eq!(recall(&s, ip("192.0.2.7"), 1599, 600), Some(599));
        assert_eq!(recall(&s, ip("192.0.2.7"), 1600, 600), None);
        assert_eq!(recall(&s, ip("192.0.2.8"), 1001, 600), None);
        // Off: nothing is recalled, whatever is stored.
        assert_eq!(recall(&s, ip("192.0.2.7"), 1001, 0), None);
        // Written by a host whose clock is ahead: not trusted here.
        assert_eq!(recall(&s, ip("192.0.2.7"), 999, 600), None);
    }

    #[test]
    fn ipv4_mapped_and_plain_ipv4_are_one_address() {
        let mut s = State::default();
        remember(&mut s, ip("::ffff:10.1.2.3"), 1000);
        assert_eq!(s.remembered()[0].ip, ip("10.1.2.3"));
        assert_eq!(recall(&s, ip("10.1.2.3"), 1010, 600), Some(10));
        remember(&mut s, ip("10.1.2.3"), 1020);
        assert_eq!(s.remembered().len(), 1);
        assert_eq!(recall(&s, ip("::ffff:10.1.2.3"), 1030, 600), Some(10));
    }

    #[test]
    fn at_most_sixteen_addresses_the_oldest_dropped() {
        let mut s = State::default();
        for i in 0..20u8 {
            remember(&mut s, IpAddr::from([192, 0, 2, i]), 1000 + u64::from(i));
        }
        assert_eq!(s.remembered().len(), MAX_REMEMBERED);
        assert_eq!(recall(&s, ip("192.0.2.3"), 1100, 600), None);
        assert_eq!(recall(&s, ip("192.0.2.4"), 1100, 600), Some(96));
        // Passing again from an old address makes it the newest.
        remember(&mut s, ip("192.0.2.4"), 1200);
        remember(&mut s, ip("198.51.100.1"), 1201);
        assert!(recall(&s, ip("192.0.2.4"), 1202, 600).is_some());
        assert!(recall(&s, ip("192.0.2.5"), 1202, 600).is_none());
    }

    #[test]
    fn a_failure_forgets_every_address() {
        let mut s = State::default();
        remember(&mut s, ip("192.0.2.7"), 1000);
        remember(&mut s, ip("2001:db8::1"), 1000);
        let lockout = LockoutConfig {
            max_failures: 5,
            seconds: 60,
        };
        policy::on_failure(&mut s, 1001, &lockout);
        assert!(s.remembered().is_empty());
        assert_eq!(recall(&s, ip("192.0.2.7"), 1002, 600), None);
    }
}
