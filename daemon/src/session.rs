//! One login over one connection: the client's request, the decision by the core
//! (`mfa_core::auth`), the conversation relayed as prompts and messages, one verdict.
//! A connection that opens with a self-service request goes to [`manage`].
//!
//! Invariant: who logs in is checked against who calls: a caller that is not root
//! (a screen locker) may only authenticate its own account, by the account's own
//! name. Every read from the client has a bound ([`FIRST_REQUEST`], then the
//! answer's in [`crate::conversation`]); a client that goes away ends the login as
//! a failed conversation, with nothing spent but what the core already decided.
//! Every refusal takes at least `policy.refusal_ms` after the last answer, as in
//! the module.
//!
//! Password and code in one answer (`policy.prompt = "combined"` or the module
//! argument `combined`): the first module line gets the prompt text and the code
//! length ([`LoginReply::Split`]) and nothing else: no store is read, nothing counted,
//! spent or logged above debug, whoever the user is. The second line's login is
//! an ordinary one in which the module answers the code prompt with the code it
//! kept ([`auth::Session::one_answer`]).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::UnixCredentials;

use mfa_core::accounts::{Accounts, Lookup, NssAccounts};
use mfa_core::audit::{Audit, Escaped, Event};
use mfa_core::auth::{self, KeyPort};
use mfa_core::config::{Config, PromptStyle};
use mfa_core::error::Error;
use mfa_core::fido2::Authenticator;
use mfa_core::i18n::{Lang, Msg};
use mfa_core::locality::{self, LogindPaths};
use mfa_core::policy::Pace;
use mfa_core::random::OsRandom;
use mfa_core::store::AnyStore;
use mfa_proto::{
    read_frame, write_frame, Combined, FrameError, Login, LoginReply, Reply, Request, Verdict,
    OLDEST_VERSION, VERSION,
};

use crate::audit::{self as log, LoginLog};
use crate::conversation::{language, SocketPrompter};
use crate::manage;
use crate::server::Shared;

/// How long a new connection may take to say who logs in.
const FIRST_REQUEST: Duration = Duration::from_secs(5);
/// How long a write to the client may block.
const WRITE: Duration = Duration::from_secs(10);

/// Serves the login on `stream` for the caller `cred`.
pub fn run(shared: &Shared, stream: UnixStream, cred: UnixCredentials) {
    let _ = stream.set_write_timeout(Some(WRITE));
    let _ = stream.set_read_timeout(Some(FIRST_REQUEST));
    let login = match read_frame::<Request>(&mut &stream) {
        Ok(Request::Login(login)) => login,
        Ok(Request::Manage(request)) => return manage::run(shared, &stream, cred, &request),
        Ok(Request::Answer { .. } | Request::Shown { .. }) => {
            return log::line(
                log::WARNING,
                &format!(
                    "uid {}: an answer before any login, connection closed",
                    cred.uid()
                ),
            );
        }
        Err(FrameError::Closed) => return,
        Err(e) => {
            return log::line(
                log::WARNING,
                &format!("uid {}: {e}, connection closed", cred.uid()),
            );
        }
    };
    let loaded = shared.config();
    let cfg = &loaded.cfg;
    let mut audit = LoginLog::new(&login.service, &login.rhost, cred.uid(), login.debug);
    let mut pace = Pace {
        from: Instant::now(),
        refusal: Duration::from_millis(cfg.policy.refusal_ms.into()),
    };
    let split = login.combined == Combined::Split
        || (login.combined == Combined::Off && cfg.policy.prompt == PromptStyle::Combined);
    let verdict = if let Some(problem) = version_problem(&login, split, &audit) {
        log::line(log::ERROR, &format!("uid {}: {problem}", cred.uid()));
        Verdict::ServiceError
    } else if split {
        return send_split_prompt(cfg, &login, &stream, &audit);
    } else {
        authenticate(
            cfg,
            &loaded.store,
            &login,
            &stream,
            cred,
            &mut audit,
            &mut pace,
        )
    };
    if verdict != Verdict::Success && verdict != Verdict::Ignore {
        std::thread::sleep(pace.remaining(Instant::now()));
    }
    let _ = write_frame(
        &mut &stream,
        &Reply::from(LoginReply::Verdict {
            verdict,
            fail_delay_ms: cfg.policy.fail_delay_ms,
        }),
    );
}

/// Why this daemon cannot serve the client's protocol version for this login.
fn version_problem(login: &Login, split: bool, audit: &LoginLog) -> Option<String> {
    if !(OLDEST_VERSION..=VERSION).contains(&login.version) {
        Some(format!(
            "client speaks protocol {}, this daemon {VERSION}",
            login.version
        ))
    } else if split && login.version < 2 {
        Some(format!(
            "policy.prompt = \"combined\" needs a pam_mfa.so of protocol 2 or later, this one speaks {}{}",
            login.version, audit.context
        ))
    } else {
        None
    }
}

/// The first of two module lines for password and code in one answer: the
/// prompt and the code length, whoever the user is; nothing else.
fn send_split_prompt(cfg: &Config, login: &Login, stream: &UnixStream, audit: &LoginLog) {
    if login.debug {
        log::line(
            log::DEBUG,
            &format!(
                "user \"{}\": password and code asked in one answer, split by the module{}",
                Escaped(&login.user),
                audit.context
            ),
        );
    }
    let _ = write_frame(
        &mut &*stream,
        &Reply::from(LoginReply::Split {
            text: cfg
                .prompt
                .text(language(&login.locale), Msg::CombinedPrompt)
                .to_owned(),
            digits: cfg.totp.digits,
        }),
    );
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a caller that is not root asks for its own account.
pub(crate) fn caller_may_authenticate(cred: UnixCredentials, typed: &[u8]) -> bool {
    if cred.uid() == 0 {
        return true;
    }
    let Lookup::Found(name) = NssAccounts.lookup(typed) else {
        return false;
    };
    matches!(
        nix::unistd::User::from_name(&name),
        Ok(Some(account)) if account.uid.as_raw() == cred.uid()
    )
}

fn authenticate(
    cfg: &Config,
    store: &AnyStore,
    login: &Login,
    stream: &UnixStream,
    cred: UnixCredentials,
    audit: &mut LoginLog,
    pace: &mut Pace,
) -> Verdict {
    if !caller_may_authenticate(cred, &login.user) {
        log::line(
            log::WARNING,
            &format!(
                "uid {} asked to authenticate \"{}\": refused, a caller that is not root may only authenticate its own account{}",
                cred.uid(),
                Escaped(&login.user),
                audit.context
            ),
        );
        return Verdict::Failure;
    }
    let decide = || remote(cred, &login.rhost, &login.ssh);
    let host = mfa_core::host::name();
    let session = auth::Session {
        service: &login.service,
        remote: auth::Place::Decide(&decide),
        require_key: login.require_key,
        // Exemptions and the grace period take PAM_RHOST only from an application
        // running as root (sshd): a caller that is not root (a screen locker, or
        // any program of the user's) could name any address it likes.
        rhost: if cred.uid() == 0 { &login.rhost } else { "" },
        host: &host,
        one_answer: login.combined == Combined::Check,
    };
    let result = with_env(
        cfg,
        language(&login.locale),
        session,
        SocketPrompter::new(stream, login.silent),
        audit,
        pace,
        |env| auth::authenticate(store, &login.user, env),
    );
    if matches!(result, Err(Error::Conversation)) {
        audit.log(&Event::Conversation { user: &login.user });
    }
    mfa_core::error::verdict(&result)
}

/// Runs `work` with what every decision of the daemon gets: the conversation
/// through the client, the keys plugged in here, the OS's randomness, the user
/// database and the delivery command; `pace` learns when the last answer came.
pub(crate) fn with_env<T>(
    cfg: &Config,
    lang: Lang,
    session: auth::Session<'_>,
    mut prompter: SocketPrompter<'_>,
    audit: &mut LoginLog,
    pace: &mut Pace,
    work: impl FnOnce(&mut auth::Env<'_>) -> T,
) -> T {
    let mut courier = mfa_core::oob::CommandCourier {
        cfg: &cfg.oob,
        owner: 0,
    };
    let result = work(&mut auth::Env {
        cfg,
        lang,
        now: now(),
        clock: &now,
        session,
        prompter: &mut prompter,
        keys: &mut HidKeys,
        rng: &mut OsRandom,
        audit,
        accounts: &NssAccounts,
        courier: &mut courier,
    });
    if let Some(at) = prompter.answered {
        pace.from = at;
    }
    result
}

/// Whether the caller is away from this machine (an SSH session, a remote host),
/// from its session: `rhost` and `ssh` as the client saw them, and the session
/// and start environment of the process that connected (SO_PEERCRED). Asked by
/// the core only when a security key could be touched.
pub(crate) fn remote(cred: UnixCredentials, rhost: &str, ssh: &[String]) -> locality::Locality {
    // The caller's session, from the process that connected (SO_PEERCRED).
    let logind = LogindPaths {
        proc_self: PathBuf::from(format!("/proc/{}", cred.pid())),
        ..LogindPaths::system()
    };
    // The signs of an SSH session: the client's PAM and process environment, or
    // the environment its process started with (a host may clear its own since).
    locality::decide(rhost, &locality::logind_session(&logind), &|name| {
        ssh.iter()
            .any(|set| set == name)
            .then(|| "set".to_owned())
            .or_else(|| locality::start_env(&logind.proc_self, name).filter(|v| !v.is_empty()))
    })
}

/// The security keys plugged into this machine.
pub(crate) struct HidKeys;

impl KeyPort for HidKeys {
    fn open(&mut self) -> Option<Box<dyn Authenticator>> {
        mfa_core::fido2::hid::HidAuthenticator::open(None)
            .ok()
            .map(|k| Box::new(k) as Box<dyn Authenticator>)
    }
}
