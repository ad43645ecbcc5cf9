//! Attacking the module the way an intruder, a crash or a full disk would: races,
//! SIGKILL in the middle of updates, full and read-only stores, hostile files,
//! hostile conversation input. The module must fail closed, log why, never crash,
//! never let anybody in, and never lose or "repair" a record.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use pam_mfa_e2e::{code, finish, now, LoginOpts, Mount, Sandbox, TempUser, SECRET};

/// Max failures 0: lockout off, so that only what a test does counts.
const NO_LOCKOUT: &str = "[lockout]\nmax_failures = 0";

#[test]
fn given_64_concurrent_logins_with_one_code_then_exactly_one_succeeds() {
    let sb = Sandbox::new(NO_LOCKOUT);
    sb.enroll_record("alice", SECRET, 3);
    let c = code(SECRET, 0);
    let children: Vec<_> = (0..64)
        .map(|_| sb.spawn_login("alice", &LoginOpts::default()))
        .collect();
    let results: Vec<_> = children.into_iter().map(|ch| finish(ch, &[&c])).collect();
    assert_eq!(
        results.iter().filter(|l| l.ok).count(),
        1,
        "exactly one of 64"
    );
    let others: Vec<_> = results
        .iter()
        .filter(|l| !l.ok && !l.logged("replayed totp code refused"))
        .collect();
    assert!(others.is_empty(), "refused for another reason: {others:#?}");
    let record = sb.record("alice").expect("the record still parses");
    assert_eq!(record.state().failures, 63);
    assert_eq!(
        record.recovery().unwrap().hashed.len(),
        3,
        "nothing else changed"
    );
}

#[test]
fn given_64_users_logging_in_at_once_then_none_fails() {
    let sb = Sandbox::new(NO_LOCKOUT);
    let users: Vec<String> = (0..64).map(|i| format!("user{i:02}")).collect();
    for u in &users {
        sb.enroll_record(u, SECRET, 0);
    }
    let c = code(SECRET, 0);
    let children: Vec<_> = users
        .iter()
        .map(|u| sb.spawn_login(u, &LoginOpts::default()))
        .collect();
    let results: Vec<_> = children.into_iter().map(|ch| finish(ch, &[&c])).collect();
    let failed: Vec<_> = users.iter().zip(&results).filter(|(_, l)| !l.ok).collect();
    assert!(failed.is_empty(), "spurious failures: {failed:#?}");
}

#[test]
fn cli_writes_racing_logins_lose_nothing() {
    let sb = Sandbox::new(NO_LOCKOUT);
    let u = TempUser::new(&sb.root.join("home"));
    let codes = sb.enroll_record(&u.name, SECRET, 40);
    // 30 logins, each with its own recovery code, against 10 unlocks and 10 status
    // reads of the same record.
    let logins: Vec<_> = codes[..30]
        .iter()
        .map(|_| sb.spawn_login(&u.name, &LoginOpts::default()))
        .collect();
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let args: Vec<String> = if i % 2 == 0 {
                vec!["unlock".into(), "--user".into(), u.name.clone()]
            } else {
                vec!["status".into(), "--user".into(), u.name.clone()]
            };
            std::thread::spawn({
                let config = sb.config.clone();
                let cli = pam_mfa_e2e::artifacts().cli.clone();
                move || {
                    Command::new(cli)
                        .arg("--config")
                        .arg(config)
                        .args(args)
                        .output()
                        .unwrap()
                }
            })
        })
        .collect();
    let results: Vec<_> = logins
        .into_iter()
        .zip(&codes[..30])
        .map(|(ch, c)| finish(ch, &[c]))
        .collect();
    for w in writers {
        let out = w.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        results.iter().all(|l| l.ok),
        "every distinct recovery code logs in once"
    );
    let record = sb.record(&u.name).unwrap();
    assert_eq!(
        record.recovery().unwrap().hashed.len(),
        10,
        "exactly the 30 used codes are gone"
    );
    assert!(record.apps().len() == 1);

    // A regeneration racing 20 logins with old codes: afterwards only the new set
    // exists, complete; no old code came back.
    let old = &codes[30..];
    let logins: Vec<_> = old
        .iter()
        .map(|_| sb.spawn_login(&u.name, &LoginOpts::default()))
        .collect();
    let regen = sb.cli(&["recovery", "--user", &u.name]);
    assert!(regen.ok(), "{}", regen.stderr);
    let passed = logins
        .into_iter()
        .zip(old)
        .map(|(ch, c)| finish(ch, &[c]))
        .filter(|l| l.ok)
        .count();
    let record = sb.record(&u.name).unwrap();
    assert_eq!(
        record.recovery().unwrap().hashed.len(),
        10,
        "the new set is whole"
    );
    for c in old {
        assert!(!sb.login(&u.name, &[c]).ok, "old codes stay dead");
    }
    eprintln!("{passed} of 10 old codes were used before the regeneration");
}

/// A tiny xorshift, so the kill points differ per run without a dependency.
fn jitter(seed: &mut u64, max_micros: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_micros(*seed % max_micros)
}

/// `kill -9` of pam_mfad while it serves a login (or of the CLI while it writes):
/// the record stays whole, the login fails closed at once, and the next daemon
/// serves the next login.
#[test]
fn sigkill_at_random_points_never_corrupts_or_blocks() {
    let sb = Sandbox::new(NO_LOCKOUT);
    let u = TempUser::new(&sb.root.join("home"));
    sb.enroll_record(&u.name, SECRET, 5);
    let mut seed = now() | 1;
    let mut last_failures = 0;
    let mut leftovers = 0;
    let mut slowest = Duration::ZERO;
    // 300 in the test command; PAM_MFA_KILL_ROUNDS=5000 for a longer run.
    let rounds: u32 = std::env::var("PAM_MFA_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for round in 0..rounds {
        // Alternate the two writers: pam_mfad counting a failure, and the CLI.
        if round % 3 == 2 {
            let mut child = Command::new(&pam_mfa_e2e::artifacts().cli)
                .arg("--config")
                .arg(&sb.config)
                .args(["unlock", "--user", &u.name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(jitter(&mut seed, 12_000));
            let _ = child.kill();
            let _ = child.wait();
        } else {
            let mut login = sb.spawn_login(&u.name, &LoginOpts::default());
            use std::io::Write;
            let _ = writeln!(login.child.stdin.as_mut().unwrap(), "00000x");
            std::thread::sleep(jitter(&mut seed, 12_000));
            sb.kill_daemon();
            let killed = Instant::now();
            let l = finish(login, &[]);
            slowest = slowest.max(killed.elapsed());
            assert!(!l.ok, "round {round}: a login without a verdict passed");
            assert!(
                killed.elapsed() < Duration::from_secs(2),
                "round {round}: the login waited {:?} for a dead daemon",
                killed.elapsed()
            );
        }
        let record = sb
            .record(&u.name)
            .unwrap_or_else(|| panic!("round {round}: the record vanished"));
        assert!(record.apps().len() == 1, "round {round}: enrollment lost");
        assert_eq!(
            record.recovery().as_ref().unwrap().hashed.len(),
            5,
            "round {round}"
        );
        // Failures only ever grow, except by an unlock that completed.
        assert!(
            record.state().failures >= last_failures || round % 3 == 2,
            "round {round}: a committed failure was lost"
        );
        last_failures = record.state().failures;
        leftovers += usize::from(sb.store.join(format!(".{}.tmp", u.name)).exists());
    }
    eprintln!(
        "{rounds} SIGKILLs, {leftovers} of them left a half-written temp file behind; \
         the slowest login ended {slowest:?} after its daemon was killed"
    );
    // Nothing left behind blocks the next login, served by a new daemon.
    assert!(sb.login(&u.name, &[&code(SECRET, 0)]).ok);
    assert!(
        !sb.store.join(format!(".{}.tmp", u.name)).exists(),
        "the next writer replaced it"
    );
}

#[test]
fn a_full_store_fails_closed_and_keeps_the_record() {
    let sb = Sandbox::new("");
    let full_dir = sb.root.join("full-store");
    let _mount = Mount::tmpfs(&full_dir, "64k", "0700");
    fs::write(
        &sb.config,
        format!(
            "[store]\ndir = \"{}\"\n[policy]\nfail_delay_ms = 0\n",
            full_dir.display()
        ),
    )
    .unwrap();
    let src = sb.store.clone();
    sb.enroll_record("alice", SECRET, 0);
    fs::copy(src.join("alice.toml"), full_dir.join("alice.toml")).unwrap();
    fs::set_permissions(
        full_dir.join("alice.toml"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Take the lock file now (an empty file needs no blocks), then fill the disk.
    assert!(!sb.login("alice", &["00000x"]).ok);
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4096"])
        .arg(format!("of={}", full_dir.join("filler").display()))
        .output();
    let before = fs::read(full_dir.join("alice.toml")).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(
        !l.ok,
        "a login whose replay step cannot be stored must fail"
    );
    assert!(
        l.logged("cannot write: No space left on device"),
        "{:?}",
        l.syslog
    );
    assert_eq!(
        fs::read(full_dir.join("alice.toml")).unwrap(),
        before,
        "record unchanged"
    );
    assert!(
        !full_dir.join(".alice.tmp").exists(),
        "no half-written file left"
    );
}

#[test]
fn a_read_only_store_fails_closed_and_keeps_the_record() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 0);
    let ro = sb.root.join("ro-store");
    let _mount = Mount::read_only(&sb.store, &ro);
    fs::write(
        &sb.config,
        format!(
            "[store]\ndir = \"{}\"\n[policy]\nfail_delay_ms = 0\n",
            ro.display()
        ),
    )
    .unwrap();
    let before = fs::read(sb.record_path("alice")).unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(l.logged("Read-only file system"), "{:?}", l.syslog);
    assert_eq!(fs::read(sb.record_path("alice")).unwrap(), before);
}

#[test]
fn hostile_store_files_are_refused_logged_and_left_alone() {
    type Setup = fn(&Sandbox);
    let cases: Vec<(&str, Setup, &str)> = vec![
        (
            "symlinked record",
            |sb| {
                let p = sb.record_path("alice");
                fs::rename(&p, sb.root.join("real.toml")).unwrap();
                std::os::unix::fs::symlink(sb.root.join("real.toml"), &p).unwrap();
            },
            "is a symbolic link, refused",
        ),
        (
            "record owned by nobody",
            |sb| {
                std::os::unix::fs::chown(sb.record_path("alice"), Some(65534), None).unwrap();
            },
            "owned by uid 65534, must be owned by uid 0",
        ),
        (
            "group-writable record",
            |sb| {
                fs::set_permissions(sb.record_path("alice"), fs::Permissions::from_mode(0o620))
                    .unwrap();
            },
            "mode 0620 is insecure",
        ),
        (
            "world-readable record",
            |sb| {
                fs::set_permissions(sb.record_path("alice"), fs::Permissions::from_mode(0o604))
                    .unwrap();
            },
            "mode 0604 is insecure",
        ),
        (
            "world-writable store",
            |sb| {
                fs::set_permissions(&sb.store, fs::Permissions::from_mode(0o777)).unwrap();
            },
            "store directory",
        ),
        (
            "store owned by nobody",
            |sb| {
                std::os::unix::fs::chown(&sb.store, Some(65534), None).unwrap();
            },
            "owned by uid 65534",
        ),
        (
            "oversized record",
            |sb| {
                let mut text = fs::read_to_string(sb.record_path("alice")).unwrap();
                text.push_str(&format!("\n# {}\n", "x".repeat(100_000)));
                fs::write(sb.record_path("alice"), text).unwrap();
            },
            "larger than the limit of 65536",
        ),
        (
            "truncated record",
            |sb| {
                let text = fs::read(sb.record_path("alice")).unwrap();
                fs::write(sb.record_path("alice"), &text[..text.len() / 2]).unwrap();
            },
            "refusing to use it",
        ),
        (
            "non-UTF-8 record",
            |sb| {
                let mut text = fs::read(sb.record_path("alice")).unwrap();
                text.extend_from_slice(b"\n# \xff\xfe\n");
                fs::write(sb.record_path("alice"), text).unwrap();
            },
            "not valid UTF-8",
        ),
        (
            "record that is a directory",
            |sb| {
                fs::remove_file(sb.record_path("alice")).unwrap();
                fs::create_dir(sb.record_path("alice")).unwrap();
            },
            "not a regular file",
        ),
        (
            "record that is a FIFO",
            |sb| {
                fs::remove_file(sb.record_path("alice")).unwrap();
                let ok = Command::new("mkfifo")
                    .arg("-m")
                    .arg("600")
                    .arg(sb.record_path("alice"))
                    .status()
                    .unwrap()
                    .success();
                assert!(ok);
            },
            "not a regular file",
        ),
        (
            "symlinked lock file",
            |sb| {
                let _ = fs::remove_file(sb.store.join(".alice.lock"));
                std::os::unix::fs::symlink("/etc/shadow", sb.store.join(".alice.lock")).unwrap();
            },
            "is a symbolic link, refused",
        ),
    ];
    for (name, setup, reason) in cases {
        let sb = Sandbox::new("");
        sb.enroll_record("alice", SECRET, 0);
        setup(&sb);
        let snapshot = |sb: &Sandbox| {
            let p = sb.record_path("alice");
            let meta = fs::symlink_metadata(&p).ok();
            // Read regular files only: opening the FIFO would block the test.
            let body = meta
                .as_ref()
                .filter(|m| m.is_file())
                .and_then(|_| fs::read(&p).ok());
            let meta = meta.map(|m| {
                (
                    m.permissions().mode(),
                    std::os::unix::fs::MetadataExt::uid(&m),
                )
            });
            (meta, body)
        };
        let before = snapshot(&sb);
        let l = sb.login("alice", &[&code(SECRET, 0)]);
        assert!(!l.ok, "{name}: must not log in");
        assert_eq!(
            l.code,
            Some(1),
            "{name}: pamtester must end normally, not crash: {l:?}"
        );
        assert!(
            l.logged(reason),
            "{name}: want {reason:?} in {:?}",
            l.syslog
        );
        assert_eq!(
            snapshot(&sb),
            before,
            "{name}: the file must be left as it was"
        );
    }
}

#[test]
fn a_symlinked_store_directory_is_refused() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 0);
    let link = sb.root.join("store-link");
    std::os::unix::fs::symlink(&sb.store, &link).unwrap();
    fs::write(
        &sb.config,
        format!(
            "[store]\ndir = \"{}\"\n[policy]\nfail_delay_ms = 0\n",
            link.display()
        ),
    )
    .unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(
        l.logged("store directory") && l.logged("is a symbolic link"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn hostile_conversation_input_fails_without_a_crash() {
    let sb = Sandbox::new(NO_LOCKOUT);
    let codes = sb.enroll_record("alice", SECRET, 1);
    let good = code(SECRET, 0);
    let with_nul = {
        let mut v = b"0".to_vec();
        v.push(0);
        v.extend_from_slice(good.as_bytes());
        v
    };
    let recovery_with_nul = {
        let mut v = codes[0].as_bytes()[..9].to_vec();
        v.push(0);
        v.extend_from_slice(&codes[0].as_bytes()[9..]);
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("1 MiB", vec![b'7'; 1 << 20]),
        ("NUL bytes", vec![0; 64]),
        ("NUL inside the code", with_nul),
        ("NUL inside a recovery code", recovery_with_nul),
        ("non-UTF-8", vec![0xff, 0xfe, 0x80, 0x31, 0x32]),
        ("a code with a newline", format!("{good}\n").into_bytes()),
        ("a code with a tab", format!("\t{good}").into_bytes()),
        ("control characters", b"\x1b[2J\x07".to_vec()),
        ("format string", b"%s%s%n%n".to_vec()),
    ];
    for (name, answer) in &cases {
        let l = sb.drive("alice", answer, &LoginOpts::default());
        assert!(!l.ok, "{name}: must fail");
        assert_eq!(
            l.code,
            Some(1),
            "{name}: the application must not crash: {l:?}"
        );
        assert!(
            l.transcript.contains("result=7 Authentication failure"),
            "{name}: {}",
            l.transcript
        );
    }
    assert_eq!(
        sb.record("alice").unwrap().state().failures as usize,
        cases.len()
    );
    // The driver itself is fine: the right code, byte for byte, passes.
    let l = sb.drive("alice", good.as_bytes(), &LoginOpts::default());
    assert!(l.ok, "{l:?}");
    // Spaces between the digits, as apps show the code, are no attack.
    let next = code(SECRET, 1);
    let spaced = format!("{} {}", &next[..3], &next[3..]);
    assert!(
        sb.drive("alice", spaced.as_bytes(), &LoginOpts::default())
            .ok
    );
}

/// Refusals of every kind take `policy.refusal_ms`, also with no fail delay (the
/// driver's PAM_FAIL_DELAY does nothing): the time does not tell an unknown user
/// from an enrolled one with a wrong code (which writes and fsyncs the record).
#[test]
fn refusals_of_every_kind_take_the_same_time() {
    // 100 ms: the jitter of a loaded machine (the suites run in three lanes, the
    // verdict crosses pam_mfad's socket) stays a few per cent of it.
    const ROUNDS: usize = 60;
    let sb = Sandbox::new(&format!(
        "{NO_LOCKOUT}\n[policy]\nfail_delay_ms = 0\nrefusal_ms = 100"
    ));
    sb.enroll_record("alice", SECRET, 0);
    sb.enroll_record("carol", SECRET, 0);
    sb.edit_record("carol", |r| r.state_mut().locked_until = now() + 3600);
    sb.enroll_record("dave", SECRET, 0);
    // Every code dave's app can show is a step already used.
    sb.edit_record("dave", |r| r.use_app_step("default", now() / 30 + 100_000));
    let wrong = if [-1, 0, 1].iter().any(|&o| code(SECRET, o) == "000000") {
        "111111"
    } else {
        "000000"
    };
    let kinds = [
        ("unknown user", "nosuchuser", ["--answer", "123456"]),
        ("unenrolled user", "bob", ["--answer", "123456"]),
        ("locked-out user", "carol", ["--secret", SECRET]),
        ("wrong code", "alice", ["--answer", wrong]),
        ("replayed code", "dave", ["--secret", SECRET]),
    ];
    let mut medians = vec![];
    for (kind, user, answer) in kinds {
        let (median_us, ok) = sb.bench(user, ROUNDS, answer);
        assert_eq!(ok, 0, "{kind}: no login may pass");
        medians.push((kind, median_us));
    }
    let fastest = medians.iter().map(|m| m.1).fold(f64::MAX, f64::min);
    let slowest = medians.iter().map(|m| m.1).fold(0.0, f64::max);
    eprintln!("median refusal time by kind (µs): {medians:?}");
    assert!(fastest >= 100_000.0, "padded to refusal_ms: {medians:?}");
    assert!(
        slowest <= fastest * 1.10,
        "medians within 10 % of each other: {medians:?}"
    );
    // The records were really checked: the wrong codes were counted.
    assert_eq!(sb.record("alice").unwrap().state().failures, ROUNDS as u32);
}
