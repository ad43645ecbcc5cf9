//! Lockout: what a failure and a success do to a user's login state.
//!
//! Invariant: pure functions of the state, the config and the `now` they are given.
//! N consecutive failures lock the user for T seconds; attempts during a lockout do
//! not extend it (a locked account cannot be kept locked forever by a stranger) and
//! are not checked; a success resets the count; a failure forgets the addresses
//! of the grace period.

use std::time::{Duration, Instant};

use crate::config::LockoutConfig;
use crate::store::State;

/// When a refusal may be answered: `refusal` after the later of the login's start
/// and the last answer, so an unknown user (no record read) and an enrolled user
/// with a wrong code (a record written and fsynced) take the same time.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The login's start, then the moment of each answer.
    pub from: Instant,
    pub refusal: Duration,
}

impl Pace {
    /// How long a refusal decided at `now` must still wait.
    pub fn remaining(&self, now: Instant) -> Duration {
        (self.from + self.refusal).saturating_duration_since(now)
    }
}

/// `Some(until)` if the user is locked out at `now`.
pub fn locked_until(state: &State, now: u64) -> Option<u64> {
    (state.locked_until > now).then_some(state.locked_until)
}

/// Records a failed attempt; returns `Some(until)` if this failure locked the user.
/// Every remembered address is forgotten ([`crate::grace`]): after a failure the
/// next login from anywhere asks again.
pub fn on_failure(state: &mut State, now: u64, lockout: &LockoutConfig) -> Option<u64> {
    state.forget_addresses();
    state.failures = state.failures.saturating_add(1);
    state.last_failure = Some(now);
    if lockout.max_failures == 0 || state.failures < lockout.max_failures {
        return None;
    }
    state.failures = 0;
    state.locked_until = now.saturating_add(lockout.seconds);
    Some(state.locked_until)
}

/// Records a successful second factor.
pub fn on_success(state: &mut State, now: u64) {
    state.failures = 0;
    state.locked_until = 0;
    state.last_success = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_waits_out_the_rest_of_its_time_from_the_last_answer() {
        let start = Instant::now();
        let pace = Pace {
            from: start,
            refusal: Duration::from_millis(250),
        };
        assert_eq!(pace.remaining(start), Duration::from_millis(250));
        assert_eq!(
            pace.remaining(start + Duration::from_millis(100)),
            Duration::from_millis(150)
        );
        // A refusal that already took longer is not delayed further.
        assert_eq!(
            pace.remaining(start + Duration::from_secs(2)),
            Duration::ZERO
        );
    }

    const LOCKOUT: LockoutConfig = LockoutConfig {
        max_failures: 3,
        seconds: 60,
    };

    #[test]
    fn the_nth_failure_locks_for_the_configured_time() {
        let mut s = State::default();
        assert_eq!(on_failure(&mut s, 100, &LOCKOUT), None);
        assert_eq!(on_failure(&mut s, 101, &LOCKOUT), None);
        assert_eq!(locked_until(&s, 101), None);
        assert_eq!(on_failure(&mut s, 102, &LOCKOUT), Some(162));
        assert_eq!(locked_until(&s, 102), Some(162));
        assert_eq!(locked_until(&s, 161), Some(162));
        assert_eq!(locked_until(&s, 162), None);
        // After the lockout the count starts again from zero.
        assert_eq!(on_failure(&mut s, 170, &LOCKOUT), None);
        assert_eq!(s.failures, 1);
    }

    #[test]
    fn success_resets_the_count() {
        let mut s = State::default();
        on_failure(&mut s, 100, &LOCKOUT);
        on_failure(&mut s, 101, &LOCKOUT);
        on_success(&mut s, 102);
        assert_eq!(s.failures, 0);
        assert_eq!(s.last_success, Some(102));
        assert_eq!(on_failure(&mut s, 103, &LOCKOUT), None);
        assert_eq!(on_failure(&mut s, 104, &LOCKOUT), None);
    }

    #[test]
    fn zero_disables_lockout() {
        let off = LockoutConfig {
            max_failures: 0,
            seconds: 60,
        };
        let mut s = State::default();
        for t in 0..100 {
            assert_eq!(on_failure(&mut s, t, &off), None);
        }
        assert_eq!(s.failures, 100);
    }
}
