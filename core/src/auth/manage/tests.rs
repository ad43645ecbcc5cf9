//! Self-service against the in-memory store.

use std::path::Path;

use zeroize::Zeroizing;

use super::*;
use crate::audit::tests::Recorder;
use crate::auth::{NoKeys, Place, Prompter, Session};
use crate::config::Config;
use crate::i18n::Lang;
use crate::random::OsRandom;
use crate::store::memory::MemoryStore;
use crate::store::TotpEnrollment;
use crate::totp::{self, Params, Secret};

const NOW: u64 = 1_700_000_015;
const OLD_KEY: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Plays the user: answers prompts in turn; "APP" is the current code of the key
/// the daemon showed.
struct User {
    answers: Vec<String>,
    key: Option<Secret>,
    shown: Vec<String>,
}

impl User {
    fn answering(answers: &[&str]) -> User {
        User {
            answers: answers.iter().map(|a| (*a).to_owned()).collect(),
            key: None,
            shown: vec![],
        }
    }

    fn saw(&self, needle: &str) -> bool {
        self.shown.iter().any(|s| s.contains(needle))
    }
}

impl Prompter for User {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.shown.push(format!("PROMPT {prompt}"));
        if self.answers.is_empty() {
            return Err(Error::Conversation);
        }
        let answer = self.answers.remove(0);
        let text = if answer == "APP" {
            let p = Params::DEFAULT;
            totp::code_at(self.key.as_ref().expect("a key shown"), p, p.step_at(NOW)).to_string()
        } else {
            answer
        };
        Ok(Zeroizing::new(text.into_bytes()))
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        if let Some((_, key)) = text.split_once("by hand (time-based): ") {
            self.key = Some(Secret::from_base32(&key.replace(' ', "")).unwrap());
        }
        self.shown.push(text.to_owned());
        Ok(())
    }
}

fn old_code() -> String {
    let p = Params::DEFAULT;
    totp::code_at(&Secret::from_base32(OLD_KEY).unwrap(), p, p.step_at(NOW)).to_string()
}

fn cfg(admitted: &[&str]) -> Config {
    let mut c = Config::defaults(Path::new("/etc/pam_mfa/config.toml"));
    c.enroll.users = admitted.iter().map(|u| (*u).to_owned()).collect();
    c.lockout.max_failures = 3;
    c
}

/// Alice with the old app and two recovery codes (returned in clear).
fn alice() -> (MemoryStore, Vec<String>) {
    let (codes, hashed) = recovery::generate(2, &mut OsRandom).unwrap();
    let mut record = Record::default();
    record
        .add_app(
            TotpEnrollment::new(
                totp::DEFAULT_NAME,
                Secret::from_base32(OLD_KEY).unwrap(),
                Params::DEFAULT,
                NOW - 1000,
            )
            .unwrap(),
        )
        .unwrap();
    record.set_recovery(RecoveryCodes {
        hashed,
        created: NOW - 1000,
    });
    (
        MemoryStore::with("alice", record),
        codes.iter().map(|c| c.to_string()).collect(),
    )
}

type Action = fn(&MemoryStore, &UserName, &mut Env<'_>) -> Result<Ended, Error>;

/// `mfa-token enroll totp` without `--name`.
fn enroll_default(store: &MemoryStore, user: &UserName, env: &mut Env<'_>) -> Result<Ended, Error> {
    enroll_totp(store, user, env, None)
}

/// `mfa-token enroll totp --name work-phone`.
fn enroll_work_phone(
    store: &MemoryStore,
    user: &UserName,
    env: &mut Env<'_>,
) -> Result<Ended, Error> {
    enroll_totp(store, user, env, Some("work-phone"))
}

fn run(
    action: Action,
    cfg: &Config,
    store: &MemoryStore,
    user: &str,
    prompter: &mut User,
) -> (Ended, Recorder) {
    run_with(
        action,
        cfg,
        store,
        user,
        prompter,
        &mut NoKeys,
        Place::Local,
    )
}

/// [`run`] with `keys` plugged in and the session at `place`.
fn run_with(
    action: Action,
    cfg: &Config,
    store: &MemoryStore,
    user: &str,
    prompter: &mut User,
    keys: &mut dyn crate::auth::KeyPort,
    place: Place<'_>,
) -> (Ended, Recorder) {
    let mut audit = Recorder::default();
    let mut env = Env {
        cfg,
        lang: Lang::En,
        now: NOW,
        clock: &|| NOW,
        session: Session {
            service: "mfa-token",
            host: "bastion",
            remote: place,
            ..Session::default()
        },
        prompter,
        keys,
        rng: &mut OsRandom,
        audit: &mut audit,
        accounts: &crate::auth::tests::Directory,
        courier: &mut crate::oob::NoCourier,
    };
    let user = UserName::new(user).unwrap();
    let ended = action(store, &user, &mut env).unwrap();
    (ended, audit)
}

fn logged(audit: &Recorder, needle: &str) -> bool {
    audit.0.iter().any(|(_, l)| l.contains(needle))
}

#[test]
fn an_admitted_user_without_a_factor_enrolls_an_app_with_the_login_journey() {
    let store = MemoryStore::default();
    let mut bob = User::answering(&["000000", "APP"]);
    let (ended, audit) = run(enroll_default, &cfg(&["bob"]), &store, "bob", &mut bob);
    assert_eq!(ended, Ended::Done(String::new()), "{:?}", bob.shown);
    assert!(bob.saw("Setting up an authenticator app for bob"));
    assert!(bob.saw("Tries left: 2"));
    assert!(bob.saw("Done: the authenticator app is set up for bob"));
    // No "press Enter" at the end: mfa-token shows the codes at once.
    assert!(!bob.saw("Press Enter"));
    let record = store.get("bob").expect("saved");
    assert_eq!(record.apps().len(), 1);
    assert_eq!(record.apps()[0].name(), "default");
    assert_eq!(record.apps()[0].secret(), bob.key.as_ref().unwrap());
    assert_eq!(record.recovery().unwrap().hashed.len(), 10);
    assert!(logged(
        &audit,
        "user=bob: authenticator app \"default\" enrolled by the user (self-service) (confirmed with a code), 10 recovery codes"
    ));
    assert!(!logged(&audit, "second factor accepted"));
}

#[test]
fn a_user_enroll_does_not_admit_is_refused_before_any_key_is_made() {
    let store = MemoryStore::default();
    let mut carol = User::answering(&[]);
    let (ended, audit) = run(enroll_default, &cfg(&["bob"]), &store, "carol", &mut carol);
    assert!(
        matches!(&ended, Ended::Refused(m) if m.contains("not open to carol")),
        "{ended:?}"
    );
    assert!(carol.shown.is_empty(), "{:?}", carol.shown);
    assert!(store.get("carol").is_none());
    assert!(logged(
        &audit,
        "user=carol: authenticator app enrollment by the user (self-service) refused: not in enroll.users or enroll.groups"
    ));
}

#[test]
fn an_enrolled_user_replaces_the_app_only_after_a_current_code() {
    let (store, _) = alice();
    let mut wrong = User::answering(&["123456"]);
    let (ended, audit) = run(enroll_default, &cfg(&[]), &store, "alice", &mut wrong);
    assert_eq!(
        ended,
        Ended::Refused("The current second factor was not accepted; nothing was changed.".into())
    );
    assert!(!wrong.saw("by hand"), "no key shown: {:?}", wrong.shown);
    assert!(logged(
        &audit,
        "user=alice: wrong code (1 consecutive failures)"
    ));
    let before = store.get("alice").unwrap();
    assert_eq!(before.state().failures, 1);

    let mut right = User::answering(&[&old_code(), "APP"]);
    let (ended, audit) = run(enroll_default, &cfg(&[]), &store, "alice", &mut right);
    assert_eq!(ended, Ended::Done(String::new()), "{:?}", right.shown);
    let after = store.get("alice").unwrap();
    assert_eq!(after.apps().len(), 1, "replaced, not added");
    assert_eq!(after.apps()[0].secret(), right.key.as_ref().unwrap());
    assert_eq!(after.recovery().unwrap().hashed.len(), 10);
    assert!(logged(&audit, "user=alice: second factor accepted (totp)"));
    assert!(logged(
        &audit,
        "user=alice: authenticator app \"default\" enrolled by the user (self-service) (confirmed with a code, replacing the earlier one of that name after a current second factor), 10 recovery codes"
    ));
}

#[test]
fn an_enrolled_user_adds_a_named_app_after_a_current_code_and_keeps_the_rest() {
    let (store, old) = alice();
    let mut wrong = User::answering(&["123456"]);
    let (ended, _) = run(enroll_work_phone, &cfg(&[]), &store, "alice", &mut wrong);
    assert!(matches!(ended, Ended::Refused(_)), "{ended:?}");
    assert_eq!(store.get("alice").unwrap().apps().len(), 1);

    let mut right = User::answering(&[&old_code(), "APP"]);
    let (ended, audit) = run(enroll_work_phone, &cfg(&[]), &store, "alice", &mut right);
    assert_eq!(ended, Ended::Done(String::new()), "{:?}", right.shown);
    assert!(right.saw("alice keeps the recovery codes from before"));
    let after = store.get("alice").unwrap();
    let names: Vec<&str> = after.apps().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["default", "work-phone"]);
    assert_eq!(
        after.apps()[0].secret(),
        &Secret::from_base32(OLD_KEY).unwrap()
    );
    assert_eq!(after.apps()[1].secret(), right.key.as_ref().unwrap());
    // The two unused recovery codes still work: not replaced by an added app.
    assert_eq!(after.recovery().as_ref().unwrap().hashed.len(), 2);
    let normalized = recovery::normalize(&old[0]).unwrap();
    assert!(after
        .recovery()
        .unwrap()
        .hashed
        .clone()
        .consume(&normalized));
    assert!(logged(
        &audit,
        "user=alice: authenticator app \"work-phone\" enrolled by the user (self-service) (confirmed with a code, added after a current second factor), recovery codes kept"
    ));
}

#[test]
fn a_bad_app_name_is_refused_before_anything_is_asked() {
    let (store, _) = alice();
    let mut alice = User::answering(&[]);
    let bad: Action = |s, u, e| enroll_totp(s, u, e, Some("work phone"));
    let (ended, _) = run(bad, &cfg(&[]), &store, "alice", &mut alice);
    assert!(
        matches!(&ended, Ended::Refused(m) if m.contains("\"work phone\" is not a valid name")),
        "{ended:?}"
    );
    assert!(alice.shown.is_empty(), "{:?}", alice.shown);
}

#[test]
fn a_ninth_app_is_refused_after_the_check_and_an_existing_name_still_replaces() {
    let (store, _) = alice();
    let mut record = store.get("alice").unwrap();
    for i in 1..totp::MAX_APPS {
        let first = &record.apps()[0];
        let secret = Secret::from_bytes(vec![u8::try_from(i).unwrap(); 20]).unwrap();
        let app = TotpEnrollment::new(
            &format!("phone-{i}"),
            secret,
            first.params(),
            first.created(),
        )
        .unwrap()
        .with_last_step(first.last_step());
        record.add_app(app).unwrap();
    }
    let store = MemoryStore::with("alice", record);
    let mut full = User::answering(&[&old_code()]);
    let (ended, audit) = run(enroll_work_phone, &cfg(&[]), &store, "alice", &mut full);
    assert!(
        matches!(&ended, Ended::Refused(m) if m.contains("alice has 8 authenticator apps")),
        "{ended:?}"
    );
    assert!(!full.saw("by hand"), "no key shown: {:?}", full.shown);
    assert!(logged(
        &audit,
        "8 authenticator apps already, none named \"work-phone\""
    ));
    assert_eq!(store.get("alice").unwrap().apps().len(), 8);
    // A later step than the one just used: a replay otherwise.
    let p = Params::DEFAULT;
    let next = totp::code_at(&Secret::from_bytes(vec![3; 20]).unwrap(), p, p.step_at(NOW));
    let replace: Action = |s, u, e| enroll_totp(s, u, e, Some("phone-4"));
    let mut again = User::answering(&[&next, "APP"]);
    let (ended, _) = run(replace, &cfg(&[]), &store, "alice", &mut again);
    assert_eq!(ended, Ended::Done(String::new()), "{:?}", again.shown);
    let after = store.get("alice").unwrap();
    assert_eq!(after.apps().len(), 8);
    assert_eq!(after.apps()[4].secret(), again.key.as_ref().unwrap());
}

#[test]
fn new_recovery_codes_need_a_current_code_and_void_the_old_set() {
    let (store, old) = alice();
    let mut wrong = User::answering(&["999999"]);
    let (ended, _) = run(new_recovery, &cfg(&[]), &store, "alice", &mut wrong);
    assert!(matches!(ended, Ended::Refused(_)));
    assert_eq!(
        store.get("alice").unwrap().recovery().unwrap().hashed.len(),
        2
    );

    let mut right = User::answering(&[&old[0]]);
    let (ended, audit) = run(new_recovery, &cfg(&[]), &store, "alice", &mut right);
    assert_eq!(
        ended,
        Ended::Done("10 new recovery codes for alice; the earlier ones no longer work.".into())
    );
    let at = right
        .shown
        .iter()
        .position(|s| s.contains("New recovery codes for alice"))
        .unwrap();
    let shown: Vec<String> = right.shown[at + 1]
        .lines()
        .map(|l| l.trim().to_owned())
        .collect();
    assert_eq!(shown.len(), 10);
    assert!(logged(
        &audit,
        "second factor accepted (recovery code, 1 left)"
    ));
    assert!(logged(
        &audit,
        "user=alice: 10 new recovery codes made by the user"
    ));
    let hashed = store
        .get("alice")
        .unwrap()
        .recovery()
        .unwrap()
        .hashed
        .clone();
    assert!(hashed
        .find(&recovery::normalize(&shown[0]).unwrap())
        .is_some());
    assert!(hashed
        .find(&recovery::normalize(&old[1]).unwrap())
        .is_none());
}

#[test]
fn new_recovery_codes_without_a_factor_are_refused_without_a_prompt() {
    let store = MemoryStore::default();
    let mut dave = User::answering(&[]);
    let (ended, _) = run(new_recovery, &cfg(&["dave"]), &store, "dave", &mut dave);
    assert!(
        matches!(&ended, Ended::Refused(m) if m.contains("dave has no second factor yet")),
        "{ended:?}"
    );
    assert!(dave.shown.is_empty());
    assert!(store.get("dave").is_none());
}

/// One key plugged in (passkey-rs's software authenticator; taken by the first open).
struct OneKey(Option<crate::fido2::independent::PasskeyRs>);

impl crate::auth::KeyPort for OneKey {
    fn open(&mut self) -> Option<Box<dyn crate::fido2::Authenticator>> {
        self.0
            .take()
            .map(|k| Box::new(k) as Box<dyn crate::fido2::Authenticator>)
    }
}

fn register_key(
    store: &MemoryStore,
    prompter: &mut User,
    keys: &mut dyn crate::auth::KeyPort,
    remote: Place<'_>,
) -> (Ended, Recorder) {
    let blue: Action = |store, user, env| enroll_key(store, user, env, Some("blue"));
    run_with(blue, &cfg(&[]), store, "alice", prompter, keys, remote)
}

fn soft_key() -> OneKey {
    OneKey(Some(crate::fido2::independent::PasskeyRs::new(true)))
}

#[test]
fn a_key_is_registered_only_after_a_current_code() {
    let (store, _) = alice();
    let alice_name = UserName::new("alice").unwrap();
    let mut wrong = User::answering(&["000000"]);
    let mut key = soft_key();
    let (ended, _) = register_key(&store, &mut wrong, &mut key, Place::Local);
    assert!(matches!(ended, Ended::Refused(_)), "{ended:?}");
    assert!(key.0.is_some(), "the key was never asked");
    assert!(store.read(&alice_name).unwrap().unwrap().keys().is_empty());

    let mut right = User::answering(&[&old_code()]);
    let (ended, audit) = register_key(&store, &mut right, &mut key, Place::Local);
    assert_eq!(
        ended,
        Ended::Done("Security key blue registered for alice (es256).".into())
    );
    assert!(right.saw("Touch the security key now."));
    let keys = store.read(&alice_name).unwrap().unwrap().keys().to_vec();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "blue");
    assert!(logged(
        &audit,
        "user=alice: security key \"blue\" registered by the user (es256"
    ));
}

#[test]
fn no_key_is_registered_from_a_remote_session_or_without_a_key() {
    let (store, _) = alice();
    let decide = || crate::locality::Locality {
        remote: true,
        because: crate::locality::Because::RHost,
    };
    let mut user = User::answering(&[&old_code()]);
    let mut key = soft_key();
    let (ended, _) = register_key(&store, &mut user, &mut key, Place::Decide(&decide));
    assert_eq!(
        ended,
        Ended::Refused(i18n::text(Lang::En, Msg::SelfKeyRemote).to_owned())
    );
    assert!(key.0.is_some(), "the key was never asked");

    let (store, _) = alice();
    let mut user = User::answering(&[&old_code()]);
    let (ended, _) = register_key(&store, &mut user, &mut OneKey(None), Place::Local);
    assert_eq!(
        ended,
        Ended::Refused(i18n::text(Lang::En, Msg::SelfKeyNone).to_owned())
    );
    let alice_name = UserName::new("alice").unwrap();
    assert!(store.read(&alice_name).unwrap().unwrap().keys().is_empty());
}
