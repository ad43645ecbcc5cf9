//! Self-service: the release `mfa-token` run by a sandbox user (alice, uid 61000)
//! talks to the sandbox's pam_mfad: status, enroll totp, enroll key (the virtual
//! key), recovery, for the
//! caller's own account only. Codes come from oathtool; the new key is read back
//! from what the daemon drew (the QR code and the grouped key); logins after an
//! enrollment go through the module under real libpam.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pam_mfa_e2e::vkey::VirtualKey;
use pam_mfa_e2e::{artifacts, code, qr_in, uri_secret, LoginOpts, Run, Sandbox, SECRET};

const ALICE: u32 = 61000;
const BOB: u32 = 61001;
/// The confirmation prompt of a new enrollment.
const CONFIRM: &str = "Code shown by the app now: ";
/// The code prompt of a login (the current second factor).
const CODE: &str = "Verification code: ";

fn admitting(users: &[&str]) -> String {
    let users: Vec<String> = users.iter().map(|u| format!("{u:?}")).collect();
    format!("[enroll]\nusers = [{}]\n", users.join(", "))
}

/// `mfa-token --socket <the sandbox's> args` as `uid`, without input.
fn as_user(sb: &Sandbox, uid: u32, args: &[&str]) -> Run {
    // The sandbox's pam_mfad starts with the first login, or here.
    sb.daemon_mark();
    let socket = sb.socket();
    let mut all = vec!["--socket", socket.to_str().unwrap()];
    all.extend(args);
    sb.cli_as(uid, &all)
}

fn logged(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// An interactive `mfa-token --socket <the sandbox's> args` as `uid` (in English
/// unless `lang` names a locale): `answer` is
/// called with what was shown on stdout so far and each prompt, and returns the
/// line to type (`None` closes the input). The user's command needs no view of the
/// sandbox's accounts (the daemon resolves the caller), so it runs under setpriv
/// only; `cli_as` in the harness takes no input.
fn converse(
    sb: &Sandbox,
    uid: u32,
    args: &[&str],
    answer: impl FnMut(&str, &str) -> Option<String>,
) -> Run {
    converse_in(sb, uid, None, args, answer)
}

fn converse_in(
    sb: &Sandbox,
    uid: u32,
    lang: Option<&str>,
    args: &[&str],
    answer: impl FnMut(&str, &str) -> Option<String>,
) -> Run {
    sb.daemon_mark();
    converse_at(&sb.socket(), uid, lang, args, answer)
}

/// [`converse_in`] with the pam_mfad at `socket`.
fn converse_at(
    socket: &std::path::Path,
    uid: u32,
    lang: Option<&str>,
    args: &[&str],
    mut answer: impl FnMut(&str, &str) -> Option<String>,
) -> Run {
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(&artifacts().cli)
        .arg("--socket")
        .arg(socket)
        .args(args)
        // A session at this machine (the key step asks).
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_CLIENT")
        .env_remove("SSH_TTY")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .envs(lang.map(|l| ("LANG", l)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mfa-token");
    let collect = |mut from: Box<dyn Read + Send>| {
        let text = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        text
    };
    let out = collect(Box::new(child.stdout.take().unwrap()));
    let err = collect(Box::new(child.stderr.take().unwrap()));
    let text = |t: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&t.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take();
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "mfa-token hangs: {}", text(&err));
        let stderr = text(&err);
        // A prompt is printed without a newline and waits for one.
        let tail = stderr.rsplit('\n').next().unwrap_or("");
        if stderr.len() > answered && tail.ends_with(": ") {
            answered = stderr.len();
            match (answer(&text(&out), tail), stdin.as_mut()) {
                (Some(line), Some(input)) => {
                    input.write_all(format!("{line}\n").as_bytes()).unwrap();
                }
                _ => drop(stdin.take()),
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the readers drain what is left.
    std::thread::sleep(Duration::from_millis(100));
    Run {
        code: status.code(),
        stdout: text(&out),
        stderr: text(&err),
        syslog: vec![],
    }
}

/// The key the daemon showed to type by hand, without the grouping spaces.
fn shown_key(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split_once("by hand (time-based): "))
        .map(|(_, key)| key.replace(' ', ""))
        .unwrap_or_else(|| panic!("no key shown in {stdout}"))
}

/// The recovery codes shown (indented lines after their introduction).
fn shown_codes(stdout: &str, intro: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.contains(intro))
        .skip(1)
        .take_while(|l| l.starts_with("   ") && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn status_shows_your_own_state_and_no_secret() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 3);
    let mark = sb.daemon_mark();
    let o = as_user(&sb, ALICE, &["status"]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "alice\n",
        "authenticator app \"default\": SHA1, 6 digits, 30 s per code",
        "recovery codes: 3 unused",
        "failed attempts in a row: 0",
        "not locked out",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    assert!(!o.stdout.contains(SECRET) && !o.stderr.contains(SECRET));

    // One wrong code: the failure shows; --json for scripts, still no secret.
    assert!(!sb.login("alice", &["000000"]).ok);
    let o = as_user(&sb, ALICE, &["status", "--json"]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "\"user\": \"alice\"",
        "\"failures\": 1",
        "\"unused\": 3",
        "\"locked_until\": null",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    assert!(!o.stdout.contains(SECRET));

    let o = as_user(&sb, BOB, &["status"]);
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.stdout, "bob has nothing enrolled.\n");

    let log = mark.since();
    assert!(
        logged(
            &log,
            "self-service status for user=alice: done service=mfa-token caller_uid=61000"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "self-service status for user=bob: done service=mfa-token caller_uid=61001"
        ),
        "{log:?}"
    );
}

#[test]
fn an_admitted_user_enrolls_an_app_and_then_logs_in_with_it() {
    let sb = Sandbox::new(&admitting(&["alice"]));
    let mark = sb.daemon_mark();
    let mut tries = 0;
    let o = converse(&sb, ALICE, &["enroll", "totp"], |shown, prompt| {
        assert_eq!(prompt, CONFIRM);
        tries += 1;
        // A wrong first code is told and retried, as at login.
        Some(if tries == 1 {
            "000000".to_owned()
        } else {
            code(&shown_key(shown), 0)
        })
    });
    assert!(o.ok(), "{o:?}");
    assert_eq!(tries, 2);
    assert!(
        o.stdout
            .contains("Setting up an authenticator app for alice."),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("Tries left: 2"), "{}", o.stdout);
    // The QR code the daemon drew carries the key it showed.
    let key = shown_key(&o.stdout);
    let uri = qr_in(&o.stdout);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert_eq!(uri_secret(&uri), key);
    let codes = shown_codes(&o.stdout, "3. Recovery codes");
    assert_eq!(codes.len(), 10, "{}", o.stdout);
    assert!(o
        .stdout
        .contains("Done: the authenticator app is set up for alice"));

    let totp = sb.record("alice").expect("enrolled").apps()[0].clone();
    assert_eq!(*totp.secret().to_base32(), key);
    assert!(
        totp.last_step().is_some(),
        "the code typed to confirm is spent"
    );
    // The next code logs in, as does a recovery code.
    let login = sb.login("alice", &[&code(&key, 1)]);
    assert!(login.ok, "{login:?}");
    let login = sb.login("alice", &[&codes[0]]);
    assert!(login.ok, "{login:?}");

    let log = mark.since();
    assert!(
        logged(
            &log,
            "user=alice: authenticator app \"default\" enrolled by the user (self-service) (confirmed with a code), 10 recovery codes service=mfa-token caller_uid=61000"
        ),
        "{log:?}"
    );
    assert!(
        logged(&log, "self-service enroll totp for user=alice: done"),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains(&key)), "{log:?}");
}

#[test]
fn enrollment_is_refused_when_enroll_does_not_admit_you() {
    for extra in [
        String::new(),
        admitting(&["bob"]),
        format!("{}deadline = 2020-01-31\n", admitting(&["alice"])),
    ] {
        let sb = Sandbox::new(&extra);
        let mark = sb.daemon_mark();
        let o = as_user(&sb, ALICE, &["enroll", "totp"]);
        assert_eq!(o.code, Some(1), "{extra}: {o:?}");
        assert!(
            o.stderr
                .contains("mfa-token: Setting up a second factor yourself is not open to alice"),
            "{extra}: {}",
            o.stderr
        );
        assert!(!o.stdout.contains("by hand"), "no key made: {}", o.stdout);
        assert!(sb.record("alice").is_none());
        let log = mark.since();
        assert!(
            logged(
                &log,
                "user=alice: authenticator app enrollment by the user (self-service) refused: "
            ),
            "{log:?}"
        );
        assert!(
            logged(&log, "self-service enroll totp for user=alice: refused"),
            "{log:?}"
        );
    }
}

#[test]
fn an_enrolled_user_replaces_the_app_only_after_a_current_code() {
    let sb = Sandbox::new(&admitting(&["alice"]));
    sb.enroll_record("alice", SECRET, 2);

    // Without input, and with a wrong code: refused, nothing shown or changed.
    for typed in [None, Some("000000")] {
        let o = converse(&sb, ALICE, &["enroll", "totp"], |_, prompt| {
            assert_eq!(prompt, CODE);
            typed.map(str::to_owned)
        });
        assert_eq!(o.code, Some(1), "{o:?}");
        assert!(
            o.stdout.contains("alice has a second factor already"),
            "{}",
            o.stdout
        );
        assert!(!o.stdout.contains("by hand"), "{}", o.stdout);
        assert!(
            o.stderr
                .contains("The current second factor was not accepted; nothing was changed."),
            "{}",
            o.stderr
        );
    }
    let record = sb.record("alice").unwrap();
    assert_eq!(*record.apps()[0].secret().to_base32(), SECRET);
    assert_eq!(
        record.state().failures,
        1,
        "the wrong code counts as at login"
    );

    let mark = sb.daemon_mark();
    let o = converse(&sb, ALICE, &["enroll", "totp"], |shown, prompt| {
        Some(match prompt {
            CODE => code(SECRET, 0),
            _ => code(&shown_key(shown), 0),
        })
    });
    assert!(o.ok(), "{o:?}");
    let key = shown_key(&o.stdout);
    assert_ne!(key, SECRET);
    assert_eq!(
        *sb.record("alice").unwrap().apps()[0].secret().to_base32(),
        key
    );
    // The old app no longer logs in; the new one does.
    assert!(!sb.login("alice", &[&code(SECRET, 1)]).ok);
    assert!(sb.login("alice", &[&code(&key, 1)]).ok);
    let log = mark.since();
    assert!(
        logged(
            &log,
            "user=alice: second factor accepted (totp) service=mfa-token"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "replacing the earlier one of that name after a current second factor"
        ),
        "{log:?}"
    );
}

/// A user adds a second app under a name of their own, after a current code:
/// both apps log in, the recovery codes stay; a bad name is refused before any
/// question.
#[test]
fn an_enrolled_user_adds_a_named_app_after_a_current_code() {
    let sb = Sandbox::new(&admitting(&["alice"]));
    let recovery = sb.enroll_record("alice", SECRET, 2);

    let o = as_user(&sb, ALICE, &["enroll", "totp", "--name", "work phone"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .contains("\"work phone\" is not a valid name for an authenticator app"),
        "{}",
        o.stderr
    );

    let mark = sb.daemon_mark();
    let o = converse(
        &sb,
        ALICE,
        &["enroll", "totp", "--name", "work-phone"],
        |shown, prompt| {
            Some(match prompt {
                CODE => code(SECRET, 0),
                _ => code(&shown_key(shown), 0),
            })
        },
    );
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stdout
            .contains("alice keeps the recovery codes from before"),
        "{}",
        o.stdout
    );
    let key = shown_key(&o.stdout);
    let record = sb.record("alice").unwrap();
    let names: Vec<&str> = record.apps().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["default", "work-phone"]);
    assert_eq!(*record.apps()[0].secret().to_base32(), SECRET);
    assert_eq!(*record.apps()[1].secret().to_base32(), key);
    assert!(sb.login("alice", &[&code(SECRET, 1)]).ok);
    assert!(sb.login("alice", &[&code(&key, 1)]).ok);
    assert!(
        sb.login("alice", &[&recovery[0]]).ok,
        "the recovery codes stay"
    );
    let log = mark.since();
    assert!(
        logged(
            &log,
            "user=alice: authenticator app \"work-phone\" enrolled by the user (self-service) (confirmed with a code, added after a current second factor), recovery codes kept service=mfa-token"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "user=alice: second factor accepted (totp \"work-phone\")"
        ),
        "{log:?}"
    );
    let o = as_user(&sb, ALICE, &["status"]);
    assert!(
        o.stdout.contains("authenticator app \"work-phone\": SHA1"),
        "{}",
        o.stdout
    );
}

/// A user registers a security key plugged into this machine (the virtual key,
/// reached by a pam_mfad of its own), after a current code; then a touch logs in.
#[test]
fn an_enrolled_user_adds_a_security_key_after_a_current_code() {
    let sb = Sandbox::new(&admitting(&["alice"]));
    sb.enroll_record("alice", SECRET, 0);
    let key = VirtualKey::start(&sb.root.join("vkey"));
    let dir = sb.root.join("mfad-with-key");
    std::fs::create_dir(&dir).unwrap();
    let daemon = sb.launch_daemon(&dir, Some(&key));
    let enroll = |typed: &str| {
        converse_at(
            &daemon.socket,
            ALICE,
            None,
            &["enroll", "key", "--name", "blue"],
            |_, prompt| {
                assert_eq!(prompt, CODE);
                Some(typed.to_owned())
            },
        )
    };

    // A wrong code: refused, the key never asked.
    let o = enroll("000000");
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .contains("The current second factor was not accepted; nothing was changed."),
        "{o:?}"
    );
    assert!(sb.record("alice").unwrap().keys().is_empty());
    // Options only root's registration has are refused before anything is asked.
    let o = sb.cli_as(
        ALICE,
        &[
            "--socket",
            daemon.socket.to_str().unwrap(),
            "enroll",
            "key",
            "--pin",
        ],
    );
    assert!(o.stderr.contains("--pin"), "{o:?}");

    let o = enroll(&code(SECRET, 0));
    assert!(o.ok(), "{o:?}\n{}", key.log());
    assert!(o.stdout.contains("Touch the security key now."), "{o:?}");
    assert!(
        o.stderr
            .contains("Security key blue registered for alice (es256)."),
        "{o:?}"
    );
    let record = sb.record("alice").unwrap();
    assert_eq!(record.keys().len(), 1);
    assert_eq!(record.keys()[0].name, "blue");
    assert_eq!(record.keys()[0].rp_id, "pam://pam_mfa");
    assert!(
        daemon.wait_for_log("user=alice: security key \"blue\" registered by the user (es256"),
        "{:?}",
        daemon.log()
    );
    assert!(
        daemon.wait_for_log("self-service enroll key for user=alice: done"),
        "{:?}",
        daemon.log()
    );
    // The same name again: refused after the check, nothing added.
    let o = enroll(&code(SECRET, 1));
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("has a security key named blue already"),
        "{o:?}"
    );
    assert_eq!(sb.record("alice").unwrap().keys().len(), 1);

    // The key logs alice in with a touch (through the harness's own daemon with
    // the key).
    let l = sb.login_with(
        "alice",
        &[],
        &LoginOpts {
            key: Some(&key),
            ..LoginOpts::default()
        },
    );
    assert!(l.ok, "{l:?}\n{}", key.log());
}

#[test]
fn new_recovery_codes_need_a_current_code_and_void_the_old_set() {
    let sb = Sandbox::new("");
    let old = sb.enroll_record("alice", SECRET, 3);
    let mark = sb.daemon_mark();

    let o = converse(&sb, ALICE, &["recovery"], |_, prompt| {
        assert_eq!(prompt, CODE);
        Some("not-a-code".to_owned())
    });
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("was not accepted"), "{}", o.stderr);
    assert_eq!(
        sb.record("alice").unwrap().recovery().unwrap().hashed.len(),
        3
    );

    // A recovery code is a current second factor too.
    let o = converse(&sb, ALICE, &["recovery"], |_, _| Some(old[0].clone()));
    assert!(o.ok(), "{o:?}");
    let new = shown_codes(&o.stdout, "New recovery codes for alice");
    assert_eq!(new.len(), 10, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("10 new recovery codes for alice; the earlier ones no longer work."),
        "{}",
        o.stderr
    );
    assert!(!sb.login("alice", &[&old[1]]).ok, "the old set is void");
    assert!(sb.login("alice", &[&new[0]]).ok);
    assert!(!sb.login("alice", &[&new[0]]).ok, "once only");

    let log = mark.since();
    assert!(
        logged(
            &log,
            "user=alice: wrong code (1 consecutive failures) service=mfa-token caller_uid=61000"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "user=alice: second factor accepted (recovery code, 2 left) service=mfa-token"
        ),
        "{log:?}"
    );
    assert!(
        logged(&log, "user=alice: 10 new recovery codes made by the user"),
        "{log:?}"
    );
    assert!(
        logged(&log, "self-service recovery for user=alice: refused"),
        "{log:?}"
    );
    assert!(
        logged(&log, "self-service recovery for user=alice: done"),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| new.iter().any(|c| l.contains(c))));
}

#[test]
fn the_daemon_speaks_the_users_language() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 1);
    let o = converse_in(
        &sb,
        ALICE,
        Some("nl_NL.UTF-8"),
        &["recovery"],
        |_, prompt| {
            assert_eq!(prompt, "Verificatiecode: ");
            Some("000000".to_owned())
        },
    );
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout.contains("alice heeft al een tweede factor"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr
            .contains("De huidige tweede factor is niet geaccepteerd; er is niets gewijzigd."),
        "{}",
        o.stderr
    );
}

#[test]
fn recovery_codes_without_a_factor_are_refused() {
    let sb = Sandbox::new(&admitting(&["alice"]));
    let o = as_user(&sb, ALICE, &["recovery"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("alice has no second factor yet"),
        "{}",
        o.stderr
    );
    assert!(sb.record("alice").is_none());
}

#[test]
fn a_user_cannot_act_on_another_account() {
    let sb = Sandbox::new(&admitting(&["alice", "bob"]));
    sb.enroll_record("bob", SECRET, 3);
    let mark = sb.daemon_mark();
    for args in [
        &["status", "--user", "bob"][..],
        &["recovery", "--user", "bob"],
        &["enroll", "totp", "--user", "bob"],
        &["status", "--user", "root"],
    ] {
        let o = as_user(&sb, ALICE, args);
        assert_eq!(o.code, Some(1), "{args:?}: {o:?}");
        assert_eq!(
            o.stderr,
            "mfa-token: You may only manage your own second factor (you are alice); root manages other accounts.\n",
            "{args:?}"
        );
        assert!(!o.stdout.contains("bob"), "{args:?}: {}", o.stdout);
    }
    // Naming yourself is fine.
    let o = as_user(&sb, ALICE, &["status", "--user", "alice"]);
    assert!(o.ok(), "{o:?}");
    assert_eq!(
        *sb.record("bob").unwrap().apps()[0].secret().to_base32(),
        SECRET
    );
    let log = mark.since();
    assert!(
        logged(
            &log,
            "uid 61000 asked for self-service status on \"bob\": refused, a caller that is not root may only act on its own account"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "uid 61000 asked for self-service recovery on \"bob\": refused"
        ),
        "{log:?}"
    );
    assert!(
        logged(
            &log,
            "uid 61000 asked for self-service enroll totp on \"bob\": refused"
        ),
        "{log:?}"
    );
}

/// mfa-token asks only a root listener too: a `--socket` where another user
/// listens gets nothing, not even the request.
#[test]
fn mfa_token_does_not_talk_to_a_listener_that_is_not_root() {
    let sb = Sandbox::new("");
    let dir = sb.root.join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let path = dir.join("socket");
    let asked = dir.join("asked");
    let mut impostor = pam_mfa_e2e::stand_in(
        &["--reuid=65534", "--regid=65534", "--clear-groups"],
        format!(
            "import os,socket\nl=socket.socket(socket.AF_UNIX)\nl.bind({0:?})\nos.chmod({0:?},0o666)\nl.listen(8)\nprint('listening', flush=True)\nwhile True:\n  c,_=l.accept()\n  if c.recv(65536): open({1:?},'ab').write(b'x')\n  c.close()\n",
            path.display().to_string(),
            asked.display().to_string()
        ),
    );
    let o = sb.cli_as(ALICE, &["--socket", path.to_str().unwrap(), "status"]);
    let _ = impostor.kill();
    let _ = impostor.wait();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("runs as uid 65534, not root: not asked"),
        "{}",
        o.stderr
    );
    assert!(!asked.exists(), "the impostor got the request");
}

#[test]
fn a_user_gets_clear_errors_for_what_needs_root_or_a_daemon() {
    let sb = Sandbox::new("");
    let missing = sb.root.join("no-daemon/socket");
    let o = sb.cli_as(ALICE, &["--socket", missing.to_str().unwrap(), "status"]);
    assert_eq!(o.code, Some(1));
    assert_eq!(
        o.stderr,
        format!(
            "mfa-token: pam_mfad is not running at {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    for (args, want) in [
        (
            &["list"][..],
            "mfa-token: mfa-token list works on the store directly and needs root (run it with sudo)",
        ),
        (
            &["enroll", "totp", "--secret-file", "-"],
            "mfa-token: --secret-file needs root (direct store access)",
        ),
        (
            &["recovery", "--json"],
            "mfa-token: --json needs root (direct store access)",
        ),
    ] {
        let o = as_user(&sb, ALICE, args);
        assert_eq!(o.code, Some(1), "{args:?}");
        assert!(o.stderr.starts_with(want), "{args:?}: {}", o.stderr);
    }
}
