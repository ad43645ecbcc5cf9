//! The .deb installed into a fresh Debian root (debootstrap), enabled with
//! pam-auth-update and used for a real login with the installed module and CLI; the
//! .rpm's paths, modes, config flags and scriptlets, and an install into a scratch
//! root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use pam_mfa_e2e::{code, require, Sandbox, SECRET};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds both packages once per run with the project's own script.
fn packages() -> &'static (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        require("dpkg-deb", "dpkg");
        require("rpmbuild", "rpm");
        let out = workspace().join("target/e2e-packages");
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

/// A minimal Debian bookworm root, made once with debootstrap and cached under
/// target/ (about 40 s the first time), copied fresh for each use.
fn debian_root(dest: &Path) {
    require("debootstrap", "debootstrap");
    let cache = workspace().join("target/e2e-cache/bookworm-minbase");
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

#[test]
fn the_deb_installs_into_a_fresh_debian_root_and_works() {
    let sb = Sandbox::new("");
    let (deb, _) = packages();
    let root = Chroot(sb.root.join("debian"));
    debian_root(&root.0);
    fs::copy(deb, root.path("/tmp/pkg.deb"))
        .unwrap_or_else(|e| panic!("copy {} into {}: {e}", deb.display(), root.0.display()));
    root.ok("dpkg -i /tmp/pkg.deb");

    // Files, modes, and a profile that is off until the admin enables it.
    assert_eq!(
        root.mode("/usr/lib/x86_64-linux-gnu/security/pam_mfa.so"),
        0o644
    );
    assert_eq!(root.mode("/usr/bin/mfa-token"), 0o755);
    assert_eq!(root.mode("/etc/pam_mfa/config.toml"), 0o644);
    assert_eq!(root.mode("/var/lib/pam_mfa"), 0o700);
    assert!(root.path("/usr/share/man/man8/pam_mfa.8.gz").exists());
    assert!(root.path("/usr/share/man/man1/mfa-token.1.gz").exists());
    assert!(root.path("/usr/share/man/man5/pam_mfa.toml.5.gz").exists());
    let common_auth = || fs::read_to_string(root.path("/etc/pam.d/common-auth")).unwrap();
    assert!(
        !common_auth().contains("pam_mfa"),
        "installing must not change the PAM stack"
    );
    root.ok("grep -qx /etc/pam_mfa/config.toml /var/lib/dpkg/info/libpam-mfa.conffiles");

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

    // Remove: the module leaves common-auth first, so logins keep working; the
    // configuration and the enrollments stay.
    root.ok("dpkg --remove libpam-mfa");
    assert!(!common_auth().contains("pam_mfa"), "{}", common_auth());
    assert!(
        root.login("alice", &["pw-Alice-1"]),
        "logins work after removal"
    );
    assert!(root.path("/etc/pam_mfa/config.toml").exists());
    assert!(root.path("/var/lib/pam_mfa/alice.toml").exists());
    root.ok("dpkg -i /tmp/pkg.deb");
    root.ok("mfa-token list --user alice | grep -q 'authenticator app'");

    // Purge: configuration and store are gone.
    root.ok("dpkg --purge libpam-mfa");
    assert!(!root.path("/etc/pam_mfa").exists());
    assert!(!root.path("/var/lib/pam_mfa").exists());
    assert!(!common_auth().contains("pam_mfa"));
}

#[test]
fn the_rpm_has_the_right_paths_modes_config_flags_and_no_scriptlets() {
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
        "-rw-r--r-- root cn /etc/pam_mfa/config.toml",
        "drwx------ root  /var/lib/pam_mfa",
        "-rw-r--r-- root d /usr/share/man/man8/pam_mfa.8",
        "-rw-r--r-- root d /usr/share/man/man5/pam_mfa.toml.5",
        "-rw-r--r-- root d /usr/share/man/man1/mfa-token.1",
        "-rw-r--r-- root l /usr/share/licenses/pam_mfa/LICENSE",
    ] {
        assert!(
            dump.lines().any(|l| l == want),
            "missing {want:?} in\n{dump}"
        );
    }
    let (ok, scripts) = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm));
    assert!(
        ok && scripts.trim().is_empty(),
        "no scriptlets: PAM stacks on RPM systems are the admin's (authselect): {scripts}"
    );

    let sb = Sandbox::new("");
    let root = sb.root.join("rpmroot");
    fs::create_dir_all(&root).unwrap();
    let (ok, text) = run(Command::new("rpm").arg("--root").arg(&root).arg("--initdb"));
    assert!(ok, "{text}");
    let (ok, text) = run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-i", "--nodeps"])
        .arg(rpm));
    assert!(ok, "{text}");
    for (path, mode) in [
        ("usr/lib64/security/pam_mfa.so", 0o755),
        ("usr/bin/mfa-token", 0o755),
        ("etc/pam_mfa/config.toml", 0o644),
        ("var/lib/pam_mfa", 0o700),
    ] {
        let meta = fs::metadata(root.join(path)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        assert_eq!(meta.uid(), 0, "{path}");
    }
}
