//! `mfa-token` run by a user (or by root with `--socket`): status, enroll totp and
//! recovery through pam_mfad, for the caller's own account.
//!
//! Invariant: this path never opens the configuration or the store and never holds
//! a key: it sends one request, shows what the daemon says (the QR code and key of
//! a new enrollment arrive as text to show), types the user's answers back without
//! echo, and exits with the daemon's final word. Who the user is, the daemon
//! learns from the socket, not from us. What the daemon shows goes to stdout;
//! prompts, errors and the final line to stderr.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use mfa_core::i18n::Lang;
use mfa_proto::{
    read_frame, write_frame, Action, Done, LoginReply, Manage, ManageReply, Reply, Request, Secret,
    Status,
};

use crate::cli::{Command, Enroll, EnrollKey, EnrollTotp, QrStyle, VerificationArg};
use crate::error::CliError;
use crate::secret_input::read_answer;

/// How long pam_mfad may take to say the next thing (it waits for a security key
/// touch or a delivery command at most this long itself).
const DAEMON_REPLY: Duration = Duration::from_secs(600);

/// How long connecting to pam_mfad may take (also when it stopped accepting).
const CONNECT: Duration = Duration::from_secs(1);

/// Runs `command` through the daemon at `socket`.
pub fn run(lang: Lang, socket: &Path, command: Command) -> Result<(), CliError> {
    let (action, user, json, name) = request_for(command)?;
    let stream = mfa_proto::connect(socket, CONNECT)
        .map_err(|e| CliError::NoDaemon(socket.to_owned(), e))?;
    let broken = |e: String| CliError::Daemon(socket.to_owned(), e);
    let _ = stream.set_read_timeout(Some(DAEMON_REPLY));
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    write_frame(
        &mut &stream,
        &Request::Manage(Manage {
            version: mfa_proto::VERSION,
            action,
            user,
            locale,
            name,
        }),
    )
    .map_err(|e| broken(e.to_string()))?;
    converse(lang, socket, &stream, json)
}

/// What the daemon is asked to do for `command`: the action, the user named, JSON
/// output or not, and the app or key name; refused for what only root may run and
/// for options only root's direct path has.
fn request_for(
    command: Command,
) -> Result<(Action, Option<String>, bool, Option<String>), CliError> {
    Ok(match command {
        Command::Status(args) => (Action::Status, args.user.user, args.json, None),
        Command::Recovery(args) => {
            if args.json {
                return Err(CliError::RootOption("--json"));
            }
            (Action::NewRecovery, args.user.user, false, None)
        }
        Command::Enroll(Enroll::Totp(args)) => {
            root_only_options(&args)?;
            (Action::EnrollTotp, args.user.user, false, args.name)
        }
        Command::Enroll(Enroll::Key(args)) => {
            root_only_key_options(&args)?;
            (Action::EnrollKey, args.user.user, false, args.name)
        }
        Command::Enroll(Enroll::Hotp(_)) => return Err(CliError::RootOnly("enroll hotp")),
        Command::Resync(_) => return Err(CliError::RootOnly("resync")),
        Command::List(_) => return Err(CliError::RootOnly("list")),
        Command::Unlock(_) => return Err(CliError::RootOnly("unlock")),
        Command::Remove(_) => return Err(CliError::RootOnly("remove")),
        Command::Import(_) => return Err(CliError::RootOnly("import")),
        Command::Contact(_) => return Err(CliError::RootOnly("contact")),
        Command::Store(_) => return Err(CliError::RootOnly("store")),
    })
}

/// The conversation after the request: shows what the daemon says, types the
/// user's answers back, until the daemon's final word.
fn converse(lang: Lang, socket: &Path, stream: &UnixStream, json: bool) -> Result<(), CliError> {
    let broken = |e: String| CliError::Daemon(socket.to_owned(), e);
    loop {
        let reply = read_frame::<Reply>(&mut &*stream).map_err(|e| broken(e.to_string()))?;
        match reply {
            Reply::Login(LoginReply::Prompt { text }) => {
                // No more input (or none readable): the daemon ends the action as a
                // failed conversation, not as a wrong code.
                let answer = read_answer(&text).ok().flatten().map(Secret);
                write_frame(&mut &*stream, &Request::Answer { text: answer })
                    .map_err(|e| broken(e.to_string()))?;
            }
            Reply::Login(LoginReply::Info { text }) => {
                println!("{text}");
                shown(stream).map_err(broken)?;
            }
            Reply::Login(LoginReply::Error { text }) => {
                eprintln!("{text}");
                shown(stream).map_err(broken)?;
            }
            Reply::Manage(ManageReply::Status(status)) => show(lang, &status, json),
            Reply::Manage(ManageReply::Done(Done::Success { message })) => {
                if !message.is_empty() {
                    eprintln!("{message}");
                }
                return Ok(());
            }
            Reply::Manage(ManageReply::Done(
                Done::Refused { message } | Done::Unavailable { message },
            )) => return Err(CliError::Refused(message)),
            Reply::Login(LoginReply::Verdict { .. } | LoginReply::Split { .. }) => {
                return Err(broken("a login reply".to_owned()))
            }
        }
    }
}

/// Tells the daemon a message was shown (on the terminal, which always can).
fn shown(stream: &UnixStream) -> Result<(), String> {
    write_frame(&mut &*stream, &Request::Shown { ok: true }).map_err(|e| e.to_string())
}

/// Options of `enroll key` that only root's direct registration has: through the
/// daemon the key is registered without a PIN, verification discouraged, with
/// whichever of ES256 and EdDSA it supports, on the one key plugged in.
fn root_only_key_options(args: &EnrollKey) -> Result<(), CliError> {
    let given = [
        (args.device.is_some(), "--device"),
        (args.pin, "--pin"),
        (
            args.user_verification != VerificationArg::Discouraged,
            "--user-verification",
        ),
        (args.algorithm.is_some(), "--algorithm"),
        (args.json, "--json"),
    ];
    match given.iter().find(|(set, _)| *set) {
        Some((_, option)) => Err(CliError::RootOption(option)),
        None => Ok(()),
    }
}

/// Options that only root's direct enrollment has: through the daemon a new key
/// is always generated, shown as the daemon draws it, and confirmed.
fn root_only_options(args: &EnrollTotp) -> Result<(), CliError> {
    if args.secret.is_some() {
        return Err(CliError::SecretInArgv);
    }
    let given = [
        (args.secret_file.is_some(), "--secret-file"),
        (args.no_confirm, "--no-confirm"),
        (args.qr != QrStyle::Dark, "--qr"),
        (args.png.is_some(), "--png"),
        (args.svg.is_some(), "--svg"),
        (args.issuer.is_some(), "--issuer"),
        (args.algorithm.is_some(), "--algorithm"),
        (args.digits.is_some(), "--digits"),
        (args.period.is_some(), "--period"),
        (args.json, "--json"),
    ];
    match given.iter().find(|(set, _)| *set) {
        Some((_, option)) => Err(CliError::RootOption(option)),
        None => Ok(()),
    }
}

/// Prints the user's status as root's `mfa-token status` does.
fn show(lang: Lang, s: &Status, json: bool) {
    if json {
        crate::commands::show::print_status_json(s);
        return;
    }
    if crate::commands::show::print_factors(lang, s, &|| ()) {
        crate::commands::show::print_state(lang, s);
    }
}
