//! The fleet store: every host's pam_mfad shares one PostgreSQL table of records.
//!
//! Invariant: a record changes only inside one transaction that holds the user's
//! advisory lock (`pg_advisory_xact_lock`) from reading the row to committing the
//! new one, so hosts take turns per user exactly as processes do on one host with
//! the file store. A transaction that fails at any point is never reused: its
//! connection is dropped and the server rolls it back, so no partial write exists.
//! Every wait is bounded: connecting by `store.connect_timeout_seconds` (also the
//! longest wait for a free connection), a whole transaction by [`TRANSACTION_LIMIT`]
//! on our side and by lock and statement timeouts on the server's. Rows hold records
//! sealed by [`super::seal`]: the database never holds a secret in clear. An
//! unreachable database is logged once when the outage starts and once when it ends,
//! not at every login.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::seal::{KeyFileError, Keys, OpenError, SealKey};
use super::{Change, Record, Store, StoreError};
use crate::audit::Level;
use crate::config::{PostgresConfig, SslMode};
use crate::secure_fs::{self, Trust};
use crate::username::UserName;

/// The schema this code reads and writes; `mfa-token store init` migrates to it.
pub const SCHEMA_VERSION: i32 = 1;

/// Migrations: entry `n` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: [&str; 1] = ["CREATE TABLE pam_mfa_records (
        username text PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 255),
        format integer NOT NULL,
        key_id text NOT NULL,
        sealed bytea NOT NULL,
        changed timestamptz NOT NULL DEFAULT now()
    )"];

/// The longest a transaction may take on our side, from BEGIN to COMMIT. The
/// server gives up on a lock after [`LOCK_TIMEOUT_MS`], well before.
const TRANSACTION_LIMIT: Duration = Duration::from_secs(15);
const LOCK_TIMEOUT_MS: u32 = 10_000;
const STATEMENT_TIMEOUT_MS: u32 = 12_000;
/// Phase-one attempts of one update (a broken pooled connection, a serialization
/// failure); decide has not run yet, so trying again changes nothing.
const ATTEMPTS: u32 = 3;
/// The first key of our advisory locks ("mfa1"), so they never meet another
/// application's locks in the same database.
const LOCK_CLASS: i32 = 0x6d66_6131;

/// Where an outage is reported (pam_mfad's log, mfa-token's stderr).
pub type Notify = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// What the url says that the rest of the config depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlFacts {
    /// The hosts are reached over TCP (not a Unix socket directory).
    pub tcp: bool,
}

/// Checks `store.url` as the config is read: a URL or conninfo that names a user
/// and hosts of one kind, and holds no password and no TLS settings (those have
/// keys of their own).
pub fn check_url(url: &str) -> Result<UrlFacts, String> {
    let lower = url.to_ascii_lowercase();
    for (word, key) in [
        ("sslmode", "store.sslmode"),
        ("sslrootcert", "store.ca_file"),
        ("sslcert", "store.ca_file"),
        ("sslkey", "store.ca_file"),
    ] {
        if lower.contains(word) {
            return Err(format!("set TLS with {key}, not with {word} in the url"));
        }
    }
    let parsed: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("not a postgresql:// URL or key=value conninfo: {e}"))?;
    if parsed.get_password().is_some() {
        return Err(
            "holds a password, which anyone who can read the config would see: \
             put it in store.password_file"
                .to_owned(),
        );
    }
    if parsed.get_user().is_none() {
        return Err("names no user (user=ROLE, or postgresql://ROLE@HOST/DB)".to_owned());
    }
    let hosts = parsed.get_hosts();
    if hosts.is_empty() {
        return Err("names no host (host=HOST or host=/socket/dir)".to_owned());
    }
    let tcp = hosts.iter().any(|h| matches!(h, Host::Tcp(_)));
    if tcp && hosts.iter().any(|h| matches!(h, Host::Unix(_))) {
        return Err("mixes TCP hosts and Unix socket directories".to_owned());
    }
    Ok(UrlFacts { tcp })
}

/// Why the postgres store could not be set up from the config.
#[derive(Debug)]
pub enum SetupError {
    Key(KeyFileError),
    /// The password file is missing, insecure or unreadable.
    Password(secure_fs::FileError),
    /// The CA file is missing, insecure, unreadable or holds no certificate.
    Ca(String),
    /// The url (checked when the config was read) no longer parses.
    Url(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(e) => write!(f, "store.key_file: {e}"),
            Self::Password(e) => write!(f, "store.password_file: {e}"),
            Self::Ca(e) => write!(f, "store.ca_file: {e}"),
            Self::Url(e) => write!(f, "store.url: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// How to reach the database.
struct Connector {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    /// For messages: the hosts and database, never a password.
    describe: String,
}

impl Connector {
    fn new(pg: &PostgresConfig, application: &str) -> Result<Connector, SetupError> {
        let facts = check_url(&pg.url).map_err(SetupError::Url)?;
        let mut config: tokio_postgres::Config = pg
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| SetupError::Url(e.to_string()))?;
        let timeout = Duration::from_secs(u64::from(pg.connect_timeout_seconds));
        config.connect_timeout(timeout);
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(TRANSACTION_LIMIT);
        if config.get_application_name().is_none() {
            config.application_name(application);
        }
        let ours = format!(
            "-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout=30000"
        );
        let options = match config.get_options() {
            Some(theirs) => format!("{theirs} {ours}"),
            None => ours,
        };
        config.options(options);
        if let Some(path) = &pg.password_file {
            let bytes = secure_fs::read_file(path, Trust::ROOT_PRIVATE, 4096)
                .map_err(SetupError::Password)?;
            let end = bytes
                .iter()
                .rposition(|b| *b != b'\n' && *b != b'\r')
                .map_or(0, |i| i + 1);
            config.password(&bytes[..end]);
        }
        let tls = if facts.tcp && pg.sslmode != SslMode::Disable {
            config.ssl_mode(PgSslMode::Require);
            let ca = pg
                .ca_file
                .as_deref()
                .ok_or_else(|| SetupError::Ca("needed for TLS".to_owned()))?;
            Some(tls_connector(ca, pg.sslmode)?)
        } else {
            config.ssl_mode(PgSslMode::Disable);
            None
        };
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(dir) => dir.display().to_string(),
            })
            .collect();
        let describe = format!(
            "database {} on {} as {}",
            config
                .get_dbname()
                .or(config.get_user())
                .unwrap_or_default(),
            hosts.join(","),
            config.get_user().unwrap_or_default()
        );
        Ok(Connector {
            config,
            tls,
            describe,
        })
    }
}

/// rustls on ring, trusting only the CA file.
fn tls_connector(ca: &Path, mode: SslMode) -> Result<MakeRustlsConnect, SetupError> {
    let bytes = secure_fs::read_file(ca, Trust::ROOT_NOT_WRITABLE, 1 << 20)
        .map_err(|e| SetupError::Ca(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| SetupError::Ca(format!("{}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| SetupError::Ca(format!("{}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(SetupError::Ca(format!(
            "{}: no PEM certificate in it",
            ca.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let full = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| SetupError::Ca(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::VerifyCa => Arc::new(ChainOnly(full)),
        _ => full,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Ca(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `sslmode = "verify-ca"`: the chain must lead to the CA file; the name is not
/// checked. rustls checks the chain before the name, so a name error means the
/// chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// An error and its causes on one line ("error performing TLS handshake: invalid
/// peer certificate: UnknownIssuer").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// Drives a connection's socket; finishes when the connection ends.
type Driver = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// The statements every transaction uses, prepared once per connection.
struct Statements {
    lock: Statement,
    select: Statement,
    upsert: Statement,
    delete: Statement,
}

/// One open connection with the runtime that drives it on the calling thread.
struct Conn {
    rt: tokio::runtime::Runtime,
    client: Client,
    driver: Driver,
    statements: Option<Statements>,
}

/// What went wrong on a connection.
#[derive(Debug)]
enum Fault {
    /// The connection ended (server gone, restarted, network).
    Closed(Option<tokio_postgres::Error>),
    /// Our time limit passed.
    Timeout,
    /// The server refused a statement.
    Query(tokio_postgres::Error),
    /// A connection opened for `store init` was asked for a login's statements.
    Unprepared,
}

impl Fault {
    /// Whether the database as a whole is unreachable (rather than refusing us).
    fn is_outage(&self) -> bool {
        match self {
            Fault::Closed(_) | Fault::Timeout => true,
            Fault::Unprepared => false,
            Fault::Query(e) => {
                e.is_closed()
                    || e.as_db_error().is_none()
                    || e.code().is_some_and(|c| {
                        let code = c.code();
                        code.starts_with("08") || code.starts_with("57") || code.starts_with("53")
                    })
            }
        }
    }

    /// A failure that a new transaction may not meet.
    fn is_transient(&self) -> bool {
        matches!(self, Fault::Query(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
    }

    fn describe(&self) -> String {
        match self {
            Fault::Closed(Some(e)) => format!("connection lost: {e}"),
            Fault::Closed(None) => "connection closed by the server".to_owned(),
            Fault::Timeout => format!("no answer within {} s", TRANSACTION_LIMIT.as_secs()),
            Fault::Query(e) => match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => with_causes(e),
            },
            Fault::Unprepared => "connection without prepared statements".to_owned(),
        }
    }

    fn into_store_error(self) -> StoreError {
        if self.is_outage() {
            StoreError::Unavailable(self.describe())
        } else {
            StoreError::Database(self.describe())
        }
    }
}

impl Conn {
    /// Runs `work` on this connection within `limit`, driving the socket meanwhile.
    fn raw<'a, T, F>(
        &'a mut self,
        limit: Duration,
        work: impl FnOnce(&'a Client) -> F,
    ) -> Result<T, Fault>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let Conn {
            rt, client, driver, ..
        } = self;
        drive(rt, driver, limit, work(client))
    }

    /// The same with the prepared statements.
    fn prepared<'a, T, F>(
        &'a mut self,
        limit: Duration,
        work: impl FnOnce(&'a Client, &'a Statements) -> F,
    ) -> Result<T, Fault>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let Conn {
            rt,
            client,
            driver,
            statements,
        } = self;
        let Some(statements) = statements.as_ref() else {
            return Err(Fault::Unprepared);
        };
        drive(rt, driver, limit, work(client, statements))
    }
}

/// Runs `work` and the connection's socket together, for at most `limit`.
fn drive<T>(
    rt: &tokio::runtime::Runtime,
    driver: &mut Driver,
    limit: Duration,
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Fault> {
    rt.block_on(async move {
        let both = async {
            tokio::select! {
                biased;
                r = work => r.map_err(Fault::Query),
                end = driver.as_mut() => Err(Fault::Closed(end.err())),
            }
        };
        tokio::time::timeout(limit, both)
            .await
            .unwrap_or(Err(Fault::Timeout))
    })
}

/// Connections kept open, at most `size` in all.
struct Pool {
    connector: Connector,
    size: usize,
    /// How long a caller waits for a connection (a new one or a free one).
    wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
    outage: AtomicBool,
    notify: Notify,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open or being opened, idle or lent.
    live: usize,
}

/// A connection lent out; dropped unless given back, so a connection whose
/// transaction failed is never reused.
struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    /// Taken from the idle list (it may have broken since).
    reused: bool,
}

impl Lease<'_> {
    /// The connection (always there until the lease is given back or dropped).
    fn conn(&mut self) -> Result<&mut Conn, Fault> {
        self.conn.as_mut().ok_or(Fault::Closed(None))
    }

    /// Gives the connection back for the next transaction.
    fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            let mut st = self.pool.lock();
            st.idle.push(conn);
            drop(st);
            self.pool.freed.notify_one();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            let mut st = self.pool.lock();
            st.live -= 1;
            drop(st);
            self.pool.freed.notify_one();
        }
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection: an idle one, a new one, or the next one given back.
    fn lease(&self, check_schema: bool) -> Result<Lease<'_>, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut st = self.lock();
        loop {
            if let Some(conn) = st.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                    reused: true,
                });
            }
            if st.live < self.size {
                st.live += 1;
                drop(st);
                return match self.connect(check_schema) {
                    Ok(conn) => Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                        reused: false,
                    }),
                    Err(e) => {
                        self.lock().live -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections stayed busy for {} s",
                    self.size,
                    self.wait.as_secs()
                )));
            }
            st = self
                .freed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Drops every idle connection (after one turned out broken: the server
    /// restarted, the others are broken too).
    fn forget_idle(&self) {
        let mut st = self.lock();
        let n = st.idle.len();
        st.idle.clear();
        st.live -= n;
    }

    /// Opens a connection, checks the schema version and prepares the statements.
    fn connect(&self, check_schema: bool) -> Result<Conn, StoreError> {
        match self.open(check_schema) {
            Ok(conn) => {
                self.reachable();
                Ok(conn)
            }
            Err(e) => {
                if let StoreError::Unavailable(why) = &e {
                    self.unreachable(why);
                }
                Err(e)
            }
        }
    }

    /// Opens a connection; with `check_schema`, also checks the schema version and
    /// prepares the statements a login uses.
    fn open(&self, check_schema: bool) -> Result<Conn, StoreError> {
        let mut conn = self.dial()?;
        if check_schema {
            self.check_schema(&mut conn)?;
            conn.statements = Some(self.prepare(&mut conn)?);
        }
        Ok(conn)
    }

    /// A connection, within `wait`.
    fn dial(&self) -> Result<Conn, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("no runtime for the connection: {e}")))?;
        let config = &self.connector.config;
        let tls = self.connector.tls.clone();
        let connected = rt.block_on(async {
            let limit = self.wait;
            let connecting = async {
                match tls {
                    Some(tls) => config
                        .connect(tls)
                        .await
                        .map(|(c, conn)| (c, Box::pin(conn) as Driver)),
                    None => config
                        .connect(NoTls)
                        .await
                        .map(|(c, conn)| (c, Box::pin(conn) as Driver)),
                }
            };
            tokio::time::timeout(limit, connecting).await
        });
        let (client, driver) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let why = match e.as_db_error() {
                    Some(db) => format!("{}: {}", db.code().code(), db.message()),
                    None => with_causes(&e),
                };
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to the {}: {why}",
                    self.connector.describe
                )));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to the {}: no answer within {} s",
                    self.connector.describe,
                    self.wait.as_secs()
                )))
            }
        };
        Ok(Conn {
            rt,
            client,
            driver,
            statements: None,
        })
    }

    /// Refuses a database without our tables or with another schema version.
    fn check_schema(&self, conn: &mut Conn) -> Result<(), StoreError> {
        let version = conn
            .raw(self.wait, |c| async move {
                c.query_opt("SELECT version FROM pam_mfa_schema", &[]).await
            })
            .map_err(|f| match f {
                Fault::Query(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                    StoreError::Unavailable(format!(
                        "the {} has no pam_mfa tables: run `mfa-token store init`",
                        self.connector.describe
                    ))
                }
                other => other.into_store_error(),
            })?
            .map(|row| row.try_get::<_, i32>(0));
        match version {
            Some(Ok(SCHEMA_VERSION)) => {}
            Some(Ok(v)) if v > SCHEMA_VERSION => {
                return Err(StoreError::Unavailable(format!(
                    "the {} has schema version {v}, newer than this pam_mfa knows \
                     ({SCHEMA_VERSION}): upgrade pam_mfa on this host",
                    self.connector.describe
                )))
            }
            Some(Ok(v)) => {
                return Err(StoreError::Unavailable(format!(
                    "the {} has schema version {v}, older than this pam_mfa's \
                     ({SCHEMA_VERSION}): run `mfa-token store init` to migrate it",
                    self.connector.describe
                )))
            }
            Some(Err(e)) => return Err(StoreError::Database(e.to_string())),
            None => {
                return Err(StoreError::Unavailable(format!(
                    "the {} has no schema version: run `mfa-token store init`",
                    self.connector.describe
                )))
            }
        }
        Ok(())
    }

    /// Prepares the statements of a login's transaction.
    fn prepare(&self, conn: &mut Conn) -> Result<Statements, StoreError> {
        conn.raw(self.wait, |c| async move {
            let (lock, select, upsert, delete) = tokio::join!(
                biased;
                c.prepare("SELECT pg_advisory_xact_lock($1::int4, $2::int4)"),
                c.prepare(
                    "SELECT format, key_id, sealed FROM pam_mfa_records WHERE username = $1"
                ),
                c.prepare(
                    "INSERT INTO pam_mfa_records (username, format, key_id, sealed) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO UPDATE \
                     SET format = EXCLUDED.format, key_id = EXCLUDED.key_id, \
                     sealed = EXCLUDED.sealed, changed = now()"
                ),
                c.prepare("DELETE FROM pam_mfa_records WHERE username = $1"),
            );
            Ok(Statements {
                lock: lock?,
                select: select?,
                upsert: upsert?,
                delete: delete?,
            })
        })
        .map_err(Fault::into_store_error)
    }

    fn unreachable(&self, why: &str) {
        if !self.outage.swap(true, Ordering::SeqCst) {
            (self.notify)(
                Level::Error,
                &format!(
                    "store: {why}; logins fail closed until the database answers \
                     (logged once, not at every login)"
                ),
            );
        }
    }

    fn reachable(&self) {
        if self.outage.swap(false, Ordering::SeqCst) {
            (self.notify)(
                Level::Notice,
                &format!("store: the {} answers again", self.connector.describe),
            );
        }
    }
}

/// A row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub format: i32,
    pub key_id: String,
    pub sealed: Vec<u8>,
}

/// What a transaction does with the row.
enum RowChange {
    Keep,
    Put(Row),
    Delete,
}

/// Why a row was refused.
#[derive(Debug)]
pub enum RowError {
    /// Written by a newer pam_mfa (or garbage in the format column).
    Format(i32),
    /// The seal did not open.
    Seal(OpenError),
    /// It opened, and is not UTF-8.
    NotUtf8,
    /// It opened, and is not a valid record.
    Record(super::RecordError),
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Format(v) => write!(
                f,
                "record format {v} (this pam_mfa reads format {})",
                super::FORMAT_VERSION
            ),
            Self::Seal(e) => e.fmt(f),
            Self::NotUtf8 => f.write_str("opened record is not UTF-8"),
            Self::Record(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RowError {}

/// Records in PostgreSQL, shared by every host whose config names the database.
pub struct PgStore {
    pool: Pool,
    keys: Keys,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", self.pool.connector.describe)
    }
}

impl PgStore {
    /// The store the config describes; reads the key, password and CA files now
    /// and connects only when first used. `application` names us to the server.
    pub fn new(
        pg: &PostgresConfig,
        application: &str,
        notify: Notify,
    ) -> Result<PgStore, SetupError> {
        let keys = Keys {
            current: SealKey::load(&pg.key_file).map_err(SetupError::Key)?,
            previous: match &pg.previous_key_file {
                Some(p) => Some(SealKey::load(p).map_err(SetupError::Key)?),
                None => None,
            },
        };
        PgStore::with_keys(pg, application, notify, keys)
    }

    /// The same with keys already loaded.
    pub fn with_keys(
        pg: &PostgresConfig,
        application: &str,
        notify: Notify,
        keys: Keys,
    ) -> Result<PgStore, SetupError> {
        Ok(PgStore {
            pool: Pool {
                connector: Connector::new(pg, application)?,
                size: pg.pool_size as usize,
                wait: Duration::from_secs(u64::from(pg.connect_timeout_seconds)),
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    live: 0,
                }),
                freed: Condvar::new(),
                outage: AtomicBool::new(false),
                notify,
            },
            keys,
        })
    }

    /// The database, for messages.
    pub fn describe(&self) -> &str {
        &self.pool.connector.describe
    }

    /// The sealing keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The advisory lock `(class, key)` that changes to `user`'s record hold, for an
    /// admin looking at pg_locks (and tests that hold it).
    pub fn lock_key(user: &UserName) -> (i32, i32) {
        let digest = Sha256::digest(user.as_str().as_bytes());
        (
            LOCK_CLASS,
            i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]),
        )
    }

    /// Whether a failure before anything was written deserves another try on a new
    /// connection: a pooled connection that broke while idle (the server
    /// restarted), or a serialization failure.
    fn retry(&self, attempt: u32, reused: bool, fault: &Fault) -> bool {
        let retry = attempt < ATTEMPTS && ((reused && fault.is_outage()) || fault.is_transient());
        if retry && fault.is_outage() {
            self.pool.forget_idle();
        }
        retry
    }

    /// The error a failure ends in; an outage is reported once.
    fn failed(&self, fault: Fault) -> StoreError {
        let e = fault.into_store_error();
        if let StoreError::Unavailable(why) = &e {
            self.pool.unreachable(why);
        }
        e
    }

    /// Runs a read-only `work` on a connection, on a new one when a pooled one
    /// turns out broken.
    fn query<T>(&self, work: impl Fn(&mut Conn) -> Result<T, Fault>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = self.pool.lease(true)?;
            match lease.conn().and_then(&work) {
                Ok(value) => {
                    lease.give_back();
                    return Ok(value);
                }
                Err(fault) => {
                    let reused = lease.reused;
                    drop(lease);
                    if !self.retry(attempt, reused, &fault) {
                        return Err(self.failed(fault));
                    }
                }
            }
        }
    }

    /// One transaction on `user`'s row under the user's lock: `decide` sees the
    /// row and says what to do with it.
    fn transact<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Row>) -> Result<(RowChange, R), StoreError>,
    ) -> Result<R, StoreError> {
        let (lease, row) = self.begin(user)?;
        let (change, result) = decide(row)?;
        self.finish(lease, user, change)?;
        Ok(result)
    }

    /// Phase one: BEGIN, the user's lock, the row. Tried again on a fresh
    /// connection when a pooled one turns out broken.
    fn begin(&self, user: &UserName) -> Result<(Lease<'_>, Option<Row>), StoreError> {
        let name = user.as_str();
        let (class, key) = PgStore::lock_key(user);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = self.pool.lease(true)?;
            let started = lease.conn().and_then(|conn| {
                conn.prepared(TRANSACTION_LIMIT, |c, st| async move {
                    let lock_args: [&(dyn ToSql + Sync); 2] = [&class, &key];
                    let select_args: [&(dyn ToSql + Sync); 1] = [&name];
                    let (begin, lock, row) = tokio::join!(
                        biased;
                        c.batch_execute("BEGIN"),
                        c.execute(&st.lock, &lock_args),
                        c.query_opt(&st.select, &select_args),
                    );
                    begin?;
                    lock?;
                    row?.map(|r| {
                        Ok(Row {
                            format: r.try_get(0)?,
                            key_id: r.try_get(1)?,
                            sealed: r.try_get(2)?,
                        })
                    })
                    .transpose()
                })
            });
            match started {
                Ok(row) => return Ok((lease, row)),
                Err(fault) => {
                    let reused = lease.reused;
                    drop(lease);
                    if !self.retry(attempt, reused, &fault) {
                        return Err(self.failed(fault));
                    }
                }
            }
        }
    }

    /// Phase two: the change written and committed, or rolled back; the
    /// connection goes back to the pool only when that worked.
    fn finish(
        &self,
        mut lease: Lease<'_>,
        user: &UserName,
        change: RowChange,
    ) -> Result<(), StoreError> {
        let name = user.as_str();
        let finished = lease.conn().and_then(|conn| {
            conn.prepared(TRANSACTION_LIMIT, |c, st| async move {
                match change {
                    RowChange::Keep => c.batch_execute("ROLLBACK").await,
                    RowChange::Put(row) => {
                        let args: [&(dyn ToSql + Sync); 4] =
                            [&name, &row.format, &row.key_id, &row.sealed];
                        let (write, commit) = tokio::join!(
                            biased;
                            c.execute(&st.upsert, &args),
                            c.batch_execute("COMMIT"),
                        );
                        write?;
                        commit
                    }
                    RowChange::Delete => {
                        let args: [&(dyn ToSql + Sync); 1] = [&name];
                        let (write, commit) = tokio::join!(
                            biased;
                            c.execute(&st.delete, &args),
                            c.batch_execute("COMMIT"),
                        );
                        write?;
                        commit
                    }
                }
            })
        });
        match finished {
            Ok(()) => {
                lease.give_back();
                Ok(())
            }
            Err(fault) => Err(self.failed(fault)),
        }
    }

    /// The record a row holds, opened and parsed.
    fn open_row(&self, user: &UserName, row: &Row) -> Result<Record, StoreError> {
        let refuse = |error| StoreError::Row {
            user: user.as_str().to_owned(),
            error,
        };
        if row.format != super::FORMAT_VERSION as i32 {
            return Err(refuse(RowError::Format(row.format)));
        }
        let plain = self
            .keys
            .open(&row.key_id, user, &row.sealed)
            .map_err(|e| refuse(RowError::Seal(e)))?;
        let text = std::str::from_utf8(&plain).map_err(|_| refuse(RowError::NotUtf8))?;
        Record::from_toml(text).map_err(|e| refuse(RowError::Record(e)))
    }

    /// A record sealed for `user` under `key`.
    fn seal_row(user: &UserName, record: &Record, key: &SealKey) -> Result<Row, StoreError> {
        let text = record.to_toml().map_err(|e| StoreError::Row {
            user: user.as_str().to_owned(),
            error: RowError::Record(e),
        })?;
        Ok(Row {
            format: super::FORMAT_VERSION as i32,
            key_id: key.id().to_owned(),
            sealed: key
                .seal(user, text.as_bytes())
                .map_err(|e| StoreError::Database(e.to_string()))?,
        })
    }

    /// Re-seals every record under `new` (a key rotation), one transaction per
    /// user so logins go on meanwhile; rows already under `new` are left alone.
    /// Returns (re-sealed, already under the new key).
    pub fn reseal(&self, new: &SealKey) -> Result<(usize, usize), StoreError> {
        let (mut done, mut already) = (0, 0);
        for user in self.users()? {
            let changed = self.transact(&user, |row| match row {
                None => Ok((RowChange::Keep, false)),
                Some(row) if row.key_id == new.id() => {
                    // Opens under the new key, or the rotation would be blind.
                    new.open(&user, &row.sealed).map_err(|e| StoreError::Row {
                        user: user.as_str().to_owned(),
                        error: RowError::Seal(e),
                    })?;
                    Ok((RowChange::Keep, false))
                }
                Some(row) => {
                    let record = self.open_row(&user, &row)?;
                    Ok((
                        RowChange::Put(PgStore::seal_row(&user, &record, new)?),
                        true,
                    ))
                }
            })?;
            if changed {
                done += 1;
            } else {
                already += 1;
            }
        }
        Ok((done, already))
    }

    /// Creates or migrates the schema (as a role that may create tables), and
    /// grants `grant` (the role pam_mfad connects as) what it needs and no more.
    /// Returns the version found (0: none) and the version now.
    pub fn init_schema(&self, grant: Option<&str>) -> Result<(i32, i32), StoreError> {
        if let Some(role) = grant {
            check_role(role)?;
        }
        let mut lease = self.pool.lease(false)?;
        let found = lease
            .conn()
            .and_then(|conn| {
                conn.raw(TRANSACTION_LIMIT, |c| async move {
                    c.batch_execute(&format!(
                        "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, 0);
                     CREATE TABLE IF NOT EXISTS pam_mfa_schema (
                         one boolean PRIMARY KEY DEFAULT true CHECK (one),
                         version integer NOT NULL)"
                    ))
                    .await?;
                    let row = c
                        .query_opt("SELECT version FROM pam_mfa_schema", &[])
                        .await?;
                    row.map(|r| r.try_get::<_, i32>(0)).transpose()
                })
            })
            .map_err(Fault::into_store_error)?
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::Database(format!(
                "the {} has schema version {found}, newer than this mfa-token knows \
                 ({SCHEMA_VERSION}): upgrade pam_mfa first; nothing was changed",
                self.describe()
            )));
        }
        let grant_sql = grant.map(|role| {
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON pam_mfa_records TO \"{role}\";
                 GRANT SELECT ON pam_mfa_schema TO \"{role}\";"
            )
        });
        lease
            .conn()
            .and_then(|conn| {
                conn.raw(TRANSACTION_LIMIT, |c| async move {
                    for (from, sql) in MIGRATIONS.iter().enumerate() {
                        if (from as i32) >= found {
                            c.batch_execute(sql).await?;
                        }
                    }
                    c.execute(
                        "INSERT INTO pam_mfa_schema (one, version) VALUES (true, $1) \
                     ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
                        &[&SCHEMA_VERSION],
                    )
                    .await?;
                    if let Some(sql) = grant_sql {
                        c.batch_execute(&sql).await?;
                    }
                    c.batch_execute("COMMIT").await
                })
            })
            .map_err(Fault::into_store_error)?;
        lease.give_back();
        Ok((found, SCHEMA_VERSION))
    }
}

/// A role name we put into a GRANT: a plain SQL identifier, quoted.
fn check_role(role: &str) -> Result<(), StoreError> {
    let ok = !role.is_empty()
        && role.len() <= 63
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !role.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Database(format!(
            "role {role:?}: expected lowercase letters, digits and _ (not first a digit)"
        )))
    }
}

impl Store for PgStore {
    fn read(&self, user: &UserName) -> Result<Option<Record>, StoreError> {
        let name = user.as_str();
        let row = self.query(|conn| {
            conn.prepared(TRANSACTION_LIMIT, |c, st| async move {
                c.query_opt(&st.select, &[&name])
                    .await?
                    .map(|r| {
                        Ok(Row {
                            format: r.try_get(0)?,
                            key_id: r.try_get(1)?,
                            sealed: r.try_get(2)?,
                        })
                    })
                    .transpose()
            })
        })?;
        row.map(|r| self.open_row(user, &r)).transpose()
    }

    fn update<R>(
        &self,
        user: &UserName,
        decide: impl FnOnce(Option<Record>) -> (Change, R),
    ) -> Result<R, StoreError> {
        self.transact(user, |row| {
            let current = row.map(|r| self.open_row(user, &r)).transpose()?;
            let (change, result) = super::guarded(decide)(current);
            let change = match change {
                Change::Keep => RowChange::Keep,
                Change::Delete => RowChange::Delete,
                Change::Write(record) => {
                    RowChange::Put(PgStore::seal_row(user, &record, &self.keys.current)?)
                }
            };
            Ok((change, result))
        })
    }

    fn users(&self) -> Result<Vec<UserName>, StoreError> {
        let names = self.query(|conn| {
            conn.raw(TRANSACTION_LIMIT, |c| async move {
                let rows = c
                    .query(
                        "SELECT username FROM pam_mfa_records ORDER BY username",
                        &[],
                    )
                    .await?;
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<Vec<String>, _>>()
            })
        })?;
        names
            .into_iter()
            .map(|n: String| {
                UserName::new(&n).map_err(|e| {
                    StoreError::Database(format!("a row's user name {n:?} is refused: {e}"))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_user_and_hosts_of_one_kind_and_no_secrets() {
        assert_eq!(
            check_url("host=/run/postgresql user=pam_mfa dbname=pam_mfa"),
            Ok(UrlFacts { tcp: false })
        );
        assert_eq!(
            check_url("postgresql://pam_mfa@db.example:5432/pam_mfa"),
            Ok(UrlFacts { tcp: true })
        );
        assert_eq!(
            check_url("postgresql://pam_mfa@%2Frun%2Fpostgresql/pam_mfa"),
            Ok(UrlFacts { tcp: false })
        );
        let refused = [
            ("postgresql://pam_mfa:hunter2@db/pam_mfa", "password_file"),
            ("host=db user=u password=x", "password_file"),
            ("host=db user=u sslmode=verify-full", "store.sslmode"),
            ("host=db user=u sslrootcert=/x", "store.ca_file"),
            ("host=db dbname=x", "names no user"),
            ("user=u", "names no host"),
            ("host=db,/run/postgresql user=u", "mixes"),
            ("postgresql://[", "not a postgresql"),
        ];
        for (url, why) in refused {
            let e = check_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn lock_keys_differ_between_users_and_never_change() {
        let a = PgStore::lock_key(&UserName::new("alice").unwrap());
        let b = PgStore::lock_key(&UserName::new("bob").unwrap());
        assert_ne!(a, b);
        assert_eq!(a, PgStore::lock_key(&UserName::new("alice").unwrap()));
    }

    #[test]
    fn grants_go_only_to_plain_role_names() {
        assert!(check_role("pam_mfa").is_ok());
        for bad in ["", "Pam", "a\"; DROP TABLE x; --", "1abc", "a b"] {
            assert!(check_role(bad).is_err(), "{bad}");
        }
    }
}
