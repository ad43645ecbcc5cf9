//! The release module under real libpam (pam_wrapper + pamtester), codes from oathtool.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use pam_mfa_e2e::{code, finish, LoginOpts, Sandbox, AUTHPRIV, SECRET};

fn enrolled() -> Sandbox {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 0);
    sb
}

#[test]
fn given_the_current_code_then_login_succeeds_once() {
    let sb = enrolled();
    let c = code(SECRET, 0);
    let first = sb.login("alice", &[&c]);
    assert!(first.ok, "{first:?}");
    assert!(
        first.transcript.contains("Verification code: "),
        "{}",
        first.transcript
    );
    assert!(
        first.logged("user=alice: second factor accepted (totp)"),
        "{:?}",
        first.syslog
    );

    let again = sb.login("alice", &[&c]);
    assert!(!again.ok, "a code must not be accepted twice");
    assert!(
        again.logged("user=alice: replayed totp code refused"),
        "{:?}",
        again.syslog
    );

    // The module logs through authpriv, and never the code itself. (libpam's own
    // messages, "_pam_init_handlers: ...", are not ours.)
    let ours = first
        .syslog
        .iter()
        .chain(&again.syslog)
        .filter(|(_, l)| !l.starts_with("_pam"));
    for (prio, line) in ours {
        assert_eq!(prio & !7, AUTHPRIV, "{line}");
        assert!(!line.contains(&c), "code leaked into the log: {line}");
    }
}

#[test]
fn given_the_code_as_apps_show_it_then_it_is_accepted() {
    let sb = enrolled();
    let mut c = code(SECRET, 0);
    c.insert(3, ' ');
    let l = sb.login("alice", &[&format!(" {c} ")]);
    assert!(l.ok, "{l:?}");
    assert!(l.logged("user=alice: second factor accepted (totp)"));
}

#[test]
fn given_a_wrong_code_then_login_fails() {
    let sb = enrolled();
    let c = code(SECRET, 0);
    let wrong = if c == "000000" { "111111" } else { "000000" };
    let l = sb.login("alice", &[wrong]);
    assert!(!l.ok);
    assert!(
        l.logged("user=alice: wrong code (1 consecutive failures)"),
        "{:?}",
        l.syslog
    );
    // A code from outside the ±1 window is wrong too.
    assert!(!sb.login("alice", &[&code(SECRET, 3)]).ok);
    assert_eq!(sb.record("alice").unwrap().state().failures, 2);
}

#[test]
fn given_a_recovery_code_then_it_works_once() {
    let sb = Sandbox::new("");
    let codes = sb.enroll_record("alice", SECRET, 4);
    let l = sb.login("alice", &[&codes[2]]);
    assert!(l.ok, "{l:?}");
    assert!(l.logged("recovery code, 3 left"), "{:?}", l.syslog);
    assert!(!sb.login("alice", &[&codes[2]]).ok);
    assert!(sb.login("alice", &[&codes[0].to_uppercase()]).ok);
    let text = fs::read_to_string(sb.record_path("alice")).unwrap();
    for c in &codes {
        assert!(
            !text.contains(c.as_str()) && !text.contains(&c.replace('-', "")),
            "plaintext code in the record"
        );
    }
}

#[test]
fn given_repeated_failures_then_the_user_is_locked_out() {
    let sb = Sandbox::new("[lockout]\nmax_failures = 3\nseconds = 600");
    sb.enroll_record("alice", SECRET, 0);
    for _ in 0..3 {
        assert!(!sb.login("alice", &["12345x"]).ok);
    }
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok, "the right code must not pass while locked out");
    assert!(l.logged("attempt while locked out"), "{:?}", l.syslog);
    assert!(
        l.transcript.contains("Verification code: "),
        "a locked user is still prompted"
    );
    let record = sb.record("alice").unwrap();
    assert!(record.state().locked_until > pam_mfa_e2e::now() + 500);
    assert_eq!(
        record.apps()[0].last_step(),
        None,
        "nothing consumed while locked"
    );
}

fn permit_after(sb: &Sandbox) {
    // pam_mfa decides unless it answers PAM_IGNORE; then pam_permit lets the user in.
    sb.pam_service(
        "stack",
        "auth required {module} socket={socket}\nauth required pam_permit.so",
    );
}

#[test]
fn given_policy_deny_then_an_unenrolled_user_is_prompted_and_refused() {
    let sb = enrolled();
    permit_after(&sb);
    let opts = LoginOpts {
        service: Some("stack"),
        ..LoginOpts::default()
    };
    let l = sb.login_with("bob", &["123456"], &opts);
    assert!(!l.ok);
    assert!(
        l.transcript.contains("Verification code: "),
        "{}",
        l.transcript
    );
    assert!(
        l.logged("user=bob: no second factor enrolled, denied"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn given_policy_ignore_then_an_unenrolled_user_is_left_to_the_stack() {
    let sb = Sandbox::new("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0");
    sb.enroll_record("alice", SECRET, 0);
    permit_after(&sb);
    let opts = LoginOpts {
        service: Some("stack"),
        ..LoginOpts::default()
    };
    let l = sb.login_with("bob", &[], &opts);
    assert!(l.ok, "PAM_IGNORE lets pam_permit decide: {l:?}");
    assert!(
        !l.transcript.contains("Verification code"),
        "{}",
        l.transcript
    );
    assert!(l.logged("user=bob: no second factor enrolled, ignored by policy"));
    // Alone in the stack, PAM_IGNORE is not a success.
    assert!(!sb.login("bob", &[]).ok);
    // Enrolled users are still checked.
    assert!(!sb.login_with("alice", &["000000x"], &opts).ok);
    assert!(sb.login_with("alice", &[&code(SECRET, 0)], &opts).ok);
}

#[test]
fn given_an_insecure_config_then_pam_mfad_refuses_to_run() {
    let sb = enrolled();
    fs::set_permissions(&sb.config, fs::Permissions::from_mode(0o666)).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(l.logged("mode 0666 is insecure"), "{:?}", l.syslog);

    fs::set_permissions(&sb.config, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&sb.config, Some(65534), None).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(
        l.logged("owned by uid 65534, must be owned by uid 0"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn given_a_malformed_config_then_file_line_and_key_are_logged() {
    let sb = enrolled();
    sb.write_config("[lockout]\nmax_failures = 3\nsecond = 60\n[policy]\nfail_delay_ms = 0");
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    let want = format!(
        "{}:5: key `lockout.second`: unknown key",
        sb.config.display()
    );
    assert!(l.logged(&want), "want {want:?} in {:?}", l.syslog);
}

#[test]
fn given_an_unknown_module_argument_then_the_module_refuses_to_run() {
    let sb = enrolled();
    sb.pam_service("mfa", "auth required {module} socket={socket} nullok");
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(
        l.logged("unknown module argument \"nullok\""),
        "{:?}",
        l.syslog
    );
}

#[test]
fn given_a_symlinked_record_then_it_is_refused() {
    let sb = enrolled();
    let path = sb.record_path("alice");
    let moved = sb.root.join("elsewhere.toml");
    fs::rename(&path, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &path).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(l.logged("is a symbolic link, refused"), "{:?}", l.syslog);
    assert!(
        fs::symlink_metadata(&path).unwrap().is_symlink(),
        "the module must not 'fix' it"
    );
}

#[test]
fn given_a_group_readable_record_then_it_is_refused() {
    let sb = enrolled();
    fs::set_permissions(sb.record_path("alice"), fs::Permissions::from_mode(0o640)).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(l.logged("mode 0640 is insecure"), "{:?}", l.syslog);
}

#[test]
fn given_32_concurrent_logins_with_one_code_then_exactly_one_succeeds() {
    let sb = enrolled();
    let c = code(SECRET, 0);
    let opts = LoginOpts::default();
    // Start every process first so that they all hit the store at the same time.
    let children: Vec<_> = (0..32).map(|_| sb.spawn_login("alice", &opts)).collect();
    let results: Vec<_> = children.into_iter().map(|ch| finish(ch, &[&c])).collect();
    let ok = results.iter().filter(|l| l.ok).count();
    assert_eq!(ok, 1, "exactly one of 32 racing logins may pass");
    // Every other login was refused for the right reason: a replay, or the lockout
    // that the replays triggered. Anything else (a store error, a crash) is a bug.
    let refused_for_another_reason: Vec<_> = results
        .iter()
        .filter(|l| {
            !(l.ok
                || l.logged("replayed totp code refused")
                || l.logged("attempt while locked out"))
        })
        .collect();
    assert!(
        refused_for_another_reason.is_empty(),
        "{refused_for_another_reason:#?}"
    );
    let record = sb.record("alice").expect("record still parses");
    assert!(record.apps()[0].last_step().is_some());
}

#[test]
fn given_dutch_in_the_pam_environment_then_the_prompt_is_dutch() {
    let sb = enrolled();
    let opts = LoginOpts {
        env: vec![("LANG", "nl_NL.UTF-8")],
        ..LoginOpts::default()
    };
    let l = sb.login_with("alice", &[&code(SECRET, 0)], &opts);
    assert!(l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Verificatiecode: "),
        "{}",
        l.transcript
    );
}

#[test]
fn given_custom_prompts_then_the_login_shows_them_in_english_and_dutch() {
    let sb = Sandbox::new(
        "[prompt]\ncode.en = \"Enter your token code: \"\ncode.nl = \"Voer uw tokencode in: \"\n",
    );
    sb.enroll_record("alice", SECRET, 0);
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Enter your token code: ")
            && !l.transcript.contains("Verification code"),
        "{}",
        l.transcript
    );
    let dutch = LoginOpts {
        env: vec![("LANG", "nl_NL.UTF-8")],
        ..LoginOpts::default()
    };
    let l = sb.login_with("alice", &[&code(SECRET, 1)], &dutch);
    assert!(l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Voer uw tokencode in: ")
            && !l.transcript.contains("Verificatiecode"),
        "{}",
        l.transcript
    );
    // Only English set: Dutch keeps the built-in text.
    sb.write_config("[prompt]\ncode.en = \"Token: \"\n");
    let l = sb.login_with("alice", &["000000x"], &dutch);
    assert!(!l.ok);
    assert!(
        l.transcript.contains("Verificatiecode: "),
        "{}",
        l.transcript
    );
}

#[test]
fn given_a_remote_host_then_it_is_in_the_log() {
    let sb = enrolled();
    let opts = LoginOpts {
        items: vec!["rhost=192.0.2.7"],
        ..LoginOpts::default()
    };
    let l = sb.login_with("alice", &["000000x"], &opts);
    assert!(!l.ok);
    assert!(
        l.logged("user=alice: wrong code (1 consecutive failures)") && l.logged("rhost=192.0.2.7"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn given_an_unreadable_store_dir_then_login_fails_closed() {
    let sb = enrolled();
    fs::set_permissions(&sb.store, fs::Permissions::from_mode(0o777)).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(l.logged("store directory"), "{:?}", l.syslog);
    fs::set_permissions(&sb.store, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn given_a_user_database_that_ignores_case_then_the_account_name_is_checked() {
    let sb = Sandbox::new("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0");
    sb.enroll_record("alice", SECRET, 0);
    permit_after(&sb);
    sb.ignore_case_in_user_names();
    let opts = LoginOpts {
        service: Some("stack"),
        ..LoginOpts::default()
    };
    // "ALICE" passes pam_unix with alice's password there; it must not be a user
    // without a second factor that `ignore` lets through.
    let l = sb.login_with("ALICE", &["000000x"], &opts);
    assert!(!l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Verification code: "),
        "{}",
        l.transcript
    );
    assert!(
        l.logged("user=alice: wrong code (1 consecutive failures)"),
        "{:?}",
        l.syslog
    );
    let l = sb.login_with("aLiCe", &[&code(SECRET, 0)], &opts);
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=alice: second factor accepted (totp)"),
        "{:?}",
        l.syslog
    );
    // The code is spent for alice, whatever the spelling.
    assert!(!sb.login_with("alice", &[&code(SECRET, 0)], &opts).ok);
    assert!(!sb.record_path("ALICE").exists() && !sb.record_path("aLiCe").exists());
}

#[test]
fn given_a_user_database_that_ignores_case_then_nobody_enrolls_under_another_spelling() {
    let sb = Sandbox::new(
        "[policy]\nunenrolled = \"enroll\"\nfail_delay_ms = 0\n[enroll]\nusers = [\"alice\", \"ALICE\"]",
    );
    sb.enroll_record("alice", SECRET, 0);
    sb.ignore_case_in_user_names();
    let l = sb.login("ALICE", &["123456"]);
    assert!(!l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Verification code: "),
        "{}",
        l.transcript
    );
    assert!(!l.transcript.contains("otpauth") && !l.transcript.contains('▀'));
    assert!(!sb.record_path("ALICE").exists());
}

#[test]
fn given_an_unknown_user_then_prompted_and_refused_even_under_ignore() {
    let sb = Sandbox::new("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0");
    permit_after(&sb);
    let opts = LoginOpts {
        service: Some("stack"),
        ..LoginOpts::default()
    };
    let l = sb.login_with("nosuchuser", &["123456"], &opts);
    assert!(!l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Verification code: "),
        "{}",
        l.transcript
    );
    assert!(
        l.logged("user \"nosuchuser\" unknown to the user database, denied"),
        "{:?}",
        l.syslog
    );
    // A known user without a factor is still left to the stack.
    assert!(sb.login_with("bob", &[], &opts).ok);
}
