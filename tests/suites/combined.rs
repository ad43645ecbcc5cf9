//! Password and code in one answer, for clients with a single field: the release
//! module under real libpam (pam_wrapper) with the real pam_unix checking a real
//! shadow entry, pam_driver as a client that answers every prompt with the same
//! text, a real sshd and ssh client; codes from oathtool.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pam_mfa_e2e::sshd::Sshd;
use pam_mfa_e2e::{code, Login, LoginOpts, Sandbox, TempUser, SECRET};

const PASSWORD: &str = "correct-Horse-9";

/// The stack of conf/pam.d/combined, with the sandbox's module and socket.
const COMBINED: &str = "\
auth requisite {module} socket={socket} combined
auth requisite pam_unix.so use_first_pass
auth required {module} socket={socket}
account required {module} socket={socket}
account required pam_unix.so";

/// The same for `[policy] prompt = \"combined\"`: no module argument.
const BY_CONFIG: &str = "\
auth requisite {module} socket={socket}
auth requisite pam_unix.so use_first_pass
auth required {module} socket={socket}
account required {module} socket={socket}
account required pam_unix.so";

/// An admin's mistake: the line that checks the code is missing.
const NO_SECOND_LINE: &str = "\
auth requisite {module} socket={socket} combined
auth requisite pam_unix.so use_first_pass
account required pam_unix.so";

/// The same mistake, with the account line of conf/pam.d/combined.
const NO_SECOND_LINE_WITH_ACCOUNT: &str = "\
auth requisite {module} socket={socket} combined
auth requisite pam_unix.so use_first_pass
account required {module} socket={socket}
account required pam_unix.so";

const PROMPT: &str = "Password and verification code: ";

/// conf/pam.d/combined as shipped (its @include lines are the machine's, in
/// sshd's private copy of /etc/pam.d), with `edit` applied, pointed at the
/// sandbox's module and daemon.
fn shipped(edit: impl Fn(String) -> String) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/pam.d/combined");
    let text = edit(std::fs::read_to_string(path).unwrap());
    text.replace("pam_mfa.so", "{module} socket={socket}")
}

/// A sandbox, a real account with [`PASSWORD`] enrolled with [`SECRET`] (and
/// `recovery` recovery codes), and the service "combined" with `stack`.
fn setup(config: &str, stack: &str, recovery: usize) -> (Sandbox, TempUser, Vec<String>) {
    let sb = Sandbox::new(config);
    let user = TempUser::with_password(&sb.root.join("home"), PASSWORD);
    let codes = sb.enroll_record(&user.name, SECRET, recovery);
    sb.pam_service("combined", stack);
    (sb, user, codes)
}

fn opts() -> LoginOpts<'static> {
    LoginOpts {
        service: Some("combined"),
        ..LoginOpts::default()
    }
}

/// One login as a one-field client: every prompt gets `answer`; after a success
/// pam_acct_mgmt and pam_setcred run, as in a login program.
fn one_field(sb: &Sandbox, user: &TempUser, answer: &str) -> Login {
    sb.drive_with(
        &user.name,
        answer.as_bytes(),
        &["--account", "--setcred", "--env"],
        &opts(),
    )
}

/// The prompts the client saw (pam_driver prints them as `[1] text`).
fn prompts(l: &Login) -> Vec<&str> {
    l.transcript
        .lines()
        .filter_map(|line| line.strip_prefix("[1] "))
        .collect()
}

/// Neither the password nor `code` in any log line or in the PAM environment
/// (`env:` lines of [`one_field`]).
fn no_secret_logged(l: &Login, code: &str) {
    for (_, line) in &l.syslog {
        assert!(!line.contains(PASSWORD), "password logged: {line}");
        assert!(!line.contains(code), "code logged: {line}");
    }
    for line in l.transcript.lines().filter(|l| l.starts_with("env: ")) {
        assert!(
            !line.contains(PASSWORD) && !line.contains(code),
            "in the PAM environment: {line}"
        );
    }
}

#[test]
fn a_one_field_client_logs_in_with_password_and_code_in_one_answer() {
    let (sb, user, _) = setup("", COMBINED, 0);
    let c = code(SECRET, 0);
    let l = one_field(&sb, &user, &format!("{PASSWORD}{c}"));
    assert!(l.ok, "{l:?}");
    assert_eq!(prompts(&l), [PROMPT], "one prompt, nothing else: {l:?}");
    assert!(l.transcript.contains("account=0") && l.transcript.contains("setcred=0"));
    assert!(
        l.logged(&format!(
            "user={}: second factor accepted (totp)",
            user.name
        )),
        "{:?}",
        l.syslog
    );
    no_secret_logged(&l, &c);
    let step = sb.record(&user.name).unwrap().apps()[0].last_step();
    assert!(step.is_some(), "the code is spent");

    // The same answer again: the code is a replay.
    let again = one_field(&sb, &user, &format!("{PASSWORD}{c}"));
    assert!(!again.ok, "{again:?}");
    assert_eq!(prompts(&again), [PROMPT]);
    assert!(
        again.logged("replayed totp code refused"),
        "{:?}",
        again.syslog
    );
}

#[test]
fn a_wrong_password_with_the_right_code_is_refused_and_the_code_is_not_spent() {
    let (sb, user, _) = setup("", COMBINED, 0);
    let c = code(SECRET, 0);
    let l = one_field(&sb, &user, &format!("wrong-Horse-9{c}"));
    assert!(!l.ok, "{l:?}");
    assert!(l.transcript.contains("result=7 "), "PAM_AUTH_ERR: {l:?}");
    assert_eq!(prompts(&l), [PROMPT], "pam_unix asked nothing more: {l:?}");
    // The second line never ran: nothing checked, counted or spent.
    assert!(
        !l.syslog
            .iter()
            .any(|(_, m)| m.contains("second factor") || m.contains("wrong code")),
        "{:?}",
        l.syslog
    );
    let record = sb.record(&user.name).unwrap();
    assert_eq!(record.state().failures, 0);
    assert_eq!(record.apps()[0].last_step(), None);
    no_secret_logged(&l, &c);

    // Proof: the same code still logs in with the right password.
    let l = one_field(&sb, &user, &format!("{PASSWORD}{c}"));
    assert!(l.ok, "the code was not spent: {l:?}");
}

/// One login over a raw connection to `socket`: the frame of `login` (JSON),
/// then the frames the daemon sends until it closes (at most `max`), as text.
fn raw_login(socket: &std::path::Path, login: &str, max: usize) -> Vec<String> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&(login.len() as u32).to_be_bytes()).unwrap();
    s.write_all(login.as_bytes()).unwrap();
    let mut frames = vec![];
    while frames.len() < max {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            break;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        frames.push(String::from_utf8(body).unwrap());
    }
    frames
}

fn login_json(version: u32, user: &str, combined: Option<&str>) -> String {
    let user: Vec<String> = user.bytes().map(|b| b.to_string()).collect();
    format!(
        r#"{{"type":"login","version":{version},"user":[{}],"service":"vpn","rhost":"","tty":"","ruser":"","locale":"nl_NL.UTF-8","ssh":[],"require_key":false,"silent":false,"debug":false{}}}"#,
        user.join(","),
        combined.map_or(String::new(), |c| format!(r#","combined":"{c}""#))
    )
}

#[test]
fn the_daemon_answers_a_first_line_with_the_prompt_and_nothing_else() {
    let sb = Sandbox::new("[totp]\ndigits = 8");
    sb.enroll_record("alice", SECRET, 0);
    let daemon = sb.start_daemon();
    let split = r#"{"type":"split","text":"Wachtwoord en verificatiecode: ","digits":8}"#;
    // The module argument: the prompt text and the code length, then the end of
    // the connection; the same for an enrolled user, an unenrolled one and a name
    // nobody has.
    for user in ["alice", "bob", "nosuchuser"] {
        assert_eq!(
            raw_login(&daemon.socket, &login_json(2, user, Some("split")), 9),
            [split],
            "{user}"
        );
    }
    assert_eq!(sb.record("alice").unwrap().state().failures, 0);
    assert!(sb.record("bob").is_none());
    // Without the argument, a separate login: the code prompt.
    let frames = raw_login(&daemon.socket, &login_json(2, "bob", None), 1);
    assert!(frames[0].contains("Verificatiecode"), "{frames:?}");

    // With `[policy] prompt = "combined"` the daemon splits a plain login too,
    // and refuses a version 1 module, which could not.
    sb.write_config(
        "[totp]\ndigits = 8\n[policy]\nprompt = \"combined\"\nfail_delay_ms = 0\nrefusal_ms = 0",
    );
    drop(daemon);
    let daemon = sb.start_daemon();
    assert_eq!(
        raw_login(&daemon.socket, &login_json(2, "alice", None), 9),
        [split]
    );
    let old = raw_login(&daemon.socket, &login_json(1, "alice", None), 9);
    assert_eq!(
        old,
        [r#"{"type":"verdict","verdict":"service_error","fail_delay_ms":0}"#]
    );
    // Syslog lines reach the harness through a reader thread: wait for it.
    assert!(
        daemon.wait_for_log("needs a pam_mfa.so of protocol 2 or later"),
        "{:?}",
        daemon.log()
    );
}

#[test]
fn the_first_line_reads_no_store() {
    let (sb, user, _) = setup("", COMBINED, 0);
    // A store pam_mfad refuses to use: any access to it fails and says so.
    std::fs::set_permissions(&sb.store, std::fs::Permissions::from_mode(0o777)).unwrap();
    let c = code(SECRET, 0);
    let l = one_field(&sb, &user, &format!("nope{c}"));
    assert!(
        l.transcript.contains("result=7 "),
        "pam_unix refused: {l:?}"
    );
    assert_eq!(prompts(&l), [PROMPT]);
    assert!(!l.logged("store directory"), "{:?}", l.syslog);
    // The second line is the first to reach the store.
    let l = one_field(&sb, &user, &format!("{PASSWORD}{c}"));
    assert!(
        l.transcript.contains("result=9 "),
        "PAM_AUTHINFO_UNAVAIL: {l:?}"
    );
    assert!(l.logged("store directory"), "{:?}", l.syslog);
    std::fs::set_permissions(&sb.store, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_retry_on_the_same_handle_never_checks_the_code_of_the_failed_attempt() {
    let (sb, user, _) = setup("", COMBINED, 0);
    let new = code(SECRET, 0);
    // login(1) asks again on the same PAM handle after a wrong password. The
    // first attempt's kept code (wrong here) must not be taken for the second's.
    let l = sb.drive_again(
        &user.name,
        b"nope000000",
        format!("{PASSWORD}{new}").as_bytes(),
        &["--account", "--setcred", "--env"],
        &opts(),
    );
    assert!(l.ok, "{l:?}");
    assert!(l.transcript.contains("first=7 "), "{l:?}");
    assert_eq!(
        prompts(&l),
        [PROMPT, PROMPT],
        "asked once per attempt: {l:?}"
    );
    assert_eq!(sb.record(&user.name).unwrap().state().failures, 0);
    no_secret_logged(&l, &new);

    // A wrong code kept by the second attempt fails; the first attempt's right
    // code (typed with a wrong password) is not tried in its place.
    let fresh = code(SECRET, 1);
    let l = sb.drive_again(
        &user.name,
        format!("nope{fresh}").as_bytes(),
        format!("{PASSWORD}000000").as_bytes(),
        &[],
        &opts(),
    );
    assert!(!l.ok, "{l:?}");
    assert!(l.logged("wrong code"), "{:?}", l.syslog);
    assert!(one_field(&sb, &user, &format!("{PASSWORD}{fresh}")).ok);
}

#[test]
fn a_password_ending_in_digits_keeps_them() {
    let sb = Sandbox::new("");
    let user = TempUser::with_password(&sb.root.join("home"), "Summer2024");
    sb.enroll_record(&user.name, SECRET, 0);
    sb.pam_service("combined", COMBINED);
    let l = one_field(&sb, &user, &format!("Summer2024{}", code(SECRET, 0)));
    assert!(l.ok, "the code is the last six digits: {l:?}");
}

#[test]
fn an_unenrolled_user_is_asked_alike_and_refused() {
    let sb = Sandbox::new("");
    let user = TempUser::with_password(&sb.root.join("home"), PASSWORD);
    sb.pam_service("combined", COMBINED);
    let l = one_field(&sb, &user, &format!("{PASSWORD}{}", code(SECRET, 0)));
    assert!(!l.ok, "{l:?}");
    assert_eq!(
        prompts(&l),
        [PROMPT],
        "the same prompt as for anybody: {l:?}"
    );
    assert!(
        l.logged("no second factor enrolled, denied"),
        "{:?}",
        l.syslog
    );
    assert!(sb.record(&user.name).is_none());
}

#[test]
fn the_right_password_without_a_code_is_refused_without_a_second_prompt() {
    let (sb, user, _) = setup("", COMBINED, 0);
    let l = one_field(&sb, &user, PASSWORD);
    assert!(!l.ok, "{l:?}");
    assert!(l.transcript.contains("result=7 "), "PAM_AUTH_ERR: {l:?}");
    assert_eq!(prompts(&l), [PROMPT], "never asked again: {l:?}");
    let record = sb.record(&user.name).unwrap();
    assert_eq!(record.apps()[0].last_step(), None, "nothing spent");
    // As a separate login answering the code prompt with nothing: one failure.
    assert_eq!(record.state().failures, 1);
    assert!(
        l.logged("wrong code (1 consecutive failures)"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn the_right_password_with_a_wrong_code_is_refused_and_counted() {
    let (sb, user, _) = setup("[lockout]\nmax_failures = 2\nseconds = 600", COMBINED, 0);
    // Five steps away: outside the window, still six digits.
    let stale = code(SECRET, -5);
    let l = one_field(&sb, &user, &format!("{PASSWORD}{stale}"));
    assert!(!l.ok, "{l:?}");
    assert_eq!(prompts(&l), [PROMPT]);
    assert_eq!(sb.record(&user.name).unwrap().state().failures, 1);
    assert!(
        l.logged("wrong code (1 consecutive failures)"),
        "{:?}",
        l.syslog
    );
    no_secret_logged(&l, &stale);
    // Lockout as in a separate login: the second failure locks, then even the
    // right code is refused.
    assert!(!one_field(&sb, &user, &format!("{PASSWORD}{stale}")).ok);
    let locked = one_field(&sb, &user, &format!("{PASSWORD}{}", code(SECRET, 0)));
    assert!(!locked.ok, "{locked:?}");
    assert!(sb.record(&user.name).unwrap().state().locked_until > pam_mfa_e2e::now());
}

#[test]
fn a_recovery_code_after_the_password_logs_in_once() {
    let (sb, user, codes) = setup("", COMBINED, 3);
    let l = one_field(&sb, &user, &format!("{PASSWORD}{}", codes[0]));
    assert!(l.ok, "{l:?}");
    assert!(l.logged("recovery code, 2 left"), "{:?}", l.syslog);
    no_secret_logged(&l, &codes[0]);
    let again = one_field(&sb, &user, &format!("{PASSWORD}{}", codes[0]));
    assert!(!again.ok, "a recovery code works once: {again:?}");
    // The wrong password in front of an unused one spends nothing.
    let bad = one_field(&sb, &user, &format!("nope{}", codes[1]));
    assert!(!bad.ok);
    let good = one_field(&sb, &user, &format!("{PASSWORD}{}", codes[1]));
    assert!(good.ok, "{good:?}");
    assert!(good.logged("recovery code, 1 left"), "{:?}", good.syslog);
}

#[test]
fn without_the_second_line_only_the_account_line_stops_the_password() {
    let (sb, user, _) = setup("", NO_SECOND_LINE_WITH_ACCOUNT, 0);
    let c = code(SECRET, 0);
    // pam_authenticate passes (pam_unix alone decided); pam_acct_mgmt refuses.
    let l = one_field(&sb, &user, &format!("{PASSWORD}000000"));
    assert!(!l.ok, "{l:?}");
    assert!(l.transcript.contains("result=0 "), "{l:?}");
    assert!(
        l.transcript.contains("account=6 "),
        "PAM_PERM_DENIED: {l:?}"
    );
    assert!(
        !l.transcript.contains("setcred="),
        "never got that far: {l:?}"
    );
    assert!(
        l.logged(
            "pam_acct_mgmt refused: the verification code typed with the password was never checked"
        ),
        "{:?}",
        l.syslog
    );
    // Why conf/pam.d/combined has that account line: pam_setcred cannot stand in
    // for it. libpam replays the chain pam_authenticate froze and ignores the
    // setcred result of a line whose authentication returned PAM_IGNORE, so
    // without the line the password alone gets in.
    sb.pam_service("combined", NO_SECOND_LINE);
    let l = one_field(&sb, &user, &format!("{PASSWORD}000000"));
    assert!(l.ok, "libpam changed: pam_setcred could guard now: {l:?}");
    assert!(l.transcript.contains("setcred=0 "), "{l:?}");
    // Nothing was checked, so nothing was spent or counted.
    let record = sb.record(&user.name).unwrap();
    assert_eq!(record.apps()[0].last_step(), None);
    assert_eq!(record.state().failures, 0);
    sb.pam_service("combined", COMBINED);
    assert!(one_field(&sb, &user, &format!("{PASSWORD}{c}")).ok);
}

#[test]
fn policy_prompt_combined_asks_once_without_the_module_argument() {
    let (sb, user, _) = setup(
        "[policy]\nprompt = \"combined\"\nfail_delay_ms = 0\nrefusal_ms = 0",
        BY_CONFIG,
        0,
    );
    let c = code(SECRET, 0);
    let l = one_field(&sb, &user, &format!("{PASSWORD}{c}"));
    assert!(l.ok, "{l:?}");
    assert_eq!(prompts(&l), [PROMPT]);
    let bad = one_field(&sb, &user, &format!("nope{}", code(SECRET, 1)));
    assert!(!bad.ok);
    assert_eq!(sb.record(&user.name).unwrap().state().failures, 0);

    // A stack that asks for the password first does not fit: refused, not let
    // through on the password.
    sb.pam_service(
        "combined",
        "auth requisite pam_unix.so\nauth required {module} socket={socket}",
    );
    let l = one_field(&sb, &user, PASSWORD);
    assert!(!l.ok, "{l:?}");
    assert!(l.transcript.contains("result=3 "), "PAM_SERVICE_ERR: {l:?}");
    assert!(
        l.logged("a module before this line already asked for the password"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn the_prompt_follows_the_locale_and_the_sites_wording() {
    let (sb, user, _) = setup("", COMBINED, 0);
    let dutch = LoginOpts {
        env: vec![("LANG", "nl_NL.UTF-8")],
        ..opts()
    };
    let l = sb.drive_with(
        &user.name,
        format!("{PASSWORD}{}", code(SECRET, 0)).as_bytes(),
        &[],
        &dutch,
    );
    assert!(l.ok, "{l:?}");
    assert_eq!(prompts(&l), ["Wachtwoord en verificatiecode: "]);

    sb.write_config("[prompt]\ncombined.en = \"Password+OTP: \"");
    let l = one_field(&sb, &user, &format!("{PASSWORD}{}", code(SECRET, 1)));
    assert!(l.ok, "{l:?}");
    assert_eq!(prompts(&l), ["Password+OTP: "]);
}

#[test]
fn an_exempt_user_types_the_password_alone() {
    let sb = Sandbox::new("");
    let user = TempUser::with_password(&sb.root.join("home"), PASSWORD);
    sb.write_config(&format!(
        "[policy]\nexempt_users = [\"{}\"]\nfail_delay_ms = 0\nrefusal_ms = 0",
        user.name
    ));
    sb.pam_service("combined", COMBINED);
    let l = one_field(&sb, &user, PASSWORD);
    assert!(l.ok, "{l:?}");
    assert_eq!(prompts(&l), [PROMPT], "asked like anybody: {l:?}");
    assert!(!one_field(&sb, &user, "wrong-Horse-9").ok);
}

#[test]
fn sshd_one_answer_logs_in_and_a_wrong_password_spends_nothing() {
    let sb = Sandbox::new("");
    let user = TempUser::with_password(&sb.root.join("home"), PASSWORD);
    sb.enroll_record(&user.name, SECRET, 0);
    let sshd = Sshd::start(&sb, &shipped(|text| text), None);
    let c = code(SECRET, 0);
    let bad = sshd.login_once(&user.name, PROMPT.trim_end(), &format!("nope{c}"));
    assert!(!bad.ran, "{}", bad.transcript);
    assert!(
        !bad.transcript.contains("[second prompt]"),
        "{}",
        bad.transcript
    );
    assert_eq!(sb.record(&user.name).unwrap().state().failures, 0);
    let ok = sshd.login_once(&user.name, PROMPT.trim_end(), &format!("{PASSWORD}{c}"));
    assert!(ok.ran, "the same code, not spent before: {}", ok.transcript);
    assert!(
        sshd.syslog()
            .iter()
            .any(|l| l.contains("second factor accepted (totp)")),
        "{:?}",
        sshd.syslog()
    );
    let replay = sshd.login_once(&user.name, PROMPT.trim_end(), &format!("{PASSWORD}{c}"));
    assert!(!replay.ran, "{}", replay.transcript);
    let none = sshd.login_once(&user.name, PROMPT.trim_end(), PASSWORD);
    assert!(!none.ran, "{}", none.transcript);
    assert!(
        !none.transcript.contains("[second prompt]"),
        "{}",
        none.transcript
    );
}

#[test]
fn sshd_without_the_second_line_does_not_let_the_password_in() {
    let sb = Sandbox::new("");
    let user = TempUser::with_password(&sb.root.join("home"), PASSWORD);
    sb.enroll_record(&user.name, SECRET, 0);
    // The shipped file without its third line: only the account line guards.
    let pam = shipped(|text| {
        let second = "auth       required     pam_mfa.so\n";
        assert!(text.contains(second));
        text.replace(second, "")
    });
    let sshd = Sshd::start(&sb, &pam, None);
    let l = sshd.login_once(&user.name, PROMPT.trim_end(), &format!("{PASSWORD}000000"));
    assert!(!l.ran, "{}", l.transcript);
    assert!(
        sshd.syslog().iter().any(|l| l
            .contains("refused: the verification code typed with the password was never checked")),
        "{:?}",
        sshd.syslog()
    );
}
