//! Real sudo for a test user, with the sandbox's PAM file bind-mounted over
//! /etc/pam.d/sudo and its sudoers over /etc/sudoers inside `unshare --mount`, so
//! the machine's files are never changed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::{require, Sandbox, TempUser};

/// How a sudo run went.
#[derive(Debug)]
pub struct SudoRun {
    /// Whether the command ran (its output was seen).
    pub ran: bool,
    pub stdout: String,
    pub stderr: String,
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
    let dir = sb.root.join("sudo");
    fs::create_dir_all(&dir).unwrap();
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
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(concat!(
            r#"mount --bind "$1" /etc/pam.d/sudo && mount --bind "$2" /etc/sudoers && "#,
            r#"exec setpriv --reuid="$3" --regid="$3" --init-groups sudo -S echo sudo-ran"#
        ))
        .arg("sh")
        .arg(&pam_file)
        .arg(&sudoers)
        .arg(user.uid.to_string())
        .env_remove("LANG")
        .env_remove("LC_ALL")
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
    }
}
