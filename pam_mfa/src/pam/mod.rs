//! The PAM entry points: the only FFI of the crate.
//!
//! Invariant: every hook returns exactly one code computed by
//! [`crate::error::pam_code`] (authenticate) or a fixed, documented answer (the
//! others); nothing here prints, reads process environment for configuration, or lets
//! a panic cross into C (pam-bindings' guard turns one into `PAM_ABORT`). The
//! environment is read only for the message language and the signs of a remote
//! session ([`crate::locality`]), both of which can never let a login through.

/// A text PAM item (`Service`, `RHost`, `Tty`, `RUser`) as a string, empty when
/// unset; bytes that are not UTF-8 are replaced, as the item is only described.
macro_rules! text_item {
    ($pamh:expr, $item:ty) => {
        $pamh
            .get_item::<$item>()
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(s.0.to_bytes()).into_owned())
            .unwrap_or_default()
    };
}

mod client;
mod ffi;

use std::ffi::CStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pam_bindings::constants::{
    PamFlag, PamResultCode, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_SILENT, PAM_TEXT_INFO,
};
use pam_bindings::conv::Conv;
use pam_bindings::items::{RHost, Service};
use pam_bindings::module::{PamHandle, PamHooks};
use zeroize::Zeroizing;

use crate::audit::{Audit, Event, Level};
use crate::auth::{self, Prompter};
use crate::config::{Config, ModuleArgs};
use crate::error::{pam_code, Error, Outcome};
use crate::fido2::{self, Authenticator};
use crate::i18n::Lang;
use crate::policy::Pace;
use crate::random::OsRandom;
use crate::store::FileStore;

/// The module, as seen by libpam.
pub struct PamMfa;

pam_bindings::pam_hooks!(PamMfa);

impl PamHooks for PamMfa {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        let mut pace = Pace {
            from: Instant::now(),
            refusal: Duration::ZERO,
        };
        let args = ModuleArgs::parse(args.iter().map(|a| a.to_bytes()));
        if let Ok(parsed) = &args {
            if let Some(socket) = &parsed.socket {
                // pam_mfad decides, and paces its refusals itself.
                return client::authenticate(pamh, parsed, socket, flags);
            }
        }
        let code = pam_code(&authenticate(pamh, args, flags, &mut pace));
        // Every refusal takes the same time, whatever its reason (policy.refusal_ms).
        if !matches!(code, PamResultCode::PAM_SUCCESS | PamResultCode::PAM_IGNORE) {
            std::thread::sleep(pace.remaining(Instant::now()));
        }
        code
    }

    /// Establishing credentials is not our business, but `auth required pam_mfa.so`
    /// must not make `pam_setcred` fail for the whole stack.
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    // acct_mgmt, open/close_session and chauthtok keep pam-bindings' default,
    // PAM_IGNORE: a second factor has no account, session or password to manage.
}

fn now() -> u64 {
    // A clock before 1970 gives 0: every TOTP code is then wrong, failing closed.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One authentication; `pace` learns the refusal time from the config and the time
/// of the last answer from the conversation.
fn authenticate(
    pamh: &mut PamHandle,
    args: Result<ModuleArgs, crate::config::ArgError>,
    flags: PamFlag,
    pace: &mut Pace,
) -> Result<Outcome, Error> {
    let args = args.map_err(|e| {
        Syslog::new(pamh, true).log(&Event::Args(&e));
        Error::Args(e)
    })?;
    let cfg = Config::load(&args.config).map_err(|e| {
        Syslog::new(pamh, args.debug).log(&Event::Config(&e));
        Error::Config(e)
    })?;
    ffi::fail_delay(pamh, cfg.policy.fail_delay_ms);
    pace.refusal = Duration::from_millis(cfg.policy.refusal_ms.into());
    let user = pamh.get_user(None).map_err(|code| {
        Syslog::new(pamh, args.debug).log(&Event::Debug(format!("pam_get_user failed: {code:?}")));
        Error::Pam(code as i32)
    })?;

    let pamh: &PamHandle = pamh;
    let mut log = Syslog::new(pamh, args.debug);
    log.log(&Event::Debug(format!(
        "config {} loaded, store {}",
        cfg.path.display(),
        cfg.store.dir.display()
    )));
    let mut prompter = PamPrompter {
        conv: pamh
            .get_item::<Conv>()
            .map_err(|code| Error::Pam(code as i32))?
            .ok_or(Error::Conversation)?,
        silent: flags & PAM_SILENT != 0,
        answered: None,
    };
    let store = FileStore::new(&cfg.store.dir);
    let service = text_item!(pamh, Service);
    let rhost = text_item!(pamh, RHost);
    let logind = crate::locality::LogindPaths::system();
    let locality = crate::locality::decide(
        &rhost,
        &crate::locality::logind_session(&logind),
        // Any non-empty source counts: the variables can only make the login stricter.
        &|name| {
            session_env(pamh, name)
                .filter(|v| !v.is_empty())
                .or_else(|| crate::locality::start_env(&logind.proc_self, name))
        },
    );
    log.log(&Event::Debug(locality.to_string()));
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let mut courier = crate::oob::CommandCourier {
        cfg: &cfg.oob,
        owner: 0,
    };
    let mut env = auth::Env {
        cfg: &cfg,
        lang: language(pamh),
        now: now(),
        clock: &now,
        session: auth::Session {
            service: &service,
            remote: locality.remote,
            require_key: args.require_key,
            host: &host,
        },
        prompter: &mut prompter,
        keys: &mut HidKeys,
        rng: &mut OsRandom,
        audit: &mut log,
        accounts: &crate::accounts::NssAccounts,
        courier: &mut courier,
    };
    let result = auth::authenticate(&store, user.as_bytes(), &mut env);
    if let Some(at) = prompter.answered {
        pace.from = at;
    }
    if matches!(result, Err(Error::Conversation)) {
        log.log(&Event::Conversation {
            user: user.as_bytes(),
        });
    }
    result
}

/// Security keys on USB HID for the login.
struct HidKeys;

impl auth::KeyPort for HidKeys {
    fn open(&mut self) -> Option<Box<dyn Authenticator>> {
        // A key that ignores even CTAPHID_CANCEL leaves a worker thread blocked in
        // our code; it must never be unmapped under it by pam_end's dlclose.
        ffi::keep_module_loaded();
        fido2::hid::HidAuthenticator::open(None)
            .ok()
            .map(|k| Box::new(k) as Box<dyn Authenticator>)
    }
}

/// The system locale, as update-locale writes it (and pam_env reads it for sessions).
const SYSTEM_LOCALE: &str = "/etc/default/locale";

/// The user's language: the PAM environment first (pam_env, the application), then
/// the process environment (sudo, su and login pass the caller's), then the system
/// locale file (sshd clears its environment, and OpenSSH sends the client's LANG
/// only after authentication). Only the language of the messages depends on it,
/// never what is checked.
fn language(pamh: &PamHandle) -> Lang {
    if let Some(lang) = Lang::from_env_if_set(|name| session_env(pamh, name)) {
        return lang;
    }
    let system = std::fs::File::open(SYSTEM_LOCALE)
        .and_then(|f| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(f, 4096), &mut text)?;
            Ok(text)
        })
        .unwrap_or_default();
    Lang::from_locale_file(&system)
}

/// A variable of the login's environment: the PAM environment (pam_env, the
/// application), else the process environment (sudo, su and login run with the
/// caller's). Read only for what cannot loosen a login: the language of messages
/// and the signs of a remote session (see [`crate::locality`]).
fn session_env(pamh: &PamHandle, name: &str) -> Option<String> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // An empty PAM variable must not hide the process's (SSH_CONNECTION).
    ffi::getenv(pamh, &c_name)
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(name).ok())
}

/// The conversation of the application that called libpam.
struct PamPrompter<'a> {
    conv: Conv<'a>,
    silent: bool,
    /// When the last answer arrived.
    answered: Option<Instant>,
}

impl Prompter for PamPrompter<'_> {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let answer = self
            .conv
            .send(PAM_PROMPT_ECHO_OFF, prompt)
            .map_err(|_| Error::Conversation)?;
        self.answered = Some(Instant::now());
        Ok(Zeroizing::new(
            answer.map(|a| a.as_bytes().to_vec()).unwrap_or_default(),
        ))
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        self.show(PAM_TEXT_INFO, text)
    }

    fn error(&mut self, text: &str) -> Result<(), Error> {
        self.show(PAM_ERROR_MSG, text)
    }

    fn silent(&self) -> bool {
        self.silent
    }
}

impl PamPrompter<'_> {
    /// A message without an answer; nothing under PAM_SILENT.
    fn show(
        &mut self,
        style: pam_bindings::constants::PamMessageStyle,
        text: &str,
    ) -> Result<(), Error> {
        if self.silent {
            return Ok(());
        }
        self.conv
            .send(style, text)
            .map(|_| ())
            .map_err(|_| Error::Conversation)
    }
}

/// Audit events to syslog through `pam_syslog`, with the remote host appended.
struct Syslog<'a> {
    pamh: &'a PamHandle,
    debug: bool,
    rhost: Option<String>,
}

impl<'a> Syslog<'a> {
    fn new(pamh: &'a PamHandle, debug: bool) -> Syslog<'a> {
        let rhost = pamh
            .get_item::<RHost>()
            .ok()
            .flatten()
            .map(|h| crate::audit::Escaped(h.to_bytes()).to_string());
        Syslog { pamh, debug, rhost }
    }
}

impl Audit for Syslog<'_> {
    fn log(&mut self, event: &Event<'_>) {
        let level = event.level();
        if level == Level::Debug && !self.debug {
            return;
        }
        let priority = match level {
            Level::Debug => libc::LOG_DEBUG,
            Level::Info => libc::LOG_INFO,
            Level::Notice => libc::LOG_NOTICE,
            Level::Warning => libc::LOG_WARNING,
            Level::Error => libc::LOG_ERR,
        };
        let message = match &self.rhost {
            Some(h) => format!("{event} rhost={h}"),
            None => event.to_string(),
        };
        ffi::syslog(self.pamh, priority, &message);
    }
}
