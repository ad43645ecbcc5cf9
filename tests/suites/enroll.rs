//! The enrollment journey of `mfa-token enroll totp`: QR codes read back by an
//! independent decoder, the interactive flow on a pseudo-terminal, then real logins.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use pam_mfa_e2e::{
    code, decode_png_qr, decode_terminal_qr, from_pty, now, oathtool_at, Sandbox, SECRET,
};
use rexpect::process::WaitStatus;

/// An account that exists on every Debian machine.
const USER: &str = "daemon";

/// The QR art in `text`: the lines made only of half blocks and spaces.
fn qr_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && l.chars().all(|c| matches!(c, '█' | '▀' | '▄' | ' ')))
        .collect()
}

/// The key shown for typing by hand, without its spaces.
fn manual_key(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("(time-based): "))
        .expect("the key is shown");
    line.split("(time-based): ")
        .nth(1)
        .unwrap()
        .trim()
        .replace(' ', "")
}

fn uri_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("link on the phone: "))
        .expect("the URI is shown");
    line.split("link on the phone: ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn interactive_enrollment_on_a_terminal_then_real_logins() {
    let sb = Sandbox::new("[totp]\nissuer = \"Example Corp\"");
    let mut p = sb.cli_pty(&["enroll", "totp", "--user", USER], &[]);
    let shown = from_pty(&p.exp_string("Code shown by the app now: ").unwrap());
    assert!(
        shown.contains("Setting up an authenticator app for daemon."),
        "{shown}"
    );
    let key = manual_key(&shown);
    let uri = uri_line(&shown);
    assert_eq!(key.len(), 32, "160-bit key: {key}");
    assert_eq!(
        uri,
        format!("otpauth://totp/Example%20Corp:daemon?secret={key}&issuer=Example%20Corp")
    );
    assert_eq!(
        decode_terminal_qr(&qr_lines(&shown), true),
        uri,
        "the QR code carries the URI"
    );

    // A wrong code first: nothing is saved, another try is offered.
    let right = code(&key, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    p.send_line(wrong).unwrap();
    p.exp_string("That code is not valid. Tries left: 2.")
        .unwrap();
    assert!(
        sb.record(USER).is_none(),
        "nothing saved before a code verifies"
    );
    p.exp_string("Code shown by the app now: ").unwrap();
    p.send_line(&right).unwrap();
    p.exp_string("3. Recovery codes").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        rest.contains("Done. From the next login on, daemon is asked for a verification code"),
        "{rest}"
    );
    let codes: Vec<String> = rest
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{rest}");
    assert!(matches!(p.process().wait(), Ok(WaitStatus::Exited(_, 0))));

    // The code that confirmed the enrollment is spent; the next one logs in.
    assert!(
        !sb.login(USER, &[&right]).ok,
        "the enrollment code must not be replayable"
    );
    assert!(
        sb.login(USER, &[&oathtool_at(&key, &["--totp"], now() + 30)])
            .ok
    );
    assert!(
        sb.login(USER, &[&codes[3]]).ok,
        "a recovery code shown once works once"
    );
    assert!(!sb.login(USER, &[&codes[3]]).ok);
}

#[test]
fn three_wrong_codes_save_nothing() {
    let sb = Sandbox::new("");
    let mut p = sb.cli_pty(&["enroll", "totp", "--user", USER], &[]);
    for left in ["2", "1"] {
        p.exp_string("Code shown by the app now: ").unwrap();
        p.send_line("12345x").unwrap();
        p.exp_string(&format!("Tries left: {left}.")).unwrap();
    }
    p.exp_string("Code shown by the app now: ").unwrap();
    p.send_line("12345x").unwrap();
    p.exp_string("no valid code after 3 tries; nothing was saved")
        .unwrap();
    assert!(matches!(p.process().wait(), Ok(WaitStatus::Exited(_, 1))));
    assert!(sb.record(USER).is_none());
}

#[test]
fn the_journey_in_dutch() {
    let sb = Sandbox::new("");
    let mut p = sb.cli_pty(
        &["enroll", "totp", "--user", USER],
        &[("LANG", "nl_NL.UTF-8")],
    );
    let shown = from_pty(&p.exp_string("Code die de app nu toont: ").unwrap());
    assert!(
        shown.contains("Een authenticator-app instellen voor daemon."),
        "{shown}"
    );
    assert!(shown.contains("scan deze QR-code"), "{shown}");
    let key = shown
        .lines()
        .find(|l| l.contains("(op tijd gebaseerd): "))
        .unwrap()
        .split("(op tijd gebaseerd): ")
        .nth(1)
        .unwrap()
        .trim()
        .replace(' ', "");
    p.send_line("12345x").unwrap();
    p.exp_string("Die code klopt niet. Nog 2 pogingen.")
        .unwrap();
    p.exp_string("Code die de app nu toont: ").unwrap();
    p.send_line(&code(&key, 0)).unwrap();
    p.exp_string("3. Herstelcodes").unwrap();
    let rest = from_pty(&p.exp_eof().unwrap());
    assert!(rest.contains("Klaar."), "{rest}");
    assert!(rest.contains("Elke") || rest.contains("één"), "{rest}");
}

#[test]
fn the_terminal_qr_decodes_on_dark_and_light_backgrounds_and_none_draws_nothing() {
    for (style, dark) in [("dark", true), ("light", false)] {
        let sb = Sandbox::new("[totp]\nissuer = \"host\"");
        let o = sb.cli(&[
            "enroll",
            "totp",
            "--user",
            USER,
            "--no-confirm",
            "--qr",
            style,
        ]);
        assert!(o.ok(), "{}", o.stderr);
        let key = manual_key(&o.stdout);
        let want = format!("otpauth://totp/host:daemon?secret={key}&issuer=host");
        assert_eq!(uri_line(&o.stdout), want);
        assert_eq!(
            decode_terminal_qr(&qr_lines(&o.stdout), dark),
            want,
            "--qr {style}"
        );
        // The key was saved unconfirmed: its current code logs in.
        assert!(sb.login(USER, &[&code(&key, 0)]).ok);
    }
    let sb = Sandbox::new("");
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--no-confirm",
        "--qr",
        "none",
    ]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(qr_lines(&o.stdout).is_empty(), "{}", o.stdout);
    assert!(
        o.stdout.contains("(time-based): "),
        "the key is still shown"
    );
}

#[test]
fn png_and_svg_files_carry_the_same_uri_and_are_private() {
    let sb = Sandbox::new("[totp]\nissuer = \"host\"");
    let png = sb.root.join("qr.png");
    let svg = sb.root.join("qr.svg");
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--no-confirm",
        "--json",
        "--png",
        png.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
        "--period",
        "60",
    ]);
    assert!(o.ok(), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("Warning: SHA256, 8 digits, 60 s per code: some apps"),
        "{}",
        o.stderr
    );
    let json = &o.stdout;
    let uri = json
        .split("\"uri\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let secret = json
        .split("\"secret\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(
        uri,
        format!("otpauth://totp/host:daemon?secret={secret}&issuer=host&algorithm=SHA256&digits=8&period=60")
    );
    assert!(json.contains("\"confirmed\": false"), "{json}");
    assert!(json.contains("\"recovery_codes\": []"), "{json}");
    assert_eq!(decode_png_qr(&png), uri);
    for f in [&png, &svg] {
        let meta = std::fs::metadata(f).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "root's, like the CLI");
    }
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<?xml") && svg_text.contains("<svg"));
    assert_eq!(pam_mfa_e2e::qr::decode_svg_qr(&svg_text), uri);
    // Only JSON on stdout: it parses as one object with the fields scripts need.
    assert!(json.trim_start().starts_with('{') && json.trim_end().ends_with('}'));
    let c = oathtool_at(secret, &["--totp=sha256", "-d", "8", "-s", "60s"], now());
    assert!(sb.login(USER, &[&c]).ok);
}

#[test]
fn an_otpauth_uri_can_be_given_as_the_secret() {
    let sb = Sandbox::new("");
    let uri = format!("otpauth://totp/Other:someone?secret={SECRET}&issuer=Other&digits=8");
    let o = sb.cli_secret(
        &["enroll", "totp", "--user", USER, "--no-confirm", "--json"],
        &uri,
    );
    assert!(o.ok(), "{}", o.stderr);
    assert!(o.stdout.contains("\"issuer\": \"Other\""), "{}", o.stdout);
    assert!(o.stdout.contains("\"digits\": 8"), "{}", o.stdout);
    let c = oathtool_at(SECRET, &["--totp", "-d", "8"], now());
    assert!(sb.login(USER, &[&c]).ok);
}

#[test]
fn re_enrolling_interactively_needs_replace_and_keeps_unused_recovery_codes() {
    let sb = Sandbox::new("");
    assert!(sb
        .cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET)
        .ok());
    assert!(sb.cli(&["recovery", "--user", USER]).ok());
    let o = sb.cli(&["enroll", "totp", "--user", USER]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("add --replace"), "{}", o.stderr);
    assert!(
        !o.stdout.contains("█"),
        "nothing is shown before the refusal"
    );

    let mut p = sb.cli_pty(&["enroll", "totp", "--user", USER, "--replace"], &[]);
    let shown = from_pty(&p.exp_string("Code shown by the app now: ").unwrap());
    p.send_line(&code(&manual_key(&shown), 0)).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        rest.contains("daemon still has 10 unused recovery codes"),
        "{rest}"
    );
    assert_eq!(
        sb.record(USER).unwrap().recovery().unwrap().hashed.len(),
        10
    );
}

#[test]
fn every_change_is_logged_with_who_made_it_and_no_secret() {
    let sb = Sandbox::new("[lockout]\nmax_failures = 2\nseconds = 600");
    let o = sb.cli_with(
        &[
            "enroll",
            "totp",
            "--user",
            USER,
            "--no-confirm",
            "--secret-file",
            "-",
        ],
        &format!("{SECRET}\n"),
        &[("SUDO_USER", "alice")],
    );
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(o.syslog.len(), 1, "{:?}", o.syslog);
    let line = &o.syslog[0];
    assert!(
        line.starts_with("<85>mfa-token["),
        "authpriv.notice: {line}"
    );
    assert!(
        line.contains("user=daemon: authenticator app \"default\" enrolled (SHA1, 6 digits, 30 s, not confirmed) by root (uid 0) via sudo from alice"),
        "{line}"
    );
    assert!(!line.contains(SECRET));

    let o = sb.cli(&["recovery", "--user", USER]);
    assert!(
        o.syslog[0]
            .contains("user=daemon: 10 new recovery codes, earlier ones revoked by root (uid 0)"),
        "{:?}",
        o.syslog
    );
    for code in o.stdout.lines() {
        assert!(!o.syslog[0].contains(code));
    }
    for _ in 0..2 {
        assert!(!sb.login(USER, &["12345x"]).ok);
    }
    let o = sb.cli(&["status", "--user", USER]);
    assert!(o.stdout.contains("locked out until"), "{}", o.stdout);
    assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok, "locked out");
    let o = sb.cli(&["unlock", "--user", USER]);
    assert!(o.ok());
    assert!(o.stdout.contains("daemon is unlocked"), "{}", o.stdout);
    assert!(
        o.syslog[0].contains("user=daemon: lockout ended, failures reset by root (uid 0)"),
        "{:?}",
        o.syslog
    );
    assert!(sb
        .cli(&["status", "--user", USER])
        .stdout
        .contains("not locked out"));
    assert!(sb.login(USER, &[&code(SECRET, 0)]).ok, "unlocked");
    let o = sb.cli(&["remove", "--user", USER, "--all"]);
    assert!(
        o.syslog[0].contains("user=daemon: removed all factors and login state by root"),
        "{:?}",
        o.syslog
    );
}

#[test]
fn non_root_callers_get_a_clear_error() {
    // A user's mfa-token never opens the store: it goes through pam_mfad (here
    // not running), and what needs the store itself says it needs root.
    let sb = Sandbox::new("");
    let socket = sb.root.join("no-daemon");
    let socket = socket.to_str().unwrap();
    for (args, want) in [
        (
            &[
                "enroll",
                "totp",
                "--user",
                USER,
                "--secret-file",
                "-",
                "--no-confirm",
            ][..],
            "mfa-token: --secret-file needs root (direct store access); through pam_mfad a new key is always generated, shown and confirmed with a code\n".to_owned(),
        ),
        (
            &["list", "--user", USER],
            "mfa-token: mfa-token list works on the store directly and needs root (run it with sudo); as a user you can run mfa-token status, mfa-token enroll totp and mfa-token recovery, through pam_mfad\n".to_owned(),
        ),
        (
            &["--socket", socket, "recovery", "--user", USER],
            format!("mfa-token: pam_mfad is not running at {socket}: No such file or directory (os error 2)\n"),
        ),
    ] {
        let o = sb.cli_as(65534, args);
        assert_eq!(o.code, Some(1), "{args:?}");
        assert_eq!(o.stderr, want, "{args:?}");
    }
    assert!(sb.record(USER).is_none());
}

#[test]
fn every_subcommand_explains_its_options() {
    let sb = Sandbox::new("");
    for (args, wants) in [
        (
            &["--help"][..],
            &[
                "enroll", "list", "status", "unlock", "remove", "recovery", "import", "--config",
            ][..],
        ),
        (
            &["enroll", "totp", "--help"],
            &[
                "--user",
                "--secret-file",
                "--no-confirm",
                "--replace",
                "--qr",
                "--png",
                "--svg",
                "--issuer",
                "--algorithm",
                "--digits",
                "--period",
                "--json",
            ],
        ),
        (&["list", "--help"], &["--user", "--json"]),
        (&["status", "--help"], &["--user", "--json"]),
        (&["unlock", "--help"], &["--user"]),
        (
            &["remove", "--help"],
            &["--user", "--all", "--totp", "--recovery"],
        ),
        (&["recovery", "--help"], &["--user", "--json"]),
        (
            &["import", "google-authenticator", "--help"],
            &["--user", "--all-users", "--replace", "[FILE]"],
        ),
    ] {
        let o = sb.cli(args);
        assert!(o.ok(), "{args:?}: {}", o.stderr);
        for w in wants {
            assert!(
                o.stdout.contains(w),
                "{args:?} help lacks {w}:\n{}",
                o.stdout
            );
        }
    }
}

/// (content, owner uid, mode) of `path`, not following a symbolic link.
fn file_state(path: &Path) -> (Vec<u8>, u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let content = if meta.is_symlink() {
        std::fs::read_link(path)
            .unwrap()
            .into_os_string()
            .into_vec()
    } else {
        std::fs::read(path).unwrap()
    };
    (content, meta.uid(), meta.mode() & 0o7777)
}

#[test]
fn qr_images_are_never_written_into_an_existing_path() {
    let sb = Sandbox::new("");
    // Planted by another user, world-writable, hoping to receive the key.
    let planted = sb.root.join("planted.png");
    std::fs::write(&planted, b"not yours").unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A dangling link would create its target; a live one would write through.
    let dangling = sb.root.join("dangling.svg");
    let target = sb.root.join("target.svg");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    let live = sb.root.join("live.png");
    std::os::unix::fs::symlink(&planted, &live).unwrap();
    let fresh = sb.root.join("fresh.png");
    let fresh_svg = sb.root.join("fresh.svg");

    for (flag, path) in [("--png", &planted), ("--svg", &dangling), ("--png", &live)] {
        let before = file_state(path);
        let planted_before = file_state(&planted);
        // Alone, and beside a new file for the other format (never written).
        let (other_flag, other) = if flag == "--png" {
            ("--svg", &fresh_svg)
        } else {
            ("--png", &fresh)
        };
        for extra in [&[][..], &[other_flag, other.to_str().unwrap()]] {
            let mut args = vec!["enroll", "totp", "--user", USER, "--no-confirm"];
            args.extend([flag, path.to_str().unwrap()]);
            args.extend(extra);
            let o = sb.cli(&args);
            assert_eq!(o.code, Some(1), "{args:?}: {}", o.stderr);
            assert!(
                o.stderr.contains(&format!(
                    "mfa-token: {} already exists: the QR code holds the key, so it is only written to a new file",
                    path.display()
                )),
                "{}",
                o.stderr
            );
            assert!(o.stdout.is_empty(), "no key shown: {}", o.stdout);
            assert_eq!(file_state(path), before, "{} untouched", path.display());
            assert_eq!(file_state(&planted), planted_before);
            assert!(!target.exists(), "nothing created through the link");
            assert!(
                !fresh.exists() && !fresh_svg.exists(),
                "refused before any image is written"
            );
            assert!(sb.record(USER).is_none(), "nothing enrolled");
        }
    }
    // The same paths with a new name work.
    let o = sb.cli(&[
        "enroll",
        "totp",
        "--user",
        USER,
        "--no-confirm",
        "--png",
        fresh.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{}", o.stderr);
    let (_, uid, mode) = file_state(&fresh);
    assert_eq!((uid, mode), (0, 0o600));
}

#[test]
fn qr_images_are_removed_when_confirmation_fails_or_is_aborted() {
    let sb = Sandbox::new("");
    let png = sb.root.join("qr.png");
    let svg = sb.root.join("qr.svg");
    let args = [
        "enroll",
        "totp",
        "--user",
        USER,
        "--png",
        png.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ];
    // Three wrong codes, then end of input before any code: nothing enrolled.
    for stdin in ["12345x\n12345x\n12345x\n", ""] {
        let o = sb.cli_with(&args, stdin, &[]);
        assert_eq!(o.code, Some(1), "{}", o.stderr);
        assert!(
            o.stderr
                .contains("no valid code after 3 tries; nothing was saved"),
            "{}",
            o.stderr
        );
        for f in [&png, &svg] {
            assert!(!f.exists(), "{} left behind", f.display());
            assert!(
                o.stderr.contains(&format!(
                    "QR code file {} removed again: nothing was enrolled.",
                    f.display()
                )),
                "{}",
                o.stderr
            );
        }
        assert!(sb.record(USER).is_none());
    }

    // On a terminal: the image exists while the code is asked for, and goes when
    // the user gives up with Ctrl-D.
    let mut p = sb.cli_pty(&args, &[]);
    p.exp_string("Code shown by the app now: ").unwrap();
    let (_, uid, mode) = file_state(&png);
    assert_eq!((uid, mode), (0, 0o600));
    assert!(svg.exists());
    p.send_control('d').unwrap();
    p.exp_string("nothing was saved").unwrap();
    p.exp_eof().unwrap();
    assert!(!png.exists() && !svg.exists(), "removed after EOF");
    assert!(sb.record(USER).is_none());

    // Confirmed: the images stay.
    let mut p = sb.cli_pty(&args, &[]);
    let shown = from_pty(&p.exp_string("Code shown by the app now: ").unwrap());
    p.send_line(&code(&manual_key(&shown), 0)).unwrap();
    p.exp_eof().unwrap();
    assert!(matches!(p.process().wait(), Ok(WaitStatus::Exited(_, 0))));
    assert!(png.exists() && svg.exists());
    assert_eq!(decode_png_qr(&png), uri_line(&shown));
}

/// What a config-management run does on every pass.
const REPROVISION: [&str; 6] = [
    "enroll",
    "totp",
    "--user",
    USER,
    "--no-confirm",
    "--replace",
];

#[test]
fn re_provisioning_the_same_key_keeps_used_codes_used_and_a_new_key_starts_afresh() {
    let sb = Sandbox::new("");
    assert!(sb.cli_secret(&REPROVISION, SECRET).ok());
    let used = code(SECRET, 0);
    assert!(sb.login(USER, &[&used]).ok);
    let step = sb.record(USER).unwrap().apps()[0].last_step();
    assert!(step.is_some());

    // What configuration management does on every run: the same key again, as
    // base32 in other spelling, and as an otpauth URI with the same parameters.
    let uri = format!("otpauth://totp/x:daemon?secret={SECRET}&issuer=x");
    for key in [SECRET, "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp", &uri] {
        let o = sb.cli_secret(&REPROVISION, key);
        assert!(o.ok(), "{}", o.stderr);
        assert_eq!(
            o.stderr,
            "Authenticator app for daemon: key unchanged: replay state kept.\n"
        );
        assert!(
            o.syslog[0].contains("key unchanged: replay state kept by root"),
            "{:?}",
            o.syslog
        );
        assert_eq!(sb.record(USER).unwrap().apps()[0].last_step(), step);
        let l = sb.login(USER, &[&used]);
        assert!(!l.ok, "a used code must stay used: {key}");
        assert!(l.logged("replayed totp code refused"), "{:?}", l.syslog);
    }
    let mut json = REPROVISION.to_vec();
    json.push("--json");
    let o = sb.cli_secret(&json, SECRET);
    assert!(o.stdout.contains("\"key_unchanged\": true"), "{}", o.stdout);

    // Other parameters make another key: fresh replay state.
    let mut sha256 = REPROVISION.to_vec();
    sha256.extend(["--algorithm", "SHA256"]);
    let o = sb.cli_secret(&sha256, SECRET);
    assert!(
        o.stderr
            .ends_with("Authenticator app enrolled for daemon.\n"),
        "{}",
        o.stderr
    );
    assert!(
        o.syslog[0].contains("replacing a different key: replay state reset"),
        "{:?}",
        o.syslog
    );
    assert_eq!(sb.record(USER).unwrap().apps()[0].last_step(), None);

    // A different key starts afresh; its first code logs in.
    let other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let o = sb.cli_secret(&json, other);
    assert!(
        o.stdout.contains("\"key_unchanged\": false"),
        "{}",
        o.stdout
    );
    assert_eq!(sb.record(USER).unwrap().apps()[0].last_step(), None);
    assert!(sb.login(USER, &[&code(other, 0)]).ok);
    assert!(
        !sb.login(USER, &[&code(SECRET, 0)]).ok,
        "the old key is gone"
    );
}

#[test]
fn re_provisioning_the_same_key_keeps_failures_and_lockout() {
    let sb = Sandbox::new("[lockout]\nmax_failures = 2\nseconds = 600");
    assert!(sb.cli_secret(&REPROVISION, SECRET).ok());
    for _ in 0..2 {
        assert!(!sb.login(USER, &["12345x"]).ok);
    }
    let locked = sb.record(USER).unwrap().state().clone();
    assert!(locked.locked_until > now(), "{locked:?}");
    let o = sb.cli_secret(&REPROVISION, SECRET);
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(*sb.record(USER).unwrap().state(), locked);
    assert!(!sb.login(USER, &[&code(SECRET, 0)]).ok, "still locked out");
}
