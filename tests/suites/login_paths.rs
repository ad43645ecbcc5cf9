//! The paths users meet: a real sshd with keyboard-interactive and a real ssh client,
//! and real sudo, each with pam_unix (password) then pam_mfa (code).

use mfa_core::fido2::{KeyCredential, PublicKey, UserVerification};
use pam_mfa_e2e::sshd::{self, Sshd};
use pam_mfa_e2e::{
    code, from_pty, now, oathtool_at, qr_in, sudo, uri_secret, Sandbox, TempUser, SECRET,
};

const PASSWORD: &str = "correct-Horse-9";

/// The stack an admin writes: the password first, then the second factor.
const SSHD_PAM: &str = "\
auth requisite pam_unix.so
auth required {module} socket={socket}
account required pam_unix.so
session required pam_permit.so
password required pam_deny.so";

const SUDO_PAM: &str = "\
auth requisite pam_unix.so
auth required {module} socket={socket}
account required pam_unix.so
session required pam_permit.so";

fn user(sb: &Sandbox) -> TempUser {
    TempUser::with_password(&sb.root.join("home"), PASSWORD)
}

#[test]
fn sshd_right_code_runs_the_command_wrong_and_replayed_codes_do_not() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    let sshd = Sshd::start(&sb, SSHD_PAM, None);
    let c = code(SECRET, 0);
    let ok = sshd.login(&u.name, PASSWORD, "Verification code:", &c);
    assert!(ok.ran, "{}", ok.transcript);
    let replay = sshd.login(&u.name, PASSWORD, "Verification code:", &c);
    assert!(
        !replay.ran,
        "a replayed code must not log in: {}",
        replay.transcript
    );
    assert!(
        replay.transcript.contains("Permission denied"),
        "{}",
        replay.transcript
    );
    let wrong = sshd.login(&u.name, PASSWORD, "Verification code:", "000000x");
    assert!(!wrong.ran);
    // A wrong password never reaches the code prompt (pam_unix is requisite).
    let bad_pw = sshd.login(&u.name, "nope", "Verification code:", &code(SECRET, 1));
    assert!(!bad_pw.ran);
    assert!(
        !bad_pw.transcript.contains("Verification code"),
        "{}",
        bad_pw.transcript
    );
}

#[test]
fn sshd_unenrolled_users_under_deny_and_ignore() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    let sshd = Sshd::start(&sb, SSHD_PAM, None);
    let denied = sshd.login(&u.name, PASSWORD, "Verification code:", "123456");
    assert!(!denied.ran);
    assert!(
        denied.transcript.contains("Verification code:"),
        "asked like anybody: {}",
        denied.transcript
    );

    sb.write_config("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0");
    let let_through = sshd.login(&u.name, PASSWORD, "Verification code:", "unused");
    assert!(
        let_through.ran,
        "ignore leaves the decision to pam_unix: {}",
        let_through.transcript
    );
    assert!(
        !let_through.transcript.contains("Verification code"),
        "{}",
        let_through.transcript
    );
}

#[test]
fn sshd_lockout_refuses_even_the_right_code() {
    let sb = Sandbox::new("[lockout]\nmax_failures = 2\nseconds = 600");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    let sshd = Sshd::start(&sb, SSHD_PAM, None);
    for _ in 0..2 {
        assert!(
            !sshd
                .login(&u.name, PASSWORD, "Verification code:", "00000x")
                .ran
        );
    }
    let locked = sshd.login(&u.name, PASSWORD, "Verification code:", &code(SECRET, 0));
    assert!(!locked.ran, "{}", locked.transcript);
    assert!(sb.record(&u.name).unwrap().state().locked_until > pam_mfa_e2e::now());
}

#[test]
fn sshd_prompt_follows_the_servers_locale() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    // sshd clears its environment and OpenSSH sends the client's LANG only after
    // authentication, so the prompt follows the system locale.
    let sshd = Sshd::start(&sb, SSHD_PAM, Some("nl_NL.UTF-8"));
    let l = sshd.login(&u.name, PASSWORD, "Verificatiecode:", &code(SECRET, 0));
    assert!(l.ran, "{}", l.transcript);
    assert!(
        l.transcript.contains("Verificatiecode:"),
        "{}",
        l.transcript
    );
}

#[test]
fn sudo_right_code_runs_the_command_wrong_code_does_not() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    let wrong = sudo::run(&sb, &u, SUDO_PAM, &[PASSWORD, "000000x"], &[]);
    assert!(!wrong.ran, "{wrong:?}");
    assert!(wrong.stderr.contains("Verification code:"), "{wrong:?}");
    let ok = sudo::run(&sb, &u, SUDO_PAM, &[PASSWORD, &code(SECRET, 0)], &[]);
    assert!(ok.ran, "{ok:?}");
    let replay = sudo::run(&sb, &u, SUDO_PAM, &[PASSWORD, &code(SECRET, 0)], &[]);
    assert!(!replay.ran, "{replay:?}");
}

#[test]
fn sudo_prompt_in_the_callers_language() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    let ok = sudo::run(
        &sb,
        &u,
        SUDO_PAM,
        &[PASSWORD, &code(SECRET, 0)],
        &[("LANG", "nl_NL.UTF-8")],
    );
    assert!(ok.ran, "{ok:?}");
    assert!(ok.stderr.contains("Verificatiecode:"), "{ok:?}");
}

#[test]
fn sshd_enrollment_at_login_shows_the_qr_code_in_the_prompt() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.write_config(&format!(
        "[policy]\nunenrolled = \"enroll\"\nfail_delay_ms = 0\n[enroll]\nusers = [\"{}\"]\n",
        u.name
    ));
    let sshd = Sshd::start(&sb, SSHD_PAM, None);
    let mut p = sshd.client(&u.name, Some("C.UTF-8"));
    p.exp_string("Password:").expect("password prompt");
    p.send_line(PASSWORD).unwrap();
    let shown = from_pty(
        &p.exp_string("Code shown by the app now:")
            .expect("the code prompt"),
    );
    assert!(
        shown.contains("Your account needs a second factor"),
        "{shown}"
    );
    let key = uri_secret(&qr_in(&shown));
    p.send_line(&oathtool_at(&key, &["--totp"], now())).unwrap();
    // The recovery codes come with a last prompt: sshd shows information only
    // together with a question.
    let codes = from_pty(
        &p.exp_string("Press Enter once the recovery codes are safe:")
            .unwrap(),
    );
    assert!(codes.contains("Recovery codes"), "{codes}");
    p.send_line("").unwrap();
    let rest = from_pty(&p.exp_eof().unwrap_or_default());
    assert!(rest.lines().any(|l| l.trim() == "remote-ok"), "{rest}");
    assert_eq!(
        sb.record(&u.name).unwrap().apps()[0]
            .secret()
            .to_base32()
            .as_str(),
        key
    );
    // The next login is an ordinary one.
    let next = sshd.login(&u.name, PASSWORD, "Verification code:", &code(&key, 1));
    assert!(next.ran, "{}", next.transcript);
    assert!(!next.transcript.contains("QR"));
}

/// sudo's stack with the module's `debug` lines.
const SUDO_PAM_DEBUG: &str = "\
auth requisite pam_unix.so
auth required {module} socket={socket} debug
account required pam_unix.so
session required pam_permit.so";

/// Gives `user` a registered security key besides the code (it is never plugged
/// in: whether the module looks for it is what these tests watch).
fn with_a_key(sb: &Sandbox, user: &str) {
    sb.edit_record(user, |r| {
        r.add_key(KeyCredential {
            name: "blue".into(),
            credential_id: vec![7; 32],
            public_key: PublicKey::EdDsa([9; 32]),
            rp_id: "pam://pam_mfa".into(),
            user_verification: UserVerification::Discouraged,
            pin: false,
            sign_count: 0,
            created: now(),
        })
        .unwrap()
    });
}

#[test]
fn sudo_inside_an_ssh_session_is_remote_the_key_is_not_tried_and_the_code_comes_at_once() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    let recovery = sb.enroll_record(&u.name, SECRET, 2);
    with_a_key(&sb, &u.name);
    let sshd = Sshd::start_with(
        &sb,
        SSHD_PAM,
        &sshd::Options {
            sudo: Some((SUDO_PAM_DEBUG, &u)),
            ..sshd::Options::default()
        },
    );
    // A real ssh login (password, then a recovery code: PAM_RHOST makes it remote),
    // whose command is sudo: no PAM_RHOST there, only the session's environment.
    let mut p = sshd.client_running(&u.name, None, &["sudo", "-S", "echo", "sudo-ran"]);
    p.exp_string("Password:").expect("ssh password prompt");
    p.send_line(PASSWORD).unwrap();
    p.exp_string("Verification code:").expect("ssh code prompt");
    p.send_line(&recovery[0]).unwrap();
    p.exp_string("password for")
        .expect("sudo's password prompt");
    p.send_line(PASSWORD).unwrap();
    let before_code = from_pty(
        &p.exp_string("Verification code:")
            .expect("sudo's code prompt"),
    );
    assert!(
        !before_code.contains("Touch your security key"),
        "{before_code}"
    );
    p.send_line(&code(SECRET, 0)).unwrap();
    let rest = from_pty(&p.exp_eof().unwrap_or_default());
    assert!(rest.lines().any(|l| l.trim() == "sudo-ran"), "{rest}");

    let log = sshd.syslog();
    let sudo_lines: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("pam_mfad[") && l.contains(" service=sudo "))
        .collect();
    assert!(
        sudo_lines
            .iter()
            .any(|l| l.contains("session is remote (SSH_CONNECTION; logind: ")),
        "{log:#?}"
    );
    assert!(
        sudo_lines.iter().any(|l| l.contains(&format!(
            "user={}: security key not tried: the session is remote",
            u.name
        ))),
        "{log:#?}"
    );
    assert!(
        !sudo_lines
            .iter()
            .any(|l| l.contains("security key not used")),
        "the key was never looked for: {log:#?}"
    );
    assert!(
        sudo_lines
            .iter()
            .any(|l| l.contains("second factor accepted (totp)")),
        "{log:#?}"
    );

    // The same sudo outside SSH: local, so the key is looked for (none is plugged
    // in here), then the code.
    let local = sudo::run(&sb, &u, SUDO_PAM_DEBUG, &[PASSWORD, &recovery[1]], &[]);
    assert!(local.ran, "{local:?}");
    assert!(
        local.logged("session is local (no PAM_RHOST, SSH_CONNECTION or SSH_CLIENT; logind: "),
        "{local:?}"
    );
    assert!(
        local.logged(&format!(
            "user={}: security key not used: no security key connected",
            u.name
        )),
        "{local:?}"
    );
}

/// The auth and account lines of the RPM's authselect profile as `authselect
/// select pam_mfa FEATURES` writes system-auth, pam_mfa pointed at the sandbox.
fn authselect_stack(features: &[&str]) -> String {
    let rendered = pam_mfa_e2e::authselect::render(
        &pam_mfa_e2e::authselect::profile_file("system-auth"),
        features,
    );
    let mut stack: String = rendered
        .lines()
        .filter(|l| l.starts_with("auth") || l.starts_with("account"))
        .map(|l| l.replace("pam_mfa.so", "{module} socket={socket}") + "\n")
        .collect();
    stack.push_str("session required pam_permit.so\npassword required pam_deny.so\n");
    stack
}

#[test]
fn sshd_through_the_authselect_profile_asks_for_the_code_only_after_the_password() {
    let sb = Sandbox::new("[policy]\nfail_delay_ms = 0\nrefusal_ms = 0");
    let u = user(&sb);
    // Made before the first login: pam_mfad sees the accounts that exist then.
    let other = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    // With pam_faillock too (two failures stay under its default deny = 3; its
    // tallies of these temporary users are removed at the end).
    let sshd = Sshd::start(
        &sb,
        &authselect_stack(&["with-pam-mfa", "with-faillock"]),
        None,
    );
    let ok = sshd.login(&u.name, PASSWORD, "Verification code:", &code(SECRET, 0));
    assert!(ok.ran, "password then code: {}", ok.transcript);
    let wrong = sshd.login(&u.name, PASSWORD, "Verification code:", "00000x");
    assert!(
        !wrong.ran,
        "a wrong code ends at pam_deny: {}",
        wrong.transcript
    );
    // A wrong password jumps over pam_mfa: never asked, nothing spent or counted,
    // and the pam_permit after it is jumped over too.
    let failures = sb.record(&u.name).unwrap().state().failures;
    let c = code(SECRET, 1);
    let bad_pw = sshd.login(&u.name, "nope", "Verification code:", &c);
    assert!(!bad_pw.ran);
    assert!(
        !bad_pw.transcript.contains("Verification code"),
        "{}",
        bad_pw.transcript
    );
    assert_eq!(sb.record(&u.name).unwrap().state().failures, failures);
    let later = sshd.login(&u.name, PASSWORD, "Verification code:", &c);
    assert!(
        later.ran,
        "the code was not spent: {}\n{:#?}",
        later.transcript,
        sb.syslog()
    );

    // A user pam_mfa lets through (PAM_IGNORE) logs in with the password alone:
    // the pam_permit after pam_mfa ends the stack on pam_unix's success (PAM_IGNORE
    // with `done` would make PAM_IGNORE the stack's result: a refusal).
    sb.write_config("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0\nrefusal_ms = 0");
    let through = sshd.login(&other.name, PASSWORD, "Verification code:", "unused");
    assert!(through.ran, "{}\n{:#?}", through.transcript, sshd.syslog());
    let wrong_pw = sshd.login(&other.name, "nope", "Verification code:", "unused");
    assert!(!wrong_pw.ran, "{}", wrong_pw.transcript);
    for name in [&u.name, &other.name] {
        let _ = std::fs::remove_file(std::path::Path::new("/run/faillock").join(name));
    }
}

#[test]
fn sshd_through_the_authselect_profile_without_the_feature_is_password_only() {
    let sb = Sandbox::new("");
    let u = user(&sb);
    sb.enroll_record(&u.name, SECRET, 0);
    let stack = authselect_stack(&[]);
    assert!(!stack.contains("{module}"), "{stack}");
    let sshd = Sshd::start(&sb, &stack, None);
    let l = sshd.login(&u.name, PASSWORD, "Verification code:", "unused");
    assert!(l.ran, "{}", l.transcript);
    assert!(
        !l.transcript.contains("Verification code"),
        "{}",
        l.transcript
    );
}
