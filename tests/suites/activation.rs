//! The activation journey inside the login: enrollment at login (QR code through
//! the PAM conversation, first code, recovery codes) and out-of-band codes through
//! an admin's delivery command, with real libpam under pam_wrapper.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pam_mfa_e2e::users::TempGroup;
use pam_mfa_e2e::{
    code, from_pty, now, oathtool_at, qr_in, uri_secret, LoginOpts, Sandbox, TempUser, SECRET,
};

fn enroll_config(users: &[&str], groups: &[&str], deadline: &str) -> String {
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[totp]\nissuer = \"Example Corp\"\n[policy]\nunenrolled = \"enroll\"\nfail_delay_ms = 0\n\
         [enroll]\nusers = [{}]\ngroups = [{}]\n{deadline}\n",
        list(users),
        list(groups)
    )
}

/// Walks the enrollment journey: returns the transcript up to the first code
/// prompt and the key the QR code carries.
fn journey_start(chat: &mut pam_mfa_e2e::Chat, user: &str) -> (String, String) {
    let (text, prompt) = chat.until_prompt();
    assert_eq!(
        prompt.as_deref(),
        Some("Code shown by the app now: "),
        "{text}"
    );
    assert!(
        text.contains("Your account needs a second factor"),
        "{text}"
    );
    let uri = qr_in(&text);
    let key = uri_secret(&uri);
    assert_eq!(
        uri,
        format!("otpauth://totp/Example%20Corp:{user}?secret={key}&issuer=Example%20Corp")
    );
    // The same key, typeable.
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(text.contains(&grouped.join(" ")), "{text}");
    (text, key)
}

#[test]
fn an_allowed_user_enrolls_at_login_and_the_next_login_asks_for_a_code() {
    let sb = Sandbox::new(&enroll_config(&["daemon"], &[], ""));
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    let (_, key) = journey_start(&mut chat, "daemon");
    let right = oathtool_at(&key, &["--totp"], now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    chat.answer(wrong);
    let (text, prompt) = chat.until_prompt();
    assert!(text.contains("Tries left: 2"), "{text}");
    assert!(
        sb.record("daemon").is_none(),
        "nothing saved before a code verifies"
    );
    assert_eq!(prompt.as_deref(), Some("Code shown by the app now: "));
    chat.answer(&right);
    let (text, prompt) = chat.until_prompt();
    assert!(text.contains("Recovery codes"), "{text}");
    assert_eq!(
        prompt.as_deref(),
        Some("Press Enter once the recovery codes are safe: ")
    );
    chat.answer("");
    let login = chat.finish();
    assert!(login.ok, "{}", login.transcript);
    assert!(
        login.transcript.contains("Recovery codes"),
        "{}",
        login.transcript
    );
    let codes: Vec<&str> = login
        .transcript
        .lines()
        .map(|l| l.strip_prefix("[4] ").unwrap_or(l).trim())
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .collect();
    assert_eq!(codes.len(), 10, "{}", login.transcript);
    assert!(login.logged("user=daemon: authenticator app \"default\" enrolled at login"));
    assert!(!login
        .syslog
        .iter()
        .any(|(_, l)| l.contains(&key) || l.contains(codes[0])));

    let record = sb.record("daemon").expect("saved");
    assert_eq!(record.apps()[0].secret().to_base32().as_str(), key);

    // From now on an ordinary code prompt; the enrollment code is spent.
    let again = sb.login("daemon", &[&right]);
    assert!(!again.ok);
    assert!(
        again.transcript.contains("Verification code: "),
        "{}",
        again.transcript
    );
    assert!(!again.transcript.contains('█'));
    assert!(
        sb.login("daemon", &[&oathtool_at(&key, &["--totp"], now() + 30)])
            .ok
    );
    // A recovery code shown at enrollment works.
    assert!(sb.login("daemon", &[codes[3]]).ok);
}

#[test]
fn three_wrong_first_codes_save_nothing() {
    let sb = Sandbox::new(&enroll_config(&["daemon"], &[], ""));
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    journey_start(&mut chat, "daemon");
    for _ in 0..3 {
        chat.answer("12345x");
        chat.until_prompt();
    }
    let login = chat.finish();
    assert!(!login.ok);
    assert!(
        login.transcript.contains("nothing was saved"),
        "{}",
        login.transcript
    );
    assert!(sb.record("daemon").is_none());
    assert!(login.logged("enrollment at login abandoned after 3 wrong codes"));
}

#[test]
fn group_members_enroll_others_and_latecomers_are_denied() {
    let sb = Sandbox::new("");
    let member = TempUser::new(&sb.root.join("member"));
    let group = TempGroup::with_member(&member.name);
    sb.write_config(&enroll_config(&[], &[&group.0], ""));

    let mut chat = sb.chat(&member.name, &[], &LoginOpts::default());
    let (_, key) = journey_start(&mut chat, &member.name);
    chat.answer(&oathtool_at(&key, &["--totp"], now()));
    assert!(chat.finish().ok, "a member of {} enrolls", group.0);

    // bin is not in the group: the ordinary prompt, then a denial.
    let mut chat = sb.chat("bin", &[], &LoginOpts::default());
    let (text, prompt) = chat.until_prompt();
    assert_eq!(prompt.as_deref(), Some("Verification code: "), "{text}");
    chat.answer("123456");
    let login = chat.finish();
    assert!(!login.ok);
    assert!(login.logged("enrollment at login not offered: not in enroll.users or enroll.groups"));
    assert!(sb.record("bin").is_none());

    // After the deadline nobody enrolls at login.
    sb.write_config(&enroll_config(&["daemon"], &[], "deadline = 2020-01-31"));
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    let (text, prompt) = chat.until_prompt();
    assert_eq!(prompt.as_deref(), Some("Verification code: "), "{text}");
    chat.answer("123456");
    let login = chat.finish();
    assert!(!login.ok);
    assert!(login.logged("enroll.deadline 2020-01-31 has passed"));
    assert!(sb.record("daemon").is_none());
}

#[test]
fn a_client_that_cannot_show_text_is_refused_without_a_half_enrollment() {
    let sb = Sandbox::new(&enroll_config(&["daemon"], &[], ""));
    for flags in [&["--no-info"][..], &["--silent"][..]] {
        let mut chat = sb.chat("daemon", flags, &LoginOpts::default());
        let (text, prompt) = chat.until_prompt();
        assert_eq!(prompt, None, "no code is asked for: {text}");
        let login = chat.finish();
        assert!(!login.ok, "{flags:?}");
        assert!(login.logged("cannot show text"), "{:?}", login.syslog);
        assert!(sb.record("daemon").is_none());
    }
    // The refusal names a way out where the client shows errors at all.
    let mut chat = sb.chat("daemon", &["--no-info"], &LoginOpts::default());
    chat.until_prompt();
    let login = chat.finish();
    assert!(
        login
            .transcript
            .contains("ask your administrator to enroll you"),
        "{}",
        login.transcript
    );
}

#[test]
fn a_piped_conversation_ends_the_enrollment_without_saving() {
    // Like `sudo -S` fed from a pipe: the conversation ends at the first prompt.
    let sb = Sandbox::new(&enroll_config(&["daemon"], &[], ""));
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    journey_start(&mut chat, "daemon");
    let login = chat.finish();
    assert!(!login.ok);
    assert!(sb.record("daemon").is_none());
    assert!(
        login
            .transcript
            .contains("[3] A second factor must be set up"),
        "{}",
        login.transcript
    );
    assert!(login.logged("conversation ended before a code was typed"));
}

/// A delivery command that files what it gets (and the uid it ran as) under
/// `outbox/`, then lingers a second so the tests can look at it while it runs.
fn delivery_command(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let outbox = sb.root.join("outbox");
    fs::create_dir(&outbox).unwrap();
    fs::set_permissions(&outbox, fs::Permissions::from_mode(0o1777)).unwrap();
    let script = sb.root.join("send-code");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(date +%s%N)\ncat > {0}/$n.tmp\nid -u >> {0}/$n.tmp\n\
             mv {0}/$n.tmp {0}/$n.msg\nsleep 1\n",
            outbox.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, outbox)
}

fn oob_config(script: &Path, lifetime: u32) -> String {
    format!(
        "[oob]\ncommand = \"{}\"\nlifetime_seconds = {lifetime}\nmax_sends = 2\nper_seconds = 3600\n",
        script.display()
    )
}

fn messages(outbox: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = fs::read_dir(outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "msg"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

/// Waits for the `n`th message; returns it.
fn wait_for_message(outbox: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = messages(outbox).get(n - 1) {
            return m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no message {n} in {}",
            outbox.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn field<'a>(message: &'a str, key: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key}= in {message}"))
}

/// Whether some process runs `program` from its descriptor 3, as the module starts
/// the delivery command (the file checked is the file run).
fn running_from_descriptor(program: &Path) -> bool {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            fs::read_link(e.path().join("fd/3")).is_ok_and(|l| l == program)
                && fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("/proc/self/fd/3"))
        })
}

/// Every process's argv and environment, as text.
fn all_argv_and_environments() -> Vec<String> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .flat_map(|e| {
            ["cmdline", "environ"]
                .map(|f| fs::read(e.path().join(f)).unwrap_or_default())
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        })
        .collect()
}

#[test]
fn a_code_by_sms_logs_in_once_expires_and_is_rate_limited() {
    let sb = Sandbox::new("");
    let (script, outbox) = delivery_command(&sb);
    sb.write_config(&oob_config(&script, 60));
    sb.enroll_record("daemon", SECRET, 0);
    let set = sb.cli(&["contact", "--user", "daemon", "--phone", "+31 6 1234 5678"]);
    assert!(set.ok(), "{set:?}");

    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    let (_, prompt) = chat.until_prompt();
    assert_eq!(
        prompt.as_deref(),
        Some("Verification code (or Enter for a code by SMS or e-mail): ")
    );
    chat.answer("");
    let message = wait_for_message(&outbox, 1);
    let sent = field(&message, "code").to_owned();
    // While the command still runs, the code is in no process's argv or environment.
    let seen = all_argv_and_environments();
    assert!(
        running_from_descriptor(&script),
        "the delivery command was running (from the descriptor of the file checked) while we looked"
    );
    assert!(!seen
        .iter()
        .any(|s| s.contains(&format!("={sent}")) || s.contains(&format!(" {sent}"))));
    assert_eq!(field(&message, "to"), "+31612345678");
    assert_eq!(field(&message, "channel"), "sms");
    assert_eq!(field(&message, "user"), "daemon");
    assert_eq!(sent.len(), 6);
    assert!(field(&message, "message").contains(&sent));
    assert_eq!(
        message.lines().last(),
        Some("65534"),
        "runs as nobody: {message}"
    );
    let (text, prompt) = chat.until_prompt();
    assert!(
        text.contains("A code was sent to +31*******78; it expires in 1 min."),
        "{text}"
    );
    assert_eq!(prompt.as_deref(), Some("Verification code: "));
    chat.answer(&sent);
    let first = chat.finish();
    assert!(first.ok, "{}", first.transcript);
    assert!(
        first.logged("user=daemon: one-time code sent by sms to +31*******78"),
        "{:?} {:?}",
        first.syslog,
        first.wrapper
    );
    assert!(first.logged("second factor accepted (code sent out of band)"));

    // The same code again fails.
    let again = sb.login("daemon", &[&sent]);
    assert!(!again.ok);

    // A code used after its lifetime fails.
    sb.write_config(&oob_config(&script, 1));
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    chat.until_prompt();
    chat.answer("send");
    let late = field(&wait_for_message(&outbox, 2), "code").to_owned();
    chat.until_prompt();
    std::thread::sleep(Duration::from_millis(2100));
    chat.answer(&late);
    let expired = chat.finish();
    assert!(!expired.ok, "{}", expired.transcript);

    // Two sends per hour: the third request is refused and nothing is sent.
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    chat.until_prompt();
    chat.answer("");
    let (text, _) = chat.until_prompt();
    assert!(text.contains("Too many codes were sent"), "{text}");
    chat.answer(&code(SECRET, 0));
    let limited = chat.finish();
    assert!(limited.ok, "the app still works: {}", limited.transcript);
    assert!(limited.logged("rate limit of 2 per 3600 s reached"));
    assert_eq!(messages(&outbox).len(), 2);

    // No log line anywhere carries a code.
    for login in [&first, &again, &expired, &limited] {
        for (_, line) in &login.syslog {
            assert!(!line.contains(&sent) && !line.contains(&late), "{line}");
        }
    }
}

#[test]
fn an_application_that_ignores_sigchld_still_learns_that_the_code_was_sent() {
    let sb = Sandbox::new("");
    let (script, outbox) = delivery_command(&sb);
    sb.write_config(&oob_config(&script, 60));
    sb.enroll_record("daemon", SECRET, 0);
    assert!(sb
        .cli(&["contact", "--user", "daemon", "--phone", "+31612345678"])
        .ok());
    let opts = LoginOpts {
        env: vec![("PAM_DRIVER_IGNORE_SIGCHLD", "1")],
        ..LoginOpts::default()
    };
    let mut chat = sb.chat("daemon", &[], &opts);
    chat.until_prompt();
    chat.answer("");
    let sent = field(&wait_for_message(&outbox, 1), "code").to_owned();
    let (text, prompt) = chat.until_prompt();
    assert!(text.contains("A code was sent to"), "{text}");
    assert_eq!(prompt.as_deref(), Some("Verification code: "));
    chat.answer(&sent);
    let login = chat.finish();
    assert!(login.ok, "{}", login.transcript);
    assert!(!login.logged("not delivered"), "{:?}", login.syslog);
}

#[test]
fn a_delivery_command_behind_a_writable_directory_is_not_run() {
    let sb = Sandbox::new("");
    let (script, outbox) = delivery_command(&sb);
    // The command sits in a directory anyone may write: its file could be swapped.
    let open_dir = sb.root.join("open");
    fs::create_dir(&open_dir).unwrap();
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let exposed = open_dir.join("send-code");
    fs::copy(&script, &exposed).unwrap();
    sb.write_config(&oob_config(&exposed, 60));
    sb.enroll_record("daemon", SECRET, 0);
    assert!(sb
        .cli(&["contact", "--user", "daemon", "--phone", "+31612345678"])
        .ok());
    let mut chat = sb.chat("daemon", &[], &LoginOpts::default());
    chat.until_prompt();
    chat.answer("");
    let (text, _) = chat.until_prompt();
    assert!(!text.contains("A code was sent"), "{text}");
    chat.answer("000000");
    let login = chat.finish();
    assert!(!login.ok);
    assert!(
        login.logged(&format!("{}: mode 0777 is insecure", open_dir.display())),
        "{:?}",
        login.syslog
    );
    assert!(messages(&outbox).is_empty());
}

#[test]
fn contacts_are_set_verified_listed_and_removed_with_the_cli() {
    let sb = Sandbox::new("");
    let (script, outbox) = delivery_command(&sb);
    sb.write_config(&oob_config(&script, 300));
    sb.enroll_record("daemon", SECRET, 0);

    let bad = sb.cli(&["contact", "--user", "daemon", "--phone", "0612345678"]);
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(
        bad.stderr
            .contains("not a phone number in international form"),
        "{}",
        bad.stderr
    );

    let mut p = sb.cli_pty(
        &[
            "contact",
            "--user",
            "daemon",
            "--email",
            "Daemon@Example.ORG",
            "--verify",
        ],
        &[],
    );
    p.exp_string("Code received: ").unwrap();
    let sent = field(&wait_for_message(&outbox, 1), "code").to_owned();
    assert_eq!(field(&messages(&outbox)[0], "to"), "Daemon@example.org");
    p.send_line("000").unwrap();
    p.exp_string("Tries left: 2").unwrap();
    p.send_line(&sent).unwrap();
    let rest = from_pty(&p.exp_eof().unwrap());
    assert!(
        rest.contains("Codes for daemon go by email to Daemon@example.org."),
        "{rest}"
    );
    let list = sb.cli(&["list", "--user", "daemon"]);
    assert!(
        list.stdout
            .contains("codes by email to Daemon@example.org, verified"),
        "{}",
        list.stdout
    );
    let json = sb.cli(&["list", "--user", "daemon", "--json"]);
    assert!(
        json.stdout.contains("\"channel\": \"email\""),
        "{}",
        json.stdout
    );
    assert!(json.syslog.is_empty() || !json.syslog.iter().any(|l| l.contains(&sent)));

    let removed = sb.cli(&["contact", "--user", "daemon", "--remove"]);
    assert!(removed.ok(), "{removed:?}");
    assert!(sb.record("daemon").unwrap().contact().is_none());
    assert!(
        sb.record("daemon").unwrap().apps().len() == 1,
        "only the contact went"
    );
}

#[test]
fn interactive_enrollment_ends_with_a_verified_contact() {
    let sb = Sandbox::new("");
    let (script, outbox) = delivery_command(&sb);
    sb.write_config(&oob_config(&script, 300));
    let mut p = sb.cli_pty(&["enroll", "totp", "--user", "daemon"], &[]);
    let shown = from_pty(&p.exp_string("Code shown by the app now: ").unwrap());
    let key = shown
        .lines()
        .find_map(|l| l.split_once("by hand (time-based): "))
        .map(|(_, k)| k.replace(' ', ""))
        .expect("the key");
    p.send_line(&code(&key, 0)).unwrap();
    p.exp_string("3. Recovery codes").unwrap();
    p.exp_string("Leave empty to skip: ").unwrap();
    p.send_line("+1 (555) 010-9999").unwrap();
    p.exp_string("Code received: ").unwrap();
    let sent = field(&wait_for_message(&outbox, 1), "code").to_owned();
    p.send_line(&sent).unwrap();
    let rest = from_pty(&p.exp_eof().unwrap());
    assert!(
        rest.contains("Codes for daemon go by sms to +15550109999."),
        "{rest}"
    );
    assert!(rest.contains("Done."), "{rest}");
    let record = sb.record("daemon").unwrap();
    assert!(record.apps().len() == 1);
    let contact = record.contact().unwrap();
    assert_eq!(contact.address(), "+15550109999");
    assert!(contact.verified().is_some());
}
