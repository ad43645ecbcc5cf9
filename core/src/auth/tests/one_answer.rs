//! A code typed after the password in one answer (`Session::one_answer`): the
//! code check alone, as its client can answer no second prompt.

use super::*;
use crate::fido2::cose::Algorithm;
use crate::fido2::soft::SoftKey;

fn one_answer() -> Session<'static> {
    Session {
        one_answer: true,
        ..Session::default()
    }
}

/// Counts how often a key was looked for.
#[derive(Default)]
struct Watched(usize);

impl KeyPort for Watched {
    fn open(&mut self) -> Option<Box<dyn crate::fido2::Authenticator>> {
        self.0 += 1;
        Some(Box::new(SoftKey::new(Algorithm::Es256)))
    }
}

fn login(
    cfg: &Config,
    store: &MemoryStore,
    user: &[u8],
    answers: &[&str],
    keys: &mut dyn KeyPort,
) -> (Result<Outcome, Error>, Vec<String>, Recorder) {
    let mut script = Script::lines(answers);
    let (r, audit) = run_in(
        cfg,
        store,
        user,
        &mut script,
        NOW,
        Lang::En,
        one_answer(),
        keys,
    );
    (r, script.asked, audit)
}

#[test]
fn the_key_is_not_tried_and_the_code_decides() {
    let (store, _) = alice();
    let mut rec = store.get("alice").unwrap();
    rec.add_key(SoftKey::new(Algorithm::Es256).credential("pam://pam_mfa"))
        .unwrap();
    let store = MemoryStore::with("alice", rec);
    let mut keys = Watched::default();
    let (r, asked, _) = login(&cfg(), &store, b"alice", &[&code(0)], &mut keys);
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(asked, ["Verification code: "]);
    assert_eq!(keys.0, 0, "a one-answer login never touches a key");
}

#[test]
fn an_empty_code_is_a_wrong_code_not_a_request_to_send_one() {
    let (store, _) = alice();
    let mut c = cfg();
    c.oob.command = Some("/usr/local/sbin/send-code".into());
    let (r, asked, audit) = login(&c, &store, b"alice", &[""], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Failure);
    // The plain prompt (the module answers it; the user never sees it), asked once.
    assert_eq!(asked, ["Verification code: "]);
    assert_eq!(store.get("alice").unwrap().state().failures, 1);
    assert!(
        audit.0.iter().any(|(_, l)| l.contains("wrong code")),
        "{:?}",
        audit.0
    );
}

#[test]
fn no_enrollment_inside_a_one_answer_login() {
    let store = MemoryStore::default();
    let mut c = cfg();
    c.policy.unenrolled = Unenrolled::Enroll;
    c.enroll.users = vec!["bob".into()];
    let (r, asked, _) = login(&c, &store, b"bob", &["123456"], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(
        asked,
        ["Verification code: "],
        "no QR code, no second prompt"
    );
    assert!(store.get("bob").is_none(), "nothing enrolled");
}

#[test]
fn codes_replays_and_lockout_go_as_in_a_separate_login() {
    let (store, recovery) = alice();
    let (r, _, _) = login(&cfg(), &store, b"alice", &[&recovery[0]], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Success);
    let (r, _, _) = login(&cfg(), &store, b"alice", &[&recovery[0]], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Failure, "a recovery code works once");
    let (r, _, _) = login(&cfg(), &store, b"alice", &[&code(0)], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Success);
    let (r, _, audit) = login(&cfg(), &store, b"alice", &[&code(0)], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert!(
        audit.0.iter().any(|(_, l)| l.contains("replayed")),
        "{:?}",
        audit.0
    );
    for _ in 0..3 {
        let (r, _, _) = login(&cfg(), &store, b"alice", &["000000x"], &mut NoKeys);
        assert_eq!(r.unwrap(), Outcome::Failure);
    }
    let (r, _, _) = login(&cfg(), &store, b"alice", &[&code(1)], &mut NoKeys);
    assert_eq!(r.unwrap(), Outcome::Failure, "locked out");
}
