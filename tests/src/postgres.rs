//! A real PostgreSQL server for the fleet store's tests: Debian's server binaries
//! (package `postgresql`, /usr/lib/postgresql/<version>/bin), a fresh cluster per
//! [`Cluster`], stopped and removed on drop.
//!
//! Invariant: only root and the server account can connect. The server runs as the
//! `postgres` system account (made by Debian's postgresql-common, used by nothing
//! but PostgreSQL servers; the server refuses to run as root), listens on a Unix
//! socket in a directory of its own that is mode 0700 and owned by that account,
//! and on TCP only when TLS is asked for, and then on 127.0.0.1 with TLS and
//! passwords. Local socket connections are `trust`ed, which is safe only because of
//! that directory: no other local user can reach the socket (root bypasses the
//! permission check). The suites run as root; daemons under test run as root too.
//!
//! Layout of a cluster's directory, /var/tmp/pam_mfa-pg-<pid>-<n> (not /tmp: logins
//! and daemons under test may see a private /tmp):
//! - `data/`: the data directory (server account, 0700); with TLS also the server's
//!   certificate and key (server account, 0600);
//! - `socket/`: the Unix socket `.s.PGSQL.<port>` (server account, 0700);
//! - `server.log`: what the server logs (server account, 0600);
//! - `tls/`: the test CAs, their keys and the certificate requests (root, 0700).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::{require, require_root};

/// The superuser role every cluster has (`initdb -U postgres`).
pub const SUPERUSER: &str = "postgres";

/// The account the servers run as.
const SERVER_ACCOUNT: &str = "postgres";

/// The port of clusters that listen on their Unix socket only: the socket file
/// lives in the cluster's own directory, so every such cluster can use the same.
const UNIX_ONLY_PORT: u16 = 5432;

/// The server's certificate names unless a test asks for others.
const SERVER_SAN: &str = "IP:127.0.0.1,DNS:localhost";

/// How long a server may take to start or stop before the test fails.
const WAIT_SECONDS: u32 = 30;

/// What kind of server to start.
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    /// Also listen on 127.0.0.1 (a free port) with TLS, a server certificate from a
    /// CA made for this cluster, and password (scram-sha-256) authentication.
    pub tls: bool,
    /// Keep fsync and full_page_writes on (benchmarks). Off by default: a test's
    /// data need not survive a power cut of the machine. synchronous_commit stays
    /// on either way: with it off, a commit is acknowledged before its WAL leaves
    /// the server's memory, and [`Cluster::kill`] would lose acknowledged commits
    /// (a used code's replay mark among them); with fsync off it costs a write(2).
    pub durable: bool,
    /// The server's `max_connections`.
    pub max_connections: u32,
}

impl Default for ClusterOpts {
    fn default() -> ClusterOpts {
        ClusterOpts {
            tls: false,
            durable: false,
            max_connections: 100,
        }
    }
}

/// A running PostgreSQL server in a directory of its own; stopped (immediately) and
/// removed on drop, also when the test panics.
pub struct Cluster {
    base: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    port: u16,
    uid: u32,
    gid: u32,
    /// With [`ClusterOpts::tls`]: root's directory of CAs.
    tls: Option<PathBuf>,
}

/// The directory of the newest PostgreSQL server binaries Debian installed
/// (/usr/lib/postgresql/<major>/bin), e.g. for running `psql` under another account.
pub fn bin_dir() -> PathBuf {
    // psql is on PATH (Debian's wrapper) whenever the package is installed; the server
    // binaries are not on PATH, so they are looked for below.
    require("psql", "postgresql");
    let versions: Vec<u32> = fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let bin = versions
        .iter()
        .max()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists());
    bin.unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin/initdb): \
             install the Debian package postgresql (tests/deps.sh does)"
        )
    })
}

impl Cluster {
    /// initdb into a fresh directory and start the server; returns once it accepts
    /// connections.
    pub fn start(opts: ClusterOpts) -> Cluster {
        require_root();
        require("setpriv", "util-linux");
        if opts.tls {
            require("openssl", "openssl");
        }
        let bin = bin_dir();
        let (uid, gid) = server_account();
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| sweep_stale(&bin));

        static N: AtomicUsize = AtomicUsize::new(0);
        let base = PathBuf::from(format!(
            "/var/tmp/pam_mfa-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let mut cluster = Cluster {
            data: base.join("data"),
            socket: base.join("socket"),
            log: base.join("server.log"),
            tls: opts.tls.then(|| base.join("tls")),
            base,
            bin,
            port: UNIX_ONLY_PORT,
            uid,
            gid,
        };
        // From here on, drop cleans up whatever was made.
        for (dir, mode) in [(&cluster.data, 0o700), (&cluster.socket, 0o700)] {
            fs::create_dir(dir).unwrap();
            cluster.give_to_server(dir, mode);
        }
        fs::write(&cluster.log, "").unwrap();
        cluster.give_to_server(&cluster.log, 0o600);

        let out = cluster
            .as_server(&cluster.bin.join("initdb"))
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync", "--no-instructions"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed:\n{}", text(&out));

        if let Some(tls) = &cluster.tls {
            fs::create_dir(tls).unwrap();
            fs::set_permissions(tls, fs::Permissions::from_mode(0o700)).unwrap();
            make_ca(tls, "ca", "pam_mfa-test-CA");
            make_ca(tls, "other-ca", "pam_mfa-unrelated-test-CA");
            cluster.issue_server_cert(SERVER_SAN);
        }
        cluster.write_hba(opts.tls);
        let harness_conf = cluster.data.join("harness.conf");
        let mut conf = fs::read_to_string(cluster.data.join("postgresql.conf")).unwrap();
        conf.push_str(
            "\n# The test harness's settings (tests/src/postgres.rs).\ninclude 'harness.conf'\n",
        );
        fs::write(cluster.data.join("postgresql.conf"), conf).unwrap();

        // A TLS cluster's port is free when picked and may be taken before the
        // server binds it (other suites start servers too): then another one.
        for attempt in 1.. {
            if opts.tls {
                cluster.port = free_port();
            }
            fs::write(&harness_conf, cluster.settings(&opts)).unwrap();
            cluster.give_to_server(&harness_conf, 0o600);
            let logged = fs::metadata(&cluster.log).map_or(0, |m| m.len());
            match cluster.pg_ctl_start() {
                Ok(()) => break,
                Err(e)
                    if opts.tls
                        && attempt < 5
                        && cluster.logged_since(logged, "could not bind") =>
                {
                    eprintln!("postgres: port {} taken, another one ({e})", cluster.port);
                }
                Err(e) => panic!("{e}"),
            }
        }
        cluster
    }

    /// The directory of the server's Unix socket (`host=` in a conninfo).
    pub fn socket_dir(&self) -> &Path {
        &self.socket
    }

    /// The port: names the socket file `.s.PGSQL.<port>`, and with TLS the TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (owned by the server account).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A key=value conninfo for `role` on `db` over the Unix socket.
    pub fn conninfo(&self, role: &str, db: &str) -> String {
        format!(
            "host={} port={} user={} dbname={}",
            conninfo_value(&self.socket.to_string_lossy()),
            self.port,
            conninfo_value(role),
            conninfo_value(db)
        )
    }

    /// The same as a postgresql:// URL, the socket directory percent-encoded as host.
    pub fn url(&self, role: &str, db: &str) -> String {
        format!(
            "postgresql://{}@{}:{}/{}",
            percent_encode(role),
            percent_encode(&self.socket.to_string_lossy()),
            self.port,
            percent_encode(db)
        )
    }

    /// A conninfo for `role` on `db` over TCP to 127.0.0.1 (TLS clusters only); the
    /// caller adds `sslmode=`, `sslrootcert=` and `password=`.
    pub fn tcp_conninfo(&self, role: &str, db: &str) -> String {
        self.tls_dir();
        format!(
            "host=127.0.0.1 port={} user={} dbname={}",
            self.port,
            conninfo_value(role),
            conninfo_value(db)
        )
    }

    /// The same as a postgresql:// URL.
    pub fn tcp_url(&self, role: &str, db: &str) -> String {
        self.tls_dir();
        format!(
            "postgresql://{}@127.0.0.1:{}/{}",
            percent_encode(role),
            self.port,
            percent_encode(db)
        )
    }

    /// The certificate of the CA that signed the server's certificate (TLS clusters
    /// only; readable by root).
    pub fn ca_file(&self) -> PathBuf {
        self.tls_dir().join("ca.crt")
    }

    /// The certificate of another CA, which signed nothing the server has.
    pub fn other_ca_file(&self) -> PathBuf {
        self.tls_dir().join("other-ca.crt")
    }

    /// Gives the server a new certificate from the same CA with `san` as its
    /// subjectAltName (e.g. "DNS:not-this-host.example") and returns once the server
    /// presents it to new connections (a reload, not a restart).
    pub fn reissue_server_cert(&self, san: &str) {
        let cert = self.issue_server_cert(san);
        self.psql("postgres", "SELECT pg_reload_conf()");
        let want = pem_body(&cert);
        let deadline = Instant::now() + Duration::from_secs(WAIT_SECONDS.into());
        loop {
            if self.presented_cert().is_some_and(|got| got == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server still presents its old certificate after a reload; server log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `sql` run by the superuser in `db` over the socket; its output unaligned,
    /// tuples only. Panics with psql's messages if a statement fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.psql_as(SUPERUSER, db, sql)
            .unwrap_or_else(|e| panic!("psql in {db} failed: {e}\nSQL: {sql}"))
    }

    /// `sql` run by `role` in `db` over the socket: its output, or psql's messages
    /// (e.g. "permission denied for schema public").
    pub fn psql_as(&self, role: &str, db: &str, sql: &str) -> Result<String, String> {
        self.psql_with(&self.conninfo(role, db), sql)
    }

    /// `sql` run through a connection made from `conninfo` (key=value or a URL), as
    /// root: its output, or psql's messages (e.g. a refused certificate).
    pub fn psql_with(&self, conninfo: &str, sql: &str) -> Result<String, String> {
        let mut child = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-", "-d"])
            .arg(conninfo)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C")
            // No password or setting from root's files: only what the caller passed.
            .env("PGPASSFILE", self.base.join("no-pgpass"))
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        // A connection that fails closes psql's input early: a broken pipe is fine.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), sql.as_bytes());
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned())
        } else {
            Err(text(&out))
        }
    }

    /// The database `db` as the fleet store would have it: `owner` (LOGIN) owns it
    /// and so its public schema (PostgreSQL 15's `pg_database_owner`), for
    /// `mfa-token store init`; `app_role` (LOGIN, not superuser, owns nothing, with
    /// `password` if given) may connect and nothing more: table privileges are the
    /// store's init command's to grant. No one else may connect (CONNECT is revoked
    /// from PUBLIC).
    pub fn create_app(&self, db: &str, owner: &str, app_role: &str, password: Option<&str>) {
        let (db, owner_id, app) = (ident(db), ident(owner), ident(app_role));
        let limits = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";
        self.psql(
            "postgres",
            &format!(
                "CREATE ROLE {owner_id} LOGIN {limits};\n\
                 CREATE ROLE {app} LOGIN {limits};\n\
                 CREATE DATABASE {db} OWNER {owner_id};\n\
                 REVOKE ALL ON DATABASE {db} FROM PUBLIC;\n\
                 GRANT CONNECT ON DATABASE {db} TO {app};\n"
            ),
        );
        if let Some(password) = password {
            self.set_password(app_role, password);
        }
    }

    /// Sets `role`'s password (stored as scram-sha-256), for connections over TCP.
    pub fn set_password(&self, role: &str, password: &str) {
        self.psql(
            "postgres",
            &format!(
                "SET password_encryption = 'scram-sha-256';\nALTER ROLE {} PASSWORD {};",
                ident(role),
                literal(password)
            ),
        );
    }

    /// The postmaster's process id while the server runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        let pid: u32 = pid.lines().next()?.trim().parse().ok()?;
        // A server killed outright leaves its pid file behind.
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let data = self.data.to_string_lossy();
        String::from_utf8_lossy(&cmdline)
            .split('\0')
            .any(|arg| arg == data)
            .then_some(pid)
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, data is kept).
    pub fn stop(&self) {
        self.pg_ctl_stop("fast").unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the server the way a crash would (`-m immediate`: no checkpoint; the
    /// next start recovers from the WAL).
    pub fn kill(&self) {
        self.pg_ctl_stop("immediate")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the stopped server again: same data, same socket and port.
    pub fn start_again(&self) {
        self.pg_ctl_start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again).
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// The last 40 lines the server logged.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Whether the server logged `needle` after the log's first `offset` bytes.
    fn logged_since(&self, offset: u64, needle: &str) -> bool {
        let log = fs::read(&self.log).unwrap_or_default();
        let new = log
            .get(usize::try_from(offset).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        String::from_utf8_lossy(new).contains(needle)
    }

    fn tls_dir(&self) -> &Path {
        self.tls
            .as_deref()
            .expect("this cluster has no TLS: start it with ClusterOpts { tls: true, .. }")
    }

    /// The settings the harness adds to postgresql.conf (through an include).
    fn settings(&self, opts: &ClusterOpts) -> String {
        let onoff = if opts.durable { "on" } else { "off" };
        let mut s = format!(
            "port = {port}\n\
             unix_socket_directories = {socket}\n\
             unix_socket_permissions = 0700\n\
             max_connections = {max}\n\
             fsync = {onoff}\n\
             full_page_writes = {onoff}\n\
             synchronous_commit = on\n\
             log_line_prefix = '%m [%p] %q%u@%d '\n",
            port = self.port,
            socket = literal(&self.socket.to_string_lossy()),
            max = opts.max_connections,
        );
        if opts.tls {
            s.push_str(
                "listen_addresses = '127.0.0.1'\n\
                 ssl = on\n\
                 ssl_cert_file = 'server.crt'\n\
                 ssl_key_file = 'server.key'\n\
                 password_encryption = 'scram-sha-256'\n",
            );
        } else {
            s.push_str("listen_addresses = ''\n");
        }
        s
    }

    fn write_hba(&self, tls: bool) {
        let mut hba = String::from(
            "# Written by the test harness (tests/src/postgres.rs).\n\
             # trust on the socket: its directory is 0700, owned by the server account,\n\
             # so only that account and root can reach it.\n\
             local all all trust\n",
        );
        if tls {
            hba.push_str(
                "hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all all all reject\n",
            );
        }
        let path = self.data.join("pg_hba.conf");
        fs::write(&path, hba).unwrap();
        self.give_to_server(&path, 0o600);
    }

    /// A new server key and certificate for `san` signed by the test CA, in the data
    /// directory (server account, 0600); returns the certificate's path.
    fn issue_server_cert(&self, san: &str) -> PathBuf {
        let tls = self.tls_dir();
        let cn = san
            .split(',')
            .find_map(|n| n.strip_prefix("DNS:"))
            .unwrap_or("localhost");
        let conf = tls.join("server.cnf");
        fs::write(
            &conf,
            format!(
                "[req]\ndistinguished_name = dn\n[dn]\n[server]\n\
                 basicConstraints = critical,CA:FALSE\n\
                 keyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = serverAuth\n\
                 subjectAltName = {san}\n\
                 subjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\n"
            ),
        )
        .unwrap();
        let (key, csr, crt) = (
            tls.join("server.key"),
            tls.join("server.csr"),
            tls.join("server.crt"),
        );
        let ca = tls.join("ca");
        openssl(&format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN={cn} \
             -config {conf} -keyout {key} -out {csr}",
            conf = conf.display(),
            key = key.display(),
            csr = csr.display(),
        ));
        openssl(&format!(
            "x509 -req -days 7 -sha256 -CA {ca}.crt -CAkey {ca}.key -CAcreateserial \
             -CAserial {ca}.srl -extfile {conf} -extensions server -in {csr} -out {crt}",
            ca = ca.display(),
            conf = conf.display(),
            csr = csr.display(),
            crt = crt.display(),
        ));
        // Key first: a reload between the two renames keeps the old pair (the server
        // keeps its TLS context when the new files do not match).
        for (from, name) in [(&key, "server.key"), (&crt, "server.crt")] {
            let staged = self.data.join(format!("{name}.new"));
            fs::copy(from, &staged).unwrap();
            self.give_to_server(&staged, 0o600);
            fs::rename(&staged, self.data.join(name)).unwrap();
        }
        self.data.join("server.crt")
    }

    /// The certificate the server presents on 127.0.0.1 now (its base64 body).
    fn presented_cert(&self) -> Option<String> {
        let out = Command::new("openssl")
            .args(["s_client", "-starttls", "postgres", "-connect"])
            .arg(format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let body = pem_body_of(&text);
        (!body.is_empty()).then_some(body)
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.log.to_str().expect("a UTF-8 path");
        self.pg_ctl(&["start", "-l", log], "start")
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", mode], &format!("stop -m {mode}"))
    }

    /// `pg_ctl ARGS -w -s -t WAIT -D DATA` as the server account; the error names
    /// `what` and carries the server log's tail.
    fn pg_ctl(&self, args: &[&str], what: &str) -> Result<(), String> {
        let out = self
            .as_server(&self.bin.join("pg_ctl"))
            .args(args)
            .args(["-w", "-s", "-t", &WAIT_SECONDS.to_string(), "-D"])
            .arg(&self.data)
            .output()
            .expect("run pg_ctl");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {what} ({}) failed:\n{}\nserver log:\n{}",
                self.data.display(),
                text(&out),
                self.log_tail()
            ))
        }
    }

    /// `program` run as the server account, with no environment of ours (no PG*
    /// variable from the caller reaches initdb or the server).
    fn as_server(&self, program: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--"])
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C")
            .current_dir(&self.base)
            .stdin(Stdio::null());
        cmd
    }

    fn give_to_server(&self, path: &Path, mode: u32) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self.pg_ctl_stop("immediate");
        }
        // pg_ctl failed or timed out: the postmaster goes anyway (its children
        // notice and exit).
        if let Some(pid) = self.postmaster_pid() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The server account's uid and gid.
fn server_account() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .args([flag, SERVER_ACCOUNT])
            .output()
            .ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) if uid != 0 => (uid, gid),
        _ => panic!(
            "no account {SERVER_ACCOUNT:?} (not root) to run PostgreSQL servers as: \
             the Debian package postgresql makes it (tests/deps.sh installs it)"
        ),
    }
}

/// Stops and removes the clusters of test processes that are gone (killed before
/// their clusters' drop could run).
fn sweep_stale(bin: &Path) {
    let Ok(entries) = fs::read_dir("/var/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("pam_mfa-pg-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let data = entry.path().join("data");
        let owner = fs::metadata(&data).map(|m| (m.uid(), m.gid()));
        if let (Ok((uid, gid)), true) = (owner, data.join("postmaster.pid").exists()) {
            let _ = Command::new("setpriv")
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .args(["--clear-groups", "--"])
                .arg(bin.join("pg_ctl"))
                .args(["stop", "-s", "-m", "immediate", "-D"])
                .arg(&data)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .current_dir("/")
                .output();
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A self-signed CA `<name>.crt` with its key `<name>.key` in `dir`.
fn make_ca(dir: &Path, name: &str, cn: &str) {
    let conf = dir.join(format!("{name}.cnf"));
    fs::write(
        &conf,
        "[req]\ndistinguished_name = dn\n[dn]\n[ca]\n\
         basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .unwrap();
    let (key, crt) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    openssl(&format!(
        "req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -sha256 \
         -subj /CN={cn} -config {conf} -extensions ca -keyout {key} -out {crt}",
        conf = conf.display(),
        key = key.display(),
        crt = crt.display(),
    ));
    fs::set_permissions(&crt, fs::Permissions::from_mode(0o644)).unwrap();
}

/// `openssl` with `args` split at spaces: the paths in them are the harness's own
/// (/var/tmp/pam_mfa-pg-<pid>-<n>/...), the names have no spaces.
fn openssl(args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args}:\n{}", text(&out));
}

/// The base64 body of the first PEM certificate in the file at `path`.
fn pem_body(path: &Path) -> String {
    pem_body_of(&fs::read_to_string(path).unwrap())
}

fn pem_body_of(text: &str) -> String {
    text.lines()
        .skip_while(|l| *l != "-----BEGIN CERTIFICATE-----")
        .skip(1)
        .take_while(|l| *l != "-----END CERTIFICATE-----")
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A value in a key=value conninfo: quoted when it has to be.
fn conninfo_value(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '\'', '\\', '=']) {
        return v.to_owned();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An SQL identifier, quoted.
fn ident(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// An SQL string literal (standard_conforming_strings is on).
fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_values_and_url_parts_are_escaped() {
        assert_eq!(conninfo_value("/var/tmp/x"), "/var/tmp/x");
        assert_eq!(conninfo_value("a b"), "'a b'");
        assert_eq!(conninfo_value("it's"), r"'it\'s'");
        assert_eq!(conninfo_value(""), "''");
        assert_eq!(percent_encode("/var/tmp/pg-1"), "%2Fvar%2Ftmp%2Fpg-1");
        assert_eq!(percent_encode("a@b:c"), "a%40b%3Ac");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
