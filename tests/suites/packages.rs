//! The .deb installed into a fresh Debian root (debootstrap), its pam_mfad socket
//! enabled and no PAM file changed, enabled with pam-auth-update and used for a
//! real login with the installed module, daemon and CLI, then removed and purged;
//! the .rpm's paths, modes, config flags and scriptlets, and an install, upgrade
//! and erase in a fresh Debian root; the shipped systemd units checked by
//! systemd-analyze, and the packaged daemon serving logins under socket
//! activation.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pam_mfa_e2e::deps::{deps_sh, requirements};
use pam_mfa_e2e::{code, require, target_dir, Sandbox, SECRET};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds both packages once per run with the project's own script.
fn packages() -> &'static (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        require("dpkg-deb", "dpkg");
        require("rpmbuild", "rpm");
        let out = target_dir().join("e2e-packages");
        let _ = fs::remove_dir_all(&out);
        let status = Command::new("bash")
            .arg(workspace().join("packaging/build.sh"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "packaging/build.sh failed");
        let find = |ext: &str| {
            fs::read_dir(&out)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
                .unwrap_or_else(|| panic!("no .{ext} built"))
        };
        (find("deb"), find("rpm"))
    })
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A minimal Debian bookworm root, made once with debootstrap and cached in cargo's
/// target directory (about 40 s the first time), copied fresh for each use.
fn debian_root(dest: &Path) {
    require("debootstrap", "debootstrap");
    let cache = target_dir().join("e2e-cache/bookworm-minbase");
    if !cache.join("etc/debian_version").exists() {
        let _ = fs::remove_dir_all(&cache);
        fs::create_dir_all(cache.parent().unwrap()).unwrap();
        let mirror = std::env::var("DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        let (ok, text) = run(Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&cache)
            .arg(&mirror));
        assert!(
            ok,
            "debootstrap from {mirror} failed (set DEBIAN_MIRROR to a reachable mirror):\n{text}"
        );
    }
    let (ok, text) = run(Command::new("cp").arg("-a").arg(&cache).arg(dest));
    assert!(ok, "{text}");
}

struct Chroot(PathBuf);

impl Chroot {
    fn sh(&self, script: &str) -> (bool, String) {
        run(Command::new("/usr/sbin/chroot")
            .arg(&self.0)
            .args(["/bin/sh", "-c", script])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("DEBIAN_FRONTEND", "noninteractive"))
    }

    fn ok(&self, script: &str) -> String {
        let (ok, text) = self.sh(script);
        assert!(ok, "in the chroot: {script}\n{text}");
        text
    }

    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p.trim_start_matches('/'))
    }

    fn mode(&self, p: &str) -> u32 {
        fs::symlink_metadata(self.path(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .mode()
            & 0o7777
    }

    /// `script` as root in the chroot, set up as apt needs it, inside a private mount
    /// namespace (so the mounts end with it, whatever happens, and are never seen
    /// outside it): /proc mounted, and the downloaded packages kept across runs in a
    /// cache beside the root's. Stopped after `timeout_s`.
    fn apt_sh(&self, script: &str, timeout_s: u32) -> (bool, String) {
        let archives = target_dir().join("e2e-cache/apt-archives");
        fs::create_dir_all(archives.join("partial")).unwrap();
        run(Command::new("timeout")
            .arg(timeout_s.to_string())
            .args(["unshare", "--mount", "--propagation", "private", "--"])
            .args(["/bin/sh", "-c"])
            .arg(concat!(
                r#"mount -t proc proc "$1/proc" && "#,
                r#"mount --bind "$2" "$1/var/cache/apt/archives" && "#,
                r#"exec /usr/sbin/chroot "$1" /bin/sh -c "$3""#
            ))
            .arg("sh")
            .arg(&self.0)
            .arg(&archives)
            .arg(script)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ))
    }

    /// pamtester (copied from the host) against the chroot's own libpam and
    /// /etc/pam.d, answering the password and the code.
    fn login(&self, user: &str, answers: &[&str]) -> bool {
        let mut child = Command::new("/usr/sbin/chroot")
            .arg(&self.0)
            .args(["pamtester", "mfa-check", user, "authenticate"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            for a in answers {
                let _ = writeln!(stdin, "{a}");
            }
        }
        child.wait().unwrap().success()
    }
}

/// Every file of a directory (not recursive) and its content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap_or_default())
        })
        .collect()
}

/// The names of the files that differ between two snapshots.
fn changed(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|n| before.get(n) != after.get(n));
    names
}

/// The chroot's installed pam_mfad, started by hand with its defaults (there is no
/// systemd in the chroot to start it from the socket unit); stopped with SIGTERM
/// when dropped.
struct Daemon(Child);

impl Daemon {
    fn start(root: &Chroot) -> Daemon {
        let child = Command::new("/usr/sbin/chroot")
            .arg(&root.0)
            .arg("/usr/sbin/pam_mfad")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut daemon = Daemon(child);
        // chroot(8) execs pam_mfad: the child is the daemon. Ready when the socket
        // accepts; bounded.
        let socket = root.path("/run/pam_mfa/socket");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            if let Some(status) = daemon.0.try_wait().unwrap() {
                panic!("the installed pam_mfad exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the installed pam_mfad did not accept on {} within 10 s",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// SIGTERM, and its exit status (bounded: SIGKILL after 10 s).
    fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// Everything of pam_mfad's units that systemd and deb-systemd-helper keep under
/// /etc/systemd and /var/lib/systemd (enablement links, masks, state files).
fn unit_traces(root: &Chroot) -> String {
    root.ok("find /etc/systemd /var/lib/systemd -name '*pam_mfad*' 2>/dev/null | sort")
}

#[test]
fn the_deb_installs_into_a_fresh_debian_root_and_works() {
    let sb = Sandbox::new("");
    let (deb, _) = packages();
    let root = Chroot(sb.root.join("debian"));
    debian_root(&root.0);
    fs::copy(deb, root.path("/tmp/pkg.deb"))
        .unwrap_or_else(|e| panic!("copy {} into {}: {e}", deb.display(), root.0.display()));
    let pam_d = snapshot(&root.path("/etc/pam.d"));
    assert!(
        unit_traces(&root).trim().is_empty(),
        "a fresh root knows no pam_mfad unit"
    );
    root.ok("dpkg -i /tmp/pkg.deb");

    // Files, modes, and a profile that is off until the admin enables it.
    assert_eq!(
        root.mode("/usr/lib/x86_64-linux-gnu/security/pam_mfa.so"),
        0o644
    );
    assert_eq!(root.mode("/usr/bin/mfa-token"), 0o755);
    assert_eq!(root.mode("/usr/sbin/pam_mfad"), 0o755);
    assert_eq!(root.mode("/lib/systemd/system/pam_mfad.socket"), 0o644);
    assert_eq!(root.mode("/lib/systemd/system/pam_mfad.service"), 0o644);
    assert_eq!(root.mode("/etc/pam_mfa/config.toml"), 0o644);
    assert_eq!(root.mode("/var/lib/pam_mfa"), 0o700);
    for page in [
        "man8/pam_mfa.8.gz",
        "man8/pam_mfad.8.gz",
        "man1/mfa-token.1.gz",
        "man5/pam_mfa.toml.5.gz",
    ] {
        assert!(
            root.path(&format!("/usr/share/man/{page}")).exists(),
            "{page}"
        );
    }
    assert_eq!(
        changed(&pam_d, &snapshot(&root.path("/etc/pam.d"))),
        Vec::<String>::new(),
        "installing must not change any file in /etc/pam.d"
    );
    root.ok("grep -qx /etc/pam_mfa/config.toml /var/lib/dpkg/info/libpam-mfa.conffiles");
    // The socket is enabled (deb-systemd-helper, as systemctl enable would), the
    // service only through it.
    let wants = "/etc/systemd/system/sockets.target.wants/pam_mfad.socket";
    assert_eq!(
        fs::read_link(root.path(wants)).unwrap_or_else(|e| panic!("{wants}: {e}")),
        Path::new("/lib/systemd/system/pam_mfad.socket")
    );
    assert!(
        !unit_traces(&root).contains("pam_mfad.service"),
        "the service starts through its socket, it is not enabled itself:\n{}",
        unit_traces(&root)
    );
    root.ok("/usr/sbin/pam_mfad --help | grep -q -- '--config PATH'");

    // The installed daemon with its defaults (/etc/pam_mfa/config.toml,
    // /run/pam_mfa/socket) serves the installed module's default socket.
    let mut daemon = Daemon::start(&root);
    assert_eq!(root.mode("/run/pam_mfa/socket"), 0o666);
    assert_eq!(root.mode("/run/pam_mfa"), 0o755);
    let common_auth = || fs::read_to_string(root.path("/etc/pam.d/common-auth")).unwrap();
    root.ok("pam-auth-update --enable pam_mfa");
    assert!(common_auth().contains("pam_mfa.so"), "{}", common_auth());
    fs::copy("/usr/bin/pamtester", root.path("/usr/local/bin/pamtester")).unwrap();
    fs::write(root.path("/etc/pam.d/mfa-check"), "@include common-auth\n").unwrap();
    root.ok("useradd -m alice && echo 'alice:pw-Alice-1' | chpasswd");
    root.ok(&format!(
        "printf '%s\\n' {SECRET} | mfa-token enroll totp --user alice --secret-file - --no-confirm"
    ));
    assert_eq!(root.mode("/var/lib/pam_mfa/alice.toml"), 0o600);

    assert!(
        !root.login("alice", &["pw-Alice-1", "000000x"]),
        "a wrong code must fail"
    );
    assert!(
        root.login("alice", &["pw-Alice-1", &code(SECRET, 0)]),
        "password + code"
    );
    assert!(
        !root.login("alice", &["pw-Alice-1", &code(SECRET, 0)]),
        "replay"
    );
    // Without the daemon, a login through pam_mfa fails (closed), and quickly.
    assert_eq!(daemon.stop(), Some(0), "pam_mfad exits 0 on SIGTERM");
    assert!(
        !root.path("/run/pam_mfa/socket").exists(),
        "pam_mfad removes the socket it made"
    );
    let started = Instant::now();
    assert!(
        !root.login("alice", &["pw-Alice-1", &code(SECRET, 1)]),
        "no daemon, no login"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a login without the daemon took {:?}",
        started.elapsed()
    );
    let mut daemon = Daemon::start(&root);
    assert!(
        root.login("alice", &["pw-Alice-1", &code(SECRET, 1)]),
        "a restarted daemon serves the next login"
    );

    // Remove: the module leaves common-auth first, so logins keep working; the
    // configuration and the enrollments stay, and so does the socket's enablement
    // (masked meanwhile, as dh_installsystemd does), for a reinstall.
    root.ok("dpkg --remove libpam-mfa");
    assert!(!common_auth().contains("pam_mfa"), "{}", common_auth());
    assert!(
        root.login("alice", &["pw-Alice-1"]),
        "logins work after removal"
    );
    assert!(root.path("/etc/pam_mfa/config.toml").exists());
    assert!(root.path("/var/lib/pam_mfa/alice.toml").exists());
    for gone in [
        "/usr/sbin/pam_mfad",
        "/lib/systemd/system/pam_mfad.socket",
        "/lib/systemd/system/pam_mfad.service",
    ] {
        assert!(!root.path(gone).exists(), "{gone} after remove");
    }
    assert_eq!(
        fs::read_link(root.path("/etc/systemd/system/pam_mfad.socket")).ok(),
        Some(PathBuf::from("/dev/null")),
        "masked after remove:\n{}",
        unit_traces(&root)
    );
    assert_eq!(daemon.stop(), Some(0));
    root.ok("dpkg -i /tmp/pkg.deb");
    root.ok("mfa-token list --user alice | grep -q 'authenticator app'");
    assert!(
        fs::symlink_metadata(root.path("/etc/systemd/system/pam_mfad.socket")).is_err(),
        "unmasked by the reinstall"
    );
    assert!(
        fs::read_link(root.path(wants)).is_ok(),
        "enabled again by the reinstall"
    );

    // Purge: configuration, store and every trace of the units are gone, and
    // /etc/pam.d is as before the first install.
    root.ok("dpkg --purge libpam-mfa");
    assert!(!root.path("/etc/pam_mfa").exists());
    assert!(!root.path("/var/lib/pam_mfa").exists());
    assert!(!common_auth().contains("pam_mfa"));
    assert_eq!(unit_traces(&root).trim(), "", "after purge");
    let mut after = snapshot(&root.path("/etc/pam.d"));
    after.remove("mfa-check");
    assert_eq!(
        changed(&pam_d, &after),
        Vec::<String>::new(),
        "/etc/pam.d after purge"
    );
}

/// systemd-analyze (it needs no running systemd) on the units as the .deb ships
/// them: `verify` finds no unknown or invalid setting, the binary they start and
/// the man pages they name (in the package, not on this machine: ExecStart is
/// pointed at the extracted binary and MANPATH at the extracted pages); `security`
/// rates the sandbox. Also what the packages and the daemon rely on: the socket's
/// path and mode, and the settings issue 12 asks for.
#[test]
fn the_shipped_units_pass_systemd_analyze() {
    require("systemd-analyze", "systemd");
    let sb = Sandbox::new("");
    let (deb, _) = packages();
    let tree = sb.root.join("deb");
    let (ok, text) = run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree));
    assert!(ok, "{text}");
    let units = tree.join("lib/systemd/system");
    let socket = fs::read_to_string(units.join("pam_mfad.socket")).unwrap();
    let service = fs::read_to_string(units.join("pam_mfad.service")).unwrap();
    let has = |unit: &str, line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "ListenStream=/run/pam_mfa/socket",
        "SocketMode=0666",
        "DirectoryMode=0755",
        "WantedBy=sockets.target",
    ] {
        assert!(has(&socket, line), "pam_mfad.socket lacks {line}");
    }
    let exec_start = format!(
        "ExecStart=/usr/sbin/pam_mfad --config {}",
        mfa_core::config::DEFAULT_PATH
    );
    for line in [
        exec_start.as_str(),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Requires=pam_mfad.socket",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/pam_mfa",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-hidraw rw",
        "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL CAP_SYS_PTRACE",
        "SystemCallFilter=@system-service",
        "Also=pam_mfad.socket",
    ] {
        assert!(has(&service, line), "pam_mfad.service lacks {line}");
    }

    let check = sb.root.join("units");
    fs::create_dir(&check).unwrap();
    fs::write(check.join("pam_mfad.socket"), &socket).unwrap();
    let binary = tree.join("usr/sbin/pam_mfad");
    fs::write(
        check.join("pam_mfad.service"),
        service.replace(
            "ExecStart=/usr/sbin/pam_mfad ",
            &format!("ExecStart={} ", binary.display()),
        ),
    )
    .unwrap();
    let (ok, text) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(check.join("pam_mfad.socket"))
        .arg(check.join("pam_mfad.service"))
        .env("MANPATH", tree.join("usr/share/man")));
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );

    // The exposure level systemd computes (0 to 10, lower is safer): at most 2.8
    // today ("OK"); a setting dropped from the sandbox raises it.
    let (ok, text) = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=28", "--no-pager"])
        .arg(check.join("pam_mfad.service")));
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("(no overall level)");
    assert!(ok, "systemd-analyze security: {overall}\n{text}");
    eprintln!("{}", overall.trim());
}

/// The packaged pam_mfad, started with the command line of pam_mfad.service under
/// socket activation (systemd-socket-activate hands over the listening socket as
/// systemd does: LISTEN_FDS=1, LISTEN_PID), serves logins by the packaged module,
/// exits 0 on SIGTERM and leaves the socket, which is systemd's, in place.
#[test]
fn the_packaged_daemon_serves_logins_under_socket_activation() {
    require("systemd-socket-activate", "systemd");
    require("pamtester", "pamtester");
    let sb = Sandbox::new("");
    let (deb, _) = packages();
    let tree = sb.root.join("deb");
    let (ok, text) = run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree));
    assert!(ok, "{text}");
    let service = fs::read_to_string(tree.join("lib/systemd/system/pam_mfad.service")).unwrap();
    let exec_start: Vec<&str> = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart in pam_mfad.service")
        .split_whitespace()
        .collect();
    assert_eq!(exec_start[0], "/usr/sbin/pam_mfad");

    // The unit's arguments, with the config in a private directory instead of
    // /etc/pam_mfa (root-owned, not writable by others, as pam_mfad demands).
    let dir = sb.root.join("activation");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir(dir.join("store")).unwrap();
    fs::set_permissions(dir.join("store"), fs::Permissions::from_mode(0o700)).unwrap();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "[store]\ndir = \"{}\"\n[policy]\nfail_delay_ms = 0\nrefusal_ms = 0\n",
            dir.join("store").display()
        ),
    )
    .unwrap();
    let args: Vec<String> = exec_start[1..]
        .iter()
        .map(|a| {
            if *a == mfa_core::config::DEFAULT_PATH {
                config.display().to_string()
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    assert!(
        args.iter().any(|a| *a == config.display().to_string()),
        "ExecStart names the config: {exec_start:?}"
    );
    // "nobody" exists on every Debian machine; enrolled in this store only.
    let mut enroll = Command::new(tree.join("usr/bin/mfa-token"))
        .arg("--config")
        .arg(&config)
        .args(["enroll", "totp", "--user", "nobody", "--secret-file", "-"])
        .arg("--no-confirm")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(enroll.stdin.take().unwrap(), "{SECRET}").unwrap();
    }
    assert!(enroll.wait().unwrap().success(), "enroll nobody");

    let socket = dir.join("socket");
    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(tree.join("usr/sbin/pam_mfad"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // systemd-socket-activate execs pam_mfad: the child is the daemon.
    let mut daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(daemon.0.try_wait().unwrap().is_none(), "pam_mfad exited");
        assert!(
            Instant::now() < deadline,
            "no socket at {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let services = dir.join("pam.d");
    fs::create_dir(&services).unwrap();
    fs::write(
        services.join("activated"),
        format!(
            "auth required {} socket={}\n",
            tree.join("usr/lib/x86_64-linux-gnu/security/pam_mfa.so")
                .display(),
            socket.display()
        ),
    )
    .unwrap();
    let login = |answer: &str| {
        let mut child = Command::new("pamtester")
            .args(["activated", "nobody", "authenticate"])
            .env("LD_PRELOAD", "libpam_wrapper.so")
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", &services)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let _ = writeln!(child.stdin.take().unwrap(), "{answer}");
        }
        child.wait().unwrap().success()
    };
    assert!(!login("000000"), "a wrong code fails");
    assert!(
        login(&code(SECRET, 0)),
        "the current code, decided by pam_mfad"
    );
    assert!(!login(&code(SECRET, 0)), "replay");

    let status = daemon.stop();
    let mut stderr = String::new();
    {
        use std::io::Read;
        let _ = daemon.0.stderr.take().unwrap().read_to_string(&mut stderr);
    }
    assert_eq!(status, Some(0), "pam_mfad on SIGTERM; its stderr: {stderr}");
    assert!(
        fs::symlink_metadata(&socket).is_ok(),
        "pam_mfad leaves a socket it did not make (systemd's) in place"
    );
}

#[test]
fn the_rpm_has_the_right_paths_modes_config_flags_and_only_systemd_scriptlets() {
    let (_, rpm) = packages();
    let (ok, dump) = run(Command::new("rpm")
        .args([
            "-qp",
            "--queryformat",
            "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]",
        ])
        .arg(rpm));
    assert!(ok, "{dump}");
    for want in [
        "-rwxr-xr-x root  /usr/lib64/security/pam_mfa.so",
        "-rwxr-xr-x root  /usr/bin/mfa-token",
        "-rwxr-xr-x root  /usr/sbin/pam_mfad",
        "-rw-r--r-- root  /usr/lib/systemd/system/pam_mfad.socket",
        "-rw-r--r-- root  /usr/lib/systemd/system/pam_mfad.service",
        "-rw-r--r-- root cn /etc/pam_mfa/config.toml",
        "drwx------ root  /var/lib/pam_mfa",
        "-rw-r--r-- root d /usr/share/man/man8/pam_mfa.8",
        "-rw-r--r-- root d /usr/share/man/man8/pam_mfad.8",
        "-rw-r--r-- root d /usr/share/man/man5/pam_mfa.toml.5",
        "-rw-r--r-- root d /usr/share/man/man1/mfa-token.1",
        "drwxr-xr-x root  /usr/share/authselect/vendor/pam_mfa",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/README",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/REQUIREMENTS",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/system-auth",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/password-auth",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/postlogin",
        "-rw-r--r-- root  /usr/share/authselect/vendor/pam_mfa/nsswitch.conf",
        "-rw-r--r-- root l /usr/share/licenses/pam_mfa/LICENSE",
    ] {
        assert!(
            dump.lines().any(|l| l == want),
            "missing {want:?} in\n{dump}"
        );
    }
    // The systemd scriptlets only (the distribution's %systemd_* macros, or
    // packaging/rpm/systemd-fallback.macros): PAM stacks on RPM systems are the
    // admin's (authselect), so nothing touches them.
    let script = |tag: &str| {
        let (ok, text) = run(Command::new("rpm")
            .args(["-qp", "--queryformat", &format!("%{{{tag}}}")])
            .arg(rpm));
        assert!(ok, "{text}");
        text
    };
    let (post, preun, postun) = (script("POSTIN"), script("PREUN"), script("POSTUN"));
    assert!(
        post.contains("preset pam_mfad.socket")
            || post.contains("install-system-units pam_mfad.socket"),
        "%post enables the socket by the preset policy: {post}"
    );
    assert!(
        preun.contains("pam_mfad.socket pam_mfad.service") && preun.contains("$1 -eq 0"),
        "%preun stops and disables both on the last erase: {preun}"
    );
    assert!(
        postun.contains("pam_mfad.service") && postun.contains("$1 -ge 1"),
        "%postun restarts a running daemon after an upgrade: {postun}"
    );
    assert_eq!(script("PREIN"), "(none)", "no %pre");
    let (ok, all) = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm));
    assert!(ok, "{all}");
    for never in ["pam.d", "authselect", "pam-auth-update", "pam_mfa.so"] {
        assert!(!all.contains(never), "a scriptlet mentions {never}: {all}");
    }

    // Install, upgrade and erase in a fresh Debian root: the scriptlets run there
    // (rpm runs them chrooted, with the root's /bin/sh) and succeed without
    // systemd.
    let sb = Sandbox::new("");
    let root = sb.root.join("rpmroot");
    debian_root(&root);
    let rpm_in_root = |args: &[&str]| {
        let (ok, text) = run(Command::new("rpm").arg("--root").arg(&root).args(args));
        assert!(
            ok && !text.contains("scriptlet failed"),
            "rpm {args:?}: {text}"
        );
    };
    let rpm_path = rpm.to_str().unwrap();
    rpm_in_root(&["--initdb"]);
    rpm_in_root(&["-i", "--nodeps", rpm_path]);
    for (path, mode) in [
        ("usr/lib64/security/pam_mfa.so", 0o755),
        ("usr/bin/mfa-token", 0o755),
        ("usr/sbin/pam_mfad", 0o755),
        ("usr/lib/systemd/system/pam_mfad.socket", 0o644),
        ("usr/lib/systemd/system/pam_mfad.service", 0o644),
        ("etc/pam_mfa/config.toml", 0o644),
        ("var/lib/pam_mfa", 0o700),
        ("usr/share/authselect/vendor/pam_mfa/system-auth", 0o644),
    ] {
        let meta = fs::metadata(root.join(path)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        assert_eq!(meta.uid(), 0, "{path}");
    }
    rpm_in_root(&["-U", "--nodeps", "--replacepkgs", rpm_path]);
    rpm_in_root(&["-e", "pam_mfa"]);
    for gone in [
        "usr/sbin/pam_mfad",
        "usr/lib/systemd/system/pam_mfad.socket",
        "usr/share/authselect/vendor/pam_mfa",
    ] {
        assert!(!root.join(gone).exists(), "{gone} after erase");
    }
}

/// The authselect profile the RPM ships (`authselect select pam_mfa with-pam-mfa`):
/// every file is a template of the operators authselect knows, every feature it
/// uses is documented in its README, and only with-pam-mfa puts pam_mfa in the
/// stacks, after the password (the stack itself runs in login_paths).
#[test]
fn the_authselect_profile_is_well_formed_and_off_until_selected() {
    use pam_mfa_e2e::authselect::{features_in, profile_file, render};
    let readme = profile_file("README");
    assert_eq!(
        readme.lines().next(),
        Some("Local users with a second factor (pam_mfa)"),
        "the first line of README is the profile's name"
    );
    let mut used = vec![];
    for file in [
        "system-auth",
        "password-auth",
        "postlogin",
        "nsswitch.conf",
        "REQUIREMENTS",
    ] {
        let text = profile_file(file);
        for feature in features_in(&text) {
            render(&text, &[&feature]);
            if !used.contains(&feature) {
                used.push(feature);
            }
        }
        render(&text, &[]);
    }
    for feature in &used {
        assert!(
            readme.contains(&format!("{feature}::"))
                || readme.contains(&format!("{feature},"))
                || readme.lines().any(|l| l.trim().ends_with(feature.as_str())),
            "{feature} is used but not documented in README"
        );
    }
    for documented in readme.lines().filter_map(|l| l.strip_suffix("::")) {
        assert!(
            used.iter().any(|f| f == documented),
            "README documents {documented}, no file uses it"
        );
    }
    for stack in ["system-auth", "password-auth"] {
        let template = profile_file(stack);
        let off = render(&template, &[]);
        assert!(
            !off.contains("pam_mfa"),
            "{stack} without the feature:\n{off}"
        );
        assert!(
            off.lines().any(|l| l.starts_with("auth")
                && l.contains("sufficient")
                && l.contains("pam_unix.so")),
            "without the feature the password alone decides: {off}"
        );
        let on = render(&template, &["with-pam-mfa", "with-faillock"]);
        let auth: Vec<&str> = on.lines().filter(|l| l.starts_with("auth")).collect();
        let unix = auth.iter().position(|l| l.contains("pam_unix.so")).unwrap();
        let mfa = auth.iter().position(|l| l.contains("pam_mfa.so")).unwrap();
        assert_eq!(mfa, unix + 1, "pam_mfa right after the password: {auth:#?}");
        // A wrong password jumps over pam_mfa and the pam_permit after it; a user
        // pam_mfa lets through (PAM_IGNORE) reaches that pam_permit.
        assert!(auth[unix].contains("default=2"), "{}", auth[unix]);
        assert!(auth[mfa].contains("ignore=ignore"), "{}", auth[mfa]);
        assert!(auth[mfa + 1].contains("sufficient") && auth[mfa + 1].contains("pam_permit.so"));
        assert_eq!(auth.last().map(|l| l.ends_with("pam_deny.so")), Some(true));
    }
    let requirements = render(&profile_file("REQUIREMENTS"), &["with-pam-mfa"]);
    assert!(requirements.contains("pam_mfad.socket"), "{requirements}");
    assert!(render(&profile_file("REQUIREMENTS"), &[]).trim().is_empty());
}

/// The README's test command on a new machine starts with tests/deps.sh: run as root
/// in a fresh minimal bookworm root (only a stand-in `cargo` added, since deps.sh only
/// looks for one), it installs every package the suites need: every tool a
/// `require(tool, package)` call names is found, and so are the virtual key's Python
/// modules, pam_wrapper, libpam's headers (a C program links against libpam) and the
/// tools called without a require(). A second run has nothing to do.
#[test]
fn deps_sh_on_a_fresh_debian_root_installs_every_required_tool() {
    let started = Instant::now();
    let mut tools: Vec<String> = requirements()
        .unwrap()
        .into_iter()
        .map(|r| r.tool)
        .collect();
    tools.sort();
    tools.dedup();
    let sb = Sandbox::new("");
    let root = Chroot(sb.root.join("debian"));
    debian_root(&root.0);
    fs::copy(deps_sh(), root.path("/root/deps.sh")).unwrap();
    fs::write(root.path("/usr/local/bin/cargo"), "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(
        root.path("/usr/local/bin/cargo"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // The root's apt sources are debootstrap's (its mirror); names resolve as here.
    fs::copy("/etc/resolv.conf", root.path("/etc/resolv.conf")).unwrap();
    // A throwaway root need not survive a power cut: dpkg skips its fsyncs.
    fs::write(
        root.path("/etc/dpkg/dpkg.cfg.d/unsafe-io"),
        "force-unsafe-io\n",
    )
    .unwrap();

    let install = Instant::now();
    let (ok, text) = root.apt_sh("bash /root/deps.sh", 900);
    assert!(ok, "tests/deps.sh failed in a fresh Debian root:\n{text}");
    let install = install.elapsed();

    let checks = format!(
        r#"for tool in {tools}; do
  command -v "$tool" >/dev/null || echo "MISSING tool $tool"
done
/usr/bin/python3 -c 'import gi, cryptography; gi.require_version("UMockdev", "1.0"); from gi.repository import UMockdev' \
  || echo "MISSING the virtual key's Python modules"
test -e "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libpam_wrapper.so" || echo "MISSING libpam_wrapper.so"
for h in pam_appl.h pam_modules.h pam_ext.h; do
  test -e /usr/include/security/$h || echo "MISSING /usr/include/security/$h"
done
# What the module's build links against, and the tools packaging/build.sh and the
# suites call without a require call.
printf '#include <security/pam_appl.h>\nint main(void) {{ return pam_start == 0; }}\n' \
  | gcc -x c - -o /tmp/links-libpam -lpam || echo "MISSING a C program linked against libpam"
for tool in pkg-config strip lintian ssh-keygen useradd chpasswd gpasswd fido2-cred fido2-assert valgrind; do
  command -v "$tool" >/dev/null || echo "MISSING tool $tool"
done
again=$(bash /root/deps.sh 2>&1) || echo "MISSING a clean second run: $again"
[ -z "$again" ] || echo "MISSING a quiet second run: $again"
test ! -e /usr/sbin/policy-rc.d || echo "MISSING policy-rc.d removed after the install"
true"#,
        tools = tools.join(" ")
    );
    let (ok, text) = root.apt_sh(&checks, 120);
    assert!(ok, "{text}");
    let missing: Vec<&str> = text.lines().filter(|l| l.starts_with("MISSING")).collect();
    assert!(
        missing.is_empty(),
        "after tests/deps.sh in a fresh Debian root:\n{}\n\nthe checks' whole output:\n{text}",
        missing.join("\n")
    );
    eprintln!(
        "fresh root: {} tools found; tests/deps.sh took {:.0} s, the whole test {:.0} s",
        tools.len(),
        install.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
