//! Whether the user of a login sits at this machine, for the security-key step.
//!
//! Invariant: a session counts as local only when nothing says it is remote.
//! PAM_RHOST set → remote. Otherwise logind's record of the calling process's
//! session (where logind runs) decides: `REMOTE=1` or a `REMOTE_HOST` → remote.
//! `SSH_CONNECTION` or `SSH_CLIENT` in the PAM or process environment → remote,
//! also when logind says local or gives no answer. Anything else → local.
//!
//! Why positive evidence: sudo (or su, or a screen locker) inside an SSH session
//! sets no PAM_RHOST, so "no PAM_RHOST" alone would ask a user who is somewhere
//! else to touch the key plugged into this machine, and a bystander could touch it.
//!
//! The environment is looked up in the PAM environment, the process's
//! (`getenv`), and the one the program was started with (/proc/self/environ):
//! sudo replaces its `environ` with the reset environment of the command (no
//! SSH_CONNECTION under the default `env_reset`) before it authenticates.
//!
//! Why the environment may be read here although the module never reads it for
//! configuration (sudo passes the caller's environment): these variables can only
//! make a login stricter. "Remote" skips the key step and nothing else; the code
//! prompt is the same either way. A caller who sets them loses the key; a caller
//! who unsets them is only asked to touch a key that someone must be physically
//! present to touch, which is exactly what "local" means. logind's word, where it
//! exists, comes from root-owned files the caller cannot write (read through
//! [`crate::secure_fs`]); a malformed or unreadable record is no answer, never
//! "local" by itself.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::audit::Escaped;
use crate::secure_fs::{self, FileError, Trust};

/// The environment variables sshd sets for every session (SSH_TTY only with a pty).
pub use mfa_proto::SSH_VARIABLES;

/// Largest logind session file read (real ones are well under 1 KiB).
const MAX_SESSION_FILE: u64 = 64 * 1024;
/// Largest /proc/self/cgroup or /proc/self/sessionid read.
const MAX_PROC_FILE: u64 = 64 * 1024;
/// logind session ids are short and alphanumeric (`session_id_valid`).
const MAX_SESSION_ID: usize = 64;
/// /proc/self/sessionid when the process has no audit session.
const NO_AUDIT_SESSION: &str = "4294967295";

/// Where logind and the kernel describe the calling process.
#[derive(Debug, Clone)]
pub struct LogindPaths {
    /// logind's session records (`/run/systemd/sessions`).
    pub sessions: PathBuf,
    /// The calling process in procfs (`/proc/self`).
    pub proc_self: PathBuf,
    /// Who must own the session records: root, not group/world-writable.
    pub trust: Trust,
}

impl LogindPaths {
    /// The machine's own.
    pub fn system() -> LogindPaths {
        LogindPaths {
            sessions: PathBuf::from("/run/systemd/sessions"),
            proc_self: PathBuf::from("/proc/self"),
            trust: Trust::ROOT_NOT_WRITABLE,
        }
    }
}

/// What logind records about the caller's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogindSession {
    /// The session id (`session-<id>.scope`, the file name).
    pub id: String,
    /// `REMOTE=1`.
    pub remote: bool,
    /// `REMOTE_HOST=` with a value (as logind wrote it, C-escaped).
    pub remote_host: Option<String>,
}

impl LogindSession {
    /// Whether logind says the user is elsewhere.
    pub fn is_remote(&self) -> bool {
        self.remote || self.remote_host.is_some()
    }
}

/// Why logind gave no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum NoAnswer {
    /// The session directory is missing or untrusted: logind does not run here (or
    /// cannot be believed).
    NotRunning(FileError),
    /// The calling process belongs to no logind session.
    NoSession,
    /// The session's record could not be read (missing, untrusted, too large).
    Unreadable(FileError),
    /// The session's record does not say what logind always writes.
    Malformed { id: String, why: &'static str },
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRunning(e) => write!(f, "not running ({e})"),
            Self::NoSession => f.write_str("no session for this process"),
            Self::Unreadable(e) => write!(f, "session record unreadable ({e})"),
            Self::Malformed { id, why } => {
                write!(
                    f,
                    "session {} record malformed ({why})",
                    Escaped(id.as_bytes())
                )
            }
        }
    }
}

/// The calling process's logind session, as recorded under `paths.sessions`.
pub fn logind_session(paths: &LogindPaths) -> Result<LogindSession, NoAnswer> {
    secure_fs::open_dir(&paths.sessions, paths.trust).map_err(NoAnswer::NotRunning)?;
    let (id, audit) = match read_proc(&paths.proc_self.join("cgroup"))
        .as_deref()
        .and_then(session_of_cgroup)
    {
        Some(id) => (id, false),
        None => {
            // Processes moved out of their session's scope (e.g. into the user's
            // service manager) keep the audit session, which logind uses as the
            // session id when there is one.
            let audit = read_proc(&paths.proc_self.join("sessionid")).unwrap_or_default();
            let audit = audit.trim();
            if audit.is_empty() || audit == NO_AUDIT_SESSION || !valid_id(audit) {
                return Err(NoAnswer::NoSession);
            }
            (audit.to_owned(), true)
        }
    };
    let text = secure_fs::read_file(&paths.sessions.join(&id), paths.trust, MAX_SESSION_FILE)
        .map_err(NoAnswer::Unreadable)?;
    let session = parse_session(&id, &text)?;
    if audit && session.audit.as_deref() != Some(id.as_str()) {
        return Err(NoAnswer::Malformed {
            id,
            why: "AUDIT= does not name the audit session",
        });
    }
    Ok(session.record)
}

/// Largest /proc/self/environ read: far above any real environment; a variable
/// hidden behind more padding only gets its owner asked for a touch.
const MAX_ENVIRON: u64 = 1024 * 1024;

/// The value of `name` in the environment the process was started with
/// (`<proc_self>/environ`), whatever the program did to its `environ` since.
pub fn start_env(proc_self: &Path, name: &str) -> Option<String> {
    let file = std::fs::File::open(proc_self.join("environ")).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_ENVIRON).read_to_end(&mut bytes).ok()?;
    bytes.split(|&b| b == 0).find_map(|entry| {
        let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// A procfs file as text; `None` if unreadable.
fn read_proc(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_PROC_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_SESSION_ID && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The session named by /proc/self/cgroup: the first unit below the slices of
/// systemd's hierarchy (as sd_pid_get_session finds it). A scope named like a
/// session deeper down, in a subtree the user may manage, names nothing.
fn session_of_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        // The unified hierarchy ("0::/…") or systemd's own v1 one.
        if !(controllers.is_empty() || controllers == "name=systemd") {
            return None;
        }
        let unit = path
            .split('/')
            .filter(|c| !c.is_empty())
            .find(|c| !c.ends_with(".slice"))?;
        let id = unit.strip_prefix("session-")?.strip_suffix(".scope")?;
        valid_id(id).then(|| id.to_owned())
    })
}

/// A parsed session record and the audit session it names.
struct Parsed {
    record: LogindSession,
    audit: Option<String>,
}

/// Reads logind's `KEY=VALUE` lines. `REMOTE` must be there, `0` or `1`, once.
fn parse_session(id: &str, bytes: &[u8]) -> Result<Parsed, NoAnswer> {
    let malformed = |why| NoAnswer::Malformed {
        id: id.to_owned(),
        why,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8"))?;
    let mut remote = None;
    let mut remote_host = None;
    let mut audit = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or(malformed("a line without ="))?;
        match key {
            "REMOTE" => {
                let flag = match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(malformed("REMOTE is neither 0 nor 1")),
                };
                if remote.replace(flag).is_some() {
                    return Err(malformed("REMOTE twice"));
                }
            }
            "REMOTE_HOST" if !value.is_empty() => remote_host = Some(value.to_owned()),
            "AUDIT" => audit = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(Parsed {
        record: LogindSession {
            id: id.to_owned(),
            remote: remote.ok_or(malformed("no REMOTE"))?,
            remote_host,
        },
        audit,
    })
}

/// The decision and what it rests on.
#[derive(Debug)]
pub struct Locality {
    /// The user is not at this machine: the key step is skipped.
    pub remote: bool,
    pub because: Because,
}

/// The rule that decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Because {
    /// PAM_RHOST is set.
    RHost,
    /// logind says the caller's session is remote.
    LogindRemote(LogindSession),
    /// An SSH variable is set; `logind` says what logind said (local or no answer).
    Ssh {
        variable: &'static str,
        logind: String,
    },
    /// logind says local and no SSH variable is set.
    LogindLocal(LogindSession),
    /// No sign of a remote user; `logind` says why logind gave no answer.
    NoRemoteSign { logind: String },
}

impl fmt::Display for Locality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.remote { "remote" } else { "local" };
        write!(f, "session is {kind} (")?;
        match &self.because {
            Because::RHost => f.write_str("PAM_RHOST")?,
            Because::LogindRemote(s) => {
                write!(f, "logind session {}: ", Escaped(s.id.as_bytes()))?;
                match &s.remote_host {
                    Some(h) => write!(f, "REMOTE_HOST={}", Escaped(h.as_bytes()))?,
                    None => f.write_str("REMOTE=1")?,
                }
            }
            Because::Ssh { variable, logind } => write!(f, "{variable}; logind: {logind}")?,
            Because::LogindLocal(s) => write!(
                f,
                "logind session {}: REMOTE=0, no SSH_CONNECTION or SSH_CLIENT",
                Escaped(s.id.as_bytes())
            )?,
            Because::NoRemoteSign { logind } => write!(
                f,
                "no PAM_RHOST, SSH_CONNECTION or SSH_CLIENT; logind: {logind}"
            )?,
        }
        f.write_str(")")
    }
}

/// Decides from PAM_RHOST (`rhost`, empty when unset), logind's record of the
/// caller's session, and `env`: a variable of the login's environment (see the
/// module header for which).
pub fn decide(
    rhost: &str,
    logind: &Result<LogindSession, NoAnswer>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Locality {
    let remote = |because| Locality {
        remote: true,
        because,
    };
    if !rhost.is_empty() {
        return remote(Because::RHost);
    }
    if let Ok(session) = logind {
        if session.is_remote() {
            return remote(Because::LogindRemote(session.clone()));
        }
    }
    // Checked also when logind says local: being stricter costs only the key.
    let ssh = SSH_VARIABLES
        .into_iter()
        .find(|name| env(name).is_some_and(|v| !v.is_empty()));
    let logind_said = match logind {
        Ok(s) => format!("session {} is local", Escaped(s.id.as_bytes())),
        Err(e) => e.to_string(),
    };
    if let Some(variable) = ssh {
        return remote(Because::Ssh {
            variable,
            logind: logind_said,
        });
    }
    Locality {
        remote: false,
        because: match logind {
            Ok(session) => Because::LogindLocal(session.clone()),
            Err(_) => Because::NoRemoteSign {
                logind: logind_said,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{owned_by_me, Scratch};

    const LOCAL_RECORD: &str = "# This is private data. Do not parse.\nUID=1000\nUSER=alice\n\
        ACTIVE=1\nIS_DISPLAY=1\nSTATE=active\nREMOTE=0\nTYPE=wayland\nCLASS=user\n\
        SCOPE=session-3.scope\nSEAT=seat0\nTTY=tty2\nSERVICE=gdm-password\nVTNR=2\n\
        LEADER=1234\nAUDIT=3\n";
    const SSH_RECORD: &str = "UID=1000\nUSER=alice\nACTIVE=1\nSTATE=active\nREMOTE=1\n\
        TYPE=tty\nCLASS=user\nSCOPE=session-7.scope\nREMOTE_HOST=192.0.2.9\nSERVICE=sshd\n\
        LEADER=4321\nAUDIT=7\n";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_with(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn session(id: &str, remote: bool, host: Option<&str>) -> Result<LogindSession, NoAnswer> {
        Ok(LogindSession {
            id: id.to_owned(),
            remote,
            remote_host: host.map(str::to_owned),
        })
    }

    /// A fake /run/systemd/sessions and /proc/self in a scratch directory.
    struct Machine {
        dir: Scratch,
        paths: LogindPaths,
    }

    impl Machine {
        fn new(cgroup: &str, sessionid: &str) -> Machine {
            let dir = Scratch::new(0o755);
            std::fs::create_dir(dir.path().join("sessions")).unwrap();
            std::fs::create_dir(dir.path().join("proc")).unwrap();
            dir.write("proc/cgroup", cgroup.as_bytes(), 0o444);
            dir.write("proc/sessionid", sessionid.as_bytes(), 0o444);
            let paths = LogindPaths {
                sessions: dir.path().join("sessions"),
                proc_self: dir.path().join("proc"),
                trust: owned_by_me(Trust::ROOT_NOT_WRITABLE),
            };
            Machine { dir, paths }
        }

        fn record(&self, id: &str, body: &str) {
            self.dir
                .write(&format!("sessions/{id}"), body.as_bytes(), 0o644);
        }
    }

    const V2_SESSION_3: &str = "0::/user.slice/user-1000.slice/session-3.scope\n";
    const NO_AUDIT: &str = "4294967295";

    #[test]
    fn pam_rhost_is_remote_whatever_else_is_said() {
        let l = decide("192.0.2.1", &session("3", false, None), &no_env);
        assert!(l.remote);
        assert_eq!(l.because, Because::RHost);
        assert_eq!(l.to_string(), "session is remote (PAM_RHOST)");
    }

    #[test]
    fn logind_remote_or_remote_host_is_remote() {
        let l = decide("", &session("7", true, None), &no_env);
        assert!(l.remote);
        assert_eq!(
            l.to_string(),
            "session is remote (logind session 7: REMOTE=1)"
        );
        // pam_systemd records ssh from localhost as REMOTE=0 with the host set.
        let l = decide("", &session("8", false, Some("::1")), &no_env);
        assert!(l.remote);
        assert!(matches!(l.because, Because::LogindRemote(_)));
        assert_eq!(
            l.to_string(),
            "session is remote (logind session 8: REMOTE_HOST=::1)"
        );
    }

    #[test]
    fn logind_local_is_local_unless_an_ssh_variable_is_set() {
        let l = decide("", &session("3", false, None), &no_env);
        assert!(!l.remote);
        assert!(matches!(l.because, Because::LogindLocal(_)));
        for name in SSH_VARIABLES {
            let env = move |n: &str| (n == name).then(|| "192.0.2.9 51000 192.0.2.1 22".into());
            let l = decide("", &session("3", false, None), &env);
            assert!(l.remote, "{name}");
            assert_eq!(
                l.to_string(),
                format!("session is remote ({name}; logind: session 3 is local)")
            );
        }
    }

    #[test]
    fn without_logind_the_ssh_variables_decide() {
        let none = || Err(NoAnswer::NoSession);
        let l = decide(
            "",
            &none(),
            &env_with(&[("SSH_CLIENT", "192.0.2.9 51000 22")]),
        );
        assert!(l.remote);
        assert_eq!(
            l.to_string(),
            "session is remote (SSH_CLIENT; logind: no session for this process)"
        );
        let l = decide("", &none(), &env_with(&[("SSH_CONNECTION", "")]));
        assert!(!l.remote, "an empty variable is no sign");
        let l = decide("", &none(), &no_env);
        assert!(!l.remote);
        assert_eq!(
            l.to_string(),
            "session is local (no PAM_RHOST, SSH_CONNECTION or SSH_CLIENT; \
             logind: no session for this process)"
        );
    }

    #[test]
    fn the_session_comes_from_the_cgroup_below_the_slices() {
        for (cgroup, want) in [
            (V2_SESSION_3, Some("3")),
            // cgroup v1 / hybrid: systemd's named hierarchy.
            (
                "12:cpu,cpuacct:/\n1:name=systemd:/user.slice/user-1000.slice/session-c2.scope\n",
                Some("c2"),
            ),
            ("0::/system.slice/ssh.service\n", None),
            ("0::/\n", None),
            // A scope the user made under their own service manager names nothing.
            (
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/session-3.scope\n",
                None,
            ),
            // Another controller's path is not systemd's.
            ("4:memory:/user.slice/session-3.scope\n", None),
            ("0::/user.slice/session-../x.scope\n", None),
            ("0::/user.slice/session-3_4.scope\n", None),
        ] {
            assert_eq!(session_of_cgroup(cgroup).as_deref(), want, "{cgroup}");
        }
    }

    #[test]
    fn a_session_record_is_read_from_loginds_directory() {
        let m = Machine::new(V2_SESSION_3, "3");
        m.record("3", LOCAL_RECORD);
        assert_eq!(
            logind_session(&m.paths).unwrap(),
            session("3", false, None).unwrap()
        );
        let m = Machine::new("0::/user.slice/user-1000.slice/session-7.scope\n", NO_AUDIT);
        m.record("7", SSH_RECORD);
        let s = logind_session(&m.paths).unwrap();
        assert!(s.is_remote());
        assert_eq!(s.remote_host.as_deref(), Some("192.0.2.9"));
    }

    #[test]
    fn the_audit_session_is_the_fallback_and_must_match_the_record() {
        let m = Machine::new("0::/user.slice/user-1000.slice/user@1000.service/x\n", "3");
        m.record("3", LOCAL_RECORD);
        assert_eq!(logind_session(&m.paths).unwrap().id, "3");
        m.record("3", &LOCAL_RECORD.replace("AUDIT=3", "AUDIT=9"));
        assert!(matches!(
            logind_session(&m.paths),
            Err(NoAnswer::Malformed { .. })
        ));
        let m = Machine::new("0::/\n", NO_AUDIT);
        assert!(matches!(logind_session(&m.paths), Err(NoAnswer::NoSession)));
    }

    #[test]
    fn no_logind_directory_is_no_answer() {
        let m = Machine::new(V2_SESSION_3, "3");
        std::fs::remove_dir(&m.paths.sessions).unwrap();
        assert!(matches!(
            logind_session(&m.paths),
            Err(NoAnswer::NotRunning(FileError::Missing(_)))
        ));
    }

    #[test]
    fn untrusted_or_malformed_records_are_no_answer_and_the_environment_decides() {
        let cases: [(&str, &[u8], u32); 7] = [
            ("missing", b"", 0),
            ("group-writable", LOCAL_RECORD.as_bytes(), 0o664),
            ("no REMOTE", b"UID=1000\nUSER=alice\n", 0o644),
            ("REMOTE=yes", b"REMOTE=yes\n", 0o644),
            ("REMOTE twice", b"REMOTE=0\nREMOTE=1\n", 0o644),
            ("no =", b"REMOTE=0\ngarbage\n", 0o644),
            ("not UTF-8", b"REMOTE=0\nUSER=\xff\n", 0o644),
        ];
        for (case, body, mode) in cases {
            let m = Machine::new(V2_SESSION_3, "3");
            if mode != 0 {
                m.dir.write("sessions/3", body, mode);
            }
            let answer = logind_session(&m.paths);
            assert!(answer.is_err(), "{case}: {answer:?}");
            let l = decide("", &answer, &no_env);
            assert!(!l.remote, "{case}");
            assert!(matches!(l.because, Because::NoRemoteSign { .. }), "{case}");
            let l = decide(
                "",
                &answer,
                &env_with(&[("SSH_CONNECTION", "192.0.2.9 51000 192.0.2.1 22")]),
            );
            assert!(l.remote, "{case}");
        }
        // A symlink planted for the record is not followed.
        let m = Machine::new(V2_SESSION_3, "3");
        let target = m.dir.write("elsewhere", LOCAL_RECORD.as_bytes(), 0o644);
        std::os::unix::fs::symlink(target, m.paths.sessions.join("3")).unwrap();
        assert!(matches!(
            logind_session(&m.paths),
            Err(NoAnswer::Unreadable(FileError::Symlink(_)))
        ));
        // So is a world-writable session directory.
        let m = Machine::new(V2_SESSION_3, "3");
        m.record("3", LOCAL_RECORD);
        std::fs::set_permissions(
            &m.paths.sessions,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        assert!(matches!(
            logind_session(&m.paths),
            Err(NoAnswer::NotRunning(FileError::Mode { .. }))
        ));
    }

    #[test]
    fn the_starting_environment_is_read_from_procfs() {
        let m = Machine::new(V2_SESSION_3, "3");
        m.dir.write(
            "proc/environ",
            b"PATH=/usr/bin\0SSH_CONNECTIONX=no\0SSH_CONNECTION=192.0.2.9 51000 192.0.2.1 22\0",
            0o400,
        );
        assert_eq!(
            start_env(&m.paths.proc_self, "SSH_CONNECTION").as_deref(),
            Some("192.0.2.9 51000 192.0.2.1 22")
        );
        assert_eq!(start_env(&m.paths.proc_self, "SSH_CLIENT"), None);
        assert_eq!(
            start_env(&m.paths.proc_self, "PATH").as_deref(),
            Some("/usr/bin")
        );
        // This process's own (whatever it holds, reading it works).
        assert_eq!(
            start_env(Path::new("/proc/self"), "PAM_MFA_NO_SUCH_VARIABLE"),
            None
        );
    }

    #[test]
    fn this_machine_gives_an_answer_or_a_reason() {
        // Whatever runs the tests (with or without logind), the real paths work.
        let answer = logind_session(&LogindPaths::system());
        let l = decide("", &answer, &no_env);
        assert!(!l.to_string().is_empty());
    }
}
