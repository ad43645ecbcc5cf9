//! Several authenticator apps per user, through the release `mfa-token` (root,
//! direct store) and logins under real libpam: each app enrolled under its name
//! and confirmed with its first code (from oathtool), a code of any app logs in,
//! each app's used codes stay used on their own, `list` shows them all, `remove
//! --totp NAME` revokes one, and a record written before several apps existed
//! keeps working.

use std::os::unix::fs::PermissionsExt;

use pam_mfa_e2e::{code, finish, now, oathtool_at, LoginOpts, Sandbox, SECRET};

/// An account that exists on every Debian machine.
const USER: &str = "daemon";
/// The second app's key; it makes SHA256, 8-digit codes.
const WORK: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// The work phone's code, `offset` steps from now.
fn work_code(offset: i64) -> String {
    let at = now().checked_add_signed(offset * 30).unwrap();
    oathtool_at(WORK, &["--totp=sha256", "-d", "8"], at)
}

/// Enrolls `secret` for [`USER`] with `extra` options, confirmed with `first`
/// typed back after the key (as an admin pasting the key, then the app's code).
fn enroll(sb: &Sandbox, extra: &[&str], secret: &str, first: &str) -> pam_mfa_e2e::Run {
    let mut args = vec!["enroll", "totp", "--user", USER, "--secret-file", "-"];
    args.extend(extra);
    sb.cli_with(&args, &format!("{secret}\n{first}\n"), &[])
}

/// Adds the work phone (WORK: SHA256, 8 digits), confirmed.
fn enroll_work_phone(sb: &Sandbox) -> pam_mfa_e2e::Run {
    let args = [
        "--name",
        "work-phone",
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
    ];
    let o = enroll(sb, &args, WORK, &work_code(0));
    assert!(o.ok(), "{o:?}");
    o
}

/// The default app (SECRET) and the work phone (WORK), both confirmed.
fn two_apps() -> Sandbox {
    let sb = Sandbox::new("");
    let o = enroll(&sb, &[], SECRET, &code(SECRET, 0));
    assert!(o.ok(), "{o:?}");
    let o = enroll_work_phone(&sb);
    assert!(
        o.stdout.contains("still has 10 unused recovery codes"),
        "the second app keeps the recovery codes: {}",
        o.stdout
    );
    assert!(
        o.syslog.iter().any(|l| l.contains(
            "user=daemon: authenticator app \"work-phone\" enrolled (SHA256, 8 digits, 30 s, confirmed with a code) by root"
        )),
        "{:?}",
        o.syslog
    );
    assert!(!o.syslog.iter().any(|l| l.contains(WORK)), "no key logged");
    sb
}

#[test]
fn a_code_of_either_app_logs_in_and_replay_is_refused_per_app() {
    let sb = two_apps();
    let record = sb.record(USER).unwrap();
    let names: Vec<&str> = record.apps().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["default", "work-phone"]);
    // The confirming codes are used already, each for its own app.
    assert!(record.apps().iter().all(|t| t.last_step().is_some()));
    assert!(!sb.login(USER, &[&work_code(0)]).ok, "the confirming code");

    // Read before the codes are made, so a step boundary passing during the
    // test moves the codes' steps, not this one, past it.
    let step = now() / 30;
    let default = code(SECRET, 1);
    let l = sb.login(USER, &[&default]);
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=daemon: second factor accepted (totp)"),
        "{l:?}"
    );
    let again = sb.login(USER, &[&default]);
    assert!(!again.ok, "{again:?}");
    assert!(again.logged("replayed totp code refused"), "{again:?}");

    // The work phone's code of the same step is its own: not spent by the other.
    let work = work_code(1);
    let l = sb.login(USER, &[&work]);
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=daemon: second factor accepted (totp \"work-phone\")"),
        "{l:?}"
    );
    let again = sb.login(USER, &[&work]);
    assert!(!again.ok, "{again:?}");
    assert!(again.logged("replayed totp code refused"), "{again:?}");

    let record = sb.record(USER).unwrap();
    for app in record.apps() {
        let last = app.last_step().unwrap();
        assert!(
            last == step + 1 || last == step + 2,
            "{}: {last}",
            app.name()
        );
    }
}

#[test]
fn list_and_status_show_every_app_with_its_name_and_no_key() {
    let sb = two_apps();
    let o = sb.cli(&["list", "--user", USER]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "authenticator app \"default\": SHA1, 6 digits, 30 s per code, enrolled ",
        "authenticator app \"work-phone\": SHA256, 8 digits, 30 s per code, enrolled ",
        "recovery codes: 10 unused",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    let default_at = o.stdout.find("\"default\"").unwrap();
    assert!(
        default_at < o.stdout.find("\"work-phone\"").unwrap(),
        "enrollment order"
    );

    let o = sb.cli(&["list", "--user", USER, "--json"]);
    assert!(o.ok(), "{o:?}");
    let json = o.stdout;
    // `totp` keeps its shape for the scripts that read it: one object, the first
    // app; `totp_apps` lists them all, in enrollment order.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["totp"]["name"], "default", "{json}");
    assert_eq!(v["totp"]["algorithm"], "SHA1", "{json}");
    let apps = v["totp_apps"].as_array().unwrap();
    let names: Vec<_> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "work-phone"], "{json}");
    assert_eq!(
        (apps[1]["algorithm"].as_str(), apps[1]["digits"].as_u64()),
        (Some("SHA256"), Some(8))
    );
    assert!(
        apps.iter().all(|a| a["last_used"].as_u64().is_some()),
        "both confirmed: {json}"
    );
    assert!(!json.contains(WORK) && !json.contains(SECRET));

    for args in [
        &["status", "--user", USER, "--json"][..],
        &["list", "--all", "--json"][..],
    ] {
        let o = sb.cli(args);
        assert!(o.ok(), "{o:?}");
        assert!(
            o.stdout.contains("\"name\": \"work-phone\""),
            "{}",
            o.stdout
        );
        assert!(!o.stdout.contains(WORK) && !o.stdout.contains(SECRET));
    }
    let o = sb.cli(&["status", "--user", USER]);
    assert!(
        o.stdout.contains("authenticator app \"work-phone\""),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains(WORK) && !o.stdout.contains(SECRET));
}

#[test]
fn removing_one_app_by_name_revokes_its_codes_only() {
    let sb = two_apps();
    let o = sb.cli(&["remove", "--user", USER, "--totp", "work-phone"]);
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr
            .contains("Removed for daemon: authenticator app \"work-phone\"."),
        "{}",
        o.stderr
    );
    assert!(
        o.syslog
            .iter()
            .any(|l| l.contains("user=daemon: removed authenticator app \"work-phone\" by root")),
        "{:?}",
        o.syslog
    );
    assert!(
        !sb.login(USER, &[&work_code(1)]).ok,
        "its codes are refused"
    );
    assert!(
        sb.login(USER, &[&code(SECRET, 1)]).ok,
        "the other app works"
    );

    let o = sb.cli(&["remove", "--user", USER, "--totp", "work-phone"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .contains("daemon has no authenticator app named \"work-phone\""),
        "{}",
        o.stderr
    );

    // An empty name (an unset variable in a script) is no app, not every app.
    let o = sb.cli(&["remove", "--user", USER, "--totp", ""]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .contains("daemon has no authenticator app named \"\""),
        "{}",
        o.stderr
    );
    assert_eq!(sb.record(USER).unwrap().apps().len(), 1);

    // Without a name: every app goes (the recovery codes stay).
    let o = enroll(&sb, &["--name", "spare"], WORK, &code(WORK, 0));
    assert!(o.ok(), "SHA1 codes of the spare phone: {o:?}");
    let o = sb.cli(&["remove", "--user", USER, "--totp"]);
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr.contains(
            "Removed for daemon: authenticator app \"default\", authenticator app \"spare\"."
        ),
        "{}",
        o.stderr
    );
    let record = sb.record(USER).unwrap();
    assert!(record.apps().is_empty());
    assert!(record.recovery().is_some());
    assert!(!sb.login(USER, &[&code(SECRET, 2)]).ok);
}

#[test]
fn names_are_checked_taken_ones_need_replace_and_eight_apps_are_the_most() {
    let sb = two_apps();
    // The name of an app the user has: refused without --replace, nothing changed.
    let other = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--name",
            "work-phone",
            "--no-confirm",
        ],
        other,
    );
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains(
            "daemon already has an authenticator app named \"work-phone\"; add --replace"
        ),
        "{}",
        o.stderr
    );
    let before = sb.record(USER).unwrap();
    assert_eq!(*before.apps()[1].secret().to_base32(), WORK);
    // With --replace: that app only, in its place.
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--name",
            "work-phone",
            "--no-confirm",
            "--replace",
        ],
        other,
    );
    assert!(o.ok(), "{o:?}");
    let after = sb.record(USER).unwrap();
    assert_eq!(after.apps().len(), 2);
    assert_eq!(
        after.apps()[0],
        before.apps()[0],
        "the default app is untouched"
    );
    assert_eq!(*after.apps()[1].secret().to_base32(), other);
    assert!(sb.login(USER, &[&code(other, 1)]).ok);
    assert!(!sb.login(USER, &[&work_code(1)]).ok);

    for bad in ["work phone", "-x", "", &"x".repeat(33)] {
        let name = format!("--name={bad}");
        let o = sb.cli_secret(
            &["enroll", "totp", "--user", USER, &name, "--no-confirm"],
            other,
        );
        assert_eq!(o.code, Some(1), "{bad:?}: {o:?}");
        assert!(
            o.stderr
                .contains("is not a valid name for an authenticator app"),
            "{bad:?}: {}",
            o.stderr
        );
    }
    assert_eq!(sb.record(USER).unwrap().apps().len(), 2);

    // Up to 8 apps; a ninth is refused, the record unchanged.
    for i in 3..=8 {
        let name = format!("phone-{i}");
        let o = sb.cli_secret(
            &[
                "enroll",
                "totp",
                "--user",
                USER,
                "--name",
                &name,
                "--no-confirm",
            ],
            other,
        );
        assert!(o.ok(), "{name}: {o:?}");
    }
    let full = std::fs::read(sb.record_path(USER)).unwrap();
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--name",
            "phone-9",
            "--no-confirm",
        ],
        other,
    );
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .contains("daemon has 8 authenticator apps, the most there can be"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(sb.record_path(USER)).unwrap(), full);
}

/// A record as every version before several apps wrote it (one `[totp]` table).
fn old_record(last_step: u64) -> String {
    format!(
        "version = 1\n\n[totp]\nsecret = \"{SECRET}\"\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\ncreated = 1700000000\nlast_step = {last_step}\n\n[state]\nfailures = 0\nlocked_until = 0\n"
    )
}

#[test]
fn a_record_in_the_old_format_logs_in_and_stays_readable_by_older_versions() {
    let sb = Sandbox::new("");
    let path = sb.record_path(USER);
    let used = now() / 30 - 1;
    std::fs::write(&path, old_record(used)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let l = sb.login(USER, &[&code(SECRET, 0)]);
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=daemon: second factor accepted (totp)"),
        "{l:?}"
    );
    assert!(
        !sb.login(USER, &[&code(SECRET, -1)]).ok,
        "older than the used step"
    );
    // Still the single table, without a name: an older version reads it.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\n[totp]\n"), "{text}");
    assert!(
        !text.contains("name =") && !text.contains("[[totp]]"),
        "{text}"
    );
    let o = sb.cli(&["list", "--user", USER]);
    assert!(
        o.stdout.contains("authenticator app \"default\": SHA1"),
        "{}",
        o.stdout
    );

    // A second app: the record moves to named tables; both apps log in.
    enroll_work_phone(&sb);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[[totp]]\nname = \"default\"\n"), "{text}");
    assert!(text.contains("[[totp]]\nname = \"work-phone\"\n"), "{text}");
    assert!(sb.login(USER, &[&code(SECRET, 1)]).ok);
    assert!(sb.login(USER, &[&work_code(1)]).ok);
    // Back to one default app: the old form again.
    assert!(sb
        .cli(&["remove", "--user", USER, "--totp", "work-phone"])
        .ok());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\n[totp]\n") && !text.contains("name ="),
        "{text}"
    );
}

#[test]
fn sixty_four_racing_logins_with_one_code_of_each_app_let_in_exactly_one_per_app() {
    // Lockout off: only the race counts.
    let sb = Sandbox::new("[lockout]\nmax_failures = 0");
    sb.enroll_record(USER, SECRET, 0);
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--name",
            "work-phone",
            "--algorithm",
            "SHA256",
            "--digits",
            "8",
            "--no-confirm",
        ],
        WORK,
    );
    assert!(o.ok(), "{o:?}");
    let codes = [code(SECRET, 0), work_code(0)];
    let children: Vec<_> = (0..64)
        .map(|_| sb.spawn_login(USER, &LoginOpts::default()))
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .enumerate()
        .map(|(i, child)| finish(child, &[&codes[i % 2]]))
        .collect();
    for (app, first) in [("default", 0), ("work-phone", 1)] {
        let wins = results
            .iter()
            .skip(first)
            .step_by(2)
            .filter(|l| l.ok)
            .count();
        assert_eq!(wins, 1, "exactly one of 32 with the {app} app's code");
    }
    let others: Vec<_> = results
        .iter()
        .filter(|l| !l.ok && !l.logged("replayed totp code refused"))
        .collect();
    assert!(others.is_empty(), "refused for another reason: {others:#?}");
    let record = sb.record(USER).expect("the record still parses");
    assert!(record.apps().iter().all(|t| t.last_step().is_some()));
}
