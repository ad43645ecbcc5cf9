use super::*;
use crate::audit::tests::Recorder;
use crate::audit::Level;
use crate::random::OsRandom;
use crate::store::memory::MemoryStore;
use crate::store::{RecoveryCodes, TotpEnrollment};
use crate::test_support::Script;
use crate::totp::{Params, Secret};
use std::path::Path;

const NOW: u64 = 1_700_000_015;

/// A user database that ignores case (as sssd with `case_sensitive = false`,
/// winbind, AD-backed LDAP do): every name is an account, spelled in lower case,
/// except names starting with "ghost", which are unknown, and "broken", whose
/// lookup fails. Names starting with "wheel" are in groups wheel and users, those
/// starting with "nogroups" have groups nobody can look up, everybody else is in
/// none.
pub(super) struct Directory;

impl crate::accounts::Accounts for Directory {
    fn lookup(&self, typed: &[u8]) -> crate::accounts::Lookup {
        use crate::accounts::Lookup;
        match std::str::from_utf8(typed) {
            Ok(t) if t.starts_with("ghost") => Lookup::Unknown,
            Ok("broken") => Lookup::Failed("LDAP server unreachable".to_owned()),
            Ok(t) => Lookup::Found(t.to_ascii_lowercase()),
            Err(_) => Lookup::Unknown,
        }
    }

    fn groups(&self, user: &UserName) -> Result<Vec<String>, String> {
        let name = user.as_str();
        if name.starts_with("wheel") {
            Ok(vec!["wheel".to_owned(), "users".to_owned()])
        } else if name.starts_with("nogroups") {
            Err("LDAP server unreachable".to_owned())
        } else {
            Ok(vec![])
        }
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
    let mut record = Record::default();
    record
        .add_app(
            TotpEnrollment::new(totp::DEFAULT_NAME, secret(), Params::DEFAULT, NOW - 1000).unwrap(),
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

fn run(
    cfg: &Config,
    store: &MemoryStore,
    user: &[u8],
    answer: &mut Script,
    now: u64,
) -> (Result<Outcome, Error>, Recorder) {
    run_in(
        cfg,
        store,
        user,
        answer,
        now,
        Lang::En,
        Session::default(),
        &mut NoKeys,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    cfg: &Config,
    store: &MemoryStore,
    user: &[u8],
    answer: &mut Script,
    now: u64,
    lang: Lang,
    session: Session<'_>,
    keys: &mut dyn KeyPort,
) -> (Result<Outcome, Error>, Recorder) {
    let mut audit = Recorder::default();
    let mut env = Env {
        cfg,
        lang,
        now,
        clock: &move || now,
        session,
        prompter: answer,
        keys,
        rng: &mut OsRandom,
        audit: &mut audit,
        accounts: &Directory,
        courier: &mut crate::oob::NoCourier,
    };
    let r = authenticate(store, user, &mut env);
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
        rec.apps()[0].last_step(),
        Some(Params::DEFAULT.step_at(NOW))
    );
    assert_eq!(rec.state().last_success, Some(NOW));
    assert_eq!(
        audit.0,
        vec![(
            Level::Info,
            "user=alice: second factor accepted (totp)".to_owned()
        )]
    );
}

#[test]
fn an_exempt_login_is_ignored_without_a_prompt_and_the_store_untouched() {
    let (store, _) = alice();
    let mut c = cfg();
    c.policy.exempt_networks = vec![crate::network::Cidr::parse("10.0.0.0/8").unwrap()];
    let before = store.get("alice");
    let from = |rhost| Session {
        rhost,
        ..Session::default()
    };
    let mut script = Script::answering("000000");
    let (r, audit) = run_in(
        &c,
        &store,
        b"ALICE",
        &mut script,
        NOW,
        Lang::En,
        from("::ffff:10.1.2.3"),
        &mut NoKeys,
    );
    assert_eq!(r.unwrap(), Outcome::Ignore);
    assert!(script.asked.is_empty(), "{:?}", script.asked);
    assert_eq!(store.get("alice"), before, "no count, no replay state");
    assert_eq!(
        audit.0,
        [(
            Level::Notice,
            "user=alice: second factor not required (exempt_networks 10.0.0.0/8 matches rhost ::ffff:10.1.2.3)"
                .to_owned()
        )]
    );
    // A host name is asked like anybody, and its wrong code counts.
    let mut script = Script::answering("000000");
    let (r, _) = run_in(
        &c,
        &store,
        b"alice",
        &mut script,
        NOW,
        Lang::En,
        from("gw.10.1.2.3.example"),
        &mut NoKeys,
    );
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(script.asked, ["Verification code: "]);
    assert_eq!(store.get("alice").unwrap().state().failures, 1);
}

#[test]
fn unknown_groups_under_require_groups_ask_for_the_factor() {
    let (store, _) = alice();
    let record = store.get("alice").unwrap();
    store
        .update(&UserName::new("nogroups1").unwrap(), |_| {
            (Change::Write(record), ())
        })
        .unwrap();
    let mut c = cfg();
    c.policy.require_groups = vec!["wheel".into()];
    let (r, audit) = run(
        &c,
        &store,
        b"nogroups1",
        &mut Script::answering(&code(0)),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        audit.0[0],
        (
            Level::Notice,
            "user=nogroups1: groups unknown (LDAP server unreachable): no group exemption, second factor required"
                .to_owned()
        )
    );
    // Known, and not a member: not asked.
    let (r, _) = run(&c, &store, b"alice", &mut Script::answering(""), NOW);
    assert_eq!(r.unwrap(), Outcome::Ignore);
}

#[test]
fn the_sites_own_prompt_is_shown_in_the_users_language() {
    let (store, _) = alice();
    let mut c = cfg();
    c.prompt.set(
        Msg::CodePrompt,
        Lang::Nl,
        "Tokencode (OpenVPN): ".to_owned(),
    );
    for (lang, want, offset) in [
        (Lang::Nl, "Tokencode (OpenVPN): ", 0),
        (Lang::En, "Verification code: ", 1),
    ] {
        let mut script = Script::answering(&code(offset));
        let (r, _) = run_in(
            &c,
            &store,
            b"alice",
            &mut script,
            NOW,
            lang,
            Session::default(),
            &mut NoKeys,
        );
        assert_eq!(r.unwrap(), Outcome::Success);
        assert_eq!(script.asked, [want]);
    }
}

/// One login of alice from `rhost` at `now` answering `answers`: the outcome,
/// what she was asked, what was logged.
fn from_rhost(
    cfg: &Config,
    store: &MemoryStore,
    rhost: &str,
    answers: &[&str],
    now: u64,
) -> (Result<Outcome, Error>, Vec<String>, Vec<String>) {
    // No answers: a prompt is a failed conversation.
    let mut script = if answers.is_empty() {
        Script {
            answers: vec![Err(())],
            asked: vec![],
        }
    } else {
        Script::lines(answers)
    };
    let (r, audit) = run_in(
        cfg,
        store,
        b"alice",
        &mut script,
        now,
        Lang::En,
        Session {
            rhost,
            ..Session::default()
        },
        &mut NoKeys,
    );
    (
        r,
        script.asked,
        audit.0.into_iter().map(|(_, l)| l).collect(),
    )
}

fn grace_cfg() -> Config {
    let mut c = cfg();
    c.policy.remember_seconds = 600;
    c
}

#[test]
fn the_same_user_from_the_same_address_is_not_asked_again_within_the_period() {
    let (store, codes) = alice();
    let c = grace_cfg();
    let (r, asked, _) = from_rhost(&c, &store, "192.0.2.7", &[&code(0)], NOW);
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(asked, ["Verification code: "]);
    let (r, asked, log) = from_rhost(&c, &store, "::ffff:192.0.2.7", &[], NOW + 42);
    assert_eq!(r.unwrap(), Outcome::Success);
    assert!(asked.is_empty(), "{asked:?}");
    assert_eq!(
        log,
        ["user=alice: second factor skipped (remembered from 192.0.2.7, 42 s ago)"]
    );
    // Another address, a local login and the end of the period are asked.
    for (rhost, at) in [
        ("192.0.2.8", NOW + 50),
        ("", NOW + 50),
        ("192.0.2.7", NOW + 600),
    ] {
        let (r, asked, _) = from_rhost(&c, &store, rhost, &[], at);
        assert!(r.is_err(), "{rhost:?} at {at}: asked, and no answer");
        assert_eq!(asked, ["Verification code: "]);
    }
    // A recovery code from a second address is remembered too.
    let (r, _, _) = from_rhost(&c, &store, "2001:db8::5", &[&codes[0]], NOW + 60);
    assert_eq!(r.unwrap(), Outcome::Success);
    let (r, asked, _) = from_rhost(&c, &store, "2001:db8::5", &[], NOW + 61);
    assert_eq!(r.unwrap(), Outcome::Success);
    assert!(asked.is_empty());
    // Never a host name, even one remembered as text somewhere.
    let (r, asked, _) = from_rhost(&c, &store, "gateway", &[], NOW + 62);
    assert!(r.is_err() && asked.len() == 1);
}

#[test]
fn a_failure_forgets_every_remembered_address() {
    let (store, _) = alice();
    let c = grace_cfg();
    assert_eq!(
        from_rhost(&c, &store, "192.0.2.7", &[&code(0)], NOW)
            .0
            .unwrap(),
        Outcome::Success
    );
    // A wrong code from anywhere, even a local one.
    assert_eq!(
        from_rhost(&c, &store, "", &["000000x"], NOW + 1).0.unwrap(),
        Outcome::Failure
    );
    let (r, asked, _) = from_rhost(&c, &store, "192.0.2.7", &[], NOW + 2);
    assert!(r.is_err());
    assert_eq!(asked, ["Verification code: "]);
}

#[test]
fn a_change_of_factors_forgets_every_remembered_address() {
    let (store, _) = alice();
    let c = grace_cfg();
    let alice = UserName::new("alice").unwrap();
    assert_eq!(
        from_rhost(&c, &store, "192.0.2.7", &[&code(0)], NOW)
            .0
            .unwrap(),
        Outcome::Success
    );
    // Bookkeeping that is no change of factors keeps the memory.
    store
        .update(&alice, |r| {
            let mut r = r.unwrap();
            r.state_mut().failures = 0;
            (Change::Write(r), ())
        })
        .unwrap();
    assert_eq!(
        from_rhost(&c, &store, "192.0.2.7", &[], NOW + 1).0.unwrap(),
        Outcome::Success
    );
    // New recovery codes, whoever writes them.
    store
        .update(&alice, |r| {
            let mut r = r.unwrap();
            let (_, hashed) = recovery::generate(3, &mut OsRandom).unwrap();
            r.set_recovery(RecoveryCodes {
                hashed,
                created: NOW + 2,
            });
            (Change::Write(r), ())
        })
        .unwrap();
    assert!(store.get("alice").unwrap().state().remembered().is_empty());
    let (r, asked, _) = from_rhost(&c, &store, "192.0.2.7", &[], NOW + 3);
    assert!(r.is_err());
    assert_eq!(asked, ["Verification code: "]);
}

#[test]
fn nothing_is_remembered_when_off_or_for_a_key_only_service() {
    let (store, _) = alice();
    assert_eq!(
        from_rhost(&cfg(), &store, "192.0.2.7", &[&code(0)], NOW)
            .0
            .unwrap(),
        Outcome::Success
    );
    assert!(store.get("alice").unwrap().state().remembered().is_empty());
    let mut c = grace_cfg();
    assert_eq!(
        from_rhost(&c, &store, "192.0.2.7", &[&code(1)], NOW + 30)
            .0
            .unwrap(),
        Outcome::Success
    );
    c.fido2.require_key_for = vec!["sudo".into()];
    let mut script = Script::lines(&[]);
    // Not remembered, not asked for a code: refused.
    let (r, _) = run_in(
        &c,
        &store,
        b"alice",
        &mut script,
        NOW + 31,
        Lang::En,
        Session {
            service: "sudo",
            rhost: "192.0.2.7",
            ..Session::default()
        },
        &mut NoKeys,
    );
    assert_eq!(
        r.unwrap(),
        Outcome::Failure,
        "a key is required, none passed"
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
    assert_eq!(store.get("alice").unwrap().state().failures, 2);
    // The next step's code is fresh.
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(1), NOW + 3),
        Outcome::Success
    );
}

/// The second app's key: another secret, 8 digits.
fn work_secret() -> Secret {
    Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap()
}

fn work_params() -> Params {
    Params {
        digits: 8,
        ..Params::DEFAULT
    }
}

fn work_code(offset: i64) -> String {
    let p = work_params();
    let step = p.step_at(NOW).checked_add_signed(offset).unwrap();
    totp::code_at(&work_secret(), p, step).to_string()
}

/// Alice with two apps: "default" (as [`alice`]) and "work-phone".
fn alice_with_two_apps() -> MemoryStore {
    let mut record = alice().0.get("alice").unwrap();
    record
        .add_app(
            TotpEnrollment::new("work-phone", work_secret(), work_params(), NOW - 500).unwrap(),
        )
        .unwrap();
    MemoryStore::with("alice", record)
}

#[test]
fn given_two_apps_then_a_code_of_either_logs_in_and_names_its_app() {
    let store = alice_with_two_apps();
    let (r, audit) = run(
        &cfg(),
        &store,
        b"alice",
        &mut Script::answering(&work_code(0)),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        audit.0,
        [(
            Level::Info,
            "user=alice: second factor accepted (totp \"work-phone\")".to_owned()
        )]
    );
    let rec = store.get("alice").unwrap();
    assert_eq!(rec.apps()[1].last_step(), Some(work_params().step_at(NOW)));
    assert_eq!(
        rec.apps()[0].last_step(),
        None,
        "the other app's state is its own"
    );
    // The default app's code of the same step is not spent by the other's.
    let (r, audit) = run(
        &cfg(),
        &store,
        b"alice",
        &mut Script::answering(&code(0)),
        NOW + 1,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(audit.0[0].1, "user=alice: second factor accepted (totp)");
}

#[test]
fn given_two_apps_then_replay_state_is_per_app() {
    let store = alice_with_two_apps();
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(0), NOW),
        Outcome::Success
    );
    // The same code again: refused as a replay, counted.
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
    // The other app's codes, even of an earlier step, are still fresh: used once.
    assert_eq!(
        outcome(&cfg(), &store, "alice", &work_code(-1), NOW + 2),
        Outcome::Success
    );
    assert_eq!(
        outcome(&cfg(), &store, "alice", &work_code(-1), NOW + 3),
        Outcome::Failure
    );
    assert_eq!(
        outcome(&cfg(), &store, "alice", &work_code(0), NOW + 4),
        Outcome::Success
    );
    assert_eq!(
        outcome(&cfg(), &store, "alice", &work_code(0), NOW + 5),
        Outcome::Failure
    );
    let rec = store.get("alice").unwrap();
    assert_eq!(rec.state().failures, 1, "the last replay, after a success");
    assert_eq!(
        rec.apps()[0].last_step(),
        Some(Params::DEFAULT.step_at(NOW))
    );
    assert_eq!(rec.apps()[1].last_step(), Some(work_params().step_at(NOW)));
}

#[test]
fn given_two_entries_with_the_same_key_then_a_code_is_still_accepted_once() {
    let mut record = alice().0.get("alice").unwrap();
    let twin = record.apps()[0].clone().renamed("old-phone").unwrap();
    record.add_app(twin).unwrap();
    let store = MemoryStore::with("alice", record);
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(0), NOW),
        Outcome::Success
    );
    assert_eq!(
        outcome(&cfg(), &store, "alice", &code(0), NOW + 1),
        Outcome::Failure
    );
    let rec = store.get("alice").unwrap();
    let step = Some(Params::DEFAULT.step_at(NOW));
    assert_eq!(
        (rec.apps()[0].last_step(), rec.apps()[1].last_step()),
        (step, step)
    );
}

#[test]
fn given_racing_logins_with_one_code_of_the_second_app_then_exactly_one_succeeds() {
    let store = std::sync::Arc::new(alice_with_two_apps());
    let threads = 16;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let store = std::sync::Arc::clone(&store);
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut c = cfg();
                c.lockout.max_failures = 100;
                barrier.wait();
                outcome(&c, &store, "alice", &work_code(0), NOW)
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|o| *o == Outcome::Success)
        .count();
    assert_eq!(wins, 1);
    assert_eq!(store.get("alice").unwrap().state().failures, 15);
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
    assert_eq!(store.get("alice").unwrap().state().failures, 1);
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
        store.get("alice").unwrap().recovery().unwrap().hashed.len(),
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
    assert_eq!(rec.state().locked_until, NOW + 2 + 60);
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
        store.get("alice").unwrap().recovery().unwrap().hashed.len(),
        3
    );
    assert_eq!(store.get("alice").unwrap().apps()[0].last_step(), None);
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
    for user in [&b"alice"[..], b"bob", b"../etc", b"\xff", b"ghost"] {
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
fn given_a_name_in_other_case_then_the_account_name_is_checked() {
    let (store, _) = alice();
    for policy in [Unenrolled::Deny, Unenrolled::Ignore] {
        let mut c = cfg();
        c.policy.unenrolled = policy;
        c.lockout.max_failures = 0;
        // "ALICE" is alice: her code is asked for and checked, never ignored.
        let mut s = Script::answering("000001");
        let (r, audit) = run(&c, &store, b"ALICE", &mut s, NOW);
        assert_eq!(r.unwrap(), Outcome::Failure, "{policy:?}");
        assert_eq!(s.asked, ["Verification code: "]);
        assert!(
            audit.0[0].1.starts_with("user=alice: wrong code"),
            "{:?}",
            audit.0
        );
    }
    let (r, audit) = run(
        &cfg(),
        &store,
        b"AliCe",
        &mut Script::answering(&code(0)),
        NOW,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(audit.0[0].1, "user=alice: second factor accepted (totp)");
    assert_eq!(store.get("AliCe"), None);
}

#[test]
fn given_an_unknown_user_then_prompted_and_refused_whatever_the_policy() {
    let (store, _) = alice();
    for policy in [Unenrolled::Deny, Unenrolled::Ignore, Unenrolled::Enroll] {
        let mut c = cfg();
        c.policy.unenrolled = policy;
        c.enroll.users = vec!["ghost".to_owned()];
        for (user, logged) in [
            (
                "ghost",
                "user \"ghost\" unknown to the user database, denied",
            ),
            (
                "broken",
                "user \"broken\" could not be looked up (LDAP server unreachable), denied",
            ),
        ] {
            let mut s = Script::answering("123456");
            let (r, audit) = run(&c, &store, user.as_bytes(), &mut s, NOW);
            assert_eq!(r.unwrap(), Outcome::Failure, "{policy:?} {user}");
            assert_eq!(s.asked, ["Verification code: "], "{policy:?} {user}");
            assert_eq!(audit.0, [(Level::Notice, logged.to_owned())]);
            assert_eq!(store.get(user), None);
        }
    }
}

#[test]
fn given_every_recovery_code_used_then_the_user_stays_enrolled_and_is_refused() {
    let mut record = alice().0.get("alice").unwrap();
    record.remove_apps();
    let (codes, hashed) = recovery::generate(1, &mut OsRandom).unwrap();
    record.set_recovery(RecoveryCodes {
        hashed,
        created: NOW - 1000,
    });
    let store = MemoryStore::with("erin", record);
    let mut c = cfg();
    c.policy.unenrolled = Unenrolled::Ignore;
    assert_eq!(
        outcome(&c, &store, "erin", codes[0].as_ref(), NOW),
        Outcome::Success
    );
    // The last code is gone; under `ignore` that must not make erin "unenrolled".
    let mut s = Script::answering(codes[0].as_ref());
    let (r, audit) = run(&c, &store, b"erin", &mut s, NOW + 1);
    assert_eq!(r.unwrap(), Outcome::Failure);
    assert_eq!(s.asked, ["Verification code: "]);
    assert!(
        audit.0[0].1.starts_with(
            "user=erin: refused: every recovery code is used and no other factor is enrolled"
        ),
        "{:?}",
        audit.0
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
    // As apps show it: accepted, and it ends the failure count.
    let mut with_spaces = code(0);
    with_spaces.insert(3, ' ');
    assert_eq!(store.get("alice").unwrap().state().failures, 5);
    assert_eq!(
        outcome(&c, &store, "alice", &format!(" {with_spaces} "), NOW),
        Outcome::Success
    );
    assert_eq!(store.get("alice").unwrap().state().failures, 0);
    let mut with_dash = code(1);
    with_dash.insert(3, '-');
    assert_eq!(
        outcome(&c, &store, "alice", &with_dash, NOW + 30),
        Outcome::Success
    );
}

#[test]
fn the_dutch_prompt() {
    let (store, _) = alice();
    let mut s = Script::answering(&code(0));
    let (r, _) = run_in(
        &cfg(),
        &store,
        b"alice",
        &mut s,
        NOW,
        Lang::Nl,
        Session::default(),
        &mut NoKeys,
    );
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(s.asked, ["Verificatiecode: "]);
}

mod keys {
    use super::*;
    use crate::fido2::cose::Algorithm;
    use crate::fido2::soft::{Mode, SoftKey};
    use crate::fido2::{
        Assertion, Attestation, DeviceError, GetAssertion, KeyInfo, MakeCredential,
    };
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Hands out one shared soft key (or none).
    struct Port(Option<Rc<RefCell<SoftKey>>>);

    struct Shared(Rc<RefCell<SoftKey>>);

    impl crate::fido2::Authenticator for Shared {
        fn info(&mut self) -> Result<KeyInfo, DeviceError> {
            self.0.borrow_mut().info()
        }
        fn make_credential(&mut self, r: &MakeCredential<'_>) -> Result<Attestation, DeviceError> {
            self.0.borrow_mut().make_credential(r)
        }
        fn get_assertion(&mut self, r: &GetAssertion<'_>) -> Result<Assertion, DeviceError> {
            self.0.borrow_mut().get_assertion(r)
        }
    }

    impl KeyPort for Port {
        fn open(&mut self) -> Option<Box<dyn crate::fido2::Authenticator>> {
            self.0
                .clone()
                .map(|k| Box::new(Shared(k)) as Box<dyn crate::fido2::Authenticator>)
        }
    }

    const RP: &str = "pam://pam_mfa";

    /// Alice with TOTP and a soft key.
    fn alice_with_key(alg: Algorithm) -> (MemoryStore, Rc<RefCell<SoftKey>>) {
        let (store, _) = alice();
        let key = Rc::new(RefCell::new(SoftKey::new(alg)));
        let mut rec = store.get("alice").unwrap();
        rec.add_key(key.borrow().credential(RP)).unwrap();
        (MemoryStore::with("alice", rec), key)
    }

    fn login(
        store: &MemoryStore,
        key: Option<&Rc<RefCell<SoftKey>>>,
        session: Session<'_>,
        answers: &[&str],
    ) -> (Outcome, Vec<String>, Recorder) {
        let mut script = Script {
            answers: answers.iter().map(|a| Ok(a.as_bytes().to_vec())).collect(),
            asked: vec![],
        };
        let mut port = Port(key.cloned());
        let (r, audit) = run_in(
            &cfg(),
            store,
            b"alice",
            &mut script,
            NOW,
            Lang::En,
            session,
            &mut port,
        );
        (r.unwrap(), script.asked, audit)
    }

    #[test]
    fn a_touch_logs_in_without_a_code_and_the_counter_is_stored() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let (store, key) = alice_with_key(alg);
            let (out, asked, audit) = login(&store, Some(&key), Session::default(), &[]);
            assert_eq!(out, Outcome::Success, "{alg:?}");
            assert_eq!(asked, ["INFO Touch your security key."]);
            assert_eq!(store.get("alice").unwrap().keys()[0].sign_count, 1);
            assert!(
                audit.0[0].1.contains("accepted (security key \"soft\")"),
                "{:?}",
                audit.0
            );
            // Fresh challenges every time.
            login(&store, Some(&key), Session::default(), &[]);
            let seen = &key.borrow().seen;
            assert_ne!(seen[0].1, seen[1].1);
            assert_eq!(seen[0].0, RP);
        }
    }

    /// A key the user takes `seconds` to touch, on a clock that moves meanwhile.
    struct Slow {
        key: Rc<RefCell<SoftKey>>,
        clock: Rc<std::cell::Cell<u64>>,
        seconds: u64,
    }

    impl crate::fido2::Authenticator for Slow {
        fn info(&mut self) -> Result<KeyInfo, DeviceError> {
            self.key.borrow_mut().info()
        }
        fn make_credential(&mut self, r: &MakeCredential<'_>) -> Result<Attestation, DeviceError> {
            self.key.borrow_mut().make_credential(r)
        }
        fn get_assertion(&mut self, r: &GetAssertion<'_>) -> Result<Assertion, DeviceError> {
            self.clock.set(self.clock.get() + self.seconds);
            self.key.borrow_mut().get_assertion(r)
        }
    }

    struct SlowPort(Rc<RefCell<SoftKey>>, Rc<std::cell::Cell<u64>>);

    impl KeyPort for SlowPort {
        fn open(&mut self) -> Option<Box<dyn crate::fido2::Authenticator>> {
            Some(Box::new(Slow {
                key: self.0.clone(),
                clock: self.1.clone(),
                seconds: 30,
            }))
        }
    }

    #[test]
    fn the_time_of_a_key_login_is_read_after_the_touch() {
        let (store, key) = alice_with_key(Algorithm::Es256);
        let clock = Rc::new(std::cell::Cell::new(NOW));
        let mut port = SlowPort(key, clock.clone());
        let (cfg, mut script, mut audit) = (cfg(), Script::lines(&[]), Recorder::default());
        let read = clock.clone();
        let mut env = Env {
            cfg: &cfg,
            lang: Lang::En,
            now: NOW,
            clock: &move || read.get(),
            session: Session::default(),
            prompter: &mut script,
            keys: &mut port,
            rng: &mut OsRandom,
            audit: &mut audit,
            accounts: &Directory,
            courier: &mut crate::oob::NoCourier,
        };
        assert_eq!(
            authenticate(&store, b"alice", &mut env).unwrap(),
            Outcome::Success
        );
        assert_eq!(env.now, NOW + 30);
        assert_eq!(
            store.get("alice").unwrap().state().last_success,
            Some(NOW + 30),
            "the success is stored at the time of the touch, not of the login's start"
        );
    }

    #[test]
    fn no_key_present_or_no_answer_leads_to_the_code_prompt_at_once() {
        let (store, key) = alice_with_key(Algorithm::Es256);
        let (out, asked, audit) = login(&store, None, Session::default(), &[&code(0)]);
        assert_eq!(out, Outcome::Success);
        assert_eq!(asked, ["Verification code: "]);
        assert!(
            audit.0[0]
                .1
                .contains("security key not used: no security key connected"),
            "{:?}",
            audit.0
        );
        key.borrow_mut().mode = Mode::Timeout;
        let (out, asked, _) = login(&store, Some(&key), Session::default(), &[&code(1)]);
        assert_eq!(out, Outcome::Success);
        assert_eq!(
            asked,
            ["INFO Touch your security key.", "Verification code: "]
        );
        key.borrow_mut().mode = Mode::NoCredentials;
        let (_, asked, audit) = login(&store, Some(&key), Session::default(), &["x"]);
        assert_eq!(asked.last().unwrap(), "Verification code: ");
        assert!(
            audit
                .0
                .iter()
                .any(|(_, l)| l.contains("holds none of the registered credentials")),
            "{:?}",
            audit.0
        );
    }

    #[test]
    fn remote_sessions_do_not_touch_the_key_unless_allowed() {
        let (store, key) = alice_with_key(Algorithm::Es256);
        let remote = Session {
            service: "sshd",
            remote: Place::Remote,
            require_key: false,
            ..Session::default()
        };
        let (_, asked, audit) = login(&store, Some(&key), remote, &["000000"]);
        assert_eq!(asked, ["Verification code: "]);
        assert!(key.borrow().seen.is_empty());
        assert!(
            audit.0.contains(&(
                Level::Debug,
                "user=alice: security key not tried: the session is remote \
                 (fido2.allow_remote is off)"
                    .to_owned()
            )),
            "{:?}",
            audit.0
        );
        let mut c = cfg();
        c.fido2.allow_remote = true;
        let mut script = Script {
            answers: vec![],
            asked: vec![],
        };
        let (r, _) = run_in(
            &c,
            &store,
            b"alice",
            &mut script,
            NOW,
            Lang::En,
            remote,
            &mut Port(Some(key.clone())),
        );
        assert_eq!(r.unwrap(), Outcome::Success);
    }

    #[test]
    fn a_bad_assertion_fails_the_login_without_a_code_fallback() {
        for (mode, reason) in [
            (Mode::TamperSignature, "signature does not verify"),
            (Mode::ClearUp, "user presence flag not set"),
            (
                Mode::Counter(0),
                "sign counter went from 5 to 0: possible cloned key",
            ),
        ] {
            let (store, key) = alice_with_key(Algorithm::Es256);
            let mut rec = store.get("alice").unwrap();
            let mut k = rec.keys()[0].clone();
            rec.remove_key(&k.credential_id);
            k.sign_count = 5;
            rec.add_key(k).unwrap();
            let store = MemoryStore::with("alice", rec);
            key.borrow_mut().mode = mode;
            let (out, asked, audit) = login(&store, Some(&key), Session::default(), &[&code(0)]);
            assert_eq!(out, Outcome::Failure, "{mode:?}");
            assert!(
                !asked.iter().any(|a| a.contains("Verification code")),
                "{mode:?}: no fallback"
            );
            assert!(
                audit
                    .0
                    .iter()
                    .any(|(l, m)| *l == Level::Warning && m.contains(reason)),
                "{mode:?}: {:?}",
                audit.0
            );
            let rec = store.get("alice").unwrap();
            assert_eq!(rec.state().failures, 1, "{mode:?} counts as a failure");
            assert_eq!(rec.keys()[0].sign_count, 5, "{mode:?}: counter unchanged");
        }
    }

    #[test]
    fn required_key_services_accept_no_code() {
        let (store, key) = alice_with_key(Algorithm::EdDsa);
        let mut c = cfg();
        c.fido2.require_key_for = vec!["sudo".into()];
        let sudo = Session {
            service: "sudo",
            remote: Place::Local,
            require_key: false,
            ..Session::default()
        };
        key.borrow_mut().mode = Mode::Timeout;
        let mut script = Script {
            answers: vec![Ok(code(0).into_bytes())],
            asked: vec![],
        };
        let (r, audit) = run_in(
            &c,
            &store,
            b"alice",
            &mut script,
            NOW,
            Lang::En,
            sudo,
            &mut Port(Some(key.clone())),
        );
        assert_eq!(r.unwrap(), Outcome::Failure);
        assert!(!script.asked.iter().any(|a| a.contains("Verification code")));
        assert!(
            audit
                .0
                .iter()
                .any(|(_, m)| m.contains("requires a security key")),
            "{:?}",
            audit.0
        );
        // The module argument does the same; a good touch passes.
        key.borrow_mut().mode = Mode::Good;
        let arg = Session {
            service: "login",
            remote: Place::Local,
            require_key: true,
            ..Session::default()
        };
        let (out, _, _) = login(&store, Some(&key), arg, &[]);
        assert_eq!(out, Outcome::Success);
    }

    #[test]
    fn pin_and_user_verification_are_requested_when_registered() {
        let (store, key) = alice_with_key(Algorithm::Es256);
        let mut rec = store.get("alice").unwrap();
        let mut k = rec.keys()[0].clone();
        rec.remove_key(&k.credential_id);
        k.pin = true;
        rec.add_key(k).unwrap();
        let store = MemoryStore::with("alice", rec);
        let (out, asked, _) = login(&store, Some(&key), Session::default(), &["1234"]);
        assert_eq!(out, Outcome::Success);
        assert_eq!(
            asked,
            ["Security key PIN: ", "INFO Touch your security key."]
        );
        assert!(key.borrow().seen[0].2, "the PIN went to the key");
    }

    #[test]
    fn a_locked_user_is_not_offered_the_key() {
        let (store, key) = alice_with_key(Algorithm::Es256);
        let mut rec = store.get("alice").unwrap();
        rec.state_mut().locked_until = NOW + 100;
        let store = MemoryStore::with("alice", rec);
        let (out, asked, _) = login(&store, Some(&key), Session::default(), &["x"]);
        assert_eq!(out, Outcome::Failure);
        assert_eq!(asked, ["Verification code: "]);
        assert!(key.borrow().seen.is_empty());
    }
}

mod activation;
mod one_answer;
