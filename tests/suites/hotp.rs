//! HOTP tokens (RFC 4226): `mfa-token enroll hotp` with the seed on standard input
//! or in a file, logins through the release module under real libpam with codes
//! from `oathtool --hotp`, the look-ahead, used codes, `resync`, eight digits,
//! google-authenticator's counter-based files, `list`/`status`, `remove --hotp`,
//! and 64 logins racing with one code.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use pam_mfa_e2e::{finish, google_authenticator, LoginOpts, Run, Sandbox};

/// A sandbox account (see `sandbox_users`); uid 61000 for self-service.
const USER: &str = "alice";
const ALICE: u32 = 61000;
/// A 160-bit seed as vendors' seed files and oathtool write it (hex).
const SEED_HEX: &str = "3132333435363738393031323334353637383930";
/// Another token's seed, base32 (as ykman writes it), 160 bits.
const SEED_B32: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

/// Max failures 0: lockout off, so that only what a test does counts.
const NO_LOCKOUT: &str = "[lockout]\nmax_failures = 0";

/// `oathtool --hotp` for counter value `counter`: `key` in hex unless `base32`.
fn oath(key: &str, base32: bool, digits: u8, counter: u64) -> String {
    pam_mfa_e2e::require("oathtool", "oathtool");
    let mut cmd = std::process::Command::new("oathtool");
    cmd.args([
        "--hotp",
        "-d",
        &digits.to_string(),
        "-c",
        &counter.to_string(),
    ]);
    if base32 {
        cmd.arg("-b");
    }
    let out = cmd.arg(key).output().expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The 6-digit code of the hex seed at `counter`.
fn code(counter: u64) -> String {
    oath(SEED_HEX, false, 6, counter)
}

/// `mfa-token enroll hotp --user USER --secret-file - args` with `key` on stdin.
fn enroll(sb: &Sandbox, key: &str, args: &[&str]) -> Run {
    let mut all = vec!["enroll", "hotp", "--user", USER];
    all.extend(args);
    sb.cli_secret(&all, key)
}

fn counter(sb: &Sandbox, i: usize) -> u64 {
    sb.record(USER).expect("a record").tokens()[i].counter()
}

#[test]
fn a_seed_on_standard_input_enrolls_and_oathtool_codes_log_in_once_each() {
    let sb = Sandbox::new("");
    let o = enroll(&sb, SEED_HEX, &["--hex"]);
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr
            .contains("HOTP token \"hotp\" enrolled for alice (6 digits, next counter 0)."),
        "{}",
        o.stderr
    );
    assert!(
        o.syslog.iter().any(|l| l.contains(
            "user=alice: hotp token \"hotp\" enrolled (6 digits, next counter 0) by root"
        )),
        "{:?}",
        o.syslog
    );
    assert!(
        !format!("{o:?}").contains(SEED_HEX),
        "the key is shown nowhere"
    );

    let first = sb.login(USER, &[&code(0)]);
    assert!(first.ok, "{first:?}");
    assert!(
        first.logged("user=alice: second factor accepted (hotp token \"hotp\")"),
        "{first:?}"
    );
    assert_eq!(counter(&sb, 0), 1);
    let again = sb.login(USER, &[&code(0)]);
    assert!(!again.ok, "a used code is refused");
    assert!(
        again.logged("user=alice: used hotp code refused (1 consecutive failures)"),
        "{again:?}"
    );
    assert_eq!(counter(&sb, 0), 1, "a failure never moves the counter");
    assert!(sb.login(USER, &[&code(1)]).ok);
    assert_eq!(counter(&sb, 0), 2);
    assert_eq!(sb.record(USER).unwrap().state().failures, 0);
}

#[test]
fn a_code_look_ahead_values_ahead_is_accepted_and_one_more_is_not() {
    let sb = Sandbox::new("[hotp]\nlook_ahead = 5");
    assert!(enroll(&sb, SEED_HEX, &["--hex", "--counter", "10"]).ok());
    let beyond = sb.login(USER, &[&code(16)]);
    assert!(!beyond.ok, "counter + look_ahead + 1");
    assert!(
        beyond.logged("user=alice: wrong code (1 consecutive failures)"),
        "{beyond:?}"
    );
    assert_eq!(counter(&sb, 0), 10);
    assert!(sb.login(USER, &[&code(15)]).ok, "counter + look_ahead");
    assert_eq!(counter(&sb, 0), 16);
    // The values pressed past are used up with it.
    let skipped = sb.login(USER, &[&code(12)]);
    assert!(!skipped.ok);
    assert!(skipped.logged("used hotp code refused"), "{skipped:?}");
    // The code now one more than the look-ahead away from the old counter is
    // within reach of the new one.
    assert!(sb.login(USER, &[&code(16)]).ok);
}

#[test]
fn resync_brings_a_token_pressed_far_ahead_back() {
    let sb = Sandbox::new(NO_LOCKOUT);
    assert!(enroll(&sb, SEED_HEX, &["--hex"]).ok());
    assert!(!sb.login(USER, &[&code(500)]).ok, "far past the look-ahead");

    let resync = |a: &str, b: &str| sb.cli(&["resync", "--user", USER, a, b]);
    let o = resync(&code(500), &code(502));
    assert_eq!(o.code, Some(1), "not consecutive: {o:?}");
    assert!(
        o.stderr
            .contains("are not consecutive codes of an HOTP token of alice within 1000"),
        "{}",
        o.stderr
    );
    let o = resync(&code(1200), &code(1201));
    assert_eq!(o.code, Some(1), "beyond the resync window: {o:?}");
    assert_eq!(counter(&sb, 0), 0, "nothing changed");

    let o = resync(&code(500), &code(501));
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr
            .contains("alice: HOTP token \"hotp\" resynchronised: next counter 502 (was 0)."),
        "{}",
        o.stderr
    );
    assert!(
        o.syslog
            .iter()
            .any(|l| l
                .contains("user=alice: hotp token \"hotp\" resynchronised: next counter 0 -> 502")),
        "{:?}",
        o.syslog
    );
    assert_eq!(counter(&sb, 0), 502);
    assert_eq!(
        sb.record(USER).unwrap().state().failures,
        1,
        "the failure stays: resync is not unlock"
    );
    assert!(
        !sb.login(USER, &[&code(501)]).ok,
        "the resync codes are spent"
    );
    assert!(sb.login(USER, &[&code(502)]).ok);

    // Codes behind the counter are refused as used, never moving it back.
    let o = resync(&code(500), &code(501));
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("were used already"), "{}", o.stderr);
    assert_eq!(counter(&sb, 0), 503);
}

#[test]
fn an_eight_digit_token_with_a_base32_seed_file() {
    let sb = Sandbox::new("");
    let file = sb.root.join("seed");
    fs::write(&file, format!("{SEED_B32}\n")).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let o = sb.cli(&[
        "enroll",
        "hotp",
        "--user",
        USER,
        "--secret-file",
        file.to_str().unwrap(),
        "--digits",
        "8",
        "--counter",
        "7",
        "--name",
        "yubikey slot 1",
    ]);
    assert!(o.ok(), "{o:?}");
    let eight = oath(SEED_B32, true, 8, 7);
    assert_eq!(eight.len(), 8);
    let six = oath(SEED_B32, true, 6, 8);
    assert!(!sb.login(USER, &[&six]).ok, "6 digits of an 8-digit token");
    let l = sb.login(USER, &[&eight]);
    assert!(l.ok, "{l:?}");
    assert!(l.logged("second factor accepted (hotp token \"yubikey slot 1\")"));
    assert_eq!(counter(&sb, 0), 8);

    // 7 digits is no HOTP token's.
    let o = enroll(&sb, SEED_HEX, &["--hex", "--digits", "7", "--name", "x"]);
    assert_eq!(o.code, Some(2), "{o:?}");
    assert!(o.stderr.contains("6 or 8 digits"), "{}", o.stderr);
}

#[test]
fn bad_seeds_names_and_duplicates_are_refused_and_nothing_changes() {
    let sb = Sandbox::new("");
    assert!(enroll(&sb, SEED_HEX, &["--hex", "--name", "fob"]).ok());
    let before = fs::read(sb.record_path(USER)).unwrap();
    for (key, args, why) in [
        (
            "3132333435363738393031323334",
            &["--hex"][..],
            "112 bits long; RFC 4226 requires at least 128 bits",
        ),
        (SEED_HEX, &[][..], "not valid base32"),
        ("MFRGGZDFMZTWQ2LK!!", &[][..], "not valid base32"),
        ("31323g", &["--hex"][..], "not valid hexadecimal"),
        (
            SEED_B32,
            &["--name", "fob"][..],
            "already has an HOTP token named \"fob\"; choose another name with --name",
        ),
        (
            SEED_HEX,
            &["--hex", "--name", "copy"][..],
            "already has this key, as HOTP token \"fob\"",
        ),
        (SEED_B32, &["--name", " fob"][..], "invalid token name"),
    ] {
        let o = enroll(&sb, key, args);
        assert_eq!(o.code, Some(1), "{args:?}: {o:?}");
        assert!(o.stderr.contains(why), "{why:?} in {}", o.stderr);
        assert!(!o.stderr.contains(key), "the key is never quoted");
    }
    // Never in the arguments.
    let o = sb.cli(&["enroll", "hotp", "--user", USER, "--secret", SEED_B32]);
    assert_eq!(o.code, Some(2), "--secret-file is required: {o:?}");
    let o = sb.cli_secret(
        &["enroll", "hotp", "--user", USER, "--secret", SEED_B32],
        SEED_B32,
    );
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(fs::read(sb.record_path(USER)).unwrap(), before);
    // A user's mfa-token cannot enroll tokens or resync through pam_mfad.
    sb.daemon_mark();
    let socket = sb.socket();
    let o = sb.cli_as(
        ALICE,
        &["--socket", socket.to_str().unwrap(), "resync", "1", "2"],
    );
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("mfa-token resync works on the store directly and needs root"),
        "{}",
        o.stderr
    );
}

#[test]
fn list_and_status_show_tokens_without_keys_and_remove_takes_one_by_name() {
    let sb = Sandbox::new("");
    assert!(enroll(&sb, SEED_HEX, &["--hex", "--name", "fob", "--counter", "3"]).ok());
    assert!(enroll(&sb, SEED_B32, &["--name", "yubikey", "--digits", "8"]).ok());
    let o = sb.cli(&["list", "--user", USER]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "alice\n",
        "  HOTP token \"fob\": 6 digits, next counter 3, enrolled ",
        "  HOTP token \"yubikey\": 8 digits, next counter 0, enrolled ",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    let o = sb.cli(&["list", "--user", USER, "--json"]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "\"hotp\": [",
        "\"name\": \"fob\"",
        "\"counter\": 3",
        "\"digits\": 8",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    let o = sb.cli(&["status", "--user", USER]);
    assert!(o.stdout.contains("HOTP token \"fob\""), "{}", o.stdout);
    // The user's own status, through pam_mfad.
    sb.daemon_mark();
    let socket = sb.socket();
    let own = sb.cli_as(ALICE, &["--socket", socket.to_str().unwrap(), "status"]);
    assert!(own.ok(), "{own:?}");
    assert!(
        own.stdout
            .contains("HOTP token \"yubikey\": 8 digits, next counter 0"),
        "{}",
        own.stdout
    );
    for text in [&o.stdout, &o.stderr, &own.stdout, &own.stderr] {
        assert!(!text.contains(SEED_B32) && !text.contains(SEED_HEX));
    }

    let o = sb.cli(&["remove", "--user", USER, "--hotp", "nope"]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("alice has no HOTP token named \"nope\""),
        "{}",
        o.stderr
    );
    let o = sb.cli(&["remove", "--user", USER, "--hotp", "fob"]);
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stderr.contains("Removed for alice: HOTP token \"fob\"."),
        "{}",
        o.stderr
    );
    assert!(
        o.syslog
            .iter()
            .any(|l| l.contains("user=alice: removed hotp token \"fob\" by root")),
        "{:?}",
        o.syslog
    );
    let left: Vec<String> = sb
        .record(USER)
        .unwrap()
        .tokens()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert_eq!(left, ["yubikey"]);
    assert!(
        !sb.login(USER, &[&code(3)]).ok,
        "the removed token's codes are refused"
    );
    // The last factor gone, the record goes.
    assert!(sb
        .cli(&["remove", "--user", USER, "--hotp", "yubikey"])
        .ok());
    assert!(sb.record(USER).is_none());
}

#[test]
fn a_counter_based_google_authenticator_file_imports_as_a_token_and_logs_in() {
    let sb = Sandbox::new("");
    let file = sb.root.join("ga");
    google_authenticator(
        &file,
        &[
            "--counter-based",
            "--no-rate-limit",
            "--window-size=3",
            "--emergency-codes=2",
        ],
    );
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("\" HOTP_COUNTER 1\n"), "{text}");
    let secret = text.lines().next().unwrap().to_owned();
    let scratch: Vec<&str> = text
        .lines()
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        file.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{o:?}");
    for want in [
        "counter-based: became HOTP token \"google-authenticator\", next counter 1",
        "not carried over: WINDOW_SIZE 3; pam_mfa accepts codes up to 10 counter values past the next one",
        "2 scratch codes became recovery codes",
    ] {
        assert!(o.stdout.contains(want), "{want:?} in {}", o.stdout);
    }
    assert!(
        o.syslog.iter().any(|l| l.contains(
            "user=alice: hotp token \"google-authenticator\" imported from google-authenticator file"
        )),
        "{:?}",
        o.syslog
    );
    // The tool showed the code of counter value 1 as the first one.
    let c1 = oath(&secret, true, 6, 1);
    assert!(
        !sb.login(USER, &[&oath(&secret, true, 6, 0)]).ok,
        "value 0 is before the counter"
    );
    assert!(sb.login(USER, &[&c1]).ok);
    assert!(!sb.login(USER, &[&c1]).ok, "used");
    assert!(sb.login(USER, &[&oath(&secret, true, 6, 2)]).ok);
    assert!(
        sb.login(USER, &[scratch[1]]).ok,
        "a scratch code is a recovery code"
    );
    assert_eq!(counter(&sb, 0), 3);

    // Importing again would reset the counter: only with --replace.
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("add --replace"), "{}", o.stderr);
    assert_eq!(counter(&sb, 0), 3);
    // With --replace the same key keeps its counter: used codes stay used.
    let o = sb.cli(&[
        "import",
        "google-authenticator",
        "--user",
        USER,
        "--replace",
        file.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{o:?}");
    assert!(
        o.stdout
            .contains("the token had this key already: its next counter stays 3"),
        "{}",
        o.stdout
    );
    assert_eq!(counter(&sb, 0), 3);
    assert!(!sb.login(USER, &[&c1]).ok, "still used");
}

#[test]
fn given_64_concurrent_logins_with_one_hotp_code_then_exactly_one_succeeds() {
    let sb = Sandbox::new(NO_LOCKOUT);
    assert!(enroll(&sb, SEED_HEX, &["--hex"]).ok());
    let c = code(0);
    let children: Vec<_> = (0..64)
        .map(|_| sb.spawn_login(USER, &LoginOpts::default()))
        .collect();
    let results: Vec<_> = children.into_iter().map(|ch| finish(ch, &[&c])).collect();
    assert_eq!(
        results.iter().filter(|l| l.ok).count(),
        1,
        "exactly one of 64"
    );
    let others: Vec<_> = results
        .iter()
        .filter(|l| !l.ok && !l.logged("used hotp code refused"))
        .collect();
    assert!(others.is_empty(), "refused for another reason: {others:#?}");
    let record = sb.record(USER).expect("the record still parses");
    assert_eq!(record.tokens()[0].counter(), 1);
    assert_eq!(record.state().failures, 63);
}
