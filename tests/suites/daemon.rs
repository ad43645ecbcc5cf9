//! pam_mfad with the release module as its client (`socket=`), under real libpam:
//! logins decided by the daemon, callers that are not root, a daemon that is down
//! or dies, hostile clients, reload and stop.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use pam_mfa_e2e::{code, finish, now, LoginOpts, Sandbox, TempUser, SECRET};

/// A sandbox whose "mfa" service asks the daemon, and that daemon.
fn world(extra: &str) -> (Sandbox, pam_mfa_e2e::Daemon) {
    daemon_for(Sandbox::new(extra))
}

/// The daemon for `sb` (which sees the machine's accounts as they are now).
fn daemon_for(sb: Sandbox) -> (Sandbox, pam_mfa_e2e::Daemon) {
    let daemon = sb.start_daemon();
    sb.pam_service(
        "mfa",
        &format!(
            "auth required {{module}} socket={}",
            daemon.socket.display()
        ),
    );
    (sb, daemon)
}

fn logged(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn a_code_logs_in_once_through_the_daemon() {
    let (sb, daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    let c = code(SECRET, 0);
    let first = sb.login("alice", &[&c]);
    assert!(first.ok, "{first:?}");
    assert!(
        first.transcript.contains("Verification code: "),
        "{}",
        first.transcript
    );
    let again = sb.login("alice", &[&c]);
    assert!(!again.ok);
    assert!(again.transcript.contains("result") || !again.ok);
    assert!(daemon.wait_for_log("replayed totp code refused"));
    let log = daemon.log();
    assert!(
        logged(&log, "pam_mfad[")
            && logged(
                &log,
                "user=alice: second factor accepted (totp) service=mfa caller_uid=0"
            ),
        "{log:?}"
    );
    assert!(
        logged(&log, "user=alice: replayed totp code refused"),
        "{log:?}"
    );
    // The module itself reads no store: the daemon did (its log says so).
    assert!(
        !first.logged("second factor accepted"),
        "{:?}",
        first.syslog
    );
}

#[test]
fn racing_logins_with_one_code_give_one_success() {
    let (sb, _daemon) = world("[lockout]\nmax_failures = 0");
    sb.enroll_record("alice", SECRET, 0);
    let c = code(SECRET, 0);
    let children: Vec<_> = (0..32)
        .map(|_| sb.spawn_login("alice", &LoginOpts::default()))
        .collect();
    let ok = children
        .into_iter()
        .map(|ch| finish(ch, &[&c]))
        .filter(|l| l.ok)
        .count();
    assert_eq!(ok, 1);
}

#[test]
fn a_screen_locker_authenticates_its_own_user_and_nobody_else() {
    let sb = Sandbox::new("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0\nrefusal_ms = 0");
    // Before the daemon starts: it sees the machine's accounts as they are then.
    let me = TempUser::new(&sb.root.join("home-locker"));
    let (sb, daemon) = daemon_for(sb);
    sb.enroll_record(&me.name, SECRET, 0);
    sb.enroll_record("alice", SECRET, 0);
    let as_me = LoginOpts {
        uid: Some(me.uid),
        ..LoginOpts::default()
    };
    // Its own account: the code is checked as for root's callers.
    let l = sb.login_with(&me.name, &["000000x"], &as_me);
    assert!(!l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Verification code: "),
        "{l:?} {:?}",
        daemon.log()
    );
    let l = sb.login_with(&me.name, &[&code(SECRET, 0)], &as_me);
    assert!(l.ok, "{l:?} {:?}", daemon.log());
    // Another account: refused without a prompt, and logged.
    let l = sb.login_with("alice", &[&code(SECRET, 0)], &as_me);
    assert!(!l.ok, "{l:?}");
    assert!(
        !l.transcript.contains("Verification code"),
        "{}",
        l.transcript
    );
    let needle = format!(
        "uid {} asked to authenticate \"alice\": refused, a caller that is not root may only authenticate its own account",
        me.uid
    );
    assert!(daemon.wait_for_log(&needle), "{:?}", daemon.log());
    let log = daemon.log();
    assert!(
        logged(
            &log,
            &format!(
                "uid {} asked to authenticate \"alice\": refused, a caller that is not root may only authenticate its own account",
                me.uid
            )
        ),
        "{log:?}"
    );
    // The root-only store is no obstacle for the locker any more: an unenrolled
    // user under `ignore` is left to the stack instead of AUTHINFO_UNAVAIL.
    std::fs::remove_file(sb.record_path(&me.name)).unwrap();
    sb.pam_service(
        "stack",
        &format!(
            "auth required {{module}} socket={}\nauth required pam_permit.so",
            sb.root.join("socket").display()
        ),
    );
    let l = sb.login_with(
        &me.name,
        &[],
        &LoginOpts {
            service: Some("stack"),
            uid: Some(me.uid),
            ..LoginOpts::default()
        },
    );
    assert!(l.ok, "{l:?}");
}

#[test]
fn without_a_daemon_logins_fail_closed_within_a_second() {
    let (sb, daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    drop(daemon);
    let started = Instant::now();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(unavailable(&l), "{}", l.transcript);
    assert!(l.logged("cannot reach pam_mfad at"), "{:?}", l.syslog);
}

/// alice's login (with a right code) through a module that asks `socket`, and
/// how long it took; `stand_in` is stopped after it.
fn login_at(
    sb: &Sandbox,
    socket: &std::path::Path,
    mut stand_in: std::process::Child,
) -> (pam_mfa_e2e::Login, Duration) {
    sb.pam_service(
        "elsewhere",
        &format!("auth required {{module}} socket={}", socket.display()),
    );
    let started = Instant::now();
    let l = sb.login_with(
        "alice",
        &[&code(SECRET, 0)],
        &LoginOpts {
            service: Some("elsewhere"),
            ..LoginOpts::default()
        },
    );
    let took = started.elapsed();
    let _ = stand_in.kill();
    let _ = stand_in.wait();
    (l, took)
}

/// The login failed as PAM_AUTHINFO_UNAVAIL, as the application saw it.
fn unavailable(l: &pam_mfa_e2e::Login) -> bool {
    !l.ok
        && l.transcript
            .contains("Authentication service cannot retrieve authentication info")
}

/// A daemon that is alive but does not accept (stopped, wedged, swamped): once
/// its listen backlog is full, connect() would wait for a free slot forever.
/// The module bounds it (1 s) and fails closed.
#[test]
fn a_daemon_that_stops_accepting_fails_logins_closed_within_seconds() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 0);
    let path = sb.root.join("stuck.socket");
    // A listener with the smallest backlog that never accepts, filled up.
    let stuck = pam_mfa_e2e::stand_in(
        &[],
        format!(
            "import socket,time\nl=socket.socket(socket.AF_UNIX)\nl.bind({0:?})\nl.listen(0)\nheld=[]\nwhile True:\n  s=socket.socket(socket.AF_UNIX)\n  s.setblocking(False)\n  try:\n    s.connect({0:?})\n  except BlockingIOError:\n    break\n  held.append(s)\nprint('full', flush=True)\ntime.sleep(60)\n",
            path.display().to_string()
        ),
    );
    let (l, took) = login_at(&sb, &path, stuck);
    assert!(unavailable(&l), "{l:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        l.logged("it accepted no connection within 1 s (its listen queue is full)"),
        "{:?}",
        l.syslog
    );
}

/// A socket path the admin put where users can write (`socket=` under /tmp): a
/// user's process listening there is not asked, whatever it would answer.
#[test]
fn a_listener_that_is_not_root_is_never_asked() {
    let sb = Sandbox::new("");
    sb.enroll_record("alice", SECRET, 0);
    let dir = sb.root.join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let path = dir.join("socket");
    let asked = dir.join("asked");
    // nobody's impostor: says "success" to anyone, and notes that it was asked.
    let impostor = pam_mfa_e2e::stand_in(
        &["--reuid=65534", "--regid=65534", "--clear-groups"],
        format!(
            "import socket,struct\nl=socket.socket(socket.AF_UNIX)\nl.bind({:?})\nl.listen(8)\nprint('listening', flush=True)\nbody=b'{{\"type\":\"verdict\",\"verdict\":\"success\",\"fail_delay_ms\":0}}'\nwhile True:\n  c,_=l.accept()\n  got=c.recv(65536)\n  if got: open({:?},'ab').write(got)\n  c.sendall(struct.pack('>I',len(body))+body)\n  c.close()\n",
            path.display().to_string(),
            asked.display().to_string()
        ),
    );
    let (l, _) = login_at(&sb, &path, impostor);
    assert!(unavailable(&l), "{l:?}");
    assert!(
        l.logged("runs as uid 65534, not root: not asked"),
        "{:?}",
        l.syslog
    );
    assert!(!asked.exists(), "the impostor was told who logs in");
}

#[test]
fn a_daemon_that_dies_mid_login_fails_it_at_once() {
    let (sb, daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    let child = sb.spawn_login("alice", &LoginOpts::default());
    // The prompt is out: the daemon waits for the answer.
    std::thread::sleep(Duration::from_millis(500));
    daemon.signal("KILL");
    let started = Instant::now();
    let l = finish(child, &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(unavailable(&l), "{}", l.transcript);
    // Nothing was spent: a new daemon accepts the code.
    let _again = sb.start_daemon();
    assert!(sb.login("alice", &[&code(SECRET, 0)]).ok);
}

#[test]
fn hostile_clients_leave_roots_logins_working() {
    let (sb, daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    // Garbage, an oversized frame, a truncated frame, an answer before a login.
    for junk in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 50, b'{'],
        b"\x00\x00\x00\x1d{\"type\":\"answer\",\"text\":null}",
    ] {
        let mut s = UnixStream::connect(&daemon.socket).unwrap();
        let _ = s.write_all(junk);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        // The daemon closes the connection (a truncated frame after its timeout).
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    // 1,000 connections opened and held by one user: most are refused at once,
    // and root's login still works.
    let holder = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"])
        .arg(format!(
            "import socket,time\nheld=[]\nfor i in range(1000):\n  try:\n    s=socket.socket(socket.AF_UNIX)\n    s.connect({:?})\n    held.append(s)\n  except OSError:\n    pass\nprint('opened', flush=True)\ntime.sleep(30)\n",
            daemon.socket.display().to_string()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder = holder;
    let mut line = [0u8; 7];
    holder
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .unwrap();
    let l = sb.login("alice", &[&code(SECRET, 0)]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(l.ok, "{l:?}");
    assert!(
        daemon.wait_for_log("connection of uid 65534 refused: too many open connections"),
        "the per-uid limit was reached"
    );
}

#[test]
fn sighup_reloads_and_an_invalid_config_keeps_the_old_one() {
    let (sb, daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    // Unenrolled bob is denied; after a reload to `ignore` he is left to the stack.
    sb.pam_service(
        "stack",
        &format!(
            "auth required {{module}} socket={}\nauth required pam_permit.so",
            daemon.socket.display()
        ),
    );
    let stack = LoginOpts {
        service: Some("stack"),
        ..LoginOpts::default()
    };
    assert!(!sb.login_with("bob", &["123456"], &stack).ok);
    sb.write_config("[policy]\nunenrolled = \"ignore\"\nfail_delay_ms = 0\nrefusal_ms = 0");
    daemon.signal("HUP");
    assert!(daemon.wait_for_log("reloaded"), "{:?}", daemon.log());
    assert!(sb.login_with("bob", &[], &stack).ok);
    // A broken config is refused and the running one stays.
    std::fs::write(&sb.config, "[policy]\nunenrolled = \"maybe\"\n").unwrap();
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("configuration not reloaded"),
        "{:?}",
        daemon.log()
    );
    assert!(
        logged(&daemon.log(), "config.toml:2: key `policy.unenrolled`"),
        "{:?}",
        daemon.log()
    );
    assert!(sb.login_with("bob", &[], &stack).ok);
}

#[test]
fn sigterm_finishes_the_login_in_flight_then_exits() {
    let (sb, mut daemon) = world("");
    sb.enroll_record("alice", SECRET, 0);
    let child = sb.spawn_login("alice", &LoginOpts::default());
    std::thread::sleep(Duration::from_millis(500));
    daemon.signal("TERM");
    let l = finish(child, &[&code(SECRET, 0)]);
    assert!(l.ok, "the login in flight completes: {l:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "pam_mfad did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!daemon.socket.exists(), "the socket file is removed");
    let _ = now();
}

/// Crates whose source paths appear in a release binary's panic locations.
fn crates_in(binary: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(binary).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut crates: Vec<String> = text
        .split("registry/src/")
        .skip(1)
        .filter_map(|rest| {
            // "<name>-<version>", the version starting with a digit.
            let name_version = rest.split('/').nth(1)?;
            let at = name_version
                .char_indices()
                .find(|&(i, c)| {
                    c == '-' && name_version[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                })?
                .0;
            Some(name_version[..at].to_owned())
        })
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

/// The module is a thin client: small, no threads, no libudev, and none of the
/// crates that read the config, the store, the keys or draw QR codes.
#[test]
fn the_module_is_a_thin_client() {
    pam_mfa_e2e::require("strip", "binutils");
    let artifacts = pam_mfa_e2e::artifacts();
    let dir = tempdir();
    let stripped = dir.join("libpam_mfa.so");
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&artifacts.module)
        .status()
        .unwrap()
        .success();
    assert!(ok, "strip");
    let size = std::fs::metadata(&stripped).unwrap().len();
    eprintln!("libpam_mfa.so stripped: {size} bytes");
    assert!(size <= 512 * 1024, "{size} bytes stripped");

    let elf = |args: &[&str]| {
        let out = std::process::Command::new("readelf")
            .args(args)
            .arg(&stripped)
            .output()
            .unwrap();
        assert!(out.status.success(), "readelf {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let needed: Vec<String> = elf(&["-d"])
        .lines()
        .filter_map(|l| {
            Some(
                l.split_once("Shared library: [")?
                    .1
                    .trim_end_matches(']')
                    .to_owned(),
            )
        })
        .collect();
    // Not libgcc_s either (module/build.rs): sshd, sudo, login and su do not
    // link it, so it would be loaded and unloaded with the module at every login.
    for lib in &needed {
        assert!(
            ["libpam.so.0", "libc.so.6", "ld-linux-x86-64.so.2"].contains(&lib.as_str()),
            "the module links {lib}: {needed:?}"
        );
    }
    let symbols = elf(&["--dyn-syms", "-W"]);
    // The unwinder is the module's own: nothing of it is imported (a host that
    // has libgcc_s loaded would hide that) or exported.
    let unwinder: Vec<&str> = symbols.lines().filter(|l| l.contains("_Unwind_")).collect();
    assert!(
        unwinder.is_empty(),
        "unwinder symbols in the dynamic table: {unwinder:?}"
    );
    for symbol in ["pthread_create", "udev_new", "dlopen"] {
        assert!(
            !symbols
                .lines()
                .any(|l| l.ends_with(&format!(" {symbol}")) || l.contains(&format!(" {symbol}@"))),
            "the module imports {symbol}"
        );
    }

    // No config parser, store, security keys, QR codes, TOTP or crypto: the
    // daemon has them all (which shows the check sees crates at all).
    let heavy = [
        "toml",
        "qrcode",
        "hidapi",
        "ctap-hid-fido2",
        "totp-rs",
        "ring",
        "nix",
    ];
    let module = crates_in(&artifacts.module);
    let daemon = crates_in(&artifacts.daemon);
    for name in heavy {
        assert!(
            !module.contains(&name.to_owned()),
            "the module has {name}: {module:?}"
        );
    }
    for name in ["toml", "qrcode", "hidapi", "totp-rs"] {
        assert!(
            daemon.contains(&name.to_owned()),
            "{name} not seen in pam_mfad: {daemon:?}"
        );
    }
    eprintln!("crates in the module: {module:?}");
}

/// A private scratch directory.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pam_mfa-thin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
