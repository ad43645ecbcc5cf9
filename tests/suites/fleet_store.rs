//! The fleet store end to end: two "hosts" (two pam_mfad, each with its own socket
//! and config copy) share one real PostgreSQL (tests/src/postgres.rs). A code used
//! on one host is used on both, failures add up across hosts, a factor enrolled on
//! one logs in on the other; the database never holds a secret in clear; an outage
//! or a hostile row fails logins closed and never lets anybody in.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pam_mfa_e2e::postgres::{Cluster, ClusterOpts};
use pam_mfa_e2e::{code, finish, Login, LoginOpts, Sandbox, SECRET};

const DB: &str = "pam_mfa";
const OWNER: &str = "pam_mfa_owner";
const APP: &str = "pam_mfa";
const UNAVAILABLE: &str = "Authentication service cannot retrieve authentication info";

/// One database, the role that owns it (for `store init`) and two hosts whose
/// pam_mfad connects as the application role.
struct Fleet {
    pg: Cluster,
    admin: Sandbox,
    a: Sandbox,
    b: Sandbox,
    key: PathBuf,
}

/// The `[store]` of a fleet host.
fn store_section(url: &str, key: &std::path::Path, more: &str) -> String {
    format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nkey_file = \"{}\"\n{more}\n",
        key.display()
    )
}

impl Fleet {
    fn new(extra: &str) -> Fleet {
        Fleet::with(ClusterOpts::default(), "", extra)
    }

    /// `store_more`: more `[store]` keys; `extra`: more sections.
    fn with(opts: ClusterOpts, store_more: &str, extra: &str) -> Fleet {
        let pg = Cluster::start(opts);
        pg.create_app(DB, OWNER, APP, None);
        let admin = Sandbox::new("");
        let key = admin.root.join("store.key");
        fs::write(&key, rand_key()).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        admin.write_config(&format!(
            "{}{extra}",
            store_section(&pg.conninfo(OWNER, DB), &key, store_more)
        ));
        let init = admin.cli(&["store", "init", "--grant", APP]);
        assert!(init.ok(), "store init: {init:?}");
        assert!(init.stdout.contains("schema version 0 -> 1"), "{init:?}");
        let host = || {
            Sandbox::new(&format!(
                "{}{extra}",
                store_section(&pg.conninfo(APP, DB), &key, store_more)
            ))
        };
        let (a, b) = (host(), host());
        Fleet {
            pg,
            admin,
            a,
            b,
            key,
        }
    }

    fn hosts(&self) -> [&Sandbox; 2] {
        [&self.a, &self.b]
    }
}

fn rand_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    let mut f = fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, &mut key).unwrap();
    key
}

fn enroll(host: &Sandbox, user: &str) {
    let run = host.cli_secret(&["enroll", "totp", "--user", user, "--no-confirm"], SECRET);
    assert!(run.ok(), "enroll {user}: {run:?}");
}

/// `n` logins of `user` at once, spread over the hosts, each answering `answer`.
fn race(f: &Fleet, users: &[String], answer: &str) -> Vec<Login> {
    let started: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| f.hosts()[i % 2].spawn_login(u, &LoginOpts::default()))
        .collect();
    started.into_iter().map(|s| finish(s, &[answer])).collect()
}

#[test]
fn two_hosts_share_enrollments_and_a_code_is_used_once_across_them() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    enroll(&f.a, "alice");
    let c = code(SECRET, 0);
    let on_b = f.b.login("alice", &[&c]);
    assert!(on_b.ok, "enrolled on A, logs in on B: {on_b:#?}");
    let on_a = f.a.login("alice", &[&c]);
    assert!(!on_a.ok, "the same code again, on the other host");
    assert!(on_a.logged("replayed totp code refused"), "{on_a:#?}");
    // Both hosts list the same user, with the app.
    for host in f.hosts() {
        let list = host.cli(&["list", "--all", "--json"]);
        assert!(list.ok(), "{list:?}");
        assert!(list.stdout.contains("\"user\": \"alice\""), "{list:?}");
        assert!(list.stdout.contains("\"totp_apps\": [\n"), "{list:?}");
        assert!(list.stdout.contains("\"name\": \"default\""), "{list:?}");
    }
    // pg_dump holds no key: records are sealed whole.
    let dump = std::process::Command::new(pam_mfa_e2e::postgres::bin_dir().join("pg_dump"))
        .args(["-h", f.pg.socket_dir().to_str().unwrap()])
        .args(["-p", &f.pg.port().to_string(), "-U", "postgres", DB])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("alice"), "the dump has the row");
    for needle in [SECRET, "JBSWY3DP", "secret", "last_step", "totp"] {
        assert!(!dump.contains(needle), "{needle} in pg_dump");
    }
    // Removal on one host is seen by the other.
    let rm = f.b.cli(&["remove", "--user", "alice", "--all"]);
    assert!(rm.ok(), "{rm:?}");
    let list = f.a.cli(&["list", "--all"]);
    assert!(list.stdout.contains("no user has a record"), "{list:?}");
}

#[test]
fn given_64_racing_logins_with_one_code_over_two_hosts_then_exactly_one_succeeds() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    enroll(&f.a, "alice");
    let c = code(SECRET, 0);
    let users = vec!["alice".to_owned(); 64];
    let results = race(&f, &users, &c);
    assert_eq!(
        results.iter().filter(|l| l.ok).count(),
        1,
        "exactly one of 64"
    );
    let odd: Vec<_> = results
        .iter()
        .filter(|l| !l.ok && !l.logged("replayed totp code refused"))
        .collect();
    assert!(odd.is_empty(), "refused for another reason: {odd:#?}");
    let status = f.a.cli(&["status", "--user", "alice", "--json"]);
    assert!(status.stdout.contains("\"failures\": 63"), "{status:?}");
}

#[test]
fn given_64_users_at_once_over_two_hosts_then_none_fails() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    let users: Vec<String> = (0..64).map(|i| format!("user{i:02}")).collect();
    // Enrolled through a files store and `store copy`, which is tested on the way.
    let files = Sandbox::new("");
    for u in &users {
        files.enroll_record(u, SECRET, 2);
    }
    let copy = f.a.cli(&[
        "store",
        "copy",
        "--from",
        files.root.join("config.toml").to_str().unwrap(),
    ]);
    assert!(copy.ok(), "{copy:?}");
    assert!(
        copy.stdout
            .contains("64 copied and read back, 0 already there, 0 left out"),
        "{copy:?}"
    );
    let again = f.b.cli(&[
        "store",
        "copy",
        "--from",
        files.root.join("config.toml").to_str().unwrap(),
    ]);
    assert!(again.ok(), "a second copy is safe: {again:?}");
    assert!(
        again
            .stdout
            .contains("0 copied and read back, 64 already there"),
        "{again:?}"
    );
    let c = code(SECRET, 0);
    let results = race(&f, &users, &c);
    let failed: Vec<_> = users.iter().zip(&results).filter(|(_, l)| !l.ok).collect();
    assert!(failed.is_empty(), "spurious failures: {failed:#?}");
    // And back to files: the replay state came along.
    let back = Sandbox::new("");
    let copy = back.cli(&[
        "store",
        "copy",
        "--from",
        f.a.root.join("config.toml").to_str().unwrap(),
    ]);
    assert!(copy.ok(), "{copy:?}");
    let record = back.record("user07").unwrap();
    assert!(
        record.apps()[0].last_step().is_some(),
        "the used step came along"
    );
    assert_eq!(record.recovery().unwrap().hashed.len(), 2);
}

#[test]
fn failures_on_two_hosts_add_up_to_one_lockout() {
    let f = Fleet::new("[lockout]\nmax_failures = 3\nseconds = 600");
    enroll(&f.a, "alice");
    for (host, n) in [(&f.a, 1), (&f.b, 2), (&f.a, 3)] {
        let l = host.login("alice", &["000000"]);
        assert!(!l.ok);
        if n == 3 {
            assert!(
                l.logged("locked out"),
                "third failure, over two hosts: {l:#?}"
            );
        }
    }
    let right = f.b.login("alice", &[&code(SECRET, 0)]);
    assert!(!right.ok, "locked on every host");
    assert!(right.logged("locked"), "{right:#?}");
    let unlock = f.a.cli(&["unlock", "--user", "alice"]);
    assert!(unlock.ok(), "{unlock:?}");
    assert!(
        f.b.login("alice", &[&code(SECRET, 0)]).ok,
        "unlocked fleet-wide"
    );
}

#[test]
fn the_database_down_fails_logins_closed_within_the_timeout_logged_once_then_recovers() {
    let f = Fleet::with(
        ClusterOpts::default(),
        "connect_timeout_seconds = 2",
        "[lockout]\nmax_failures = 0",
    );
    enroll(&f.a, "alice");
    enroll(&f.a, "bob");
    assert!(f.a.login("alice", &[&code(SECRET, 0)]).ok);
    assert!(f.b.login("bob", &[&code(SECRET, -1)]).ok);
    f.pg.stop();
    let mut outage_lines = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let l = f.a.login("alice", &[&code(SECRET, 1)]);
        assert!(!l.ok);
        assert!(l.transcript.contains(UNAVAILABLE), "{l:#?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "bounded by the connect timeout"
        );
        outage_lines += l
            .syslog
            .iter()
            .filter(|(_, m)| m.contains("logins fail closed until the database answers"))
            .count();
        assert!(
            !l.syslog
                .iter()
                .any(|(_, m)| m.contains("store database unavailable")),
            "no line per login: {l:#?}"
        );
    }
    assert_eq!(outage_lines, 1, "logged once per outage");
    f.pg.start_again();
    let back = f.a.login("alice", &[&code(SECRET, 1)]);
    assert!(
        back.ok,
        "the next login after the database is back: {back:#?}"
    );
    assert!(back.logged("answers again"), "{back:#?}");
    // The other host had pooled connections too (from before): they were broken by
    // the restart, and are replaced without a failed login.
    let other = f.b.login("bob", &[&code(SECRET, 0)]);
    assert!(other.ok, "{other:#?}");
}

#[test]
fn a_database_restart_inside_the_transaction_fails_the_login_closed_with_no_write() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    enroll(&f.a, "alice");
    // Hold alice's lock from outside, so the login's transaction waits in it.
    let (class, key) =
        mfa_core::store::PgStore::lock_key(&mfa_core::username::UserName::new("alice").unwrap());
    let mut holder = std::process::Command::new(pam_mfa_e2e::postgres::bin_dir().join("psql"))
        .args(["-X", "-h", f.pg.socket_dir().to_str().unwrap()])
        .args(["-p", &f.pg.port().to_string(), "-U", "postgres", DB, "-c"])
        .arg(format!(
            "SELECT pg_advisory_lock({class}, {key}); SELECT pg_sleep(60)"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.pg.psql(
        DB,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    ) != "1"
    {
        assert!(Instant::now() < deadline, "the lock was not taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = code(SECRET, 0);
    let login = f.a.spawn_login("alice", &LoginOpts::default());
    // The login answers; wait until its transaction queues behind the lock.
    let finishing = std::thread::spawn(move || finish(login, &[&c]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.pg.psql(
        DB,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
    ) != "1"
    {
        assert!(
            Instant::now() < deadline,
            "the login never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    f.pg.restart();
    let l = finishing.join().unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!l.ok, "the restart broke its transaction: {l:#?}");
    assert!(l.transcript.contains(UNAVAILABLE), "{l:#?}");
    // Nothing was written: the code was not spent, and logs in now.
    let status = f.b.cli(&["status", "--user", "alice", "--json"]);
    assert!(status.stdout.contains("\"last_used\": null"), "{status:?}");
    assert!(f.b.login("alice", &[&code(SECRET, 0)]).ok);
}

#[test]
fn hostile_rows_are_refused_never_a_success_never_a_crash() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    for u in ["alice", "bob", "carol", "dave"] {
        enroll(&f.a, u);
    }
    let sql = |q: &str| f.pg.psql(DB, q);
    // bob's sealed record (and key id) copied into alice's row.
    sql("UPDATE pam_mfa_records SET sealed = (SELECT sealed FROM pam_mfa_records WHERE username = 'bob') WHERE username = 'alice'");
    // Garbage, a format from the future, a key id nobody has.
    sql("UPDATE pam_mfa_records SET sealed = '\\x00010203' WHERE username = 'bob'");
    sql("UPDATE pam_mfa_records SET format = 99 WHERE username = 'carol'");
    sql("UPDATE pam_mfa_records SET key_id = 'ffffffffffffffff' WHERE username = 'dave'");
    let c = code(SECRET, 0);
    for (user, why) in [
        (
            "alice",
            "does not authenticate (altered, or sealed for another user)",
        ),
        ("bob", "sealed record is truncated"),
        ("carol", "record format 99"),
        ("dave", "sealed under key ffffffffffffffff"),
    ] {
        let l = f.b.login(user, &[&c]);
        assert!(!l.ok, "{user}");
        assert!(l.transcript.contains(UNAVAILABLE), "{user}: {l:#?}");
        assert!(l.logged(why), "{user}: {why}: {l:#?}");
        assert!(l.logged("refusing to use it"), "{user}: {l:#?}");
    }
    // The daemon is still there for a user whose row is fine.
    enroll(&f.a, "user00");
    assert!(f.b.login("user00", &[&c]).ok);
    // And the admin sees which rows are bad, with the others listed.
    let list = f.a.cli(&["list", "--all"]);
    assert!(!list.ok());
    assert!(list.stdout.contains("user00"), "{list:?}");
    assert!(list.stderr.contains("4 records were left out"), "{list:?}");
}

#[test]
fn the_application_role_may_only_read_and_write_records_and_schemas_are_checked() {
    let f = Fleet::new("");
    for q in [
        "CREATE TABLE x (i int)",
        "DROP TABLE pam_mfa_records",
        "ALTER TABLE pam_mfa_records ADD COLUMN x int",
        "UPDATE pam_mfa_schema SET version = 2",
        "TRUNCATE pam_mfa_records",
    ] {
        let r = f.pg.psql_as(APP, DB, q);
        assert!(r.is_err(), "{q}: {r:?}");
    }
    assert!(f
        .pg
        .psql_as(APP, DB, "SELECT count(*) FROM pam_mfa_records")
        .is_ok());
    // store init needs the owner; the application role is told so.
    let denied = f.a.cli(&["store", "init"]);
    assert!(!denied.ok());
    assert!(denied.stderr.contains("permission denied"), "{denied:?}");
    // A schema newer than this pam_mfa: init refuses, logins fail closed and say why.
    f.pg.psql(DB, "UPDATE pam_mfa_schema SET version = 7");
    let newer = f.admin.cli(&["store", "init"]);
    assert!(!newer.ok());
    assert!(
        newer
            .stderr
            .contains("schema version 7, newer than this mfa-token knows"),
        "{newer:?}"
    );
    let l = f.a.login("alice", &["123456"]);
    assert!(!l.ok);
    assert!(
        l.logged("schema version 7, newer than this pam_mfa knows"),
        "{l:#?}"
    );
}

#[test]
fn rotating_the_key_reseals_every_record_and_logins_go_on() {
    let f = Fleet::new("[lockout]\nmax_failures = 0");
    for u in ["alice", "bob", "carol"] {
        enroll(&f.a, u);
    }
    let new_key = f.admin.root.join("store.key.new");
    fs::write(&new_key, rand_key()).unwrap();
    fs::set_permissions(&new_key, fs::Permissions::from_mode(0o600)).unwrap();
    let config = |host: &Sandbox, key: &std::path::Path, previous: Option<&std::path::Path>| {
        let previous = previous
            .map(|p| format!("previous_key_file = \"{}\"\n", p.display()))
            .unwrap_or_default();
        host.write_config(&format!(
            "{}{previous}[lockout]\nmax_failures = 0\n",
            store_section(&f.pg.conninfo(APP, DB), key, "")
        ));
    };
    // First every host seals with the new key and still opens with the old one.
    for host in f.hosts() {
        config(host, &new_key, Some(&f.key));
    }
    assert!(
        f.b.login("alice", &[&code(SECRET, 0)]).ok,
        "old record opens"
    );
    let rotate = f.a.cli(&[
        "store",
        "rotate-key",
        "--new-key-file",
        new_key.to_str().unwrap(),
    ]);
    assert!(rotate.ok(), "{rotate:?}");
    assert!(
        rotate.stdout.contains("2 records re-sealed") && rotate.stdout.contains("(1 already were)"),
        "alice was re-sealed by her login: {rotate:?}"
    );
    let ids = f.pg.psql(DB, "SELECT DISTINCT key_id FROM pam_mfa_records");
    assert_eq!(ids.lines().count(), 1, "one key for every row: {ids}");
    // Then the old key can go. A host that still only has the old key cannot open
    // the records (and says why); the others log in.
    config(&f.a, &f.key, None);
    let l = f.a.login("bob", &[&code(SECRET, 0)]);
    assert!(!l.ok);
    assert!(
        l.logged("which is neither store.key_file nor store.previous_key_file"),
        "{l:#?}"
    );
    config(&f.b, &new_key, None);
    assert!(f.b.login("bob", &[&code(SECRET, 0)]).ok);
    assert!(f.b.login("carol", &[&code(SECRET, 0)]).ok);
    let again = f.b.cli(&[
        "store",
        "rotate-key",
        "--new-key-file",
        new_key.to_str().unwrap(),
    ]);
    assert!(again.ok(), "{again:?}");
    assert!(again.stdout.contains("0 records re-sealed"), "{again:?}");
}

#[test]
fn tls_verify_full_against_the_fleets_ca_and_nothing_weaker() {
    let f = Fleet::with(
        ClusterOpts {
            tls: true,
            ..ClusterOpts::default()
        },
        "",
        "",
    );
    f.pg.set_password(APP, "app-password");
    let password = f.admin.root.join("db-password");
    fs::write(&password, "app-password\n").unwrap();
    fs::set_permissions(&password, fs::Permissions::from_mode(0o600)).unwrap();
    let tls_host = |ca: &std::path::Path, mode: &str| {
        let h = Sandbox::new(&store_section(
            &f.pg.tcp_conninfo(APP, DB),
            &f.key,
            &format!(
                "password_file = \"{}\"\nca_file = \"{}\"\nsslmode = \"{mode}\"\nconnect_timeout_seconds = 2",
                password.display(),
                ca.display()
            ),
        ));
        h
    };
    enroll(&f.a, "alice");
    let good = tls_host(&f.pg.ca_file(), "verify-full");
    let l = good.login("alice", &[&code(SECRET, 0)]);
    assert!(l.ok, "over TLS, verified: {l:#?}");
    let tls = f.pg.psql(DB, "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND usename = 'pam_mfa'");
    assert_ne!(tls, "0", "the daemon's connection is TLS");
    let stranger = tls_host(&f.pg.other_ca_file(), "verify-full");
    let l = stranger.login("alice", &[&code(SECRET, 1)]);
    assert!(!l.ok);
    assert!(l.logged("invalid peer certificate"), "another CA: {l:#?}");
    // A certificate for another name: verify-full refuses, verify-ca accepts.
    f.pg.reissue_server_cert("DNS:not-this-host.example");
    let full = tls_host(&f.pg.ca_file(), "verify-full");
    let l = full.login("alice", &[&code(SECRET, 1)]);
    assert!(!l.ok);
    assert!(l.logged("certificate"), "{l:#?}");
    let ca_only = tls_host(&f.pg.ca_file(), "verify-ca");
    assert!(ca_only.login("alice", &[&code(SECRET, 1)]).ok);
}

#[test]
fn a_key_registered_through_one_host_logs_in_through_the_other_and_counters_are_shared() {
    // A real account: the key's logins run pam_mfad with the virtual key.
    const USER: &str = "daemon";
    let f = Fleet::new("");
    let key = pam_mfa_e2e::vkey::VirtualKey::start(&f.a.root.join("vkey"));
    let o = f.a.cli_key(
        &key,
        &["enroll", "key", "--user", USER, "--name", "blue"],
        "",
    );
    assert!(o.ok(), "{o:?}\n{}", key.log());
    let opts = LoginOpts {
        key: Some(&key),
        ..LoginOpts::default()
    };
    for host in [&f.b, &f.a, &f.b] {
        let l = host.login_with(USER, &[], &opts);
        assert!(l.ok, "{l:#?}\n{}", key.log());
        assert!(
            l.logged("second factor accepted (security key \"blue\")"),
            "{l:#?}"
        );
    }
    // The counter is the fleet's: a key that answers with an old one is a clone,
    // whichever host sees it.
    key.behave(r#"{"counter": 1}"#);
    let l = f.a.login_with(USER, &[], &opts);
    assert!(!l.ok);
    assert!(l.logged("possible cloned key"), "{l:#?}");
}
