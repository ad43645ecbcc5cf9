//! `[policy]` through real libpam (pam_wrapper + pamtester): who must use a second
//! factor (exemptions by user, group and network, `require_groups`) and the grace
//! period (`remember_seconds`).

use pam_mfa_e2e::users::TempGroup;
use pam_mfa_e2e::{code, LoginOpts, Sandbox, TempUser, SECRET};

/// A stack that lets the user in only when pam_mfa answers PAM_IGNORE: a success
/// dies (libpam never turns `die` on a success into a success), a failure too.
const IGNORED_ONLY: &str = "\
auth [ignore=1 default=die] {module} socket={socket}
auth requisite pam_deny.so
auth required pam_permit.so";

/// The sandbox's defaults for `[policy]` (no delays) plus `keys`.
fn policy(keys: &str) -> String {
    format!("[policy]\nfail_delay_ms = 0\nrefusal_ms = 0\n{keys}\n")
}

fn sandbox(keys: &str) -> Sandbox {
    let sb = Sandbox::new(&policy(keys));
    sb.pam_service("ignored", IGNORED_ONLY);
    sb
}

fn from(rhost: &str) -> String {
    format!("rhost={rhost}")
}

fn opts<'a>(service: &'a str, item: &'a str) -> LoginOpts<'a> {
    LoginOpts {
        service: Some(service),
        items: if item.is_empty() { vec![] } else { vec![item] },
        ..LoginOpts::default()
    }
}

#[test]
fn a_login_from_an_exempt_ipv4_or_ipv6_network_is_ignored_without_a_prompt() {
    let sb = sandbox(r#"exempt_networks = ["10.0.0.0/8", "2001:db8::/32"]"#);
    sb.enroll_record("alice", SECRET, 0);
    let before = sb.record("alice");
    for (rhost, block) in [
        ("10.1.2.3", "10.0.0.0/8"),
        ("2001:db8:7::5", "2001:db8::/32"),
        // What a dual-stack listener reports for an IPv4 client.
        ("::ffff:10.1.2.3", "10.0.0.0/8"),
    ] {
        let item = from(rhost);
        let l = sb.login_with("alice", &[], &opts("ignored", &item));
        assert!(l.ok, "PAM_IGNORE from {rhost}: {l:?}");
        assert!(
            !l.transcript.contains("Verification code"),
            "{}",
            l.transcript
        );
        assert!(
            l.logged(&format!(
                "user=alice: second factor not required (exempt_networks {block} matches rhost {rhost})"
            )),
            "{:?}",
            l.syslog
        );
    }
    assert_eq!(sb.record("alice"), before, "the store is not touched");

    // Outside the blocks: asked, and the right code is a success, not PAM_IGNORE.
    for rhost in ["11.1.2.3", "2001:db9::1"] {
        let item = from(rhost);
        let l = sb.login_with("alice", &[&code(SECRET, 0)], &opts("ignored", &item));
        assert!(!l.ok, "not exempt from {rhost}: {l:?}");
        assert!(l.transcript.contains("Verification code"), "{l:?}");
    }
    let item = from("192.0.2.9");
    let l = sb.login_with("alice", &[&code(SECRET, 1)], &opts("mfa", &item));
    assert!(l.ok, "{l:?}");
    // A local login (no PAM_RHOST) is never in a network.
    let l = sb.login_with("alice", &["000000x"], &opts("ignored", ""));
    assert!(!l.ok && l.transcript.contains("Verification code"), "{l:?}");
}

#[test]
fn a_host_name_in_rhost_never_matches_a_network() {
    let sb = sandbox(r#"exempt_networks = ["10.0.0.0/8", "127.0.0.0/8", "::1/128"]"#);
    sb.enroll_record("alice", SECRET, 0);
    for rhost in ["10.1.2.3.nip.io", "localhost", "010.1.2.3", "[::1]"] {
        let item = from(rhost);
        let l = sb.login_with("alice", &["000000x"], &opts("ignored", &item));
        assert!(!l.ok, "{rhost}: {l:?}");
        assert!(l.transcript.contains("Verification code"), "{rhost}: {l:?}");
        assert!(!l.logged("second factor not required"), "{:?}", l.syslog);
    }
    // Each of those wrong codes counted: the login was not exempt.
    assert_eq!(sb.record("alice").unwrap().state().failures, 4);
}

#[test]
fn exempt_users_and_groups_by_primary_and_supplementary_group() {
    let sb = Sandbox::new("");
    let member = TempUser::new(&sb.root.join("home"));
    let group = TempGroup::with_member(&member.name);
    // Sandbox users have the primary group nogroup; `member` is in `group`.
    sb.write_config(&policy(&format!(
        "exempt_users = [\"bob\"]\nexempt_groups = [\"{}\", \"nogroup\"]",
        group.0
    )));
    sb.pam_service("ignored", IGNORED_ONLY);
    for user in ["alice", "bob", member.name.as_str()] {
        sb.enroll_record(user, SECRET, 0);
    }
    let l = sb.login_with("bob", &[], &opts("ignored", ""));
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=bob: second factor not required (exempt_users lists bob)"),
        "{:?}",
        l.syslog
    );
    let l = sb.login_with(&member.name, &[], &opts("ignored", ""));
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged(&format!(
            "user={}: second factor not required (member of {}, in exempt_groups)",
            member.name, group.0
        )),
        "{:?}",
        l.syslog
    );
    let l = sb.login_with("alice", &[], &opts("ignored", ""));
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged("user=alice: second factor not required (member of nogroup, in exempt_groups)"),
        "{:?}",
        l.syslog
    );
    // root is in none of them: asked.
    let l = sb.login_with("root", &["000000x"], &opts("ignored", ""));
    assert!(!l.ok && l.transcript.contains("Verification code"), "{l:?}");
}

#[test]
fn require_groups_asks_members_only() {
    let sb = Sandbox::new("");
    let member = TempUser::new(&sb.root.join("home"));
    let group = TempGroup::with_member(&member.name);
    sb.write_config(&policy(&format!("require_groups = [\"{}\"]", group.0)));
    sb.pam_service("ignored", IGNORED_ONLY);
    sb.enroll_record(&member.name, SECRET, 0);
    sb.enroll_record("alice", SECRET, 0);
    // A member: asked, and the right code passes (through the plain service).
    let l = sb.login_with(&member.name, &[&code(SECRET, 0)], &opts("mfa", ""));
    assert!(l.ok, "{l:?}");
    assert!(l.transcript.contains("Verification code"), "{l:?}");
    let l = sb.login_with(&member.name, &["000000x"], &opts("ignored", ""));
    assert!(!l.ok, "{l:?}");
    // Not a member: not asked, PAM_IGNORE.
    let l = sb.login_with("alice", &[], &opts("ignored", ""));
    assert!(l.ok, "{l:?}");
    assert!(
        l.logged(
            "user=alice: second factor not required (not a member of any group in require_groups)"
        ),
        "{:?}",
        l.syslog
    );
}

/// Logs alice in from `item` answering `answer`; returns the login and whether
/// the code prompt was shown.
fn remote(sb: &Sandbox, item: &str, answers: &[&str]) -> (pam_mfa_e2e::Login, bool) {
    let l = sb.login_with("alice", answers, &opts("mfa", item));
    let asked = l.transcript.contains("Verification code");
    (l, asked)
}

#[test]
fn a_remote_address_is_remembered_until_a_failure_or_a_change_of_factors() {
    let sb = sandbox("remember_seconds = 3600");
    let codes = sb.enroll_record("alice", SECRET, 5);
    let (a, b) = (from("192.0.2.7"), from("2001:db8::9"));
    let skipped = "user=alice: second factor skipped (remembered from 192.0.2.7, ";

    let (l, asked) = remote(&sb, &a, &[&code(SECRET, 0)]);
    assert!(l.ok && asked, "{l:?}");
    // The same address, nothing typed: in, with the reason in the log.
    let (l, asked) = remote(&sb, &a, &[]);
    assert!(l.ok && !asked, "{l:?}");
    assert!(l.logged(skipped), "{:?}", l.syslog);
    assert!(l.logged(" s ago)"), "{:?}", l.syslog);
    // Another address and a local login are asked.
    let (l, asked) = remote(&sb, &b, &[&codes[0]]);
    assert!(l.ok && asked, "{l:?}");
    let (l, asked) = remote(&sb, "", &[&codes[1]]);
    assert!(l.ok && asked, "{l:?}");
    let (l, asked) = remote(&sb, &a, &[]);
    assert!(l.ok && !asked, "still remembered: {l:?}");

    // A failure, from a third address, forgets every address.
    let (l, asked) = remote(&sb, &from("198.51.100.4"), &["000000x"]);
    assert!(!l.ok && asked, "{l:?}");
    let (l, asked) = remote(&sb, &b, &[&codes[3]]);
    assert!(l.ok && asked, "{l:?}");
    let (l, asked) = remote(&sb, &a, &[&codes[2]]);
    assert!(l.ok && asked, "asked after a failure: {l:?}");
    let (l, asked) = remote(&sb, &a, &[]);
    assert!(l.ok && !asked, "remembered again: {l:?}");

    // New recovery codes by the admin: asked again.
    let o = sb.cli(&["recovery", "--user", "alice"]);
    assert!(o.ok(), "{}", o.stderr);
    let fresh: Vec<&str> = o.stdout.lines().collect();
    let (l, asked) = remote(&sb, &a, &[fresh[0]]);
    assert!(l.ok && asked, "asked after new recovery codes: {l:?}");
    let (l, asked) = remote(&sb, &a, &[]);
    assert!(l.ok && !asked, "{l:?}");

    // A new app: asked again, and the new app's code passes.
    const OTHER: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let o = sb.cli_secret(
        &[
            "enroll",
            "totp",
            "--user",
            "alice",
            "--no-confirm",
            "--replace",
        ],
        OTHER,
    );
    assert!(o.ok(), "{}", o.stderr);
    let (l, asked) = remote(&sb, &a, &[&code(OTHER, 0)]);
    assert!(l.ok && asked, "asked after a new app: {l:?}");
    // The memory is in the record, capped, and IPv4 stays IPv4.
    let record = sb.record("alice").unwrap();
    assert_eq!(record.state().remembered().len(), 1);
    assert_eq!(record.state().remembered()[0].ip.to_string(), "192.0.2.7");
}

#[test]
fn without_remember_seconds_every_login_is_asked() {
    let sb = sandbox("");
    sb.enroll_record("alice", SECRET, 0);
    let a = from("192.0.2.7");
    let (l, asked) = remote(&sb, &a, &[&code(SECRET, 0)]);
    assert!(l.ok && asked, "{l:?}");
    let (l, asked) = remote(&sb, &a, &["000000x"]);
    assert!(!l.ok && asked, "{l:?}");
    assert!(sb.record("alice").unwrap().state().remembered().is_empty());
}

#[test]
fn a_caller_that_is_not_root_cannot_name_an_exempt_or_remembered_address() {
    let sb = sandbox("exempt_networks = [\"10.0.0.0/8\"]\nremember_seconds = 3600");
    let me = TempUser::new(&sb.root.join("home"));
    sb.enroll_record(&me.name, SECRET, 0);
    // Remembered from 192.0.2.7 through sshd (root).
    let item = from("192.0.2.7");
    let l = sb.login_with(&me.name, &[&code(SECRET, 0)], &opts("mfa", &item));
    assert!(l.ok, "{l:?}");
    // A screen locker (the user's own process) naming either address is asked.
    // The remembered one first: the failure that follows forgets it.
    for rhost in ["192.0.2.7", "10.1.2.3"] {
        let item = from(rhost);
        let l = sb.login_with(
            &me.name,
            &["000000x"],
            &LoginOpts {
                uid: Some(me.uid),
                ..opts("mfa", &item)
            },
        );
        assert!(!l.ok, "{rhost}: {l:?}");
        assert!(l.transcript.contains("Verification code"), "{l:?}");
    }
}
