//! Self-service over one connection: `mfa-token status`, `enroll totp` and
//! `recovery` run by a user. The decisions are the core's
//! (`mfa_core::auth::manage`); this file finds out who calls, relays the
//! conversation, and ends it with one [`ManageReply::Done`].
//!
//! Invariant: the account acted on is the caller's own, from SO_PEERCRED (the uid,
//! then getpwuid and the account's canonical name); a caller that is not root that
//! names another account is refused and logged before anything is read. Only
//! root may name any account. Every action ends in exactly one log line saying
//! who asked what for whom and how it ended; refusals take at least
//! `policy.refusal_ms` after the last answer, as logins do. Status holds no secret;
//! a new key and recovery codes go only to this connection, the user's own.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::sys::socket::UnixCredentials;

use mfa_core::accounts::{Accounts, Lookup, NssAccounts};
use mfa_core::audit::Escaped;
use mfa_core::auth;
use mfa_core::auth::manage::{self, Ended};
use mfa_core::config::Config;
use mfa_core::error::Error;
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::policy::Pace;
use mfa_core::store::{AnyStore, Store};
use mfa_core::username::UserName;
use mfa_proto::{write_frame, Action, Done, Manage, ManageReply, Reply, OLDEST_VERSION, VERSION};

use crate::audit::{self as log, LoginLog};
use crate::conversation::{language, SocketPrompter};
use crate::server::Shared;
use crate::session::{caller_may_authenticate, now, remote, with_env};

/// The service name self-service actions are logged and decided under.
const SERVICE: &str = "mfa-token";

/// Serves the self-service `request` on `stream` for the caller `cred`.
pub fn run(shared: &Shared, stream: &UnixStream, cred: UnixCredentials, request: &Manage) {
    let loaded = shared.config();
    let cfg = &loaded.cfg;
    let lang = language(&request.locale);
    let mut audit = LoginLog::new(SERVICE, "", cred.uid(), false);
    let mut pace = Pace {
        from: Instant::now(),
        refusal: Duration::from_millis(cfg.policy.refusal_ms.into()),
    };
    let (done, user) = if !(OLDEST_VERSION..=VERSION).contains(&request.version) {
        log::line(
            log::ERROR,
            &format!(
                "uid {}: mfa-token speaks protocol {}, this daemon {VERSION}",
                cred.uid(),
                request.version
            ),
        );
        let message = i18n::format(lang, Msg::SelfVersion, &[&VERSION, &request.version]);
        (Done::Refused { message }, None)
    } else {
        match account(cred, request, lang) {
            Ok(user) => {
                let done = act(
                    cfg,
                    &loaded.store,
                    stream,
                    cred,
                    request,
                    &user,
                    lang,
                    &mut audit,
                    &mut pace,
                );
                (done, Some(user))
            }
            Err(message) => (Done::Refused { message }, None),
        }
    };
    // The reasons were logged where they arose, in English; the messages for the
    // user are in the user's language.
    let (severity, how) = match &done {
        Done::Success { .. } => (log::INFO, "done"),
        Done::Refused { .. } => (log::NOTICE, "refused"),
        Done::Unavailable { .. } => (log::ERROR, "failed"),
    };
    let whom = match (&user, &request.user) {
        (Some(user), _) => format!("user={user}"),
        (None, Some(named)) => format!("user \"{}\"", Escaped(named.as_bytes())),
        (None, None) => "its own account".to_owned(),
    };
    log::line(
        severity,
        &format!(
            "self-service {} for {whom}: {how}{}",
            action_name(request.action),
            audit.context
        ),
    );
    if !matches!(done, Done::Success { .. }) {
        std::thread::sleep(pace.remaining(Instant::now()));
    }
    let _ = write_frame(&mut &*stream, &Reply::from(ManageReply::Done(done)));
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Status => "status",
        Action::EnrollTotp => "enroll totp",
        Action::NewRecovery => "recovery",
        Action::EnrollKey => "enroll key",
    }
}

/// The account to act on: the caller's own, or (root only) the one it names.
/// `Err` holds the message for the user; why is logged here, in English.
fn account(cred: UnixCredentials, request: &Manage, lang: Lang) -> Result<UserName, String> {
    let refuse = |why: &str, message: String| {
        log::line(
            log::NOTICE,
            &format!(
                "uid {}: self-service {} refused: {why} service={SERVICE} caller_uid={}",
                cred.uid(),
                action_name(request.action),
                cred.uid()
            ),
        );
        Err(message)
    };
    let own = nix::unistd::User::from_uid(cred.uid().into())
        .ok()
        .flatten()
        .map(|account| account.name);
    let named = match (&request.user, &own) {
        (Some(name), _) => name.clone(),
        (None, Some(own)) => own.clone(),
        (None, None) => {
            return refuse(
                "the caller's uid has no account (getpwuid)",
                i18n::format(lang, Msg::SelfUnknownCaller, &[&cred.uid()]),
            )
        }
    };
    if !caller_may_authenticate(cred, named.as_bytes()) {
        log::line(
            log::WARNING,
            &format!(
                "uid {} asked for self-service {} on \"{}\": refused, a caller that is not root may only act on its own account service={SERVICE} caller_uid={}",
                cred.uid(),
                action_name(request.action),
                Escaped(named.as_bytes()),
                cred.uid()
            ),
        );
        let own = own.unwrap_or_else(|| format!("uid {}", cred.uid()));
        return Err(i18n::format(lang, Msg::SelfOtherUser, &[&own]));
    }
    match NssAccounts.lookup(named.as_bytes()) {
        Lookup::Found(canonical) => match UserName::new(&canonical) {
            Ok(user) => Ok(user),
            Err(e) => refuse(
                &format!(
                    "the name \"{}\" is not valid for the store",
                    Escaped(canonical.as_bytes())
                ),
                i18n::format(lang, Msg::ErrInvalidUser, &[&canonical, &e]),
            ),
        },
        Lookup::Unknown => refuse(
            &format!(
                "user \"{}\" unknown to the user database",
                Escaped(named.as_bytes())
            ),
            i18n::format(lang, Msg::ErrUnknownUser, &[&named]),
        ),
        Lookup::Failed(e) => refuse(
            &format!(
                "user \"{}\" could not be looked up ({e})",
                Escaped(named.as_bytes())
            ),
            format!("getpwnam({named}): {e}"),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn act(
    cfg: &Config,
    store: &AnyStore,
    stream: &UnixStream,
    cred: UnixCredentials,
    request: &Manage,
    user: &UserName,
    lang: Lang,
    audit: &mut LoginLog,
    pace: &mut Pace,
) -> Done {
    let unavailable = || Done::Unavailable {
        message: i18n::text(lang, Msg::SelfUnavailable).to_owned(),
    };
    type Act = fn(&AnyStore, &UserName, &mut auth::Env<'_>, &Manage) -> Result<Ended, Error>;
    let act: Act = match request.action {
        Action::EnrollTotp => |store, user, env, request| {
            manage::enroll_totp(store, user, env, request.name.as_deref())
        },
        Action::NewRecovery => |store, user, env, _| manage::new_recovery(store, user, env),
        Action::EnrollKey => |store, user, env, request| {
            manage::enroll_key(store, user, env, request.name.as_deref())
        },
        Action::Status => {
            return match store.read(user) {
                Ok(record) => {
                    let status = manage::status(user, &record.unwrap_or_default(), now());
                    match write_frame(&mut &*stream, &Reply::from(ManageReply::Status(status))) {
                        Ok(()) => Done::Success {
                            message: String::new(),
                        },
                        Err(_) => unavailable(),
                    }
                }
                Err(e) => {
                    if !e.is_outage() {
                        log::line(log::ERROR, &format!("user={user}: {e}{}", audit.context));
                    }
                    unavailable()
                }
            };
        }
    };
    let decide = || remote(cred, "", &[]);
    let host = mfa_core::host::name();
    let session = auth::Session {
        service: SERVICE,
        remote: auth::Place::Decide(&decide),
        require_key: false,
        // Self-service: no login's address, so no exemption and no remembered IP.
        rhost: "",
        host: &host,
        one_answer: false,
    };
    let result = with_env(
        cfg,
        lang,
        session,
        SocketPrompter::new(stream, false),
        audit,
        pace,
        |env| act(store, user, env, request),
    );
    match result {
        Ok(Ended::Done(message)) => Done::Success { message },
        Ok(Ended::Refused(message)) => Done::Refused { message },
        Err(Error::Conversation) => Done::Refused {
            message: i18n::text(lang, Msg::SelfCheckFailed).to_owned(),
        },
        // The core logged a store error already.
        Err(Error::Store(_)) => unavailable(),
        Err(e) => {
            log::line(log::ERROR, &format!("user={user}: {e}{}", audit.context));
            unavailable()
        }
    }
}
