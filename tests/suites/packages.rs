//! The .deb installed into a fresh Debian root (debootstrap), enabled with
//! pam-auth-update and used for a real login with the installed module and CLI; the
//! .rpm's paths, modes, config flags and scriptlets, and an install into a scratch
//! root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

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
