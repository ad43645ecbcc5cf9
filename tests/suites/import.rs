//! `mfa-token import google-authenticator` with files written by Debian's own
//! `google-authenticator`, then real logins with oathtool codes and scratch codes.
//! Counter-based (HOTP) files are imported in suites/hotp.rs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use pam_mfa_e2e::{code, google_authenticator, now, oathtool_at, Sandbox, TempUser};

const USER: &str = "daemon";

/// The secret (first line) and scratch codes (8-digit lines) of a file.
fn secret_and_scratch(path: &std::path::Path) -> (String, Vec<String>) {
    let text = fs::read_to_string(path).unwrap();
    let secret = text.lines().next().unwrap().to_owned();
    let scratch = text
        .lines()
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    (secret, scratch)
}

#[test]
fn a_totp_file_with_scratch_codes_imports_and_logs_in() {
    let sb = Sandbox::new("");
    let file = sb.root.join("ga");
    google_authenticator(
        &file,
        &[
            "--time-based",
            "--disallow-reuse",
            "--rate-limit=3",
            "--rate-time=30",
            "--window-size=3",
            "--emergency-codes=5",
        ],
    );
    let before = (fs::read(&file).unwrap(), fs::metadata(&file).unwrap());
    let (secret, scratch) = secret_and_scratch(&file);
    assert_eq!(scratch.len(), 5);

    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        file.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("daemon: imported from {}.", file.display())),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("not carried over: RATE_LIMIT 3 logins per 30 s; pam_mfa locks out for 300 s after 5 wrong codes"), "{}", o.stdout);
    assert!(
        o.stdout.contains("5 scratch codes became recovery codes"),
        "{}",
        o.stdout
    );
    assert!(
        !o.stdout.contains("WINDOW_SIZE"),
        "a window of 3 is what pam_mfa uses: {}",
        o.stdout
    );
    assert!(
        o.syslog[0].contains(
            "user=daemon: authenticator app \"default\" imported from google-authenticator file"
        ),
        "{:?}",
        o.syslog
    );

    // The same app entry keeps working, and the scratch codes work once each.
    assert!(sb.login(USER, &[&code(&secret, 0)]).ok);
    assert!(sb.login(USER, &[&scratch[2]]).ok);
    assert!(!sb.login(USER, &[&scratch[2]]).ok);
    // The original file is untouched.
    let after = (fs::read(&file).unwrap(), fs::metadata(&file).unwrap());
    assert_eq!(before.0, after.0);
    assert_eq!(
        (before.1.mode(), before.1.uid(), before.1.mtime()),
        (after.1.mode(), after.1.uid(), after.1.mtime())
    );
    // Importing again over an enrollment needs --replace.
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("add --replace"), "{}", o.stderr);
}

#[test]
fn step_size_and_window_are_reported_and_the_step_is_kept() {
    let sb = Sandbox::new("");
    let file = sb.root.join("ga");
    google_authenticator(
        &file,
        &[
            "--time-based",
            "--allow-reuse",
            "--no-rate-limit",
            "--step-size=60",
            "--window-size=17",
            "--emergency-codes=0",
        ],
    );
    let (secret, _) = secret_and_scratch(&file);
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        file.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stdout
            .contains("not carried over: WINDOW_SIZE 17; pam_mfa accepts 1 step(s) on each side"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "changed: the file allowed reusing a code; pam_mfa accepts each code only once"
        ),
        "{}",
        o.stdout
    );
    let c = oathtool_at(&secret, &["--totp", "-s", "60s"], now());
    assert!(sb.login(USER, &[&c]).ok);
    assert!(!sb.login(USER, &[&c]).ok, "reuse is never allowed");
}

#[test]
fn all_users_walks_homes_and_refuses_symlinks() {
    let sb = Sandbox::new("");
    let good = TempUser::new(&sb.root.join("home-good"));
    let evil = TempUser::new(&sb.root.join("home-evil"));
    let file = good.home.join(".google_authenticator");
    google_authenticator(
        &file,
        &[
            "--time-based",
            "--disallow-reuse",
            "--no-rate-limit",
            "--window-size=3",
            "--emergency-codes=1",
        ],
    );
    std::os::unix::fs::chown(&file, Some(good.uid), Some(good.uid)).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o400)).unwrap();
    // A user who points the file at a secret of root's is refused, not read.
    std::os::unix::fs::symlink("/etc/shadow", evil.home.join(".google_authenticator")).unwrap();

    let o = sb.cli(&["import", "google-authenticator", "--all-users"]);
    assert!(
        o.stdout
            .contains(&format!("{}: imported from {}.", good.name, file.display())),
        "{o:?}"
    );
    assert!(
        o.stderr.contains(&format!("{}: skipped:", evil.name)),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("is a symbolic link, refused"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains("root:"),
        "nothing of /etc/shadow is shown"
    );
    assert_eq!(o.code, Some(1), "a skipped user makes the run fail");
    let (secret, scratch) = secret_and_scratch(&file);
    assert!(sb.login(&good.name, &[&code(&secret, 0)]).ok);
    assert!(sb.login(&good.name, &[&scratch[0]]).ok);
    assert!(sb.record(&evil.name).is_none());
}

#[test]
fn a_file_imported_under_a_name_is_added_next_to_the_app_the_user_has() {
    let sb = Sandbox::new("");
    let mut secrets = vec![];
    for (name, file) in [("default", "ga-1"), ("laptop", "ga-2")] {
        let file = sb.root.join(file);
        google_authenticator(
            &file,
            &[
                "--time-based",
                "--disallow-reuse",
                "--no-rate-limit",
                "--window-size=3",
                "--emergency-codes=0",
            ],
        );
        secrets.push(secret_and_scratch(&file).0);
        let path = file.to_str().unwrap();
        let o = sb.cli(&[
            "import",
            "google-authenticator",
            "--user",
            USER,
            "--name",
            name,
            path,
        ]);
        assert!(o.ok(), "{name}: {}", o.stderr);
        let line = format!("user=daemon: authenticator app \"{name}\" imported");
        assert!(o.syslog[0].contains(&line), "{:?}", o.syslog);
    }
    let names: Vec<String> = sb
        .record(USER)
        .unwrap()
        .apps()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert_eq!(names, ["default", "laptop"]);
    // Either file's app logs in.
    assert!(sb.login(USER, &[&code(&secrets[1], 0)]).ok);
    assert!(sb.login(USER, &[&code(&secrets[0], 0)]).ok);
    // The name taken: --replace, as for the default app.
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        "--name",
        "laptop",
        sb.root.join("ga-1").to_str().unwrap(),
    ]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("named \"laptop\"; add --replace"),
        "{}",
        o.stderr
    );
}
