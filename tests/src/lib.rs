//! Harness of the end-to-end suites: the release build of `libpam_mfa.so` loaded by
//! real libpam (through pam_wrapper, so /etc/pam.d is never touched) and driven by
//! `pamtester`, the release `pam_mfad` that decides, the release `mfa-token`, and
//! codes computed by `oathtool`.
//!
//! Every [`Sandbox`] is a private root-owned directory with its own config, store,
//! PAM service files and pam_mfad (started by the first login, reloaded when the
//! config is rewritten, stopped on drop), removed on drop; suites can run in
//! parallel. What the daemon logs during a login is part of the login's result.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub mod authselect;
pub mod deps;
pub mod postgres;
pub mod qr;
pub mod sshd;
pub mod sudo;
pub mod users;
pub mod vkey;

pub use qr::{decode_png_qr, decode_terminal_qr};
pub use users::{google_authenticator, TempUser};

use mfa_core::store::{Change, FileStore, Record, RecoveryCodes, Store, TotpEnrollment};
use mfa_core::totp::{Params, Secret};
use mfa_core::username::UserName;

/// The built artifacts under test.
pub struct Artifacts {
    pub module: PathBuf,
    pub cli: PathBuf,
    /// tests/src/bin/pam_driver.rs: a libpam application with a byte-exact
    /// conversation, for hostile input and the benchmarks.
    pub driver: PathBuf,
    pub daemon: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Builds the release module and CLI once per test binary (cargo makes this a no-op
/// when they are fresh), so a suite never runs against a stale .so.
pub fn artifacts() -> &'static Artifacts {
    static ONCE: OnceLock<Artifacts> = OnceLock::new();
    ONCE.get_or_init(|| {
        let cargo = cargo();
        // Two runs: `--bin` would restrict the first one to binaries and skip the
        // module's cdylib and mfa-token.
        for args in [
            &["-p", "pam_mfa", "-p", "mfa-token", "-p", "pam_mfad"][..],
            &["-p", "pam_mfa-e2e", "--bin", "pam_driver"],
        ] {
            let status = Command::new(&cargo)
                .args(["build", "--release", "--quiet"])
                .args(args)
                .current_dir(workspace())
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build --release {args:?} failed");
        }
        let target = target_dir();
        let a = Artifacts {
            module: target.join("release/libpam_mfa.so"),
            cli: target.join("release/mfa-token"),
            driver: target.join("release/pam_driver"),
            daemon: target.join("release/pam_mfad"),
        };
        assert!(
            a.module.exists() && a.cli.exists(),
            "release artifacts missing"
        );
        a
    })
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned())
}

/// Cargo's target directory, as cargo itself reports it: ./target unless
/// CARGO_TARGET_DIR or a cargo config moves it.
pub fn target_dir() -> &'static Path {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| {
        let out = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(workspace())
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata failed");
        let json = String::from_utf8(out.stdout).expect("cargo metadata: UTF-8");
        // A JSON string without quotes or backslashes in it is taken as it is.
        let key = "\"target_directory\":\"";
        let dir = json
            .find(key)
            .map(|i| &json[i + key.len()..])
            .and_then(|rest| rest.split_once('"'))
            .map(|(dir, _)| dir)
            .filter(|dir| !dir.is_empty() && !dir.contains('\\'))
            .expect("cargo metadata: a plain target_directory");
        PathBuf::from(dir)
    })
}

/// Fails the test with a clear message if a required tool is missing.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} not found: install the Debian package {package} (tests/deps.sh does)"
    );
}

/// The suites create root-owned files, as the module requires.
pub fn require_root() {
    let uid = fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    assert_eq!(
        uid.ok(),
        Some(0),
        "the end-to-end suites must run as root (the module trusts only root-owned files)"
    );
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code `oathtool` computes for `secret` at unix time `at`; `opts` select the
/// mode and parameters, e.g. `["--totp"]` or `["--totp=sha256", "-d", "8", "-s", "60s"]`.
pub fn oathtool_at(secret: &str, opts: &[&str], at: u64) -> String {
    require("oathtool", "oathtool");
    let mut cmd = Command::new("oathtool");
    cmd.args(opts).args(["-b", secret, "-N", &format!("@{at}")]);
    let out = cmd.output().expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The current SHA1/6/30 code of `secret`, `offset` steps away from now.
pub fn code(secret: &str, offset: i64) -> String {
    let at = now().checked_add_signed(offset * 30).unwrap();
    oathtool_at(secret, &["--totp"], at)
}

/// One pamtester run.
#[derive(Debug)]
pub struct Login {
    pub ok: bool,
    /// The exit status; `None` if the process was killed by a signal (a crash).
    pub code: Option<i32>,
    /// What the conversation printed (prompts, info messages, pamtester's verdict).
    pub transcript: String,
    /// What the module sent to pam_syslog, as `(priority, message)`.
    pub syslog: Vec<(u32, String)>,
    /// pam_wrapper's own errors and warnings, for failure messages.
    pub wrapper: Vec<String>,
}

impl Login {
    /// Whether some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.syslog.iter().any(|(_, m)| m.contains(needle))
    }
}

/// A login's result: what pam_wrapper traced of the module's pam_syslog calls,
/// then what pam_mfad logged meanwhile (`<priority>` parsed from each datagram).
fn parse_login(out: Output, mark: &LogMark) -> Login {
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pam_wrapper at debug level 3 prints every pam_syslog call as
    // "PWRAP_TRACE[...] - SYSLOG(<priority>): <message>".
    let mut syslog: Vec<(u32, String)> = stderr
        .lines()
        .filter_map(|l| l.split_once("SYSLOG(")?.1.split_once("): "))
        .map(|(p, m)| (p.parse().unwrap_or(u32::MAX), m.to_owned()))
        .collect();
    syslog.extend(mark.since().into_iter().map(|line| {
        let priority = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .and_then(|(p, _)| p.parse().ok())
            .unwrap_or(u32::MAX);
        (priority, line)
    }));
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr
            .lines()
            .filter(|l| !l.starts_with("PWRAP_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let wrapper = stderr
        .lines()
        .filter(|l| l.starts_with("PWRAP_ERROR") || l.starts_with("PWRAP_WARN"))
        .map(str::to_owned)
        .collect();
    Login {
        ok: out.status.success(),
        code: out.status.code(),
        transcript,
        syslog,
        wrapper,
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private config, store and PAM service directory.
pub struct Sandbox {
    pub root: PathBuf,
    /// Where `mfa-token` runs see /dev/log (nonblocking).
    log: LogSink,
    /// How many of `log`'s lines [`Sandbox::syslog`] has handed out.
    log_read: std::sync::Mutex<usize>,
    /// A copy of the release module (the workspace itself may live under /tmp,
    /// which logins see as a private, empty /tmp).
    pub module: PathBuf,
    /// A copy of pam_driver, for the same reason.
    driver: PathBuf,
    pub config: PathBuf,
    pub store: PathBuf,
    services: PathBuf,
    /// Entries for [`sandbox_users`]: logins and `mfa-token` runs see the
    /// machine's /etc/passwd (as it is when they start, with accounts tests made)
    /// plus these, in a private overlay of /etc (the module knows users only
    /// through getpwnam). See [`Sandbox::etc_overlay`].
    pub passwd_extra: PathBuf,
    /// Set by [`Sandbox::ignore_case_in_user_names`]: the nsswitch.conf and the
    /// directory of the NSS module that logins and `mfa-token` runs then use.
    anycase: OnceLock<(PathBuf, PathBuf)>,
    /// `LANG=` of /etc/default/locale in the sandbox's namespaces, if set.
    system_lang: std::sync::Mutex<Option<String>>,
    /// The sandbox's pam_mfad (`{socket}` in PAM lines), started by the first
    /// login: it sees the users that exist then (see [`Sandbox::etc_overlay`]).
    daemon: std::sync::Mutex<Option<Daemon>>,
}

/// A point in a daemon's log: [`LogMark::since`] gives the lines sent after it.
#[derive(Clone)]
pub struct LogMark {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    from: usize,
    socket: PathBuf,
}

impl LogMark {
    /// The daemon's log lines since the mark, once every line it sent before this
    /// call has been read (a marker datagram sent behind them has arrived).
    pub fn since(&self) -> Vec<String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("\u{0}sync-{}", N.fetch_add(1, Ordering::SeqCst));
        if let Ok(sender) = UnixDatagram::unbound() {
            if sender.send_to(marker.as_bytes(), &self.socket).is_ok() {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while std::time::Instant::now() < deadline
                    && !self.lines.lock().unwrap().iter().any(|l| l == &marker)
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        }
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(self.from)
            .filter(|l| !l.starts_with('\u{0}'))
            .cloned()
            .collect()
    }
}

/// Accounts that exist only inside a sandbox's logins: alice, bob, carol, dave and
/// user00 to user63.
pub fn sandbox_users() -> Vec<String> {
    ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain((0..64).map(|i| format!("user{i:02}")))
        .collect()
}

/// passwd(5) lines for `users` (uids from 61000 up, nogroup, no shell). Appended
/// to the machine's file, so a real account of the same name comes first.
pub fn passwd_lines(users: &[String]) -> String {
    users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            format!(
                "{user}:x:{}:65534::/nonexistent:/usr/sbin/nologin\n",
                61000 + i
            )
        })
        .collect()
}

/// The variables sshd puts in a session's environment; removed from every login
/// and sudo run unless a test sets them, so the runner's own SSH session (if any)
/// never makes a local login remote.
pub const SSH_VARIABLES: [&str; 3] = ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"];

/// A syslog socket (what /dev/log is for programs that run with a
/// [`private_dev`]), read by a thread so that a burst of lines never blocks the
/// sender (a datagram queue holds 10). Removed on drop.
pub struct LogSink {
    path: PathBuf,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LogSink {
    /// Binds a socket at `path` anyone may send to.
    pub fn bind(path: &Path) -> LogSink {
        let _ = fs::remove_file(path);
        let socket = UnixDatagram::bind(path).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (lines, stop) = (lines.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 8192];
                loop {
                    match socket.recv(&mut buf) {
                        Ok(n) => lines
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                        // The queue is empty: stop if asked to, else wait on.
                        Err(_) if stop.load(Ordering::SeqCst) => return,
                        Err(_) => {}
                    }
                }
            })
        };
        LogSink {
            path: path.to_owned(),
            lines,
            stop,
            reader: Some(reader),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line sent before this call, once read (see [`LogMark::since`]).
    pub fn lines(&self) -> Vec<String> {
        LogMark {
            lines: std::sync::Arc::clone(&self.lines),
            from: 0,
            socket: self.path.clone(),
        }
        .since()
    }

    /// Every line, once everything already sent has been read.
    pub fn finish(mut self) -> Vec<String> {
        self.stop_reader();
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| !l.starts_with('\u{0}'))
            .cloned()
            .collect()
    }

    fn stop_reader(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        self.stop_reader();
        let _ = fs::remove_file(&self.path);
    }
}

/// Shell text (for `sh -c` inside `unshare --mount --propagation private`) that
/// gives the namespace a private /dev: the usual device nodes, the machine's
/// /dev/pts (moved through `pts_scratch`, an empty directory), and `log` bound to
/// `sink`, so that syslog(3) lines of setuid and root programs (sudo, sshd, the
/// module inside them) reach the test. The machine's /dev is never written.
pub fn private_dev(sink: &LogSink, pts_scratch: &Path) -> String {
    fs::create_dir_all(pts_scratch).unwrap();
    let pts = pts_scratch.display();
    let sock = sink.path().display();
    format!(
        concat!(
            r#"mount --bind /dev/pts "{pts}" && mount -t tmpfs -o size=1m,mode=755 dev /dev && "#,
            r#"mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && "#,
            r#"mknod -m 666 /dev/full c 1 7 && mknod -m 666 /dev/random c 1 8 && "#,
            r#"mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/tty c 5 0 && "#,
            r#"mknod -m 666 /dev/ptmx c 5 2 && mkdir /dev/pts && mount --move "{pts}" /dev/pts && "#,
            r#"ln -s /proc/self/fd /dev/fd && ln -s /proc/self/fd/0 /dev/stdin && "#,
            r#"ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr && "#,
            r#"mkdir /dev/shm && mount -t tmpfs -o mode=1777,size=16m shm /dev/shm && "#,
            r#"touch /dev/log && mount --bind "{sock}" /dev/log"#
        ),
        pts = pts,
        sock = sock
    )
}

/// Options of one login.
#[derive(Default, Clone)]
pub struct LoginOpts<'a> {
    /// PAM service (file in the sandbox); default "mfa".
    pub service: Option<&'a str>,
    /// `-I item=value` for pamtester (e.g. "rhost=192.0.2.1").
    pub items: Vec<&'a str>,
    /// Environment of the pamtester process (besides pam_wrapper's).
    pub env: Vec<(&'a str, &'a str)>,
    /// The virtual security key the login can reach.
    pub key: Option<&'a vkey::VirtualKey>,
    /// Run the login program as this uid (a screen locker), after the mounts.
    pub uid: Option<u32>,
}

impl Sandbox {
    /// A sandbox whose config sets the store and no failure delay, plus `extra` TOML
    /// appended verbatim.
    pub fn new(extra: &str) -> Sandbox {
        require_root();
        // Not under /tmp: each login gets a private /tmp (see `pamtester`).
        let root = PathBuf::from(format!(
            "/var/tmp/pam_mfa-e2e-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        // Read all the time: a bulk command (store copy) logs more lines than a
        // datagram queue holds.
        let log = LogSink::bind(&root.join("log.sock"));
        let sb = Sandbox {
            log,
            log_read: std::sync::Mutex::new(0),
            module: root.join("pam_mfa.so"),
            driver: root.join("pam_driver"),
            config: root.join("config.toml"),
            store: root.join("store"),
            services: root.join("pam.d"),
            passwd_extra: root.join("passwd.extra"),
            anycase: OnceLock::new(),
            system_lang: std::sync::Mutex::new(None),
            daemon: std::sync::Mutex::new(None),
            root,
        };
        fs::write(&sb.passwd_extra, passwd_lines(&sandbox_users())).unwrap();
        fs::create_dir(&sb.store).unwrap();
        fs::set_permissions(&sb.store, fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir(&sb.services).unwrap();
        fs::create_dir(sb.root.join("mfad")).unwrap();
        fs::copy(&artifacts().module, &sb.module).unwrap();
        fs::copy(&artifacts().driver, &sb.driver).unwrap();
        sb.write_config(extra);
        sb.pam_service("mfa", "auth required {module} socket={socket}");
        sb
    }

    /// The socket of the sandbox's pam_mfad (`{socket}` in PAM lines).
    pub fn socket(&self) -> PathBuf {
        self.root.join("mfad/socket")
    }

    /// The sandbox's pam_mfad, started if it is not running yet; a mark in its log.
    /// A daemon that exited (it refused to start) is started again, as systemd's
    /// socket activation would; the mark of a new daemon is the start of its log,
    /// so that why it refused to start is part of the next login's result.
    pub fn daemon_mark(&self) -> LogMark {
        let mut daemon = self.daemon.lock().unwrap();
        if let Some(d) = daemon.as_mut() {
            if d.child.try_wait().unwrap().is_none() {
                return d.mark();
            }
        }
        let fresh = self.launch_daemon(&self.root.join("mfad"), None);
        let mut mark = fresh.mark();
        mark.from = 0;
        *daemon = Some(fresh);
        mark
    }

    /// Stops the sandbox's pam_mfad (if running): the next login starts a new one,
    /// which sees the users that exist then.
    pub fn stop_daemon(&self) {
        self.daemon.lock().unwrap().take();
    }

    /// Kills the sandbox's pam_mfad (SIGKILL), if running; the next login starts a
    /// new one.
    pub fn kill_daemon(&self) {
        if let Some(d) = self.daemon.lock().unwrap().take() {
            d.signal("KILL");
        }
    }

    /// Makes the running pam_mfad (if any) read the config again (SIGHUP) and waits
    /// until it has.
    pub fn reload_daemon(&self) {
        let daemon = self.daemon.lock().unwrap();
        if let Some(d) = daemon.as_ref() {
            let before = d.log().len();
            d.signal("HUP");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !d.log()[before..]
                .iter()
                .any(|l| l.contains("reloaded") || l.contains("not reloaded"))
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "pam_mfad did not reload"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }

    /// From now on, logins and `mfa-token` runs of this sandbox resolve user names
    /// through a user database that ignores case (tests/nss/libnss_anycase.c, as
    /// sssd with `case_sensitive = false` or winbind): "ALICE" is alice. Only in
    /// their private mount namespaces; the machine's nsswitch.conf is not touched.
    pub fn ignore_case_in_user_names(&self) {
        require("gcc", "gcc");
        let libs = self.root.join("nss");
        fs::create_dir_all(&libs).unwrap();
        let out = Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
            .arg(libs.join("libnss_anycase.so.2"))
            .arg(workspace().join("tests/nss/libnss_anycase.c"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = self.root.join("nsswitch.conf");
        fs::write(&conf, "passwd: anycase\ngroup: files\nshadow: files\n").unwrap();
        self.anycase.set((conf, libs)).unwrap();
    }

    /// Makes /etc/default/locale say `LANG=<lang>` (or nothing) for the sandbox's
    /// pam_mfad (restarted if running) and logins from now on.
    pub fn set_system_lang(&self, lang: Option<&str>) {
        let mut current = self.system_lang.lock().unwrap();
        let wanted = lang.map(str::to_owned);
        if *current != wanted {
            *current = wanted;
            drop(current);
            self.stop_daemon();
        }
    }

    /// Shell text (ending in `&&`) that lays a private overlay over /etc, its
    /// changes kept in `scratch` (a directory on a private tmpfs), and adds the
    /// sandbox's users to its passwd (and the case-ignoring nsswitch.conf, if the
    /// sandbox uses it). Not a bind mount of a file over /etc/passwd: useradd and
    /// userdel of other tests replace /etc/passwd by rename, which would leave such a
    /// mount on the old file and the login with the machine's users only.
    fn etc_overlay(&self, scratch: &str) -> String {
        let nss = self
            .anycase
            .get()
            .map(|(conf, _)| format!("cp {} /etc/nsswitch.conf && ", conf.display()))
            .unwrap_or_default();
        let locale = match self.system_lang.lock().unwrap().as_deref() {
            Some(lang) => format!("echo LANG={lang} > /etc/default/locale && "),
            None => String::new(),
        };
        format!(
            "mkdir -p {scratch}/.etc-upper {scratch}/.etc-work && \
             mount -t overlay sandbox-etc -o lowerdir=/etc,upperdir={scratch}/.etc-upper,workdir={scratch}/.etc-work /etc && \
             cat {} >> /etc/passwd && {nss}{locale}",
            self.passwd_extra.display()
        )
    }

    /// Replaces the config with the sandbox defaults plus `extra` (whose own
    /// `[store]`, if any, replaces the sandbox's store directory).
    pub fn write_config(&self, extra: &str) {
        let store = if extra.contains("[store]") {
            String::new()
        } else {
            format!("[store]\ndir = \"{}\"\n", self.store.display())
        };
        let body = format!(
            "{store}{}\n",
            if extra.contains("[policy]") {
                extra.to_owned()
            } else {
                format!("{extra}\n[policy]\nfail_delay_ms = 0\nrefusal_ms = 0\n")
            }
        );
        fs::write(&self.config, body).unwrap();
        fs::set_permissions(&self.config, fs::Permissions::from_mode(0o644)).unwrap();
        self.reload_daemon();
    }

    /// Writes a PAM service file for pam_wrapper logins (see [`Sandbox::fill`]).
    pub fn pam_service(&self, name: &str, text: &str) {
        fs::write(self.services.join(name), self.fill(text)).unwrap();
    }

    /// PAM configuration text with `{module}`, `{socket}`, `{config}` and `{root}`
    /// replaced by this sandbox's module copy, daemon socket, config file and
    /// directory.
    pub fn fill(&self, text: &str) -> String {
        let text = text
            .replace("{module}", &self.module.display().to_string())
            .replace("{socket}", &self.socket().display().to_string())
            .replace("{config}", &self.config.display().to_string())
            .replace("{root}", &self.root.display().to_string());
        format!("{}\n", text.trim_end())
    }

    /// `program` under pam_wrapper, in a mount namespace with a private /tmp:
    /// pam_wrapper copies the service files to `/tmp/pam.<one character>`, which
    /// allows only 62 concurrent processes machine-wide and lets parallel tests
    /// pick up each other's service files. The login talks to the sandbox's
    /// pam_mfad; with `opts.key`, to a pam_mfad of its own that reaches the virtual
    /// key, whose socket directory is bound over the sandbox's in the login's
    /// namespace. The mark is where the login's part of the daemon's log begins.
    fn under_pam_wrapper(
        &self,
        program: &Path,
        args: &[&str],
        opts: &LoginOpts<'_>,
    ) -> (Command, Attached) {
        require("unshare", "util-linux");
        let (attached, bind) = match opts.key {
            None => (
                Attached {
                    mark: self.daemon_mark(),
                    _key_daemon: None,
                },
                String::new(),
            ),
            Some(key) => {
                static N: AtomicUsize = AtomicUsize::new(0);
                let dir = self
                    .root
                    .join(format!("mfad-key-{}", N.fetch_add(1, Ordering::SeqCst)));
                fs::create_dir(&dir).unwrap();
                let daemon = self.launch_daemon(&dir, Some(key));
                (
                    Attached {
                        mark: daemon.mark(),
                        _key_daemon: Some(daemon),
                    },
                    format!(
                        "mount --bind {} {} && ",
                        dir.display(),
                        self.root.join("mfad").display()
                    ),
                )
            }
        };
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            // The preload is set for the program alone: pam_wrapper's constructor
            // would otherwise run in unshare, before the private /tmp exists.
            .arg(format!(
                r#"mount -t tmpfs -o mode=1777,size=16m pam_wrapper /tmp && {} {bind} exec {} env LD_PRELOAD=libpam_wrapper.so "$0" "$@""#,
                self.etc_overlay("/tmp"),
                opts.uid.map(|u| format!("setpriv --reuid={u} --regid={u} --clear-groups")).unwrap_or_default(),
            ))
            .arg(program)
            .args(args)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", &self.services)
            .env("PAM_WRAPPER_DEBUGLEVEL", "3")
            .env_remove("LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES");
        for name in SSH_VARIABLES {
            cmd.env_remove(name);
        }
        cmd.envs(opts.env.iter().copied())
            // glibc loads the NSS module by name, from here.
            .envs(
                self.anycase
                    .get()
                    .map(|(_, libs)| ("LD_LIBRARY_PATH", libs)),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        (cmd, attached)
    }

    fn pamtester(&self, user: &str, opts: &LoginOpts<'_>) -> (Command, Attached) {
        require("pamtester", "pamtester");
        let mut args = vec![];
        for item in &opts.items {
            args.extend(["-I", item]);
        }
        args.extend([opts.service.unwrap_or("mfa"), user, "authenticate"]);
        self.under_pam_wrapper(Path::new("pamtester"), &args, opts)
    }

    /// One authentication through pam_driver, answering the prompt with exactly
    /// `answer` (any bytes; a NUL ends the string the module sees).
    pub fn drive(&self, user: &str, answer: &[u8], opts: &LoginOpts<'_>) -> Login {
        self.drive_with(user, answer, &[], opts)
    }

    /// A new file `PREFIX-N` in the sandbox holding `bytes` (an answer for
    /// pam_driver, which reads answers from files rather than argv).
    fn numbered_file(&self, prefix: &str, bytes: &[u8]) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let file = self
            .root
            .join(format!("{prefix}-{}", N.fetch_add(1, Ordering::SeqCst)));
        fs::write(&file, bytes).unwrap();
        file
    }

    /// [`Sandbox::drive_with`] that, when the first attempt fails, authenticates
    /// again on the same PAM handle (as login(1) retries) answering `again`.
    pub fn drive_again(
        &self,
        user: &str,
        answer: &[u8],
        again: &[u8],
        flags: &[&str],
        opts: &LoginOpts<'_>,
    ) -> Login {
        let file = self.numbered_file("again", again);
        let mut flags = flags.to_vec();
        flags.extend(["--again", file.to_str().unwrap()]);
        self.drive_with(user, answer, &flags, opts)
    }

    /// [`Sandbox::drive`] with `flags` for `pam_driver once`: `--account` and
    /// `--setcred` call pam_acct_mgmt and pam_setcred after a success, as login
    /// programs do; `--env` prints the PAM environment (every prompt still gets
    /// `answer`: a client with one field).
    pub fn drive_with(
        &self,
        user: &str,
        answer: &[u8],
        flags: &[&str],
        opts: &LoginOpts<'_>,
    ) -> Login {
        let file = self.numbered_file("answer", answer);
        let service = opts.service.unwrap_or("mfa");
        let mut args = vec!["once", service, user, file.to_str().unwrap()];
        args.extend(flags);
        let (cmd, attached) = self.under_pam_wrapper(&self.driver, &args, opts);
        finish(self.spawn(cmd, attached), &[])
    }

    /// An interactive authentication through `pam_driver chat` (flags: `--no-info`,
    /// `--silent`): read what the module says with [`Chat::until_prompt`], answer
    /// with [`Chat::answer`].
    pub fn chat(&self, user: &str, flags: &[&str], opts: &LoginOpts<'_>) -> Chat {
        let service = opts.service.unwrap_or("mfa");
        let mut args = vec!["chat", service, user];
        args.extend(flags);
        let (cmd, attached) = self.under_pam_wrapper(&self.driver, &args, opts);
        let Started {
            mut child,
            attached,
        } = self.spawn(cmd, attached);
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        // pam_wrapper's trace is loud: drain it meanwhile so the pipe never fills.
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
            buf
        });
        Chat {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr: Some(stderr),
            transcript: String::new(),
            attached,
        }
    }

    fn spawn(&self, mut cmd: Command, attached: Attached) -> Started {
        Started {
            child: cmd.spawn().expect("start the login program"),
            attached,
        }
    }

    /// Starts a login without answering yet (for races): answer with [`finish`].
    pub fn spawn_login(&self, user: &str, opts: &LoginOpts<'_>) -> Started {
        let (cmd, attached) = self.pamtester(user, opts);
        self.spawn(cmd, attached)
    }

    /// Authenticates `user` answering `answers` in turn, through the "mfa" service.
    pub fn login(&self, user: &str, answers: &[&str]) -> Login {
        self.login_with(user, answers, &LoginOpts::default())
    }

    pub fn login_with(&self, user: &str, answers: &[&str], opts: &LoginOpts<'_>) -> Login {
        finish(self.spawn_login(user, opts), answers)
    }

    /// The release `mfa-token` with this sandbox's config, in a mount namespace
    /// whose /dev holds null, zero, urandom, tty and `log`: the sandbox's syslog
    /// socket, so that the suites
    /// read exactly what the command sent to syslog(3)'s /dev/log. With `uid`, the
    /// command runs as that user (setpriv).
    fn cli_command(&self, args: &[&str], env: &[(&str, &str)], uid: Option<u32>) -> Command {
        self.cli_command_with(args, env, uid, None)
    }

    /// `program` in a mount namespace whose /dev holds null, zero, urandom, tty,
    /// devpts and `log` (the sandbox's syslog socket, so the suites read exactly what
    /// it sent), and whose /etc/passwd has the sandbox's users; as `uid` if given.
    fn namespaced(&self, program: &Path, uid: Option<u32>) -> Command {
        self.namespaced_with_log(program, uid, &self.root.join("log.sock"))
    }

    /// [`Sandbox::namespaced`] with `log` as its /dev/log.
    fn namespaced_with_log(&self, program: &Path, uid: Option<u32>, log: &Path) -> Command {
        let pts = self.root.join("pts");
        fs::create_dir_all(&pts).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(concat!(
                // The virtual key is a pty: keep devpts reachable under the new /dev.
                r#"sock=$1; pts=$2; etc=$3; shift 3; mount --bind /dev/pts "$pts" && "#,
                r#"mount -t tmpfs -o size=4m,mode=755 dev /dev && "#,
                // The sandbox's users (see `etc_overlay`).
                r#"eval "${etc}true" && "#,
                r#"mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && "#,
                r#"mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/tty c 5 0 && "#,
                r#"mkdir /dev/pts && mount --move "$pts" /dev/pts && "#,
                r#"touch /dev/log && mount --bind "$sock" /dev/log && "#,
                // The preload, if any, for the program alone (not for mount and mknod).
                r#"LD_PRELOAD="$CLIENT_PRELOAD" exec "$@""#
            ))
            .arg("sh")
            .arg(log)
            .arg(&pts)
            .arg(self.etc_overlay("/dev"));
        if let Some(uid) = uid {
            cmd.arg("setpriv")
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups");
        }
        cmd.arg(program);
        cmd
    }

    fn cli_command_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        uid: Option<u32>,
        key: Option<&vkey::VirtualKey>,
    ) -> Command {
        let mut cmd = self.namespaced(&artifacts().cli, uid);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("SUDO_USER")
            .envs(env.iter().copied())
            .envs(
                self.anycase
                    .get()
                    .map(|(_, libs)| ("LD_LIBRARY_PATH", libs)),
            );
        if let Some(k) = key {
            cmd.env("CLIENT_PRELOAD", "libumockdev-preload.so.0")
                .env("UMOCKDEV_DIR", &k.umockdev_dir);
        }
        cmd
    }

    /// Starts a pam_mfad of its own for this sandbox's config on `root/socket`
    /// (see [`Sandbox::launch_daemon`]), for tests of the daemon itself. Stopped
    /// (SIGKILL) when dropped.
    pub fn start_daemon(&self) -> Daemon {
        self.launch_daemon(&self.root, None)
    }

    /// Starts pam_mfad for this sandbox's config on `dir/socket`, in a mount
    /// namespace that sees the sandbox's users (as they are now) and sends its log
    /// to a socket of its own, read all the time (a full datagram queue,
    /// net.unix.max_dgram_qlen, often 10, would make it wait); with `key`, the
    /// virtual key is its /dev/hidraw0. Returns once the socket accepts
    /// connections or the daemon has exited (it refused to start: its log says why).
    pub fn launch_daemon(&self, dir: &Path, key: Option<&vkey::VirtualKey>) -> Daemon {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = dir.join("socket");
        let log_path = self.root.join(format!(
            "daemon-log-{}.sock",
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let log_socket = UnixDatagram::bind(&log_path).unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = log_socket.recv(&mut buf) {
                collected
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        let mut cmd = self.namespaced_with_log(&artifacts().daemon, None, &log_path);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--socket")
            .arg(&socket)
            .env_remove("LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .envs(
                self.anycase
                    .get()
                    .map(|(_, libs)| ("LD_LIBRARY_PATH", libs)),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in SSH_VARIABLES {
            cmd.env_remove(name);
        }
        if let Some(k) = key {
            cmd.env("CLIENT_PRELOAD", "libumockdev-preload.so.0")
                .env("UMOCKDEV_DIR", &k.umockdev_dir);
        }
        let mut child = cmd.spawn().expect("start pam_mfad");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pam_mfad did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Daemon {
            child,
            socket,
            lines,
            log_path,
        }
    }

    /// Runs `mfa-token args` with the virtual key reachable.
    pub fn cli_key(&self, key: &vkey::VirtualKey, args: &[&str], stdin: &str) -> Run {
        self.run(self.cli_command_with(args, &[], None, Some(key)), stdin)
    }

    /// Runs `mfa-token args`.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_with(args, "", &[])
    }

    /// Runs `mfa-token args` with `stdin` and extra environment.
    pub fn cli_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        self.run(self.cli_command(args, env, None), stdin)
    }

    /// Runs `mfa-token args --secret-file -` with `secret` on standard input: the
    /// key never appears in the arguments.
    pub fn cli_secret(&self, args: &[&str], secret: &str) -> Run {
        let mut args = args.to_vec();
        args.extend(["--secret-file", "-"]);
        self.cli_with(&args, &format!("{secret}\n"), &[])
    }

    /// Runs `mfa-token args` as the user with `uid`.
    pub fn cli_as(&self, uid: u32, args: &[&str]) -> Run {
        self.run(self.cli_command(args, &[], Some(uid)), "")
    }

    fn run(&self, mut cmd: Command, stdin: &str) -> Run {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mfa-token");
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            syslog: self.syslog(),
        }
    }

    /// `mfa-token args` on a pseudo-terminal, for interactive flows.
    pub fn cli_pty(&self, args: &[&str], env: &[(&str, &str)]) -> rexpect::session::PtySession {
        rexpect::session::spawn_command(self.cli_command(args, env, None), Some(20_000))
            .expect("spawn mfa-token on a pty")
    }

    /// The syslog lines received since the last call.
    pub fn syslog(&self) -> Vec<String> {
        let mut read = self.log_read.lock().unwrap();
        let mark = LogMark {
            lines: std::sync::Arc::clone(&self.log.lines),
            from: *read,
            socket: self.log.path().to_owned(),
        };
        let lines = mark.since();
        *read = self.log.lines.lock().unwrap().len();
        lines
    }

    fn file_store(&self) -> FileStore {
        FileStore::new(&self.store)
    }

    /// Writes a TOTP record for `user` directly (the user must exist for logins:
    /// one of [`sandbox_users`] or a real account).
    pub fn enroll_record(&self, user: &str, secret: &str, recovery_codes: usize) -> Vec<String> {
        let (codes, hashed) =
            mfa_core::recovery::generate(recovery_codes, &mut mfa_core::random::OsRandom).unwrap();
        let mut record = Record::default();
        let app = TotpEnrollment::new(
            mfa_core::totp::DEFAULT_NAME,
            Secret::from_base32(secret).unwrap(),
            Params::DEFAULT,
            now(),
        );
        record.add_app(app.unwrap()).unwrap();
        if recovery_codes > 0 {
            record.set_recovery(RecoveryCodes {
                hashed,
                created: now(),
            });
        }
        self.file_store()
            .update(&UserName::new(user).unwrap(), |_| {
                (Change::Write(record), ())
            })
            .unwrap();
        codes.iter().map(|c| c.to_string()).collect()
    }

    /// Changes `user`'s record in place (e.g. to lock the user out).
    pub fn edit_record(&self, user: &str, edit: impl FnOnce(&mut Record)) {
        self.file_store()
            .update(&UserName::new(user).unwrap(), |current| {
                let mut record = current.expect("a record to edit");
                edit(&mut record);
                (Change::Write(record), ())
            })
            .unwrap();
    }

    /// `pam_driver bench`: `iterations` logins of `user` in a row in one process,
    /// answering per `answer` (`["--secret", BASE32]` or `["--answer", TEXT]`), with
    /// no fail delay. Returns the median latency in µs and how many succeeded.
    pub fn bench(&self, user: &str, iterations: usize, answer: [&str; 2]) -> (f64, usize) {
        let users = self.root.join(format!("bench-users-{user}"));
        fs::write(&users, format!("{user}\n")).unwrap();
        let n = iterations.to_string();
        let (cmd, attached) = self.under_pam_wrapper(
            &self.driver,
            &[
                "bench",
                "mfa",
                users.to_str().unwrap(),
                &n,
                "1",
                answer[0],
                answer[1],
            ],
            &LoginOpts::default(),
        );
        let out = finish(self.spawn(cmd, attached), &[]);
        let field = |name: &str| -> f64 {
            out.transcript
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{name} in {}", out.transcript))
                .parse()
                .unwrap()
        };
        (field("median_us"), field("ok") as usize)
    }

    /// The user's record as the module would read it.
    pub fn record(&self, user: &str) -> Option<Record> {
        self.file_store()
            .read(&UserName::new(user).unwrap())
            .unwrap()
    }

    pub fn record_path(&self, user: &str) -> PathBuf {
        self.store.join(format!("{user}.toml"))
    }
}

/// A stand-in for pam_mfad: `program` run by Python (after `setpriv` options, if
/// any), returned once it printed its first line (it is ready).
pub fn stand_in(setpriv: &[&str], program: String) -> std::process::Child {
    let mut cmd = if setpriv.is_empty() {
        std::process::Command::new("/usr/bin/python3")
    } else {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(setpriv).arg("/usr/bin/python3");
        cmd
    };
    let mut child = cmd
        .arg("-c")
        .arg(program)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    child
}

/// A running pam_mfad (see [`Sandbox::start_daemon`]).
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    log_path: PathBuf,
}

impl Daemon {
    /// A mark at the current end of the log.
    pub fn mark(&self) -> LogMark {
        LogMark {
            lines: std::sync::Arc::clone(&self.lines),
            from: self.lines.lock().unwrap().len(),
            socket: self.log_path.clone(),
        }
    }

    /// Everything the daemon sent to syslog before this call, once read. A line
    /// the daemon writes after its reply may come later: see [`Self::wait_for_log`].
    pub fn log(&self) -> Vec<String> {
        LogMark {
            lines: std::sync::Arc::clone(&self.lines),
            from: 0,
            socket: self.log_path.clone(),
        }
        .since()
    }

    /// Waits (up to 10 s) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Sends `signal` (e.g. "HUP", "TERM", "KILL") to the daemon. `child` is
    /// unshare, which execs sh, which execs pam_mfad: the same process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // It may have exited already (SIGTERM tests).
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A mount made by a test, unmounted on drop.
pub struct Mount(pub PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` (e.g. "64k") on `dir` with `mode`.
    pub fn tmpfs(dir: &Path, size: &str, mode: &str) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode={mode}"),
                "pam_mfa-test",
            ])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", dir.display());
        Mount(dir.to_owned())
    }

    /// A read-only view of `source` at `dir`.
    pub fn read_only(source: &Path, dir: &Path) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let bind = |args: &[&str]| {
            let ok = Command::new("mount").args(args).status().unwrap().success();
            assert!(ok, "mount {args:?}");
        };
        bind(&["--bind", source.to_str().unwrap(), dir.to_str().unwrap()]);
        let m = Mount(dir.to_owned());
        bind(&["-o", "remount,ro,bind", dir.to_str().unwrap()]);
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.daemon.lock().unwrap().take();
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// What a login is attached to: where its part of the daemon's log begins, and
/// the daemon of its own (with the virtual key), stopped when the login ends.
struct Attached {
    mark: LogMark,
    _key_daemon: Option<Daemon>,
}

/// A login program started by [`Sandbox::spawn_login`].
pub struct Started {
    pub child: Child,
    attached: Attached,
}

/// Answers a started login and waits for its verdict.
pub fn finish(started: Started, answers: &[&str]) -> Login {
    let Started {
        mut child,
        attached,
    } = started;
    let mut stdin = child.stdin.take().unwrap();
    for a in answers {
        // The module may end the conversation early; a closed pipe is fine.
        let _ = writeln!(stdin, "{a}");
    }
    drop(stdin);
    parse_login(child.wait_with_output().unwrap(), &attached.mark)
}

/// A running `pam_driver chat`.
pub struct Chat {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// Everything read so far.
    pub transcript: String,
    attached: Attached,
}

impl Chat {
    /// Reads messages up to and including the next prompt; returns the text read
    /// and the prompt, or `None` as prompt when the authentication ended.
    pub fn until_prompt(&mut self) -> (String, Option<String>) {
        use std::io::BufRead;
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return (text, None);
            }
            self.transcript.push_str(&line);
            if let Some(prompt) = line
                .strip_prefix("[1] ")
                .or_else(|| line.strip_prefix("[2] "))
            {
                return (text, Some(prompt.trim_end_matches('\n').to_owned()));
            }
            text.push_str(&line);
        }
    }

    /// Answers the prompt just read.
    pub fn answer(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("conversation still open");
        // The module may have ended already; a closed pipe is fine.
        let _ = writeln!(stdin, "{text}");
    }

    /// Closes the conversation and waits for the verdict.
    pub fn finish(mut self) -> Login {
        drop(self.stdin.take());
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        self.transcript.push_str(&rest);
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        let mut login = parse_login(
            Output {
                status,
                stdout: self.transcript.clone().into_bytes(),
                stderr,
            },
            &self.attached.mark,
        );
        login.ok = status.success();
        login
    }
}

/// The text of a QR code drawn by the module in `text` (lines of half blocks),
/// decoded.
pub fn qr_in(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix("[4] ").unwrap_or(l))
        .filter(|l| !l.is_empty() && l.chars().all(|c| "█▀▄ ".contains(c)))
        .filter(|l| l.contains('█'))
        .collect();
    assert!(lines.len() > 10, "no QR code in {text}");
    qr::decode_terminal_qr(&lines, true)
}

/// The secret of an otpauth URI.
pub fn uri_secret(uri: &str) -> String {
    uri.split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret= in the URI")
        .to_owned()
}

/// One `mfa-token` run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// What it sent to /dev/log.
    pub syslog: Vec<String>,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// A fixed test secret (base32, 160 bits).
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// LOG_AUTHPRIV: the facility every audit line must carry.
pub const AUTHPRIV: u32 = 10 << 3;

/// rexpect hands each byte of the terminal output over as one `char`; this turns
/// such text back into the UTF-8 the program wrote (QR half blocks, Dutch text).
pub fn from_pty(text: &str) -> String {
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
