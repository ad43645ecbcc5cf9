//! Enrollment at login and out-of-band codes, against the in-memory store.

use super::*;
use crate::contact::Contact;
use crate::oob::{Courier, Delivery, SendError};

/// Plays the user during enrollment at login: reads the key from the information
/// messages, answers the first `wrong` code prompts wrongly, then rightly.
struct Enroller {
    wrong: usize,
    key: Option<Secret>,
    shown: Vec<String>,
    fail_info: bool,
    silent: bool,
    now: u64,
}

impl Enroller {
    fn new(wrong: usize) -> Enroller {
        Enroller {
            wrong,
            key: None,
            shown: vec![],
            fail_info: false,
            silent: false,
            now: NOW,
        }
    }
}

impl Prompter for Enroller {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.shown.push(format!("PROMPT {prompt}"));
        if self.wrong > 0 {
            self.wrong -= 1;
            return Ok(Zeroizing::new(b"000000".to_vec()));
        }
        let key = self
            .key
            .as_ref()
            .expect("the key was shown before the prompt");
        let p = Params::DEFAULT;
        Ok(Zeroizing::new(
            totp::code_at(key, p, p.step_at(self.now))
                .as_bytes()
                .to_vec(),
        ))
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        if self.fail_info {
            return Err(Error::Conversation);
        }
        if let Some((_, key)) = text.split_once("by hand (time-based): ") {
            self.key = Some(Secret::from_base32(&key.replace(' ', "")).unwrap());
        }
        self.shown.push(text.to_owned());
        Ok(())
    }

    fn silent(&self) -> bool {
        self.silent
    }
}

/// Members of "staff": carol.
struct Staff;

impl crate::accounts::Accounts for Staff {
    fn lookup(&self, typed: &[u8]) -> crate::accounts::Lookup {
        crate::accounts::Accounts::lookup(&super::Directory, typed)
    }

    fn groups(&self, user: &UserName) -> Result<Vec<String>, String> {
        Ok(if user.as_str() == "carol" {
            vec!["carol".into(), "staff".into()]
        } else {
            vec![user.as_str().into()]
        })
    }
}

/// Remembers what it was asked to deliver; fails if told to.
#[derive(Default)]
struct Outbox {
    sent: Vec<(String, String, String)>,
    fail: bool,
}

impl Courier for Outbox {
    fn send(&mut self, d: &Delivery<'_>) -> Result<(), SendError> {
        if self.fail {
            return Err(SendError::NotConfigured);
        }
        self.sent.push((
            d.user.to_owned(),
            d.contact.address().to_owned(),
            d.code.to_owned(),
        ));
        Ok(())
    }
}

fn enroll_cfg() -> Config {
    let mut c = cfg();
    c.policy.unenrolled = Unenrolled::Enroll;
    c.enroll.users = vec!["bob".into()];
    c.enroll.groups = vec!["staff".into()];
    c
}

fn go(
    cfg: &Config,
    store: &MemoryStore,
    user: &str,
    prompter: &mut dyn Prompter,
    courier: &mut dyn Courier,
    now: u64,
) -> (Outcome, Recorder) {
    go_at(cfg, store, user, prompter, courier, now, now)
}

/// A login that starts at `now` and whose answers come at `later`.
fn go_at(
    cfg: &Config,
    store: &MemoryStore,
    user: &str,
    prompter: &mut dyn Prompter,
    courier: &mut dyn Courier,
    now: u64,
    later: u64,
) -> (Outcome, Recorder) {
    let mut audit = Recorder::default();
    let mut env = Env {
        cfg,
        lang: Lang::En,
        now,
        clock: &move || later,
        session: Session {
            host: "bastion",
            ..Session::default()
        },
        prompter,
        keys: &mut NoKeys,
        rng: &mut OsRandom,
        audit: &mut audit,
        accounts: &Staff,
        courier,
    };
    let r = authenticate(store, user.as_bytes(), &mut env).unwrap();
    (r, audit)
}

/// A login of `user` under [`enroll_cfg`], now, with nothing to deliver.
fn enroll(store: &MemoryStore, user: &str, prompter: &mut dyn Prompter) -> (Outcome, Recorder) {
    go(
        &enroll_cfg(),
        store,
        user,
        prompter,
        &mut Outbox::default(),
        NOW,
    )
}

fn logged(audit: &Recorder, needle: &str) -> bool {
    audit.0.iter().any(|(_, l)| l.contains(needle))
}

#[test]
fn an_allowed_user_enrolls_inside_the_login_and_then_needs_codes() {
    let store = MemoryStore::default();
    let cfg = enroll_cfg();
    let mut user = Enroller::new(1);
    let (r, audit) = go(&cfg, &store, "bob", &mut user, &mut Outbox::default(), NOW);
    assert_eq!(r, Outcome::Success, "{:?}", user.shown);
    let qr = user
        .shown
        .iter()
        .find(|s| s.contains('█'))
        .expect("a QR code");
    assert!(qr.lines().count() > 20, "{qr}");
    assert!(user.shown.iter().any(|s| s.contains("Tries left: 2")));
    let rec = store.get("bob").expect("saved");
    assert_eq!(rec.apps().len(), 1);
    let totp = &rec.apps()[0];
    assert_eq!(totp.name(), "default");
    assert_eq!(totp.secret(), user.key.as_ref().unwrap());
    assert_eq!(totp.last_step(), Some(Params::DEFAULT.step_at(NOW)));
    assert_eq!(rec.recovery().unwrap().hashed.len(), 10);
    let at = user
        .shown
        .iter()
        .position(|s| s.contains("Recovery codes"))
        .unwrap();
    let codes = &user.shown[at + 1];
    assert_eq!(codes.lines().count(), 10);
    assert!(logged(
        &audit,
        "user=bob: authenticator app \"default\" enrolled at login"
    ));
    assert!(logged(&audit, "user=bob: second factor accepted (totp)"));
    assert!(!audit
        .0
        .iter()
        .any(|(_, l)| l.contains(codes.lines().next().unwrap().trim())));

    // The next login is an ordinary one: the same code is a replay, no QR again.
    let mut again = Enroller::new(0);
    again.key = user.key.clone();
    let (r, _) = go(&cfg, &store, "bob", &mut again, &mut Outbox::default(), NOW);
    assert_eq!(r, Outcome::Failure);
    assert_eq!(again.shown, ["PROMPT Verification code: "]);
}

#[test]
fn codes_are_checked_at_the_time_they_are_typed() {
    // Scanning took five minutes: the code of then is right, not the code of the
    // login's start.
    let store = MemoryStore::default();
    let mut user = Enroller::new(0);
    user.now = NOW + 300;
    let (r, _) = go_at(
        &enroll_cfg(),
        &store,
        "bob",
        &mut user,
        &mut Outbox::default(),
        NOW,
        NOW + 300,
    );
    assert_eq!(r, Outcome::Success);
    assert_eq!(
        store.get("bob").unwrap().apps()[0].last_step(),
        Some(Params::DEFAULT.step_at(NOW + 300))
    );
}

#[test]
fn three_wrong_first_codes_save_nothing() {
    let store = MemoryStore::default();
    let mut user = Enroller::new(3);
    let (r, audit) = enroll(&store, "bob", &mut user);
    assert_eq!(r, Outcome::Failure);
    assert!(store.get("bob").is_none());
    assert_eq!(
        user.shown
            .iter()
            .filter(|s| s.starts_with("PROMPT"))
            .count(),
        3
    );
    assert!(user.shown.last().unwrap().contains("nothing was saved"));
    assert!(logged(
        &audit,
        "abandoned after 3 wrong codes, nothing saved"
    ));
}

#[test]
fn group_members_may_enroll_others_and_latecomers_are_denied() {
    let cfg = enroll_cfg();
    let store = MemoryStore::default();
    let (r, _) = go(
        &cfg,
        &store,
        "carol",
        &mut Enroller::new(0),
        &mut Outbox::default(),
        NOW,
    );
    assert_eq!(r, Outcome::Success, "carol is in staff");

    let mut dave = Enroller::new(1);
    let (r, audit) = go(&cfg, &store, "dave", &mut dave, &mut Outbox::default(), NOW);
    assert_eq!(r, Outcome::Failure);
    assert_eq!(dave.shown, ["PROMPT Verification code: "], "no QR for dave");
    assert!(logged(&audit, "not in enroll.users or enroll.groups"));
    assert!(store.get("dave").is_none());

    let mut late = enroll_cfg();
    late.enroll.deadline = Some((NOW, "2023-11-14".into()));
    let mut bob = Enroller::new(1);
    let (r, audit) = go(&late, &store, "bob", &mut bob, &mut Outbox::default(), NOW);
    assert_eq!(r, Outcome::Failure);
    assert_eq!(bob.shown, ["PROMPT Verification code: "]);
    assert!(logged(&audit, "enroll.deadline 2023-11-14 has passed"));
    let mut early = enroll_cfg();
    early.enroll.deadline = Some((NOW + 1, "2023-11-14".into()));
    let (r, _) = go(
        &early,
        &store,
        "bob",
        &mut Enroller::new(0),
        &mut Outbox::default(),
        NOW,
    );
    assert_eq!(r, Outcome::Success);
}

#[test]
fn services_that_need_a_key_offer_no_app_enrollment() {
    let mut c = enroll_cfg();
    c.fido2.require_key_for = vec!["sudo".into()];
    let store = MemoryStore::default();
    let mut audit = Recorder::default();
    let mut user = Enroller::new(1);
    let mut env = Env {
        cfg: &c,
        lang: Lang::En,
        now: NOW,
        clock: &|| NOW,
        session: Session {
            service: "sudo",
            ..Session::default()
        },
        prompter: &mut user,
        keys: &mut NoKeys,
        rng: &mut OsRandom,
        audit: &mut audit,
        accounts: &Staff,
        courier: &mut Outbox::default(),
    };
    let r = authenticate(&store, b"bob", &mut env).unwrap();
    assert_eq!(r, Outcome::Failure);
    assert!(store.get("bob").is_none());
    assert!(logged(&audit, "service sudo accepts only a security key"));
}

#[test]
fn a_client_that_cannot_show_text_is_refused_before_anything_happens() {
    let store = MemoryStore::default();
    for (silent, fail_info) in [(true, false), (false, true)] {
        let mut user = Enroller::new(0);
        user.silent = silent;
        user.fail_info = fail_info;
        let (r, audit) = enroll(&store, "bob", &mut user);
        assert_eq!(r, Outcome::Failure);
        assert!(!user.shown.iter().any(|s| s.starts_with("PROMPT")));
        assert!(logged(&audit, "cannot show text"), "{:?}", audit.0);
        assert!(store.get("bob").is_none());
    }
}

fn oob_cfg() -> Config {
    let mut c = cfg();
    c.oob.command = Some("/usr/local/sbin/send-code".into());
    c.oob.lifetime_seconds = 300;
    c.oob.max_sends = 2;
    c.lockout.max_failures = 10;
    c
}

/// Alice with a contact.
fn alice_with_phone() -> MemoryStore {
    let (store, _) = alice();
    let mut rec = store.get("alice").unwrap();
    rec.set_contact(Contact::phone("+31612345678").unwrap());
    MemoryStore::with("alice", rec)
}

#[test]
fn an_empty_answer_sends_a_code_that_works_once_and_expires() {
    let store = alice_with_phone();
    let cfg = oob_cfg();
    let mut outbox = Outbox::default();
    let mut user = Script::lines(&["", "123"]);
    let (r, audit) = go(&cfg, &store, "alice", &mut user, &mut outbox, NOW);
    assert_eq!(r, Outcome::Failure, "123 is not the code");
    assert_eq!(
        user.asked,
        [
            "Verification code (or Enter for a code by SMS or e-mail): ",
            "INFO A code was sent to +31*******78; it expires in 5 min.",
            "Verification code: "
        ]
    );
    let (who, to, code) = outbox.sent[0].clone();
    assert_eq!((who.as_str(), to.as_str()), ("alice", "+31612345678"));
    assert!(logged(&audit, "one-time code sent by sms to +31*******78"));
    assert!(!audit.0.iter().any(|(_, l)| l.contains(&code)));

    // The code (typed directly, without asking again) works once.
    let (r, audit) = go(
        &cfg,
        &store,
        "alice",
        &mut Script::answering(&code),
        &mut outbox,
        NOW + 10,
    );
    assert_eq!(r, Outcome::Success);
    assert!(logged(
        &audit,
        "second factor accepted (code sent out of band)"
    ));
    let (r, _) = go(
        &cfg,
        &store,
        "alice",
        &mut Script::answering(&code),
        &mut outbox,
        NOW + 11,
    );
    assert_eq!(r, Outcome::Failure);

    // A second code, used after its lifetime.
    let mut user = Script::lines(&[" send ", "x"]);
    go(&cfg, &store, "alice", &mut user, &mut outbox, NOW + 20);
    let late = outbox.sent[1].2.clone();
    let (r, _) = go(
        &cfg,
        &store,
        "alice",
        &mut Script::answering(&late),
        &mut outbox,
        NOW + 20 + 301,
    );
    assert_eq!(r, Outcome::Failure);

    // The third request within the hour is refused by the rate limit.
    let mut user = Script::lines(&["", "x"]);
    let (_, audit) = go(&cfg, &store, "alice", &mut user, &mut outbox, NOW + 30);
    assert_eq!(outbox.sent.len(), 2);
    assert!(
        user.asked[1].contains("Too many codes were sent"),
        "{:?}",
        user.asked
    );
    assert!(logged(&audit, "rate limit of 2 per 3600 s reached"));
}

#[test]
fn users_without_a_contact_and_unknown_users_get_the_same_answer() {
    let (plain, _) = alice();
    let cfg = oob_cfg();
    let mut asked = vec![];
    for (store, user) in [(&plain, "alice"), (&plain, "nobody-here")] {
        let mut s = Script::lines(&["", "x"]);
        let mut outbox = Outbox::default();
        let (r, _) = go(&cfg, store, user, &mut s, &mut outbox, NOW);
        assert_eq!(r, Outcome::Failure);
        assert!(outbox.sent.is_empty());
        asked.push(s.asked);
    }
    assert_eq!(asked[0], asked[1]);
    assert!(asked[0][1].contains("no phone number or e-mail address"));
}

#[test]
fn a_failed_delivery_is_told_and_logged() {
    let store = alice_with_phone();
    let mut outbox = Outbox {
        fail: true,
        ..Outbox::default()
    };
    let mut user = Script::lines(&["", &code(0)]);
    let (r, audit) = go(&oob_cfg(), &store, "alice", &mut user, &mut outbox, NOW);
    assert_eq!(r, Outcome::Success, "the app's code still works");
    assert!(user.asked[1].contains("could not be sent"));
    assert!(logged(&audit, "one-time code not delivered"));
}

#[test]
fn without_oob_an_empty_answer_is_a_wrong_code() {
    let store = alice_with_phone();
    let mut outbox = Outbox::default();
    let (r, audit) = go(
        &cfg(),
        &store,
        "alice",
        &mut Script::answering(""),
        &mut outbox,
        NOW,
    );
    assert_eq!(r, Outcome::Failure);
    assert!(outbox.sent.is_empty());
    assert!(logged(&audit, "wrong code"));
}
