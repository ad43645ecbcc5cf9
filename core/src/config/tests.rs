use super::*;
use crate::test_support::{owned_by_me, Scratch};
use std::os::unix::fs::PermissionsExt;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/pam_mfa/config.toml"), text)
}

/// The message of an error, for comparing against what the admin will read.
fn message(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn an_empty_file_gives_the_documented_defaults() {
    let cfg = parse("").unwrap();
    assert_eq!(cfg, Config::defaults(Path::new("/etc/pam_mfa/config.toml")));
    assert_eq!(cfg.store.dir, PathBuf::from("/var/lib/pam_mfa"));
    assert_eq!(cfg.totp.window, 1);
    assert_eq!(cfg.lockout.max_failures, 5);
    assert_eq!(cfg.policy.unenrolled, Unenrolled::Deny);
}

#[test]
fn every_key_is_read() {
    let cfg = parse(
        r#"
[store]
dir = "/srv/mfa"
[totp]
window = 2
issuer = "Example Corp"
algorithm = "SHA512"
digits = 8
period = 60
[hotp]
look_ahead = 20
[recovery]
codes = 12
[lockout]
max_failures = 3
seconds = 900
[policy]
unenrolled = "ignore"
fail_delay_ms = 0
refusal_ms = 40
prompt = "combined"
[fido2]
rp_id = "pam://example"
timeout_seconds = 10
allow_remote = true
require_user_verification = true
require_key_for = ["sudo", "login"]
[enroll]
users = ["alice"]
groups = ["staff", "wheel"]
deadline = 2027-01-31
[oob]
command = "/usr/local/sbin/send-code"
run_as = "daemon"
allow_root = false
timeout_seconds = 5
lifetime_seconds = 600
digits = 8
max_sends = 4
per_seconds = 900
"#,
    )
    .unwrap();
    assert_eq!(cfg.store.dir, PathBuf::from("/srv/mfa"));
    assert_eq!(cfg.totp.window, 2);
    assert_eq!(cfg.totp.issuer.as_deref(), Some("Example Corp"));
    assert_eq!(cfg.totp.algorithm, Algorithm::Sha512);
    assert_eq!((cfg.totp.digits, cfg.totp.period), (8, 60));
    assert_eq!(cfg.hotp.look_ahead, 20);
    assert_eq!(cfg.recovery.codes, 12);
    assert_eq!((cfg.lockout.max_failures, cfg.lockout.seconds), (3, 900));
    assert_eq!(cfg.policy.unenrolled, Unenrolled::Ignore);
    assert_eq!(cfg.policy.fail_delay_ms, 0);
    assert_eq!(cfg.policy.refusal_ms, 40);
    assert_eq!(cfg.policy.prompt, PromptStyle::Combined);
    assert_eq!(cfg.fido2.rp_id, "pam://example");
    assert_eq!(cfg.fido2.timeout_seconds, 10);
    assert!(cfg.fido2.allow_remote && cfg.fido2.require_user_verification);
    assert_eq!(cfg.fido2.require_key_for, ["sudo", "login"]);
    assert_eq!(cfg.enroll.users, ["alice"]);
    assert_eq!(cfg.enroll.groups, ["staff", "wheel"]);
    // 2027-02-01T00:00:00Z: the whole of January 31 still counts.
    assert_eq!(
        cfg.enroll.deadline,
        Some((1_801_440_000, "2027-01-31".to_owned()))
    );
    let oob = &cfg.oob;
    assert_eq!(
        oob.command.as_deref(),
        Some(Path::new("/usr/local/sbin/send-code"))
    );
    assert_eq!(oob.run_as, "daemon");
    assert!(!oob.allow_root);
    assert_eq!((oob.timeout_seconds, oob.lifetime_seconds), (5, 600));
    assert_eq!((oob.digits, oob.max_sends, oob.per_seconds), (8, 4, 900));
    let root =
        parse("[oob]\ncommand = \"/usr/local/sbin/send\"\nrun_as = \"root\"\nallow_root = true\n");
    assert_eq!(root.unwrap().oob.run_as, "root");
    // Without a command, run_as is not looked up.
    assert!(parse("[oob]\nrun_as = \"no-such-account-here\"\n").is_ok());
    let enroll =
        parse("[policy]\nunenrolled = \"enroll\"\n[enroll]\ngroups = [\"staff\"]\n").unwrap();
    assert_eq!(enroll.policy.unenrolled, Unenrolled::Enroll);
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        (
            "[store]\ndir = \"/x\"\n[lockout]\nmax_failure = 3\n",
            "/etc/pam_mfa/config.toml:4: key `lockout.max_failure`: unknown key",
        ),
        (
            "\n[stor]\ndir = \"/x\"\n",
            "/etc/pam_mfa/config.toml:2: key `stor`: unknown key",
        ),
        (
            "[totp]\nwindow = 11\n",
            "/etc/pam_mfa/config.toml:2: key `totp.window`: expected an integer from 0 to 10",
        ),
        (
            "[totp]\n\nwindow = -1\n",
            "/etc/pam_mfa/config.toml:3: key `totp.window`: expected an integer from 0 to 10",
        ),
        (
            "[totp]\ndigits = \"6\"\n",
            "/etc/pam_mfa/config.toml:2: key `totp.digits`: expected an integer, found string",
        ),
        (
            "[totp]\nalgorithm = \"MD5\"\n",
            "/etc/pam_mfa/config.toml:2: key `totp.algorithm`: expected one of \"SHA1\", \"SHA256\", \"SHA512\", found \"MD5\"",
        ),
        (
            "[policy]\nunenrolled = \"allow\"\n",
            "/etc/pam_mfa/config.toml:2: key `policy.unenrolled`: expected one of \"deny\", \"ignore\", \"enroll\", found \"allow\"",
        ),
        (
            "[policy]\nfail_delay_ms = 0\nunenrolled = \"enroll\"\n",
            "/etc/pam_mfa/config.toml:3: key `policy.unenrolled`: \"enroll\" needs enroll.users or enroll.groups: who may enroll at login",
        ),
        (
            "[enroll]\ndeadline = \"2027-01-31\"\n",
            "/etc/pam_mfa/config.toml:2: key `enroll.deadline`: expected a date such as 2027-03-31 (no quotes, no time)",
        ),
        (
            "[enroll]\ndeadline = 2027-01-31T10:00:00\n",
            "/etc/pam_mfa/config.toml:2: key `enroll.deadline`: expected a date such as 2027-03-31 (no quotes, no time)",
        ),
        (
            "[oob]\ncommand = \"send-sms\"\n",
            "/etc/pam_mfa/config.toml:2: key `oob.command`: expected an absolute path, found \"send-sms\"",
        ),
        (
            "[oob]\ncommand = \"/usr/local/sbin/send\"\nrun_as = \"root\"\n",
            "/etc/pam_mfa/config.toml:3: key `oob.run_as`: oob.run_as \"root\" is root: the delivery command would run with every privilege; choose an unprivileged account, or set oob.allow_root = true",
        ),
        (
            "[oob]\nrun_as = \"no-such-account-here\"\ncommand = \"/usr/local/sbin/send\"\n",
            "/etc/pam_mfa/config.toml:2: key `oob.run_as`: oob.run_as: no such account \"no-such-account-here\"",
        ),
        (
            "[oob]\nlifetime_seconds = 0\n",
            "/etc/pam_mfa/config.toml:2: key `oob.lifetime_seconds`: expected an integer from 1 to 3600",
        ),
        (
            "[store]\ndir = \"var/lib\"\n",
            "/etc/pam_mfa/config.toml:2: key `store.dir`: expected an absolute path, found \"var/lib\"",
        ),
        (
            "store = 3\n",
            "/etc/pam_mfa/config.toml:1: key `store`: expected a table, found integer",
        ),
        (
            "[totp]\nissuer = \"a:b\"\n",
            "/etc/pam_mfa/config.toml:2: key `totp.issuer`: must not contain ':' (it separates issuer and account in apps)",
        ),
        (
            "[lockout]\nseconds = 0\n",
            "/etc/pam_mfa/config.toml:2: key `lockout.seconds`: expected an integer from 1 to 604800",
        ),
        (
            "[lockout]\nseconds = 99999999999999999999\n",
            "/etc/pam_mfa/config.toml:2: key `lockout.seconds`: expected an integer from 1 to 604800",
        ),
        (
            "[fido2]\nallow_remote = \"yes\"\n",
            "/etc/pam_mfa/config.toml:2: key `fido2.allow_remote`: expected true or false, found string",
        ),
        (
            "[fido2]\nrequire_key_for = [\"sudo\", 3]\n",
            "/etc/pam_mfa/config.toml:2: key `fido2.require_key_for`: expected a non-empty string",
        ),
        (
            "[lockout]\nseconds = 1.5\n",
            "/etc/pam_mfa/config.toml:2: key `lockout.seconds`: expected an integer, found float",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(message(text), want, "for {text:?}");
    }
}

#[test]
fn who_must_use_a_second_factor_is_read() {
    let cfg = parse(
        "[policy]\nexempt_users = [\"backup\"]\nexempt_groups = [\"robots\"]\n\
         exempt_networks = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]\n\
         require_groups = [\"admins\", \"staff\"]\n",
    )
    .unwrap();
    assert_eq!(cfg.policy.exempt_users, ["backup"]);
    assert_eq!(cfg.policy.exempt_groups, ["robots"]);
    let blocks: Vec<String> = cfg
        .policy
        .exempt_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(blocks, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]);
    assert_eq!(cfg.policy.require_groups, ["admins", "staff"]);
}

#[test]
fn the_grace_period_is_off_by_default_and_bounded() {
    assert_eq!(parse("").unwrap().policy.remember_seconds, 0);
    assert_eq!(
        parse("[policy]\nremember_seconds = 2592000\n")
            .unwrap()
            .policy
            .remember_seconds,
        2_592_000
    );
    assert_eq!(
        message("[policy]\nremember_seconds = 2592001\n"),
        "/etc/pam_mfa/config.toml:2: key `policy.remember_seconds`: expected an integer from 0 to 2592000"
    );
    assert_eq!(
        message("[policy]\nremember_seconds = -1\n"),
        "/etc/pam_mfa/config.toml:2: key `policy.remember_seconds`: expected an integer from 0 to 2592000"
    );
}

#[test]
fn a_malformed_network_names_file_line_and_key() {
    for (text, want) in [
        (
            "[policy]\nfail_delay_ms = 0\nexempt_networks = [\"10.0.0.0/33\"]\n",
            "/etc/pam_mfa/config.toml:3: key `policy.exempt_networks`: \"10.0.0.0/33\": the prefix length must be a number from 0 to 32",
        ),
        (
            "[policy]\nexempt_networks = [\"10.0.0.0/8\", \"gateway.example.org\"]\n",
            "/etc/pam_mfa/config.toml:2: key `policy.exempt_networks`: \"gateway.example.org\" is not an IPv4 or IPv6 network (e.g. 10.0.0.0/8)",
        ),
        (
            "[policy]\nexempt_networks = [\"10.1.2.3/8\"]\n",
            "/etc/pam_mfa/config.toml:2: key `policy.exempt_networks`: \"10.1.2.3/8\" has host bits set: the block is 10.0.0.0/8",
        ),
        (
            "[policy]\nexempt_networks = \"10.0.0.0/8\"\n",
            "/etc/pam_mfa/config.toml:2: key `policy.exempt_networks`: expected an array of strings, found string",
        ),
        (
            "[policy]\nexempt_networks = [\n  \"10.0.0.0/8\",\n  \"fd00::/8\",\n  \"10.0.0.0/40\",\n]\n",
            "/etc/pam_mfa/config.toml:5: key `policy.exempt_networks`: \"10.0.0.0/40\": the prefix length must be a number from 0 to 32",
        ),
        (
            "[policy]\nexempt_user = [\"backup\"]\n",
            "/etc/pam_mfa/config.toml:2: key `policy.exempt_user`: unknown key",
        ),
        (
            "[policy]\nrequire_groups = [\"\"]\n",
            "/etc/pam_mfa/config.toml:2: key `policy.require_groups`: expected a non-empty string",
        ),
    ] {
        assert_eq!(message(text), want, "for {text:?}");
    }
}

#[test]
fn custom_prompts_replace_only_what_is_set() {
    use crate::i18n::{Lang, Msg};
    let cfg = parse(
        "[prompt]\ncode.en = \"Static challenge: token code: \"\ncode.nl = \"Tokencode: \"\n\
         touch_key.nl = \"Tik op uw sleutel.\"\n\
         [prompt.key_pin]\nen = \"PIN of your YubiKey: \"\n",
    )
    .unwrap();
    let p = &cfg.prompt;
    assert_eq!(
        p.text(Lang::En, Msg::CodePrompt),
        "Static challenge: token code: "
    );
    assert_eq!(p.text(Lang::Nl, Msg::CodePrompt), "Tokencode: ");
    assert_eq!(p.text(Lang::Nl, Msg::TouchKey), "Tik op uw sleutel.");
    assert_eq!(p.text(Lang::En, Msg::KeyPinPrompt), "PIN of your YubiKey: ");
    // Unset: the built-in text, per language.
    assert_eq!(p.text(Lang::En, Msg::TouchKey), "Touch your security key.");
    assert_eq!(
        p.text(Lang::Nl, Msg::CodePromptOob),
        crate::i18n::text(Lang::Nl, Msg::CodePromptOob)
    );
    let defaults = Config::defaults(Path::new("/x")).prompt;
    for msg in crate::i18n::CUSTOM_PROMPTS.map(|(_, m)| m) {
        for lang in Lang::ALL {
            assert_eq!(defaults.text(lang, msg), crate::i18n::text(lang, msg));
        }
    }
}

#[test]
fn the_shipped_prompt_examples_parse() {
    use crate::i18n::{Lang, Msg};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/config.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("# code.en = ", "code.en = ")
        .replace("# code.nl = ", "code.nl = ");
    let cfg = Config::parse(&path, &text).unwrap();
    assert_eq!(
        cfg.prompt.text(Lang::En, Msg::CodePrompt),
        "Enter your token code: "
    );
    assert_eq!(
        cfg.prompt.text(Lang::Nl, Msg::CodePrompt),
        "Voer uw tokencode in: "
    );
}

#[test]
fn custom_prompts_name_their_errors() {
    for (text, want) in [
        (
            "[prompt]\nanswer.en = \"x\"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.answer`: unknown prompt \"answer\": expected one of code, code_oob, touch_key, key_pin, combined",
        ),
        (
            "[prompt]\ncode.en = \"Code: \"\ncode.de = \"Code: \"\n",
            "/etc/pam_mfa/config.toml:3: key `prompt.code.de`: unknown language \"de\": expected one of en, nl",
        ),
        (
            "[prompt]\ncode = \"Code: \"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code`: expected a text per language, e.g. code.en = \"...\" and code.nl = \"...\"",
        ),
        (
            "[prompt]\ncode.en = 6\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code.en`: expected a string, found integer",
        ),
        (
            "[prompt]\ncode.en = \"  \"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code.en`: expected 1 to 200 bytes of printable text",
        ),
        (
            "[prompt]\ncode.en = \"Code:\\nroot# \"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code.en`: '\\n' is not printable: a prompt is one line of visible text",
        ),
        (
            "[prompt]\ncode.en = \"\\u001b[2JCode: \"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code.en`: '\\u{1b}' is not printable: a prompt is one line of visible text",
        ),
        (
            "[prompt]\ncode.nl = \"Code \\u202e:edoc\"\n",
            "/etc/pam_mfa/config.toml:2: key `prompt.code.nl`: '\\u{202e}' is not printable: a prompt is one line of visible text",
        ),
    ] {
        assert_eq!(message(text), want, "for {text:?}");
    }
    let long = format!("[prompt]\ncode.en = \"{}\"\n", "x".repeat(201));
    assert!(message(&long).contains("expected 1 to 200 bytes"));
    assert!(parse(&format!("[prompt]\ncode.en = \"{}\"\n", "x".repeat(200))).is_ok());
}

#[test]
fn dotted_and_inline_keys_are_checked_too() {
    assert_eq!(
        message("lockout.bogus = 1\n"),
        "/etc/pam_mfa/config.toml:1: key `lockout.bogus`: unknown key"
    );
    assert_eq!(
        message("lockout = { seconds = 5, max = 1 }\n"),
        "/etc/pam_mfa/config.toml:1: key `lockout.max`: unknown key"
    );
    assert_eq!(parse("lockout.seconds = 7\n").unwrap().lockout.seconds, 7);
}

#[test]
fn syntax_errors_carry_a_line() {
    let e = parse("[store]\ndir = \n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
    let e = parse("[store]\n[store]\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
}

fn me() -> Trust {
    owned_by_me(Trust::ROOT_NOT_WRITABLE)
}

#[test]
fn an_insecure_file_or_directory_is_refused() {
    let dir = Scratch::new(0o755);
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[lockout]\nseconds = 5\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        Config::load_trusting(&path, me()).unwrap().lockout.seconds,
        5
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = Config::load_trusting(&path, me()).unwrap_err();
    assert!(
        matches!(e, ConfigError::File(FileError::Mode { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("mode 0666 is insecure"), "{e}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Config::load_trusting(&path, me()).unwrap_err();
    assert!(
        matches!(e, ConfigError::File(FileError::Mode { .. })),
        "{e}"
    );

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Config::load_trusting(&path, me().owned_by(me().owner + 1)).unwrap_err();
    assert!(
        matches!(e, ConfigError::File(FileError::Owner { .. })),
        "{e}"
    );
}

#[test]
fn a_symlinked_or_missing_file_is_refused() {
    let dir = Scratch::new(0o755);
    let real = dir.path().join("real.toml");
    std::fs::write(&real, "").unwrap();
    let link = dir.path().join("config.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = Config::load_trusting(&link, me()).unwrap_err();
    assert!(matches!(e, ConfigError::File(FileError::Symlink(_))), "{e}");
    let e = Config::load_trusting(&dir.path().join("absent.toml"), me()).unwrap_err();
    assert!(matches!(e, ConfigError::File(FileError::Missing(_))), "{e}");
}

#[test]
fn a_non_utf8_file_is_refused() {
    let dir = Scratch::new(0o755);
    let path = dir.path().join("config.toml");
    std::fs::write(&path, b"[store]\ndir = \"/\xff\"\n").unwrap();
    let e = Config::load_trusting(&path, me()).unwrap_err();
    assert!(matches!(e, ConfigError::Encoding { .. }), "{e}");
}

#[test]
fn the_shipped_example_config_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut cfg = Config::parse(&path, &text).unwrap();
    cfg.path = PathBuf::from("/etc/pam_mfa/config.toml");
    assert_eq!(cfg, Config::defaults(Path::new("/etc/pam_mfa/config.toml")));
}

#[test]
fn the_postgres_backend_reads_its_keys() {
    let cfg = parse(
        r#"
[store]
backend = "postgres"
url = "postgresql://pam_mfa@db.example.org/pam_mfa"
password_file = "/etc/pam_mfa/db-password"
sslmode = "verify-ca"
ca_file = "/etc/pam_mfa/db-ca.pem"
key_file = "/etc/pam_mfa/store.key"
previous_key_file = "/etc/pam_mfa/store.key.old"
connect_timeout_seconds = 5
pool_size = 8
"#,
    )
    .unwrap();
    assert_eq!(cfg.store.backend, Backend::Postgres);
    let pg = &cfg.store.postgres;
    assert_eq!(pg.url, "postgresql://pam_mfa@db.example.org/pam_mfa");
    assert_eq!(pg.sslmode, SslMode::VerifyCa);
    assert_eq!(pg.ca_file, Some(PathBuf::from("/etc/pam_mfa/db-ca.pem")));
    assert_eq!(pg.key_file, PathBuf::from("/etc/pam_mfa/store.key"));
    assert_eq!(
        pg.previous_key_file,
        Some(PathBuf::from("/etc/pam_mfa/store.key.old"))
    );
    assert_eq!(
        pg.password_file,
        Some(PathBuf::from("/etc/pam_mfa/db-password"))
    );
    assert_eq!((pg.connect_timeout_seconds, pg.pool_size), (5, 8));
    let defaults = parse(
        "[store]\nbackend = \"postgres\"\nurl = \"host=/run/postgresql user=u\"\nkey_file = \"/k\"\n",
    )
    .unwrap();
    let pg = &defaults.store.postgres;
    assert_eq!(pg.sslmode, SslMode::VerifyFull);
    assert_eq!((pg.connect_timeout_seconds, pg.pool_size), (3, 4));
}

#[test]
fn postgres_settings_that_cannot_work_name_their_key() {
    let f = "/etc/pam_mfa/config.toml";
    let cases = [
        (
            "[store]\nurl = \"host=/x user=u\"\n",
            format!("{f}:2: key `store.url`: only used with backend = \"postgres\" (this config uses the files backend)"),
        ),
        (
            "[store]\nbackend = \"postgres\"\nkey_file = \"/k\"\n",
            format!("{f}:2: key `store.backend`: \"postgres\" needs store.url"),
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"host=/x user=u\"\n",
            format!("{f}:2: key `store.backend`: \"postgres\" needs store.key_file"),
        ),
        (
            "[store]\nbackend = \"postgres\"\nkey_file = \"/k\"\nurl = \"postgresql://u:secret@db/x\"\n",
            format!("{f}:4: key `store.url`: holds a password, which anyone who can read the config would see: put it in store.password_file"),
        ),
        (
            "[store]\nbackend = \"postgres\"\nkey_file = \"/k\"\nurl = \"host=db.example.org user=u\"\n",
            format!("{f}:4: key `store.url`: a TCP host needs store.ca_file (the CA that signed the server's certificate), or sslmode = \"disable\" on a trusted network"),
        ),
        (
            "[store]\nbackend = \"mysql\"\n",
            format!("{f}:2: key `store.backend`: expected one of \"files\", \"postgres\", found \"mysql\""),
        ),
        (
            "[store]\nbackend = \"postgres\"\nkey_file = \"/k\"\nurl = \"host=/x user=u\"\npool_size = 0\n",
            format!("{f}:5: key `store.pool_size`: expected an integer from 1 to 64"),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(message(text), want, "{text}");
    }
    // A TCP host on a trusted network may go without TLS when the admin says so.
    assert!(parse(
        "[store]\nbackend = \"postgres\"\nkey_file = \"/k\"\nurl = \"host=10.0.0.5 user=u\"\nsslmode = \"disable\"\n"
    )
    .is_ok());
}

#[test]
fn the_shipped_examples_postgres_keys_parse_and_show_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let keys = [
        "url",
        "password_file",
        "sslmode",
        "ca_file",
        "key_file",
        "previous_key_file",
        "connect_timeout_seconds",
        "pool_size",
    ];
    let mut uncommented = 0;
    let text: String = text
        .lines()
        .map(|line| {
            if line == "#backend = \"files\"" {
                return "backend = \"postgres\"".to_owned();
            }
            match line.strip_prefix('#') {
                Some(rest) if keys.iter().any(|k| rest.starts_with(&format!("{k} = "))) => {
                    uncommented += 1;
                    rest.to_owned()
                }
                _ => line.to_owned(),
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert_eq!(
        uncommented,
        keys.len(),
        "every postgres key is in the example"
    );
    let cfg = Config::parse(&path, &text).unwrap();
    let defaults = Config::defaults(&path).store.postgres;
    let pg = cfg.store.postgres;
    assert_eq!(cfg.store.backend, Backend::Postgres);
    assert_eq!(pg.sslmode, defaults.sslmode);
    assert_eq!(pg.connect_timeout_seconds, defaults.connect_timeout_seconds);
    assert_eq!(pg.pool_size, defaults.pool_size);
}

/// The keys conf/config.toml shows, set (`key = value`) or commented out
/// (`#key = value`), outside `[prompt]`: `(dotted key, value text, set, line)`.
fn shipped_keys() -> Vec<(String, String, bool, usize)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/config.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut section = String::new();
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (set, body) = match line.strip_prefix('#') {
            Some(body) => (false, body),
            None => (true, line),
        };
        let Some((key, value)) = body.split_once(" = ") else {
            continue;
        };
        if section == "prompt"
            || key.is_empty()
            || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            continue;
        }
        out.push((format!("{section}.{key}"), value.to_owned(), set, i + 1));
    }
    out
}

/// A TOML value as written after `key = ` (a trailing comment allowed).
fn toml_value(text: &str) -> toml::Value {
    let table: toml::Table = toml::from_str(&format!("x = {text}")).unwrap();
    table["x"].clone()
}

#[test]
fn the_shipped_example_shows_every_key_of_the_table_once_with_its_default() {
    let shipped = shipped_keys();
    for key in keys::KEYS {
        let found: Vec<_> = shipped.iter().filter(|(k, ..)| k == key.name).collect();
        assert_eq!(
            found.len(),
            1,
            "{} shown {} times in conf/config.toml",
            key.name,
            found.len()
        );
        let (_, value, set, line) = found[0];
        match key.default {
            // Set or commented out, it shows the default.
            Some(default) => assert_eq!(
                toml_value(value),
                toml_value(default),
                "conf/config.toml:{line}: {} shows {value}, the table's default is {default}",
                key.name
            ),
            // Unset by default: only ever shown commented out, with an example the
            // parser accepts for that key.
            None => {
                assert!(
                    !set,
                    "conf/config.toml:{line}: {} has no default but is set",
                    key.name
                );
                let (section, short) = key.name.split_once('.').unwrap();
                let text = format!("[{section}]\n{short} = {value}\n");
                let doc = parse::Doc {
                    file: Path::new("example"),
                    src: &text,
                };
                let root = toml::de::DeTable::parse(&text).unwrap();
                let mut cfg = Config::defaults(Path::new("/x"));
                parse::for_each(&doc, None, root.get_ref(), &mut |s| {
                    read_section(&s, &mut cfg, &mut Spans::default())
                })
                .unwrap_or_else(|e| {
                    panic!("conf/config.toml:{line}: the example of {}: {e}", key.name)
                });
            }
        }
    }
    for (name, _, _, line) in &shipped {
        assert!(
            keys::find(name).is_some(),
            "conf/config.toml:{line}: {name} is not in the key table"
        );
    }
}

#[test]
fn the_defaults_come_from_the_table() {
    let cfg = Config::defaults(Path::new("/x"));
    // Built from the table by the parser itself, so nothing can fall back to the
    // zero values Config::default() holds.
    assert_eq!(Config::with_defaults(Path::new("/x")).unwrap(), cfg);
    assert_ne!(
        cfg,
        Config {
            path: PathBuf::from("/x"),
            ..Config::default()
        }
    );
    assert_eq!(cfg.totp.period, 30);
    assert_eq!(cfg.store.postgres.sslmode, SslMode::VerifyFull);
    assert_eq!(cfg.policy.unenrolled, Unenrolled::Deny);
    let every_default = keys::KEYS.iter().filter(|k| k.default.is_some()).count();
    assert_eq!(keys::defaults_text().lines().count(), every_default);
}
