//! Throwaway accounts and other tools' files for the suites.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::require;

/// A system account made for one test and deleted on drop, with its home at `home`.
pub struct TempUser {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
}

impl TempUser {
    /// An account that cannot log in (no shell, no password).
    pub fn new(home: &Path) -> TempUser {
        TempUser::create(home, "/usr/sbin/nologin", None)
    }

    /// An account with a shell and `password`, for sshd and sudo.
    pub fn with_password(home: &Path, password: &str) -> TempUser {
        TempUser::create(home, "/bin/sh", Some(password))
    }

    fn create(home: &Path, shell: &str, password: Option<&str>) -> TempUser {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mfat{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let status = Command::new("useradd")
            .args(["--system", "--shell", shell, "--create-home", "--home-dir"])
            .arg(home)
            .arg(&name)
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name}");
        let user = TempUser {
            uid: std::os::unix::fs::MetadataExt::uid(&fs::metadata(home).unwrap()),
            name,
            home: home.to_owned(),
        };
        if let Some(password) = password {
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .expect("run chpasswd");
            writeln!(child.stdin.take().unwrap(), "{}:{password}", user.name).unwrap();
            assert!(child.wait().unwrap().success(), "chpasswd");
        }
        user
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// Runs Debian's `google-authenticator` non-interactively, writing `file`.
pub fn google_authenticator(file: &Path, args: &[&str]) {
    require("google-authenticator", "libpam-google-authenticator");
    let out = Command::new("google-authenticator")
        .args([
            "--force",
            "--no-confirm",
            "--quiet",
            "--qr-mode=NONE",
            "--secret",
        ])
        .arg(file)
        .args(args)
        .output()
        .expect("run google-authenticator");
    assert!(
        out.status.success(),
        "google-authenticator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A group made for one test, with `user` as a member; deleted on drop.
pub struct TempGroup(pub String);

impl TempGroup {
    pub fn with_member(user: &str) -> TempGroup {
        let name = format!("{user}g");
        assert!(Command::new("groupadd")
            .args(["--system", &name])
            .status()
            .unwrap()
            .success());
        assert!(Command::new("gpasswd")
            .args(["-a", user, &name])
            .output()
            .unwrap()
            .status
            .success());
        TempGroup(name)
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.0).status();
    }
}
