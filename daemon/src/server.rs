//! Accepting connections, sharing them out fairly, reloading and stopping.
//!
//! Invariant: each connection is served by a thread of its own, so one slow client,
//! key or delivery command never delays another login. The threads accept the
//! connections themselves, so a login wakes one thread, not two; a thread that
//! takes a connection makes sure another one waits in accept() first, and at
//! most [`IDLE_ACCEPTORS`] wait at once. A uid other than root holds
//! at most [`PER_UID`] connections and all together at most [`TOTAL`]; root's
//! logins keep [`ROOT_RESERVE`] of those for themselves, so no user can starve
//! them. The configuration a login uses is the one current when it started. A
//! panic ends its own login only (counted out, the connection closed), never the
//! daemon.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use mfa_core::config::Config;
use mfa_core::store::AnyStore;

use crate::audit;
use crate::listen::Listener;
use crate::session;

/// Connections one non-root uid may hold at once.
pub const PER_UID: usize = 16;
/// Connections in all.
pub const TOTAL: usize = 512;
/// Of [`TOTAL`], kept for root's callers (sshd, sudo, login).
pub const ROOT_RESERVE: usize = 64;
/// How long SIGTERM waits for logins in flight.
const DRAIN: Duration = Duration::from_secs(120);
/// Threads that wait in accept() at most.
const IDLE_ACCEPTORS: usize = 4;

/// The configuration in force and the store it names.
pub struct Loaded {
    pub cfg: Config,
    /// Shared with the next configuration when `[store]` did not change, so a
    /// reload keeps the database connections.
    pub store: AnyStore,
}

impl Loaded {
    /// Reads the store's files (keys, password, CA) for `cfg`.
    pub fn new(cfg: Config) -> Result<Loaded, String> {
        let store = AnyStore::open(&cfg.store, "pam_mfad", audit::store_notify())
            .map_err(|e| format!("{}: {e}", cfg.path.display()))?;
        Ok(Loaded { cfg, store })
    }
}

/// What every connection thread shares.
pub struct Shared {
    config_path: PathBuf,
    config: RwLock<Arc<Loaded>>,
    /// Open connections by caller uid.
    open: Mutex<HashMap<u32, usize>>,
    idle: Condvar,
    /// Threads waiting in accept() (an atomic, not a lock: a thread going back
    /// to accept() must not make the one that just took a login wait).
    accepting: AtomicUsize,
    pub stopping: AtomicBool,
}

impl Shared {
    pub fn new(config_path: PathBuf, loaded: Loaded) -> Shared {
        Shared {
            config_path,
            config: RwLock::new(Arc::new(loaded)),
            open: Mutex::new(HashMap::new()),
            idle: Condvar::new(),
            accepting: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> Arc<Loaded> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the configuration again; an invalid one is logged and the old kept.
    fn reload(&self) {
        let old = self.config();
        let loaded = Config::load(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|cfg| {
                if cfg.store == old.cfg.store {
                    let store = old.store.clone();
                    Ok(Loaded { cfg, store })
                } else {
                    Loaded::new(cfg)
                }
            });
        match loaded {
            Ok(loaded) => {
                *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
                audit::line(
                    audit::INFO,
                    &format!("configuration {} reloaded", self.config_path.display()),
                );
            }
            Err(e) => audit::line(
                audit::ERROR,
                &format!("configuration not reloaded, the previous one stays in force: {e}"),
            ),
        }
    }

    /// Counts a connection of `uid` in, if the limits allow it; it is counted
    /// out when the returned guard is dropped.
    fn admit(&self, uid: u32) -> Option<Admitted<'_>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(&uid).copied().unwrap_or(0);
        let allowed = if uid == 0 {
            total < TOTAL
        } else {
            mine < PER_UID && total < TOTAL - ROOT_RESERVE
        };
        if !allowed {
            return None;
        }
        *open.entry(uid).or_insert(0) += 1;
        Some(Admitted { shared: self, uid })
    }

    fn release(&self, uid: u32) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&uid);
            }
        }
        if open.is_empty() {
            self.idle.notify_all();
        }
    }

    /// Waits (at most [`DRAIN`]) until no login is in flight.
    pub fn wait_idle(&self) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .idle
            .wait_timeout_while(open, DRAIN, |open| !open.is_empty());
    }
}

/// Accepts and serves connections until SIGTERM, in this thread and in as many
/// others as logins are in flight.
pub fn serve(shared: &Arc<Shared>, listener: &Listener) {
    acceptor(shared, &listener.socket, true);
}

/// One thread's loop: accept, keep someone else accepting, serve, and go back to
/// accept() unless enough threads wait there (the first thread always does).
fn acceptor(shared: &Arc<Shared>, socket: &UnixListener, first: bool) {
    shared.accepting.fetch_add(1, Ordering::SeqCst);
    loop {
        // Checked before accept() too: a thread that served a login while the
        // daemon was told to stop must not wait for another connection.
        let accepted = if shared.stopping.load(Ordering::SeqCst) {
            Err(std::io::ErrorKind::Interrupted.into())
        } else {
            socket.accept()
        };
        if shared.stopping.load(Ordering::SeqCst) {
            shared.accepting.fetch_sub(1, Ordering::SeqCst);
            // Pass the wake-up on: the first thread returns to main, which
            // waits for the logins in flight.
            if !first {
                if let Ok(addr) = socket.local_addr() {
                    if let Some(path) = addr.as_pathname() {
                        let _ = UnixStream::connect(path);
                    }
                }
            }
            return;
        }
        let Ok((stream, _)) = accepted else {
            // Out of descriptors or memory: try again shortly, without spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        // The last one waiting: start another before serving.
        if shared.accepting.fetch_sub(1, Ordering::SeqCst) == 1 {
            spawn_acceptor(shared, socket);
        }
        // A fault in one login ends that login (its client sees the connection
        // close and fails closed), never the daemon or the thread that serves
        // logins next; the first thread is the main one.
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serve_one(shared, stream);
        }));
        if served.is_err() {
            audit::line(
                audit::ERROR,
                "a login ended on an internal error (its panic message is on the service's stderr); the others go on",
            );
        }
        let rejoined = shared
            .accepting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (first || n < IDLE_ACCEPTORS).then_some(n + 1)
            })
            .is_ok();
        if !rejoined {
            return;
        }
    }
}

fn spawn_acceptor(shared: &Arc<Shared>, socket: &UnixListener) {
    let Ok(socket) = socket.try_clone() else {
        return;
    };
    let shared = Arc::clone(shared);
    let _ = std::thread::Builder::new()
        .name("login".to_owned())
        .spawn(move || acceptor(&shared, &socket, false));
}

/// One connection: who calls, whether the limits admit it, the login.
fn serve_one(shared: &Shared, stream: UnixStream) {
    // Who calls, from the kernel: the only identity the daemon believes.
    let Ok(cred) = getsockopt(&stream.as_fd(), PeerCredentials) else {
        return;
    };
    let uid = cred.uid();
    let Some(_admitted) = shared.admit(uid) else {
        // Dropping the stream closes it: the client fails closed at once.
        audit::line(
            audit::WARNING,
            &format!("connection of uid {uid} refused: too many open connections"),
        );
        return;
    };
    session::run(shared, stream, cred);
}

/// A connection counted in by [`Shared::admit`], counted out when dropped: also
/// when its login panics, which ends only that thread, so that a fault that
/// keeps recurring cannot use up a uid's connections for good.
struct Admitted<'a> {
    shared: &'a Shared,
    uid: u32,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.shared.release(self.uid);
    }
}

/// SIGHUP reloads, SIGTERM and SIGINT stop accepting (the accept loop is woken by
/// a connection of our own).
pub fn spawn_signal_thread(shared: Arc<Shared>, signals: SigSet, listener: &Listener) {
    let wake = listener
        .socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.to_owned()));
    let listener = listener.socket.try_clone().ok();
    std::thread::spawn(move || loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => shared.reload(),
            Ok(_) => {
                shared.stopping.store(true, Ordering::SeqCst);
                audit::line(audit::INFO, "stopping: finishing the logins in flight");
                match (&wake, &listener) {
                    (Some(path), _) => {
                        let _ = UnixStream::connect(path);
                    }
                    // An unnamed (systemd) socket: shut it down to end accept().
                    (None, Some(l)) => {
                        let _ = nix::sys::socket::shutdown(
                            std::os::fd::AsRawFd::as_raw_fd(l),
                            nix::sys::socket::Shutdown::Both,
                        );
                    }
                    (None, None) => std::process::exit(0),
                }
                return;
            }
            Err(_) => return,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        let cfg = Config::defaults(std::path::Path::new("/etc/pam_mfa/config.toml"));
        Shared::new(PathBuf::from("/nonexistent"), Loaded::new(cfg).unwrap())
    }

    #[test]
    fn one_user_cannot_take_every_connection() {
        let s = shared();
        let mut held: Vec<_> = (0..PER_UID).map(|_| s.admit(1000)).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(s.admit(1000).is_none(), "over the per-uid limit");
        assert!(s.admit(1001).is_some(), "another user still gets in");
        assert!(s.admit(0).is_some(), "root still gets in");
        held.pop();
        assert!(s.admit(1000).is_some());
    }

    #[test]
    fn a_login_that_panics_gives_its_connection_back() {
        let s = shared();
        for _ in 0..PER_UID {
            let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let admitted = s.admit(1000);
                assert!(admitted.is_some());
                panic!("a fault in one login");
            }));
            assert!(crashed.is_err());
        }
        assert!(s.admit(1000).is_some(), "the uid still gets in");
    }

    #[test]
    fn root_keeps_a_reserve_when_many_users_crowd_in() {
        let s = shared();
        let mut uid = 1000;
        let mut held = Vec::new();
        while held.len() < TOTAL - ROOT_RESERVE {
            match s.admit(uid) {
                Some(admitted) => held.push(admitted),
                None => uid += 1,
            }
        }
        assert!(s.admit(uid + 1).is_none(), "users are full");
        for _ in 0..ROOT_RESERVE {
            held.extend(s.admit(0));
        }
        assert_eq!(held.len(), TOTAL, "root's reserve was there");
        assert!(s.admit(0).is_none(), "the total is bounded too");
    }
}
