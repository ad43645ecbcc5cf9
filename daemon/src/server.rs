//! Accepting connections, sharing them out fairly, reloading and stopping.
//!
//! Invariant: each connection is served by a thread of its own, so one slow client,
//! key or delivery command never delays another login (threads are kept for
//! the next connections, at most [`IDLE_WORKERS`] idle ones: a login costs a
//! wake-up, not a thread's creation). A uid other than root holds
//! at most [`PER_UID`] connections and all together at most [`TOTAL`]; root's
//! logins keep [`ROOT_RESERVE`] of those for themselves, so no user can starve
//! them. The configuration a login uses is the one current when it started.

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials, UnixCredentials};

use mfa_core::config::Config;

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
/// Threads kept waiting for the next connection.
const IDLE_WORKERS: usize = 8;
/// How long a kept thread waits for a connection before it exits.
const IDLE_FOR: Duration = Duration::from_secs(60);

/// Connections admitted and not yet taken by a thread, and the threads waiting.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<(UnixStream, UnixCredentials)>,
    idle: usize,
}

/// What every connection thread shares.
pub struct Shared {
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    /// Open connections by caller uid.
    open: Mutex<HashMap<u32, usize>>,
    idle: Condvar,
    queue: Mutex<Queue>,
    work: Condvar,
    pub stopping: AtomicBool,
}

impl Shared {
    pub fn new(config_path: PathBuf, cfg: Config) -> Shared {
        Shared {
            config_path,
            config: RwLock::new(Arc::new(cfg)),
            open: Mutex::new(HashMap::new()),
            idle: Condvar::new(),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the configuration again; an invalid one is logged and the old kept.
    fn reload(&self) {
        match Config::load(&self.config_path) {
            Ok(cfg) => {
                *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
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

    /// Counts a connection of `uid` in, if the limits allow it.
    fn admit(&self, uid: u32) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(&uid).copied().unwrap_or(0);
        let allowed = if uid == 0 {
            total < TOTAL
        } else {
            mine < PER_UID && total < TOTAL - ROOT_RESERVE
        };
        if allowed {
            *open.entry(uid).or_insert(0) += 1;
        }
        allowed
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

/// Accepts connections until SIGTERM.
pub fn serve(shared: &Arc<Shared>, listener: &Listener) {
    for stream in listener.socket.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        accept(shared, stream);
    }
}

fn accept(shared: &Arc<Shared>, stream: UnixStream) {
    // Who calls, from the kernel: the only identity the daemon believes.
    let Ok(cred) = getsockopt(&stream.as_fd(), PeerCredentials) else {
        return;
    };
    let uid = cred.uid();
    if !shared.admit(uid) {
        // Dropping the stream closes it: the client fails closed at once.
        audit::line(
            audit::WARNING,
            &format!("connection of uid {uid} refused: too many open connections"),
        );
        return;
    }
    let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    queue.jobs.push_back((stream, cred));
    if queue.idle >= queue.jobs.len() {
        shared.work.notify_one();
        return;
    }
    // No thread waits for it: a new one (the lock is held, so the job taken
    // back on failure is this one).
    let spawned = std::thread::Builder::new().name("login".to_owned()).spawn({
        let shared = Arc::clone(shared);
        move || worker(&shared)
    });
    if spawned.is_err() {
        queue.jobs.pop_back();
        drop(queue);
        shared.release(uid);
    }
}

/// Serves connections from the queue; exits after [`IDLE_FOR`] without one, or
/// when [`IDLE_WORKERS`] threads wait already.
fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.jobs.is_empty() && queue.idle >= IDLE_WORKERS {
                return;
            }
            queue.idle += 1;
            let (mut queue, _) = shared
                .work
                .wait_timeout_while(queue, IDLE_FOR, |q| q.jobs.is_empty())
                .unwrap_or_else(|e| e.into_inner());
            queue.idle -= 1;
            match queue.jobs.pop_front() {
                Some(job) => job,
                None => return,
            }
        };
        let (stream, cred) = job;
        let uid = cred.uid();
        session::run(shared, stream, cred);
        shared.release(uid);
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
        Shared::new(
            PathBuf::from("/nonexistent"),
            Config::defaults(std::path::Path::new("/etc/pam_mfa/config.toml")),
        )
    }

    #[test]
    fn one_user_cannot_take_every_connection() {
        let s = shared();
        for _ in 0..PER_UID {
            assert!(s.admit(1000));
        }
        assert!(!s.admit(1000), "over the per-uid limit");
        assert!(s.admit(1001), "another user still gets in");
        assert!(s.admit(0), "root still gets in");
        s.release(1000);
        assert!(s.admit(1000));
    }

    #[test]
    fn root_keeps_a_reserve_when_many_users_crowd_in() {
        let s = shared();
        let mut uid = 1000;
        let mut admitted = 0;
        while admitted < TOTAL - ROOT_RESERVE {
            if s.admit(uid) {
                admitted += 1;
            } else {
                uid += 1;
            }
        }
        assert!(!s.admit(uid + 1), "users are full");
        for _ in 0..ROOT_RESERVE {
            assert!(s.admit(0));
        }
        assert!(!s.admit(0), "the total is bounded too");
    }
}
