use super::*;
use crate::audit::tests::Recorder;
use crate::audit::Level;
use crate::random::OsRandom;
use crate::store::memory::MemoryStore;
use crate::store::{RecoveryCodes, TotpEnrollment};
use crate::totp::{Params, Secret};
use std::path::Path;

const NOW: u64 = 1_700_000_015;

/// Answers prompts from a script and remembers what it was asked.
struct Script {
    answers: Vec<Result<Vec<u8>, ()>>,
    asked: Vec<String>,
}

impl Script {
    fn answering(answer: &str) -> Script {
        Script::bytes(answer.as_bytes())
    }

    fn bytes(answer: &[u8]) -> Script {
        Script {
            answers: vec![Ok(answer.to_vec())],
            asked: vec![],
        }
    }
}

impl Prompter for Script {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.asked.push(prompt.to_owned());
        match self.answers.remove(0) {
            Ok(a) => Ok(Zeroizing::new(a)),
            Err(()) => Err(Error::Conversation),
        }
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        self.asked.push(format!("INFO {text}"));
        Ok(())
    }
}

fn cfg() -> Config {
    let mut c = Config::defaults(Path::new("/etc/pam_mfa/config.toml"));
    c.lockout.max_failures = 3;
    c.lockout.seconds = 60;
    c
}

fn secret() -> Secret {
    Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap()
}

fn code(offset: i64) -> String {
    let p = Params::DEFAULT;
    totp::code_at(
        &secret(),
        p,
        p.step_at(NOW).checked_add_signed(offset).unwrap(),
    )
    .to_string()
}

/// Alice with TOTP and three recovery codes (returned in clear).
fn alice() -> (MemoryStore, Vec<String>) {
    let (codes, hashed) = recovery::generate(3, &mut OsRandom).unwrap();
    let record = Record {
        totp: Some(TotpEnrollment {
            secret: secret(),
            params: Params::DEFAULT,
            created: NOW - 1000,
            last_step: None,
        }),
        recovery: Some(RecoveryCodes {
            hashed,
            created: NOW - 1000,
        }),
        ..Record::default()
    };
    (
        MemoryStore::with("alice", record),
        codes.iter().map(|c| c.to_string()).collect(),
    )
}

fn run(
    cfg: &Config,
    store: &MemoryStore,
    user: &[u8],
    answer: &mut Script,
    now: u64,
) -> (Result<Outcome, Error>, Recorder) {
    let mut audit = Recorder::default();
    let r = authenticate(cfg, store, user, Lang::En, answer, &mut audit, now);
    (r, audit)
}

fn outcome(cfg: &Config, store: &MemoryStore, user: &str, answer: &str, now: u64) -> Outcome {
    run(
        cfg,
        store,
        user.as_bytes(),
        &mut Script::answering(answer),
        now,
    )
    .0
    .unwrap()
}

#[test]
fn given_the_current_code_then_success_and_the_step_is_stored() {
    let (store, _) = alice();
    let (r, audit) = run(
        &cfg(),
        &store,
        b"alice",
        &mut Script::answering(&code(0)),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    let rec = store.get("alice").unwrap();
    assert_eq!(
        rec.totp.unwrap().last_step,
        Some(Params::DEFAULT.step_at(NOW))
    );
    assert_eq!(rec.state.last_success, Some(NOW));
    assert_eq!(
        audit.0,
        vec![(
            Level::Info,
            "user=alice: second factor accepted (totp)".to_owned()
        )]
    );
}

#[test]
fn given_a_used_code_then_replay_is_refused_and_counted() {
    let (store, _) = alice();
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(0), NOW),
        Outcome::Success
    );
    let (r, audit) = run(
        &cfg(),
        &store,
        b"alice",
        &mut Script::answering(&code(0)),
        NOW + 1,
    );
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert!(
        audit.0[0].1.contains("replayed totp code refused"),
        "{:?}",
        audit.0
    );
    // The previous step's code is older than the used one: also a replay.
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(-1), NOW + 2),
        Outcome::Failure
    );
    assert_eq!(store.get("alice").unwrap().state.failures, 2);
    // The next step's code is fresh.
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(1), NOW + 3),
        Outcome::Success
    );
}

#[test]
fn given_a_wrong_code_then_failure_is_counted() {
    let (store, _) = alice();
    let wrong = if code(0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (r, audit) = run(&cfg(), &store, b"alice", &mut Script::answering(wrong), NOW);
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(store.get("alice").unwrap().state.failures, 1);
    assert_eq!(
        audit.0[0].1,
        "user=alice: wrong code (1 consecutive failures)"
    );
    assert!(!audit.0[0].1.contains(wrong));
}

#[test]
fn given_a_recovery_code_then_success_once() {
    let (store, codes) = alice();
    let (r, audit) = run(
        &cfg(),
        &store,
        b"alice",
        &mut Script::answering(&codes[1]),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        audit.0[0].1,
        "user=alice: second factor accepted (recovery code, 2 left)"
    );
    assert_eq!(
        store
            .get("alice")
            .unwrap()
            .recovery
            .unwrap()
            .hashed
            .hashes
            .len(),
        2
    );
    assert_eq!(
        outcome(&cfg(), &store, "alice", &codes[1], NOW),
        Outcome::Failure
    );
    // Typed without dashes and in capitals it is the same code.
    let other = codes[2].replace('-', "").to_uppercase();
    assert_eq!(
        outcome(&cfg(), &store, "alice", &other, NOW),
        Outcome::Success
    );
}

#[test]
fn given_n_failures_then_locked_even_for_the_right_code_until_it_expires() {
    let (store, codes) = alice();
    let c = cfg();
    for i in 0..3 {
        assert_eq!(
            outcome(&c, &store, "alice", "12345x", NOW + i),
            Outcome::Failure
        );
    }
    let rec = store.get("alice").unwrap();
    assert_eq!(rec.state.locked_until, NOW + 2 + 60);
    let (r, audit) = run(
        &c,
        &store,
        b"alice",
        &mut Script::answering(&code(0)),
        NOW + 10,
    );
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert!(
        audit.0[0].1.contains("attempt while locked out"),
        "{:?}",
        audit.0
    );
    assert_eq!(
        outcome(&c, &store, "alice", &codes[0], NOW + 11),
        Outcome::Failure
    );
    // Nothing was consumed while locked.
    assert_eq!(
        store
            .get("alice")
            .unwrap()
            .recovery
            .unwrap()
            .hashed
            .hashes
            .len(),
        3
    );
    assert_eq!(store.get("alice").unwrap().totp.unwrap().last_step, None);
    let later = NOW + 62 + 30;
    let p = Params::DEFAULT;
    let fresh = totp::code_at(&secret(), p, p.step_at(later)).to_string();
    assert_eq!(
        outcome(&c, &store, "alice", &fresh, later),
        Outcome::Success
    );
}

#[test]
fn the_lockout_failure_is_logged_as_such() {
    let (store, _) = alice();
    let c = cfg();
    for i in 0..2 {
        outcome(&c, &store, "alice", "zzz", NOW + i);
    }
    let (_, audit) = run(&c, &store, b"alice", &mut Script::answering("zzz"), NOW + 5);
    assert_eq!(
        audit.0[1],
        (
            Level::Warning,
            format!(
                "user=alice: locked out until {} (unix time) after repeated failures",
                NOW + 65
            )
        )
    );
}

#[test]
fn unknown_unenrolled_invalid_and_enrolled_users_see_the_same_prompt() {
    let (store, _) = alice();
    let c = cfg();
    let mut transcripts = vec![];
    for user in [&b"alice"[..], b"bob", b"../etc", b"\xff"] {
        let mut s = Script::answering("000000");
        let (r, _) = run(&c, &store, user, &mut s, NOW);
        assert_eq!(r.unwrap(), Outcome::Failure);
        transcripts.push(s.asked);
    }
    assert!(
        transcripts.iter().all(|t| *t == ["Verification code: "]),
        "{transcripts:?}"
    );
}

#[test]
fn given_policy_ignore_then_unenrolled_users_are_not_prompted() {
    let (store, _) = alice();
    let mut c = cfg();
    c.policy.unenrolled = Unenrolled::Ignore;
    let mut s = Script::answering("000000");
    let (r, audit) = run(&c, &store, b"bob", &mut s, NOW);
    assert_eq!(r.unwrap(), Outcome::Ignore);
    assert!(s.asked.is_empty());
    assert_eq!(
        audit.0[0].1,
        "user=bob: no second factor enrolled, ignored by policy"
    );
    // Enrolled users are still checked.
    assert_eq!(
        outcome(&c, &store, "alice", "000001", NOW),
        Outcome::Failure
    );
    assert_eq!(
        outcome(&c, &store, "alice", &code(0), NOW),
        Outcome::Success
    );
}

#[test]
fn given_policy_deny_then_unenrolled_users_fail_after_the_prompt() {
    let store = MemoryStore::with("carol", Record::default());
    let (r, audit) = run(
        &cfg(),
        &store,
        b"carol",
        &mut Script::answering("123456"),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(
        audit.0[0].1,
        "user=carol: no second factor enrolled, denied"
    );
    // No record is created for users without one.
    let (r, _) = run(
        &cfg(),
        &store,
        b"dave",
        &mut Script::answering("123456"),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(store.get("dave"), None);
}

#[test]
fn a_failed_conversation_changes_nothing() {
    let (store, _) = alice();
    let before = store.get("alice");
    let mut s = Script {
        answers: vec![Err(())],
        asked: vec![],
    };
    let (r, _) = run(&cfg(), &store, b"alice", &mut s, NOW);
    assert!(matches!(r, Err(Error::Conversation)));
    assert_eq!(store.get("alice"), before);
}

#[test]
fn hostile_answers_are_wrong_codes() {
    let (store, _) = alice();
    let mut c = cfg();
    c.lockout.max_failures = 0;
    for answer in [
        &b""[..],
        &[0xff, 0xfe],
        b"123\x00456",
        &vec![b'1'; 1 << 20],
        b"  123456  ",
    ] {
        let (r, _) = run(&c, &store, b"alice", &mut Script::bytes(answer), NOW);
        assert_eq!(r.unwrap(), Outcome::Failure);
    }
    let mut with_spaces = code(0);
    with_spaces.insert(3, ' ');
    assert_eq!(
        outcome(&c, &store, "alice", &with_spaces, NOW),
        Outcome::Failure
    );
    assert_eq!(store.get("alice").unwrap().state.failures, 6);
}

#[test]
fn the_dutch_prompt() {
    let (store, _) = alice();
    let mut s = Script::answering(&code(0));
    let mut audit = Recorder::default();
    let r = authenticate(&cfg(), &store, b"alice", Lang::Nl, &mut s, &mut audit, NOW);
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(s.asked, ["Verificatiecode: "]);
}
