//! Security keys end to end: a virtual FIDO2 key behind a umockdev-emulated
//! /dev/hidraw0 (tests/fido), reached by the release mfa-token and by the release
//! module inside pamtester under pam_wrapper, through their real hidraw code path.

use pam_mfa_e2e::vkey::VirtualKey;
use pam_mfa_e2e::{code, LoginOpts, Sandbox, SECRET};

const USER: &str = "daemon";

fn with_key(extra: &str) -> (Sandbox, VirtualKey) {
    let sb = Sandbox::new(extra);
    let key = VirtualKey::start(&sb.root.join("vkey"));
    (sb, key)
}

fn enroll(sb: &Sandbox, key: &VirtualKey, args: &[&str]) -> pam_mfa_e2e::Run {
    let mut all = vec!["enroll", "key", "--user", USER];
    all.extend_from_slice(args);
    let o = sb.cli_key(key, &all, "");
    assert!(o.ok(), "{o:?}\n{}", key.log());
    o
}

fn key_opts(key: &VirtualKey) -> LoginOpts<'_> {
    LoginOpts {
        key: Some(key),
        ..LoginOpts::default()
    }
}

#[test]
fn enroll_a_key_then_log_in_with_a_touch_and_the_counter_grows() {
    let (sb, key) = with_key("");
    let o = enroll(&sb, &key, &["--name", "blue"]);
    assert!(
        o.stdout
            .contains("Security key blue registered for daemon (es256)."),
        "{o:?}"
    );
    assert!(
        o.syslog[0].contains("security key \"blue\" registered (es256"),
        "{:?}",
        o.syslog
    );
    let stored = sb.record(USER).unwrap().keys()[0].clone();
    assert_eq!(stored.rp_id, "pam://pam_mfa");

    let l = sb.login_with(USER, &[], &key_opts(&key));
    assert!(l.ok, "{l:?}\n{}", key.log());
    assert!(
        l.transcript.contains("Touch your security key."),
        "{}",
        l.transcript
    );
    assert!(
        !l.transcript.contains("Verification code"),
        "no code needed: {}",
        l.transcript
    );
    assert!(
        l.logged("second factor accepted (security key \"blue\")"),
        "{:?}",
        l.syslog
    );
    let after = sb.record(USER).unwrap().keys()[0].sign_count;
    assert!(
        after > stored.sign_count,
        "{} -> {after}",
        stored.sign_count
    );
    assert!(sb.login_with(USER, &[], &key_opts(&key)).ok);
    assert!(sb.record(USER).unwrap().keys()[0].sign_count > after);

    let list = sb.cli(&["list", "--user", USER]);
    assert!(
        list.stdout.contains("security key \"blue\": es256"),
        "{}",
        list.stdout
    );
}

#[test]
fn eddsa_credentials_work_too() {
    let (sb, key) = with_key("");
    let o = enroll(&sb, &key, &["--algorithm", "eddsa"]);
    assert!(o.stdout.contains("(eddsa)"), "{o:?}");
    assert!(sb.login_with(USER, &[], &key_opts(&key)).ok);
}

#[test]
fn each_misbehaviour_is_rejected() {
    let cases = [
        (r#"{"wrong_rp_id_hash": true}"#, "RP ID hash mismatch"),
        (r#"{"tamper_auth_data": true}"#, "signature does not verify"),
        (r#"{"tamper_signature": true}"#, "signature does not verify"),
        (r#"{"up_clear": true}"#, "user presence flag not set"),
        (r#"{"counter": 1}"#, "possible cloned key"),
    ];
    for (behaviour, reason) in cases {
        let (sb, key) = with_key("");
        enroll(&sb, &key, &[]);
        // A first login raises the stored counter above 1.
        assert!(sb.login_with(USER, &[], &key_opts(&key)).ok);
        assert!(sb.login_with(USER, &[], &key_opts(&key)).ok);
        key.behave(behaviour);
        let l = sb.login_with(USER, &[], &key_opts(&key));
        assert!(!l.ok, "{behaviour}");
        assert_eq!(l.code, Some(1), "{behaviour}: no crash");
        assert!(
            l.logged(reason),
            "{behaviour}: want {reason:?} in {:?}",
            l.syslog
        );
    }
}

#[test]
fn uv_required_but_clear_is_rejected() {
    let (sb, key) = with_key("");
    key.behave(r#"{"uv": true}"#);
    enroll(&sb, &key, &["--user-verification", "required"]);
    assert!(sb.login_with(USER, &[], &key_opts(&key)).ok);
    key.behave(r#"{"uv": true, "uv_clear": true}"#);
    let l = sb.login_with(USER, &[], &key_opts(&key));
    assert!(!l.ok);
    assert!(
        l.logged("user verification required but not performed"),
        "{:?}",
        l.syslog
    );
}

#[test]
fn no_answer_and_broken_answers_never_hang_or_crash_and_the_code_still_works() {
    let (sb, key) = with_key("[fido2]\ntimeout_seconds = 2");
    enroll(&sb, &key, &[]);
    sb.cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET);
    for (behaviour, reason) in [
        (r#"{"touch": "never"}"#, "did not answer in time"),
        (r#"{"silent": true}"#, "did not answer in time"),
        (
            r#"{"unknown_credential": true}"#,
            "holds none of the registered credentials",
        ),
        (r#"{"malformed_cbor": true}"#, "security key not used"),
        (r#"{"bad_framing": "reorder"}"#, "security key not used"),
    ] {
        key.behave(behaviour);
        let started = std::time::Instant::now();
        let l = sb.login_with(USER, &[&code(SECRET, 0)], &key_opts(&key));
        assert!(
            started.elapsed().as_secs() < 15,
            "{behaviour}: took {:?}",
            started.elapsed()
        );
        assert_eq!(l.code.map(|_| ()), Some(()), "{behaviour}: no crash");
        // Reordered continuation packets reassemble into garbage that either fails
        // to decode (no answer: the code prompt follows) or decodes into an
        // assertion that fails verification (the login fails); which one depends on
        // where the swap lands. Never a success through the key.
        if behaviour.contains("reorder") && l.logged("security key assertion rejected") {
            assert!(!l.ok, "{behaviour}: a garbled assertion never logs in");
        } else {
            assert!(
                l.logged(reason),
                "{behaviour}: want {reason:?} in {:?}",
                l.syslog
            );
            assert!(
                l.transcript.contains("Verification code"),
                "{behaviour}: the code prompt follows"
            );
        }
        sb.cli(&["unlock", "--user", USER]);
    }
}

#[test]
fn remote_sessions_skip_the_key_and_no_key_means_the_code_prompt_at_once() {
    let (sb, key) = with_key("");
    enroll(&sb, &key, &[]);
    sb.cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET);
    let remote = LoginOpts {
        key: Some(&key),
        items: vec!["rhost=192.0.2.9"],
        ..LoginOpts::default()
    };
    let l = sb.login_with(USER, &[&code(SECRET, 0)], &remote);
    assert!(l.ok, "{l:?}");
    assert!(
        !l.transcript.contains("Touch your security key"),
        "{}",
        l.transcript
    );
    // No key connected (no umockdev): straight to the code.
    let started = std::time::Instant::now();
    let l = sb.login(USER, &["000000x"]);
    assert!(started.elapsed().as_secs() < 3);
    assert!(l.logged("no security key connected"), "{:?}", l.syslog);
    assert!(l.transcript.contains("Verification code"));
}

/// sudo inside an SSH session sets no PAM_RHOST: the session's SSH variables make
/// the login remote. (Real sudo cannot reach the virtual key: it is setuid, so the
/// loader ignores the umockdev preload of any caller but root, whom sudo does not
/// authenticate. Here pamtester under pam_wrapper runs the same release module
/// with the key plugged in; login_paths runs real sudo inside a real ssh session.)
#[test]
fn ssh_variables_skip_the_key_and_without_them_the_key_is_touched() {
    let (sb, key) = with_key("");
    enroll(&sb, &key, &[]);
    sb.cli_secret(&["enroll", "totp", "--user", USER, "--no-confirm"], SECRET);
    sb.pam_service("mfa-debug", "auth required {module} socket={socket} debug");
    let counter = sb.record(USER).unwrap().keys()[0].sign_count;
    for (variable, answer) in [
        ("SSH_CONNECTION", code(SECRET, 0)),
        ("SSH_CLIENT", "000000x".to_owned()),
    ] {
        let remote = LoginOpts {
            service: Some("mfa-debug"),
            key: Some(&key),
            env: vec![(variable, "192.0.2.9 51000 192.0.2.1 22")],
            ..LoginOpts::default()
        };
        let started = std::time::Instant::now();
        let l = sb.login_with(USER, &[&answer], &remote);
        assert!(started.elapsed().as_secs() < 5, "{variable}: at once");
        assert_eq!(l.ok, variable == "SSH_CONNECTION", "{variable}: {l:?}");
        assert!(
            l.logged(&format!(
                "session is remote ({variable}; logind: no session for this process)"
            )) || l.logged(&format!(
                "session is remote ({variable}; logind: not running"
            )),
            "{variable}: {:?}",
            l.syslog
        );
        assert!(
            l.logged("security key not tried: the session is remote"),
            "{variable}: {:?}",
            l.syslog
        );
        assert!(
            !l.transcript.contains("Touch your security key"),
            "{variable}: {}",
            l.transcript
        );
        assert!(
            l.transcript.contains("Verification code"),
            "{}",
            l.transcript
        );
    }
    assert_eq!(
        sb.record(USER).unwrap().keys()[0].sign_count,
        counter,
        "the key was never asked"
    );
    // The same login without them: local, the key is touched, no code asked.
    let local = LoginOpts {
        service: Some("mfa-debug"),
        key: Some(&key),
        ..LoginOpts::default()
    };
    let l = sb.login_with(USER, &[], &local);
    assert!(l.ok, "{l:?}\n{}", key.log());
    assert!(
        l.logged("session is local (no PAM_RHOST, SSH_CONNECTION or SSH_CLIENT; logind: "),
        "{:?}",
        l.syslog
    );
    assert!(
        l.transcript.contains("Touch your security key."),
        "{}",
        l.transcript
    );
    assert!(
        !l.transcript.contains("Verification code"),
        "{}",
        l.transcript
    );
    assert!(sb.record(USER).unwrap().keys()[0].sign_count > counter);
}

#[test]
fn a_pin_protected_key() {
    let (sb, key) = with_key("");
    key.behave(r#"{"pin": "4321"}"#);
    let o = sb.cli_key(&key, &["enroll", "key", "--user", USER, "--pin"], "4321\n");
    assert!(o.ok(), "{o:?}\n{}", key.log());
    let l = sb.login_with(USER, &["4321"], &key_opts(&key));
    assert!(l.ok, "{l:?}");
    assert!(
        l.transcript.contains("Security key PIN: "),
        "{}",
        l.transcript
    );
    let wrong = sb.login_with(USER, &["0000"], &key_opts(&key));
    assert!(!wrong.ok);
    assert!(wrong.logged("PIN"), "{:?}", wrong.syslog);
}

#[test]
fn remove_revokes_one_key() {
    let (sb, key) = with_key("");
    enroll(&sb, &key, &["--name", "a"]);
    let o = sb.cli(&["remove", "--user", USER, "--key", "a"]);
    assert!(o.ok(), "{o:?}");
    assert!(o.stderr.contains("security key a"), "{}", o.stderr);
    assert!(sb.record(USER).is_none(), "nothing left: the record goes");
    let o = sb.cli(&["remove", "--user", USER, "--key", "a"]);
    assert!(
        o.stderr.contains("nothing to remove") || o.stderr.contains("has no security key"),
        "{o:?}"
    );
}

#[test]
fn the_virtual_key_itself_passes_libfido2s_checks() {
    pam_mfa_e2e::require("fido2-token", "fido2-tools");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fido/check_with_libfido2.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes an ES256 credential for `rp` on the virtual key with libfido2's
/// fido2-cred (an independent client), as pamu2fcfg would; returns the credential
/// id (base64) and the public key as the 65-byte point.
fn libfido2_credential(key: &VirtualKey, rp: &str) -> (String, Vec<u8>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = &key.dir;
    let rand = |n: usize| b64.encode((0..n).map(|i| (i * 37 + 11) as u8).collect::<Vec<_>>());
    std::fs::write(
        dir.join("cred.in"),
        format!("{}\n{rp}\nuser\n{}\n", rand(32), rand(16)),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .env("LD_PRELOAD", "libumockdev-preload.so.0")
            .env("UMOCKDEV_DIR", &key.umockdev_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    run(&[
        "fido2-cred",
        "-M",
        "-i",
        &p("cred.in"),
        "-o",
        &p("cred.out"),
        "/dev/hidraw0",
        "es256",
    ]);
    run(&[
        "fido2-cred",
        "-V",
        "-i",
        &p("cred.out"),
        "-o",
        &p("pub.out"),
        "es256",
    ]);
    let text = std::fs::read_to_string(dir.join("pub.out")).unwrap();
    let mut lines = text.lines();
    let cred_id = lines.next().unwrap().to_owned();
    let pem: String = lines.filter(|l| !l.starts_with("-----")).collect();
    let der = b64.decode(pem).unwrap();
    (cred_id, der[der.len() - 65..].to_vec())
}

#[test]
fn pam_u2f_authfiles_in_both_formats_import_and_log_in() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    for old_format in [false, true] {
        let (sb, key) = with_key("");
        let (cred_id, point) = libfido2_credential(&key, "pam://testhost");
        let line = if old_format {
            let websafe = cred_id
                .replace('+', "-")
                .replace('/', "_")
                .trim_end_matches('=')
                .to_owned();
            let hex: String = point.iter().map(|b| format!("{b:02x}")).collect();
            format!("{USER}:{websafe},{hex}\n")
        } else {
            format!(
                "{USER}:{cred_id},{},es256,+presence\n",
                b64.encode(&point[1..])
            )
        };
        let file = sb.root.join("u2f_keys");
        std::fs::write(&file, line).unwrap();
        let o = sb.cli(&[
            "import",
            "pam-u2f",
            "--origin",
            "pam://testhost",
            file.to_str().unwrap(),
        ]);
        assert!(o.ok(), "{o:?}");
        assert!(
            o.stdout.contains(
                "daemon: 1 security key(s) imported from pam_u2f (relying party pam://testhost)."
            ),
            "{o:?}"
        );
        let l = sb.login_with(USER, &[], &key_opts(&key));
        assert!(l.ok, "old format {old_format}: {l:?}\n{}", key.log());
        assert!(
            l.logged("second factor accepted (security key \"pam_u2f-1\")"),
            "{:?}",
            l.syslog
        );
    }
}
