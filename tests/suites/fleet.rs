//! The fleet store's PostgreSQL, as the harness starts it (tests/src/postgres.rs):
//! reachable by root only, on its Unix socket only unless TLS is asked for, then
//! on 127.0.0.1 with verify-full against a CA made for it and nothing weaker; its
//! data kept across stop and start; gone, server and files, when dropped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pam_mfa_e2e::postgres::{bin_dir, Cluster, ClusterOpts};
use pam_mfa_e2e::{require, require_root};

/// The TCP ports `pid` listens on, as (address, port): its socket descriptors
/// looked up in /proc/net/tcp and tcp6.
fn tcp_listening(pid: u32) -> Vec<(String, u16)> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| {
            let target = fs::read_link(fd.ok()?.path()).ok()?;
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in fs::read_to_string(table).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXADDR:HEXPORT; state 0A is LISTEN; field 9 the inode.
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let (addr, port) = f[1].split_once(':').unwrap();
                found.push((addr.to_owned(), u16::from_str_radix(port, 16).unwrap()));
            }
        }
    }
    found
}

/// Processes whose command line names `dir` (a server's `-D <dir>`).
fn processes_naming(dir: &Path) -> Vec<u32> {
    let dir = dir.to_str().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .split('\0')
                .any(|a| a == dir)
                .then_some(pid)
        })
        .collect()
}

fn uid_of(pid: u32) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_cluster_listens_on_its_private_socket_only() {
    require_root();
    let pg = Cluster::start(ClusterOpts::default());
    let version = pg.psql("postgres", "SHOW server_version_num");
    assert!(version.starts_with("15"), "{version}");
    assert_eq!(pg.psql("postgres", "SELECT current_user"), "postgres");

    let dir = fs::metadata(pg.socket_dir()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o700);
    let socket = pg.socket_dir().join(format!(".s.PGSQL.{}", pg.port()));
    assert!(socket.exists(), "{}", socket.display());

    let pid = pg.postmaster_pid().expect("the server runs");
    let server_uid = uid_of(pid);
    assert_ne!(server_uid, 0, "the server does not run as root");
    assert_eq!(dir.uid(), server_uid, "the socket dir is the server's");
    assert_eq!(tcp_listening(pid), [], "no TCP listener");
    assert_eq!(pg.psql("postgres", "SHOW listen_addresses"), "");

    // Fast by default.
    assert_eq!(pg.psql("postgres", "SHOW fsync"), "off");
    assert_eq!(pg.psql("postgres", "SHOW full_page_writes"), "off");
    // But a commit is written out before it is acknowledged (see `kill`).
    assert_eq!(pg.psql("postgres", "SHOW synchronous_commit"), "on");
    assert_eq!(pg.psql("postgres", "SHOW max_connections"), "100");

    // The URL form names the same server.
    let url = pg.url("postgres", "postgres");
    assert!(
        url.starts_with("postgresql://postgres@%2Fvar%2Ftmp%2F"),
        "{url}"
    );
    assert_eq!(pg.psql_with(&url, "SELECT 1").unwrap(), "1");
    assert_eq!(
        pg.psql_with(&pg.conninfo("postgres", "postgres"), "SELECT 2")
            .unwrap(),
        "2"
    );
}

#[test]
fn a_durable_cluster_keeps_fsync_on_and_takes_its_connection_limit() {
    require_root();
    let pg = Cluster::start(ClusterOpts {
        durable: true,
        max_connections: 20,
        ..ClusterOpts::default()
    });
    assert_eq!(pg.psql("postgres", "SHOW fsync"), "on");
    assert_eq!(pg.psql("postgres", "SHOW synchronous_commit"), "on");
    assert_eq!(pg.psql("postgres", "SHOW full_page_writes"), "on");
    assert_eq!(pg.psql("postgres", "SHOW max_connections"), "20");
}

#[test]
fn another_local_user_cannot_reach_the_socket() {
    require_root();
    require("setpriv", "util-linux");
    let pg = Cluster::start(ClusterOpts::default());
    // Local connections are trusted: the socket's directory is what keeps other
    // users out. nobody runs psql against it.
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(bin_dir().join("psql"))
        .args(["-X", "-At", "-c", "SELECT 1", "-d"])
        .arg(pg.conninfo("postgres", "postgres"))
        .env("PGCONNECT_TIMEOUT", "5")
        .current_dir("/")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nobody connected: {stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

#[test]
fn an_app_role_connects_but_creates_nothing_and_reads_nothing_ungranted() {
    require_root();
    let pg = Cluster::start(ClusterOpts::default());
    pg.create_app("mfa", "mfa_owner", "mfa_app", None);

    assert_eq!(
        pg.psql_as("mfa_app", "mfa", "SELECT current_user").unwrap(),
        "mfa_app"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'mfa_app'"
        ),
        "f|f|f"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mfa'"
        ),
        "mfa_owner"
    );

    // PostgreSQL 15 no longer lets everyone create in public; the app role is no
    // owner.
    let denied = pg
        .psql_as("mfa_app", "mfa", "CREATE TABLE t (x int)")
        .unwrap_err();
    assert!(
        denied.contains("permission denied for schema public"),
        "{denied}"
    );
    // The owner, who runs `mfa-token store init`, may; and grants nothing yet.
    pg.psql_as(
        "mfa_owner",
        "mfa",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
    )
    .unwrap();
    let denied = pg.psql_as("mfa_app", "mfa", "SELECT x FROM t").unwrap_err();
    assert!(denied.contains("permission denied for table t"), "{denied}");
    pg.psql_as("mfa_owner", "mfa", "GRANT SELECT ON t TO mfa_app")
        .unwrap();
    assert_eq!(
        pg.psql_as("mfa_app", "mfa", "SELECT x FROM t").unwrap(),
        "1"
    );

    // A role that was not granted CONNECT does not get in.
    pg.psql("postgres", "CREATE ROLE stranger LOGIN");
    let denied = pg.psql_as("stranger", "mfa", "SELECT 1").unwrap_err();
    assert!(
        denied.contains("permission denied for database \"mfa\""),
        "{denied}"
    );
}

#[test]
fn over_tcp_only_verify_full_tls_with_the_clusters_ca_and_a_password_get_in() {
    require_root();
    let pg = Cluster::start(ClusterOpts {
        tls: true,
        ..ClusterOpts::default()
    });
    pg.create_app("mfa", "mfa_owner", "mfa_app", Some("app secret"));
    let tcp = pg.tcp_conninfo("mfa_app", "mfa");
    let ca = pg.ca_file().display().to_string();
    let other_ca = pg.other_ca_file().display().to_string();

    let pid = pg.postmaster_pid().unwrap();
    assert_eq!(
        tcp_listening(pid),
        [("0100007F".to_owned(), pg.port())],
        "127.0.0.1 only"
    );
    // Strict X.509 (v3, CA flags, key usage, SAN), as webpki-based clients want it.
    require("openssl", "openssl");
    let verify = Command::new("openssl")
        .args([
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &ca,
        ])
        .arg(pg.data_dir().join("server.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let key = fs::metadata(pg.data_dir().join("server.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.uid(), uid_of(pid));

    let verified = format!("{tcp} sslmode=verify-full sslrootcert={ca} password='app secret'");
    assert_eq!(
        pg.psql_with(
            &verified,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        .unwrap(),
        "t"
    );
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}&password=app%20secret",
        pg.tcp_url("mfa_app", "mfa")
    );
    assert_eq!(
        pg.psql_with(&url, "SELECT current_user").unwrap(),
        "mfa_app"
    );

    let refused = pg
        .psql_with(
            &format!("{tcp} sslmode=verify-full sslrootcert={other_ca} password='app secret'"),
            "SELECT 1",
        )
        .unwrap_err();
    assert!(refused.contains("certificate verify failed"), "{refused}");

    let refused = pg
        .psql_with(
            &format!("{tcp} sslmode=disable password='app secret'"),
            "SELECT 1",
        )
        .unwrap_err();
    assert!(
        refused.contains("pg_hba.conf rejects connection") && refused.contains("no encryption"),
        "{refused}"
    );

    let refused = pg
        .psql_with(
            &format!("{tcp} sslmode=verify-full sslrootcert={ca} password=wrong"),
            "SELECT 1",
        )
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed for user \"mfa_app\""),
        "{refused}"
    );
    // The superuser has no password: not over TCP.
    let refused = pg
        .psql_with(
            &format!(
                "{} sslmode=verify-full sslrootcert={ca} password=x",
                pg.tcp_conninfo("postgres", "postgres")
            ),
            "SELECT 1",
        )
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );

    // A certificate from the right CA for another name: verify-full refuses it,
    // verify-ca (which checks only the CA) does not.
    pg.reissue_server_cert("DNS:not-this-host.example");
    let refused = pg.psql_with(&verified, "SELECT 1").unwrap_err();
    assert!(
        refused.contains("does not match host name \"127.0.0.1\""),
        "{refused}"
    );
    let ca_only = format!("{tcp} sslmode=verify-ca sslrootcert={ca} password='app secret'");
    assert_eq!(pg.psql_with(&ca_only, "SELECT 1").unwrap(), "1");
    // And back.
    pg.reissue_server_cert("IP:127.0.0.1,DNS:localhost");
    assert_eq!(pg.psql_with(&verified, "SELECT 1").unwrap(), "1");
}

#[test]
fn stop_and_start_again_keep_the_data_and_so_does_an_immediate_stop() {
    require_root();
    let pg = Cluster::start(ClusterOpts::default());
    pg.psql(
        "postgres",
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)",
    );
    pg.stop();
    assert_eq!(pg.postmaster_pid(), None);
    let down = pg.psql_as("postgres", "postgres", "SELECT 1").unwrap_err();
    assert!(down.contains("No such file or directory"), "{down}");
    pg.start_again();
    assert_eq!(pg.psql("postgres", "SELECT x FROM kept"), "1");

    pg.psql("postgres", "INSERT INTO kept VALUES (2)");
    pg.restart();
    assert_eq!(pg.psql("postgres", "SELECT sum(x) FROM kept"), "3");

    // An immediate stop right after a commit: acknowledged means kept.
    pg.psql("postgres", "INSERT INTO kept VALUES (3)");
    pg.kill();
    assert_eq!(pg.postmaster_pid(), None);
    pg.start_again();
    assert_eq!(pg.psql("postgres", "SELECT sum(x) FROM kept"), "6");
    assert!(
        pg.log_tail().contains("automatic recovery in progress"),
        "recovered from the WAL: {}",
        pg.log_tail()
    );
}

#[test]
fn dropping_a_cluster_stops_its_server_and_removes_its_files() {
    require_root();
    let pg = Cluster::start(ClusterOpts {
        tls: true,
        ..ClusterOpts::default()
    });
    let data = pg.data_dir().to_owned();
    let base = data.parent().unwrap().to_owned();
    let pid = pg.postmaster_pid().unwrap();
    assert!(processes_naming(&data).contains(&pid));
    drop(pg);
    assert_eq!(processes_naming(&data), [] as [u32; 0]);
    assert!(!base.exists(), "{}", base.display());

    // Also when the test that holds it panics.
    let data = std::panic::catch_unwind(|| {
        let pg = Cluster::start(ClusterOpts::default());
        let data = pg.data_dir().to_owned();
        assert!(pg.postmaster_pid().is_some());
        std::panic::panic_any(data);
    })
    .unwrap_err()
    .downcast::<std::path::PathBuf>()
    .unwrap();
    assert_eq!(processes_naming(&data), [] as [u32; 0]);
    assert!(!data.exists());
}
