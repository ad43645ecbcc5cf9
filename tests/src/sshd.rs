//! A real sshd on 127.0.0.1 with its own PAM service, and a real ssh client that
//! answers keyboard-interactive prompts.
//!
//! The sshd binary is copied under the name `sshd-mfa`, so libpam uses the service
//! `sshd-mfa`; it runs in a mount namespace where /etc/pam.d is the sandbox's copy
//! of the machine's directory plus that file, so the machine's PAM configuration is
//! never read for it nor changed. Its /dev is private, with /dev/log read by the
//! test ([`Sshd::syslog`]); with [`Options::sudo`], sudo inside the sessions uses
//! the sandbox's PAM file and sudoers.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{from_pty, private_dev, require, LogSink, Sandbox, TempUser};

/// A running sshd, killed on drop.
pub struct Sshd {
    child: Child,
    pub port: u16,
    log: LogSink,
    /// Where the sandbox's pam_mfad log was when sshd started.
    mark: crate::LogMark,
}

/// What sshd's namespace holds besides its own PAM service.
#[derive(Default)]
pub struct Options<'a> {
    /// /etc/default/locale says `LANG=<system_lang>`.
    pub system_lang: Option<&'a str>,
    /// sudo in the sessions: this PAM file (see [`Sandbox::fill`]) as
    /// /etc/pam.d/sudo, and sudoers letting this user run anything.
    pub sudo: Option<(&'a str, &'a TempUser)>,
}

/// How an ssh login went.
#[derive(Debug)]
pub struct SshLogin {
    /// Whether the remote command ran (its output was seen).
    pub ran: bool,
    /// Everything the client printed.
    pub transcript: String,
}

impl Sshd {
    /// Starts sshd with `pam` as the `auth`/`account`/`session` configuration of its
    /// service (see [`Sandbox::fill`]); with `system_lang`, /etc/default/locale says
    /// `LANG=<system_lang>` inside sshd's namespace.
    pub fn start(sb: &Sandbox, pam: &str, system_lang: Option<&str>) -> Sshd {
        Sshd::start_with(
            sb,
            pam,
            &Options {
                system_lang,
                ..Options::default()
            },
        )
    }

    /// Starts sshd with `pam` for its service and `opts`.
    pub fn start_with(sb: &Sandbox, pam: &str, opts: &Options<'_>) -> Sshd {
        let system_lang = opts.system_lang;
        // pam_mfad chooses the language: it reads /etc/default/locale.
        sb.set_system_lang(system_lang);
        let mark = sb.daemon_mark();
        require("sshd", "openssh-server");
        require("ssh", "openssh-client");
        // What the systemd unit's RuntimeDirectory= would make.
        fs::create_dir_all("/run/sshd").unwrap();
        let dir = sb.root.join("sshd");
        fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("sshd-mfa");
        fs::copy("/usr/sbin/sshd", &binary).unwrap();
        let pam_dir = dir.join("pam.d");
        copy_dir("/etc/pam.d".as_ref(), &pam_dir);
        fs::write(pam_dir.join("sshd-mfa"), sb.fill(pam)).unwrap();
        let mut sudoers_mount = String::new();
        if let Some((sudo_pam, user)) = opts.sudo {
            require("sudo", "sudo");
            let (sudo_pam, sudoers) = crate::sudo::files(sb, &dir.join("sudo"), user, sudo_pam);
            fs::copy(sudo_pam, pam_dir.join("sudo")).unwrap();
            sudoers_mount = format!(r#"mount --bind "{}" /etc/sudoers && "#, sudoers.display());
        }
        let syslog = LogSink::bind(&dir.join("log.sock"));
        let host_key = dir.join("host_key");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .status()
            .unwrap();
        assert!(status.success());
        let port = free_port();
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {}\nPidFile {}\nUsePAM yes\n\
                 KbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
                 PubkeyAuthentication no\nAuthenticationMethods keyboard-interactive\n\
                 StrictModes no\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let locale = dir.join("locale");
        fs::write(
            &locale,
            system_lang.map_or(String::new(), |l| format!("LANG={l}\n")),
        )
        .unwrap();
        let log = fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!(
                concat!(
                    "{} && {}",
                    r#"mount --bind "$1" /etc/pam.d && touch /etc/default/locale && "#,
                    r#"mount --bind "$4" /etc/default/locale && exec "$2" -D -e -f "$3""#
                ),
                private_dev(&syslog, &dir.join("pts")),
                sudoers_mount
            ))
            .arg("sh")
            .arg(&pam_dir)
            .arg(&binary)
            .arg(&config)
            .arg(&locale)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let sshd = Sshd {
            child,
            port,
            log: syslog,
            mark,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    /// Logs in as `user` with keyboard-interactive, answering the password prompt
    /// with `password` and the verification code prompt (`code_prompt`) with `code`,
    /// and runs `echo remote-ok`.
    pub fn login(&self, user: &str, password: &str, code_prompt: &str, code: &str) -> SshLogin {
        let mut p = self.client(user, None);
        let mut transcript = String::new();
        transcript.push_str(&p.exp_string("Password:").expect("password prompt"));
        p.send_line(password).unwrap();
        match p.exp_string(code_prompt) {
            Ok(before) => {
                transcript.push_str(&before);
                transcript.push_str(code_prompt);
                p.send_line(code).unwrap();
            }
            // Refused before the code prompt, or another prompt: keep what was seen.
            Err(
                rexpect::error::Error::EOF { got, .. } | rexpect::error::Error::Timeout { got, .. },
            ) => transcript.push_str(&got),
            Err(e) => panic!("ssh: {e}"),
        }
        transcript.push_str(&p.exp_eof().unwrap_or_default());
        let transcript = from_pty(&transcript);
        SshLogin {
            ran: transcript.lines().any(|l| l.trim() == "remote-ok"),
            transcript,
        }
    }

    /// Logs in as `user` with keyboard-interactive the way a client with one
    /// field does: the first prompt must be `prompt`, answered with `answer`
    /// (password and code together); a further prompt is left unanswered (the
    /// transcript then ends in `[second prompt]`, after the client's timeout), and
    /// `echo remote-ok` runs only if the login passed.
    pub fn login_once(&self, user: &str, prompt: &str, answer: &str) -> SshLogin {
        let mut p = self.client(user, None);
        let mut transcript = String::new();
        match p.exp_string(prompt) {
            Ok(before) => {
                transcript.push_str(&before);
                transcript.push_str(prompt);
                p.send_line(answer).unwrap();
            }
            Err(
                rexpect::error::Error::EOF { got, .. } | rexpect::error::Error::Timeout { got, .. },
            ) => {
                transcript.push_str(&got);
                return SshLogin {
                    ran: false,
                    transcript: from_pty(&transcript),
                };
            }
            Err(e) => panic!("ssh: {e}"),
        }
        // A second prompt waits for an answer a one-field client does not have:
        // the client's timeout ends it.
        match p.exp_eof() {
            Ok(rest) => transcript.push_str(&rest),
            Err(rexpect::error::Error::Timeout { got, .. }) => {
                transcript.push_str(&got);
                transcript.push_str("\n[second prompt]\n");
            }
            Err(rexpect::error::Error::EOF { got, .. }) => transcript.push_str(&got),
            Err(e) => panic!("ssh: {e}"),
        }
        let transcript = from_pty(&transcript);
        SshLogin {
            ran: transcript.lines().any(|l| l.trim() == "remote-ok"),
            transcript,
        }
    }

    /// What sshd, the modules of its PAM stacks and the programs of its sessions
    /// (sudo) sent to syslog so far, then what pam_mfad logged since sshd started.
    pub fn syslog(&self) -> Vec<String> {
        let mut lines = self.log.lines();
        lines.extend(self.mark.since());
        lines
    }

    /// An ssh client on a pseudo-terminal logging in as `user` with
    /// keyboard-interactive to run `echo remote-ok`; with `ctype`, its LC_CTYPE
    /// (the client shows UTF-8 from the server only in a UTF-8 locale).
    pub fn client(&self, user: &str, ctype: Option<&str>) -> rexpect::session::PtySession {
        self.client_running(user, ctype, &["echo", "remote-ok"])
    }

    /// Like [`Sshd::client`], running `command` (no remote terminal: its standard
    /// input is what is typed into the client's).
    pub fn client_running(
        &self,
        user: &str,
        ctype: Option<&str>,
        command: &[&str],
    ) -> rexpect::session::PtySession {
        let mut cmd = Command::new("ssh");
        cmd.args(["-T", "-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "PreferredAuthentications=keyboard-interactive",
                "-o",
                "PubkeyAuthentication=no",
            ])
            .args([
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=no",
            ])
            .arg(format!("{user}@127.0.0.1"))
            .args(command)
            .env_remove("LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE");
        if let Some(ctype) = ctype {
            cmd.env("LC_CTYPE", ctype);
        }
        rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn ssh")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies the regular files and symlinks of `from` into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), target).unwrap();
        } else if kind.is_file() {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
