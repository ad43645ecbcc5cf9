//! The release `mfa-token` against a sandboxed store, checked through real logins.

use pam_mfa_e2e::{code, now, oathtool_at, Sandbox, SECRET};

/// An account that exists on every Debian machine.
const USER: &str = "daemon";

#[test]
fn scripted_enrollment_then_login() {
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
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--secret",
            "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp",
        ],
        &format!("{wrong}\n{c}\n"),
        &[],
    );
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stdout.contains("That code is not valid. Tries left: 2."),
        "{}",
        o.stdout
    );
    assert!(sb.record(USER).unwrap().totp.unwrap().last_step.is_some());
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
        &["enroll", "totp", "--user", USER, "--secret", SECRET],
        "1\n2\n3\n",
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
    let args = [
        "enroll",
        "totp",
        "--user",
        USER,
        "--secret",
        SECRET,
        "--no-confirm",
    ];
    assert!(sb.cli(&args).ok());
    let o = sb.cli(&args);
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("already has an authenticator app enrolled; add --replace"),
        "{}",
        o.stderr
    );
    let other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--secret",
        other,
        "--no-confirm",
        "--replace",
    ]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(sb.login(USER, &[&code(other, 0)]).ok);
}

#[test]
fn unknown_and_invalid_users_are_refused_clearly() {
    let sb = Sandbox::new("");
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        "no-such-user-xyz",
        "--secret",
        SECRET,
        "--no-confirm",
    ]);
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
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--secret",
        "not base32!",
        "--no-confirm",
    ]);
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("invalid secret: the secret is not valid base32"),
        "{}",
        o.stderr
    );
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--secret",
        "JBSWY3DP",
        "--no-confirm",
    ]);
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
        .cli(&[
            "enroll",
            "totp",
            "--user",
            USER,
            "--secret",
            SECRET,
            "--no-confirm"
        ])
        .ok());
    assert!(sb.cli(&["recovery", "--user", USER]).ok());
    assert!(!sb.login(USER, &["bad"]).ok);
    let o = sb.cli(&["list", "--user", USER]);
    let text = o.stdout;
    assert!(
        text.contains("authenticator app: SHA1, 6 digits, 30 s per code"),
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
        .cli(&[
            "enroll",
            "totp",
            "--user",
            USER,
            "--secret",
            SECRET,
            "--no-confirm"
        ])
        .ok());
    assert!(sb.cli(&["recovery", "--user", USER]).ok());
    let o = sb.cli(&["remove", "--user", USER, "--totp"]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stderr.contains("Removed for daemon: authenticator app."),
        "{}",
        o.stderr
    );
    assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok);
    assert!(sb.record(USER).unwrap().recovery.is_some());
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
        let o = sb.cli(&[
            "enroll",
            "totp",
            "--user",
            USER,
            "--secret",
            SECRET,
            "--no-confirm",
            "--algorithm",
            alg,
            "--digits",
            "8",
            "--period",
            "60",
        ]);
        assert!(o.ok(), "{}", o.stderr);
        let c = oathtool_at(SECRET, &[oath, "-d", "8", "-s", "60s"], now());
        assert_eq!(c.len(), 8);
        // The SHA1/6/30 code of the same secret is not accepted.
        assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok);
        assert!(sb.login(USER, &[&c]).ok, "{alg}");
    }
}
