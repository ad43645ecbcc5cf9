//! The release `mfa-token` against a sandboxed store, checked through real logins.

use pam_mfa_e2e::{code, from_pty, now, oathtool_at, Sandbox, SECRET};

/// An account that exists on every Debian machine.
const USER: &str = "daemon";

#[test]
fn scripted_enrollment_then_login() {
    let sb = Sandbox::new("");
    let o = sb.cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stderr.contains("Authenticator app enrolled for daemon."),
        "{}",
        o.stderr
    );
    let meta = std::fs::metadata(sb.record_path(USER)).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert!(sb.login(USER, &[&code(SECRET, 0)]).ok);
}

#[test]
fn confirmed_enrollment_records_the_step_of_the_confirming_code() {
    let sb = Sandbox::new("");
    let c = code(SECRET, 0);
    let wrong = if c == "000000" { "111111" } else { "000000" };
    let o = sb.cli_with(
        &["enroll", "totp", "--user", USER, "--secret-file", "-"],
        // The key on the first line of standard input, the codes after it.
        &format!("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\n{wrong}\n{c}\n"),
        &[],
    );
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stdout.contains("That code is not valid. Tries left: 2."),
        "{}",
        o.stdout
    );
    assert!(sb.record(USER).unwrap().apps()[0].last_step().is_some());
    // The code typed at enrollment cannot be replayed at login; the next one works.
    assert!(!sb.login(USER, &[&c]).ok);
    assert!(
        sb.login(USER, &[&oathtool_at(SECRET, &["--totp"], now() + 30)])
            .ok
    );
}

#[test]
fn enrollment_without_a_valid_code_saves_nothing() {
    let sb = Sandbox::new("");
    let o = sb.cli_with(
        &["enroll", "totp", "--user", USER, "--secret-file", "-"],
        &format!("{SECRET}\n1\n2\n3\n"),
        &[],
    );
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("no valid code after 3 tries; nothing was saved"),
        "{}",
        o.stderr
    );
    assert!(sb.record(USER).is_none());
}

#[test]
fn re_enrollment_needs_replace() {
    let sb = Sandbox::new("");
    let args = ["enroll", "totp", "--user", USER, "--no-confirm"];
    assert!(sb.cli_secret(&args, SECRET).ok());
    let o = sb.cli_secret(&args, SECRET);
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("daemon already has an authenticator app named \"default\"; add --replace"),
        "{}",
        o.stderr
    );
    let other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--no-confirm",
            "--replace",
        ],
        other,
    );
    assert!(o.ok(), "{}", o.stderr);
    assert!(sb.login(USER, &[&code(other, 0)]).ok);
}

#[test]
fn unknown_and_invalid_users_are_refused_clearly() {
    let sb = Sandbox::new("");
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            "no-such-user-xyz",
            "--no-confirm",
        ],
        SECRET,
    );
    assert_eq!(o.code, Some(1));
    assert_eq!(o.stderr, "mfa-token: no such user: no-such-user-xyz\n");
    let o = sb.cli(&["recovery", "--user", "../root"]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("../root cannot be used with pam_mfa"),
        "{}",
        o.stderr
    );
    let o = sb.cli_with(
        &["recovery", "--user", "no-such-user-xyz"],
        "",
        &[("LANG", "nl_NL.UTF-8")],
    );
    assert_eq!(
        o.stderr,
        "mfa-token: gebruiker bestaat niet: no-such-user-xyz\n"
    );
}

#[test]
fn a_bad_secret_is_refused() {
    let sb = Sandbox::new("");
    let o = sb.cli_secret(
        &["enroll", "totp", "--user", USER, "--no-confirm"],
        "not base32!",
    );
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("invalid secret: the secret is not valid base32"),
        "{}",
        o.stderr
    );
    let o = sb.cli_secret(
        &["enroll", "totp", "--user", USER, "--no-confirm"],
        "JBSWY3DP",
    );
    assert!(o.stderr.contains("40 bits long"), "{}", o.stderr);
    assert!(sb.record(USER).is_none());
}

#[test]
fn recovery_codes_are_printed_once_and_work_once() {
    let sb = Sandbox::new("[recovery]\ncodes = 5");
    let o = sb.cli(&["recovery", "--user", USER]);
    assert!(o.ok(), "{}", o.stderr);
    let codes: Vec<String> = o.stdout.lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), 5, "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3),
        "{codes:?}"
    );
    assert!(sb.login(USER, &[&codes[0]]).ok);
    assert!(!sb.login(USER, &[&codes[0]]).ok);
    // A new set replaces the old one.
    let o = sb.cli(&["recovery", "--user", USER]);
    assert!(o.ok());
    assert!(!sb.login(USER, &[&codes[1]]).ok);
    let fresh = o.stdout.lines().next().unwrap().to_owned();
    assert!(sb.login(USER, &[&fresh]).ok);
}

#[test]
fn list_shows_factors_and_state_without_secrets() {
    let sb = Sandbox::new("");
    let o = sb.cli(&["list", "--user", USER]);
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(o.stdout, "daemon has nothing enrolled.\n");

    assert!(sb
        .cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET)
        .ok());
    assert!(sb.cli(&["recovery", "--user", USER]).ok());
    assert!(!sb.login(USER, &["bad"]).ok);
    let o = sb.cli(&["list", "--user", USER]);
    let text = o.stdout;
    assert!(
        text.contains("authenticator app \"default\": SHA1, 6 digits, 30 s per code"),
        "{text}"
    );
    assert!(text.contains("recovery codes: 10 unused"), "{text}");
    assert!(
        !text.contains("failed attempts"),
        "list shows factors only: {text}"
    );
    assert!(!text.contains(SECRET));

    let o = sb.cli(&["status", "--user", USER]);
    let text = o.stdout;
    assert!(text.contains("recovery codes: 10 unused"), "{text}");
    assert!(text.contains("failed attempts in a row: 1"), "{text}");
    assert!(text.contains("last failed attempt: "), "{text}");
    assert!(text.contains("not locked out"), "{text}");
    assert!(!text.contains(SECRET));

    let o = sb.cli(&["list", "--user", USER, "--json"]);
    let json = o.stdout;
    assert!(json.contains("\"algorithm\": \"SHA1\""), "{json}");
    assert!(json.contains("\"unused\": 10"), "{json}");
    assert!(!json.contains("failures"), "{json}");
    assert!(!json.contains(SECRET));

    let o = sb.cli(&["status", "--user", USER, "--json"]);
    let json = o.stdout;
    assert!(json.contains("\"failures\": 1"), "{json}");
    assert!(json.contains("\"locked_until\": null"), "{json}");
    assert!(!json.contains(SECRET));
}

#[test]
fn remove_revokes_factors() {
    let sb = Sandbox::new("");
    assert!(sb
        .cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET)
        .ok());
    assert!(sb.cli(&["recovery", "--user", USER]).ok());
    let o = sb.cli(&["remove", "--user", USER, "--totp"]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("Removed for daemon: authenticator app \"default\"."),
        "{}",
        o.stderr
    );
    assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok);
    assert!(sb.record(USER).unwrap().recovery().is_some());
    let o = sb.cli(&["remove", "--user", USER, "--all"]);
    assert!(o.ok());
    assert!(sb.record(USER).is_none());
    let o = sb.cli(&["remove", "--user", USER, "--all"]);
    assert!(
        o.stderr.contains("daemon: nothing to remove."),
        "{}",
        o.stderr
    );
    let o = sb.cli(&["remove", "--user", USER]);
    assert_eq!(
        o.code,
        Some(2),
        "one of --all, --totp, --recovery is required"
    );
}

#[test]
fn an_insecure_config_is_refused_by_the_cli_too() {
    let sb = Sandbox::new("");
    std::fs::set_permissions(
        &sb.config,
        std::os::unix::fs::PermissionsExt::from_mode(0o646),
    )
    .unwrap();
    let o = sb.cli(&["list", "--user", USER]);
    assert!(!o.ok());
    assert!(o.stderr.contains("mode 0646 is insecure"), "{}", o.stderr);
}

#[test]
fn sha256_sha512_and_longer_codes_work_end_to_end() {
    for (alg, oath) in [("SHA256", "--totp=sha256"), ("SHA512", "--totp=sha512")] {
        let sb = Sandbox::new("");
        let o = sb.cli_secret(
            &[
                "enroll",
                "totp",
                "--user",
                USER,
                "--no-confirm",
                "--algorithm",
                alg,
                "--digits",
                "8",
                "--period",
                "60",
            ],
            SECRET,
        );
        assert!(o.ok(), "{}", o.stderr);
        let c = oathtool_at(SECRET, &[oath, "-d", "8", "-s", "60s"], now());
        assert_eq!(c.len(), 8);
        // The SHA1/6/30 code of the same secret is not accepted.
        assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok);
        assert!(sb.login(USER, &[&c]).ok, "{alg}");
    }
}

#[test]
fn a_key_typed_on_the_terminal_is_not_echoed_and_never_in_the_arguments() {
    let sb = Sandbox::new("");
    let mut p = sb.cli_pty(
        &["enroll", "totp", "--user", USER, "--secret-file", "-"],
        &[],
    );
    p.exp_string("Key (base32 or otpauth:// URI, not shown): ")
        .unwrap();
    p.send_line(SECRET).unwrap();
    let echoed = from_pty(&p.exp_string("Setting up an authenticator app").unwrap());
    assert!(!echoed.contains(SECRET), "the key was echoed: {echoed}");
    // Waiting for the code: the key is in memory, not in what others can read.
    p.exp_string("Code shown by the app now: ").unwrap();
    // What every user can read of the running mfa-token (this sandbox's config
    // path tells it from others).
    let config = sb.config.to_str().unwrap();
    let running: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args[0].ends_with("/mfa-token") && args.iter().any(|a| a == config))
                .then_some((dir, args))
        })
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    let (dir, args) = &running[0];
    assert!(args.iter().any(|a| a == "--secret-file"), "{args:?}");
    let environ =
        String::from_utf8_lossy(&std::fs::read(dir.join("environ")).unwrap()).into_owned();
    for text in [&args.join(" "), &environ] {
        assert!(
            !text.to_ascii_uppercase().contains("JBSWY3DP"),
            "{} shows the key",
            dir.display()
        );
    }
    let c = code(SECRET, 0);
    p.send_line(&c).unwrap();
    p.exp_eof().unwrap();
    assert!(!sb.login(USER, &[&c]).ok, "the confirming code is spent");
    assert!(
        sb.login(USER, &[&oathtool_at(SECRET, &["--totp"], now() + 30)])
            .ok
    );
}

#[test]
fn the_key_is_read_from_a_root_only_file_and_other_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new("");
    let args = |file: &std::path::Path| {
        [
            "enroll",
            "totp",
            "--user",
            USER,
            "--no-confirm",
            "--secret-file",
            file.to_str().unwrap(),
        ]
        .map(str::to_owned)
    };
    let run = |file: &std::path::Path| {
        let a = args(file);
        sb.cli(&a.each_ref().map(String::as_str))
    };
    let key = sb.root.join("key");
    let write = |text: &[u8], mode: u32, uid: u32| {
        let _ = std::fs::remove_file(&key);
        std::fs::write(&key, text).unwrap();
        std::os::unix::fs::chown(&key, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    };

    let link = sb.root.join("link");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    for (text, mode, uid, path, why) in [
        (SECRET.as_bytes(), 0o640, 0, &key, "mode 0640 is insecure"),
        (SECRET.as_bytes(), 0o604, 0, &key, "mode 0604 is insecure"),
        (SECRET.as_bytes(), 0o602, 0, &key, "mode 0602 is insecure"),
        (SECRET.as_bytes(), 0o600, 65534, &key, "owned by uid 65534"),
        (SECRET.as_bytes(), 0o600, 0, &link, "is a symbolic link"),
        (&[b'A'; 5000], 0o600, 0, &key, "larger than the limit"),
        (b"\n", 0o600, 0, &key, "empty"),
        (
            b"JBSWY3DP\nEHPK3PXP\n",
            0o600,
            0,
            &key,
            "more than one line",
        ),
    ] {
        write(text, mode, uid);
        let o = run(path);
        assert_eq!(o.code, Some(1), "{why}: {}", o.stderr);
        assert!(o.stderr.contains(why), "want {why}: {}", o.stderr);
        assert!(!o.stderr.contains("JBSWY3DP"), "{}", o.stderr);
        assert!(sb.record(USER).is_none(), "{why}");
    }
    let o = run(&sb.root.join("missing"));
    assert!(o.stderr.contains("no such file"), "{}", o.stderr);

    // Root's, 0600 or 0400, with the newline an editor or echo leaves.
    for mode in [0o600, 0o400] {
        write(format!("{SECRET}\n").as_bytes(), mode, 0);
        let o = run(&key);
        assert!(o.ok(), "{}", o.stderr);
        let mut again = args(&key).to_vec();
        again.push("--replace".to_owned());
        assert!(sb
            .cli(&again.iter().map(String::as_str).collect::<Vec<_>>())
            .ok());
        assert!(sb.cli(&["remove", "--user", USER, "--all"]).ok());
    }
    write(format!("{SECRET}\n").as_bytes(), 0o600, 0);
    assert!(run(&key).ok());
    assert!(sb.login(USER, &[&code(SECRET, 0)]).ok);
}

#[test]
fn the_key_from_standard_input_works_and_empty_input_is_refused() {
    let sb = Sandbox::new("");
    let args = ["enroll", "totp", "--user", USER, "--no-confirm"];
    let o = sb.cli_with(&[&args[..], &["--secret-file", "-"]].concat(), "", &[]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("cannot read standard input: empty: expected a base32 key"),
        "{}",
        o.stderr
    );
    assert!(sb.record(USER).is_none());
    let o = sb.cli_secret(&args, SECRET);
    assert!(o.ok(), "{}", o.stderr);
    assert!(sb.login(USER, &[&code(SECRET, 0)]).ok);
}

#[test]
fn the_removed_secret_option_is_refused_and_points_to_secret_file() {
    let sb = Sandbox::new("");
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--secret",
        SECRET,
        "--no-confirm",
    ]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.starts_with(
            "mfa-token: --secret is no longer accepted: a key on the command line is visible to every user"
        ),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--secret-file -"), "{}", o.stderr);
    assert!(!o.stderr.contains(SECRET), "the key is not repeated");
    assert!(sb.record(USER).is_none());
    let help = sb.cli(&["enroll", "totp", "--help"]).stdout;
    assert!(help.contains("--secret-file <FILE|->"), "{help}");
    assert!(!help.contains("--secret <"), "{help}");
}

#[test]
fn a_user_named_in_another_case_is_the_account_itself() {
    let sb = Sandbox::new("");
    sb.ignore_case_in_user_names();
    // "ALICE" is alice on this user database: her record, not a new one.
    let o = sb.cli_secret(
        &["enroll", "totp", "--user", "ALICE", "--no-confirm"],
        SECRET,
    );
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr.contains("ALICE is the account alice"),
        "{}",
        o.stderr
    );
    assert!(sb.record("alice").is_some());
    assert!(!sb.record_path("ALICE").exists());
    assert!(
        o.syslog.iter().any(|l| l.contains("user=alice")),
        "{:?}",
        o.syslog
    );
    let list = sb.cli(&["list", "--user", "Alice"]);
    assert!(list.ok() && list.stdout.contains("alice"), "{list:?}");
    assert!(sb.login("aLiCe", &[&code(SECRET, 0)]).ok);
    // A name nobody has is refused, not enrolled.
    let o = sb.cli_secret(
        &["enroll", "totp", "--user", "ghost", "--no-confirm"],
        SECRET,
    );
    assert!(!o.ok());
    assert!(o.stderr.contains("no such user: ghost"), "{}", o.stderr);
}
