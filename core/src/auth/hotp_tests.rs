//! Logins with HOTP tokens: the look-ahead, the counter that only moves forward,
//! several tokens beside an authenticator app.

use super::tests::Directory;
use super::*;
use crate::audit::tests::Recorder;
use crate::random::OsRandom;
use crate::store::memory::MemoryStore;
use crate::store::{HotpToken, TotpEnrollment};
use crate::test_support::Script;
use crate::totp::{Params, Secret};
use std::path::Path;

const NOW: u64 = 1_700_000_015;

fn cfg() -> Config {
    let mut c = Config::defaults(Path::new("/etc/pam_mfa/config.toml"));
    c.lockout.max_failures = 5;
    c
}

/// RFC 4226 appendix D's key.
fn rfc_key() -> Secret {
    Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
}

fn other_key() -> Secret {
    Secret::from_bytes(vec![0x42; 20]).unwrap()
}

fn token(name: &str, secret: Secret, digits: u8, counter: u64) -> HotpToken {
    HotpToken::new(name, secret, digits, counter, NOW - 1000).unwrap()
}

fn with_tokens(tokens: Vec<HotpToken>) -> Record {
    let mut record = Record::default();
    for t in tokens {
        record.add_token(t).unwrap();
    }
    record
}

fn bob(tokens: Vec<HotpToken>) -> MemoryStore {
    MemoryStore::with("bob", with_tokens(tokens))
}

fn login(cfg: &Config, store: &MemoryStore, answer: &str) -> (Outcome, Vec<String>) {
    let mut audit = Recorder::default();
    let mut script = Script::answering(answer);
    let mut env = Env {
        cfg,
        lang: Lang::En,
        now: NOW,
        clock: &|| NOW,
        session: Session::default(),
        prompter: &mut script,
        keys: &mut NoKeys,
        rng: &mut OsRandom,
        audit: &mut audit,
        accounts: &Directory,
        courier: &mut crate::oob::NoCourier,
    };
    let outcome = authenticate(store, b"bob", &mut env).unwrap();
    (outcome, audit.0.into_iter().map(|(_, line)| line).collect())
}

fn counter(store: &MemoryStore, i: usize) -> u64 {
    store.get("bob").unwrap().tokens()[i].counter()
}

#[test]
fn given_the_next_code_then_success_and_the_counter_moves_past_it() {
    let store = bob(vec![token("fob", rfc_key(), 6, 0)]);
    let (outcome, log) = login(&cfg(), &store, "755224");
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(
        log,
        ["user=bob: second factor accepted (hotp token \"fob\")"]
    );
    assert_eq!(counter(&store, 0), 1);
    // Typed with the blanks a token's display does not have, still the code.
    let (outcome, _) = login(&cfg(), &store, "287 082");
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(counter(&store, 0), 2);
}

#[test]
fn given_a_used_code_then_failure_counted_and_the_counter_stays() {
    let store = bob(vec![token("fob", rfc_key(), 6, 0)]);
    assert_eq!(login(&cfg(), &store, "287082").0, Outcome::Success);
    assert_eq!(counter(&store, 0), 2);
    for (code, n) in [("287082", 1), ("755224", 2)] {
        let (outcome, log) = login(&cfg(), &store, code);
        assert_eq!(outcome, Outcome::Failure);
        assert_eq!(
            log,
            [format!(
                "user=bob: used hotp code refused ({n} consecutive failures)"
            )]
        );
    }
    let record = store.get("bob").unwrap();
    assert_eq!(record.tokens()[0].counter(), 2, "a failure never moves it");
    assert_eq!(record.state().failures, 2);
    // The next one still works, and resets the count.
    assert_eq!(login(&cfg(), &store, "359152").0, Outcome::Success);
    assert_eq!(store.get("bob").unwrap().state().failures, 0);
}

#[test]
fn the_look_ahead_accepts_exactly_look_ahead_values_past_the_counter() {
    let mut c = cfg();
    c.hotp.look_ahead = 4;
    let key = rfc_key();
    let at = |n| hotp::code_at(&key, 6, n).to_string();
    let store = bob(vec![token("fob", rfc_key(), 6, 10)]);
    let (outcome, log) = login(&c, &store, &at(15));
    assert_eq!(outcome, Outcome::Failure, "counter + look_ahead + 1");
    assert_eq!(log, ["user=bob: wrong code (1 consecutive failures)"]);
    assert_eq!(counter(&store, 0), 10);
    assert_eq!(login(&c, &store, &at(14)).0, Outcome::Success);
    assert_eq!(counter(&store, 0), 15);
    // The values skipped over are used up too.
    assert_eq!(login(&c, &store, &at(12)).0, Outcome::Failure);
    assert_eq!(counter(&store, 0), 15);
}

#[test]
fn eight_digit_tokens_take_eight_digits_only() {
    let store = bob(vec![token("yubikey", rfc_key(), 8, 0)]);
    assert_eq!(login(&cfg(), &store, "755224").0, Outcome::Failure);
    assert_eq!(login(&cfg(), &store, "84755224").0, Outcome::Success);
    assert_eq!(counter(&store, 0), 1);
}

#[test]
fn several_tokens_and_an_app_each_keep_their_own_state() {
    let app = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
    let store = MemoryStore::with("bob", {
        let mut r = with_tokens(vec![
            token("fob", rfc_key(), 6, 0),
            token("spare", other_key(), 6, 7),
        ]);
        let default = crate::totp::DEFAULT_NAME;
        r.add_app(TotpEnrollment::new(default, app.clone(), Params::DEFAULT, NOW - 1000).unwrap())
            .unwrap();
        r
    });
    let spare = hotp::code_at(&other_key(), 6, 9).to_string();
    let (outcome, log) = login(&cfg(), &store, &spare);
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(
        log,
        ["user=bob: second factor accepted (hotp token \"spare\")"]
    );
    assert_eq!((counter(&store, 0), counter(&store, 1)), (0, 10));
    let p = Params::DEFAULT;
    let totp_code = totp::code_at(&app, p, p.step_at(NOW)).to_string();
    let (outcome, log) = login(&cfg(), &store, &totp_code);
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(log, ["user=bob: second factor accepted (totp)"]);
    assert_eq!((counter(&store, 0), counter(&store, 1)), (0, 10));
    // A counter move is a login's bookkeeping, not a change of factors.
    let before = store.get("bob").unwrap();
    assert_eq!(login(&cfg(), &store, "755224").0, Outcome::Success);
    assert!(store.get("bob").unwrap().factors() == before.factors());
}

#[test]
fn racing_logins_with_one_code_succeed_once() {
    let store = bob(vec![token("fob", rfc_key(), 6, 0)]);
    let mut c = cfg();
    c.lockout.max_failures = 0;
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| login(&c, &store, "755224").0 == Outcome::Success))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&won| won)
            .count()
    });
    assert_eq!(wins, 1);
    assert_eq!(counter(&store, 0), 1);
    assert_eq!(store.get("bob").unwrap().state().failures, 15);
}
