//! Real sudo for a test user, with the sandbox's PAM file bind-mounted over
//! /etc/pam.d/sudo and its sudoers over /etc/sudoers inside `unshare --mount`, so
//! the machine's files are never changed. Its /dev is private, with /dev/log read
//! by the test: what sudo and the module send to syslog is part of the result, and
//! so is what the sandbox's pam_mfad logged meanwhile.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{private_dev, require, LogSink, Sandbox, TempUser, SSH_VARIABLES};

/// How a sudo run went.
#[derive(Debug)]
pub struct SudoRun {
    /// Whether the command ran (its output was seen).
    pub ran: bool,
    pub stdout: String,
    pub stderr: String,
    /// What sudo and the modules of its PAM stack sent to syslog.
    pub syslog: Vec<String>,
}

impl SudoRun {
    /// Whether some syslog line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.syslog.iter().any(|l| l.contains(needle))
    }
}

/// Writes `pam` (see [`Sandbox::fill`]) and a sudoers file that lets `user` run
/// anything after authenticating every time, under `dir`; returns their paths.
pub fn files(sb: &Sandbox, dir: &Path, user: &TempUser, pam: &str) -> (PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let pam_file = dir.join("pam");
    fs::write(&pam_file, sb.fill(pam)).unwrap();
    let sudoers = dir.join("sudoers");
    fs::write(
        &sudoers,
        format!(
            "Defaults env_reset\nDefaults timestamp_timeout=0\nDefaults passwd_tries=1\n\
             Defaults !lecture\nDefaults env_keep += \"LANG LC_ALL LC_MESSAGES\"\n\
             root ALL=(ALL:ALL) ALL\n{} ALL=(ALL:ALL) ALL\n",
            user.name
        ),
    )
    .unwrap();
    fs::set_permissions(&sudoers, fs::Permissions::from_mode(0o440)).unwrap();
    (pam_file, sudoers)
}

/// Runs `sudo -S echo sudo-ran` as `user` with `pam` as sudo's PAM file, answering
/// the password and the verification code on standard input (`sudo -S`). No `-p`:
/// it would replace every PAM prompt, the verification code's included.
pub fn run(
    sb: &Sandbox,
    user: &TempUser,
    pam: &str,
    answers: &[&str],
    env: &[(&str, &str)],
) -> SudoRun {
    require("sudo", "sudo");
    require("setpriv", "util-linux");
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = sb
        .root
        .join(format!("sudo-{}", N.fetch_add(1, Ordering::SeqCst)));
    let (pam_file, sudoers) = files(sb, &dir, user, pam);
    let log = LogSink::bind(&dir.join("log.sock"));
    let mark = sb.daemon_mark();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!(
            concat!(
                "{} && ",
                r#"mount --bind "$1" /etc/pam.d/sudo && mount --bind "$2" /etc/sudoers && "#,
                r#"exec setpriv --reuid="$3" --regid="$3" --init-groups sudo -S echo sudo-ran"#
            ),
            private_dev(&log, &dir.join("pts"))
        ))
        .arg("sh")
        .arg(&pam_file)
        .arg(&sudoers)
        .arg(user.uid.to_string())
        .env_remove("LANG")
        .env_remove("LC_ALL");
    for name in SSH_VARIABLES {
        cmd.env_remove(name);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sudo");
    let mut stdin = child.stdin.take().unwrap();
    for a in answers {
        let _ = writeln!(stdin, "{a}");
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    SudoRun {
        ran: out.status.success() && stdout.lines().any(|l| l == "sudo-ran"),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        syslog: {
            let mut lines = log.finish();
            lines.extend(mark.since());
            lines
        },
    }
}
