//! The protocol between `pam_mfa.so` (and `mfa-token` run by users) and `pam_mfad`.
//!
//! Invariant: a connection carries one login or one self-service action. Every
//! message is one frame: a 4-byte big-endian length, then that many bytes of JSON,
//! at most [`MAX_FRAME`]; a longer frame, or one that does not decode into the
//! expected message (unknown fields and unknown variants included), ends the
//! connection.
//!
//! A login: the client (`pam_mfa.so`) speaks first with [`Request::Login`], naming
//! the [`VERSION`] it speaks; the daemon answers with prompts, messages and exactly
//! one [`LoginReply::Verdict`], and the client answers each prompt with
//! [`Request::Answer`] and each message with [`Request::Shown`] (a QR code the
//! application could not show must not count as seen). A daemon that does not
//! speak the client's version answers [`Verdict::ServiceError`] at once.
//!
//! Password and code in one answer (version 2, for clients with a single field):
//! two module lines around the password module. The first sends a login with
//! [`Login::combined`] = [`Combined::Split`] (module argument `combined`), or a
//! plain one that the daemon's `[policy] prompt = "combined"` turns into the same;
//! the daemon answers with exactly one [`LoginReply::Split`] (the prompt text and the
//! code length; no store is read, nothing is counted or spent, and no verdict
//! follows) or, on a version mismatch, one [`LoginReply::Verdict`]. The module asks
//! that prompt itself, cuts the code off the answer with [`split_combined`], hands
//! the password on as PAM_AUTHTOK and keeps the code; the password never reaches
//! the daemon. The second line, after the password module succeeded, sends
//! [`Combined::Check`] and answers the daemon's code prompt with the kept code,
//! never asking the user: the login then goes as any other, to one verdict.
//! Version 1 clients (no [`Login::combined`]) are still served.
//!
//! Self-service (`mfa-token` run by a user): the client speaks first with
//! [`Request::Manage`], naming the version and one [`Action`]; the conversation is
//! the same (prompts answered with [`Request::Answer`], information and error
//! messages with [`Request::Shown`]), a status action also gets one
//! [`ManageReply::Status`], and it ends with exactly one [`ManageReply::Done`]. A daemon that
//! does not speak the client's version answers [`Done::Refused`] at once, saying so.
//!
//! The daemon learns who is calling from the socket (SO_PEERCRED), never from a
//! message: a caller that is not root acts on its own account only. Secrets travel
//! only one way: a typed answer from the client; the daemon never sends a key, only
//! text to show (a QR code as lines of text, the key grouped for typing by hand),
//! and that only to the enrolling user's own connection.

mod connect;
pub use connect::connect;

use std::fmt;
use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The version of this protocol: 2 added [`Login::combined`] and [`LoginReply::Split`].
pub const VERSION: u32 = 2;

/// The oldest version pam_mfad still serves: a version 1 message is a version 2
/// one without the fields it added.
pub const OLDEST_VERSION: u32 = 1;

/// The lengths a code split off a combined answer may have (`[totp] digits`).
pub const CODE_DIGITS: std::ops::RangeInclusive<u8> = 6..=8;

/// The largest frame either side accepts (a QR code shown as text is about 3 KiB).
pub const MAX_FRAME: usize = 64 * 1024;

/// The longest answer a client sends: far longer than any code; a longer answer
/// is cut to this length (and is still wrong), so every frame fits in [`MAX_FRAME`].
pub const MAX_ANSWER: usize = 4096;

/// The daemon's socket unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/pam_mfa/socket";

/// The environment variables sshd sets for every session (SSH_TTY only with a
/// pty): [`Login::ssh`] says whether the login's environment has one.
pub const SSH_VARIABLES: [&str; 2] = ["SSH_CONNECTION", "SSH_CLIENT"];

/// What the client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The first message: who logs in, and where from.
    Login(Login),
    /// The answer to the last [`LoginReply::Prompt`]; `None` when the application's
    /// conversation failed (the login then ends).
    Answer { text: Option<Secret> },
    /// After a [`LoginReply::Info`] or [`LoginReply::Error`]: whether the application's
    /// conversation showed it.
    Shown { ok: bool },
    /// The first message of a self-service action (`mfa-token` run by a user).
    Manage(Manage),
}

/// A self-service action, as `mfa-token` asks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manage {
    /// The protocol version the client speaks.
    pub version: u32,
    /// What to do.
    pub action: Action,
    /// The account the caller names (`--user`), `None` for its own. A caller that
    /// is not root may only name its own account.
    pub user: Option<String>,
    /// The locale of the messages (LC_ALL / LC_MESSAGES / LANG of the client), empty
    /// for the daemon's default.
    pub locale: String,
    /// [`Action::EnrollKey`]: the key's name (`--name`), `None` for key-N.
    /// [`Action::EnrollTotp`]: the app's name (`--name`), `None` for "default".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a user may do on their own account through the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The factors enrolled and the login state, never a secret: answered with one
    /// [`ManageReply::Status`].
    Status,
    /// Set up an authenticator app: allowed without a factor when `[enroll]`
    /// admits the user; with one, only after a current second factor.
    EnrollTotp,
    /// A new set of recovery codes, replacing the old one, after a current second
    /// factor.
    NewRecovery,
    /// Register a security key plugged into this machine, from a session at it:
    /// with a factor, only after a current second factor; without one, when
    /// `[enroll]` admits the user.
    EnrollKey,
}

/// A login as the PAM application describes it (its PAM items), the module's
/// arguments and what the module saw of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The protocol version the client speaks.
    pub version: u32,
    /// PAM_USER as the application passed it: bytes, as PAM promises no encoding.
    pub user: Vec<u8>,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, empty when unset.
    pub rhost: String,
    /// PAM_TTY, empty when unset.
    pub tty: String,
    /// PAM_RUSER, empty when unset.
    pub ruser: String,
    /// The locale of the messages (LC_ALL / LC_MESSAGES / LANG as the module found
    /// them), empty for the daemon's default.
    pub locale: String,
    /// Which of [`SSH_VARIABLES`] are set in the login's environment (a remote
    /// session); the daemon ignores any other name.
    pub ssh: Vec<String>,
    /// The module argument `require_key`.
    pub require_key: bool,
    /// PAM_SILENT: no information messages.
    pub silent: bool,
    /// The module argument `debug`: extra detail in the daemon's log.
    pub debug: bool,
    /// Password and code in one answer (version 2); absent: [`Combined::Off`].
    #[serde(default, skip_serializing_if = "Combined::is_off")]
    pub combined: Combined,
}

/// Which line of a combined stack a login is (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Combined {
    /// A login of its own; the daemon still answers [`LoginReply::Split`] when its
    /// config says `[policy] prompt = "combined"`.
    #[default]
    Off,
    /// The first line (module argument `combined`): answer [`LoginReply::Split`].
    Split,
    /// The second line: the module answers the code prompt with the code the
    /// first line kept; no further prompt can be answered.
    Check,
}

impl Combined {
    pub fn is_off(&self) -> bool {
        *self == Combined::Off
    }
}

/// Where a combined answer ends its password: the index at which the trailing
/// code begins, or `None` when there is no code to split off. The code is a
/// recovery code in its printed form (four groups of four letters or digits
/// joined by dashes, `abcd-efgh-jkmn-pqrs`) or else the last `digits` characters
/// when they are all ASCII digits (`digits` in [`CODE_DIGITS`], else only a
/// recovery code splits). Nothing separates the password from the code; the
/// password must not be empty.
pub fn split_combined(answer: &[u8], digits: u8) -> Option<usize> {
    const PRINTED: usize = 19;
    if let Some(cut) = answer.len().checked_sub(PRINTED).filter(|&c| c > 0) {
        let printed = answer[cut..].iter().enumerate().all(|(i, b)| {
            if i % 5 == 4 {
                *b == b'-'
            } else {
                b.is_ascii_alphanumeric()
            }
        });
        if printed {
            return Some(cut);
        }
    }
    if !CODE_DIGITS.contains(&digits) {
        return None;
    }
    let cut = answer
        .len()
        .checked_sub(usize::from(digits))
        .filter(|&c| c > 0)?;
    answer[cut..].iter().all(u8::is_ascii_digit).then_some(cut)
}

/// A typed answer: wiped from memory when dropped, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub Zeroizing<String>);

impl Secret {
    pub fn new(text: &str) -> Secret {
        Secret(Zeroizing::new(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What the daemon says: a login's replies, or a self-service action's. The
/// wire form is the one object of either, told apart by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// Prompts, messages and the end of a login (also of a self-service action's
    /// conversation).
    Login(LoginReply),
    /// The end of a self-service action.
    Manage(ManageReply),
}

/// The replies a login can get. The module decodes only these (a smaller decoder
/// in every login process); a self-service reply to a login does not decode, and
/// the login fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoginReply {
    /// Ask the user (without echo); the client answers with [`Request::Answer`].
    Prompt { text: String },
    /// Show a line of information (PAM_TEXT_INFO); the client answers with
    /// [`Request::Shown`].
    Info { text: String },
    /// Show an error message (PAM_ERROR_MSG); the client answers with
    /// [`Request::Shown`].
    Error { text: String },
    /// The end of the login; the module asks libpam to delay a failure by
    /// `fail_delay_ms` (`policy.fail_delay_ms`, pam_fail_delay(3)).
    Verdict {
        verdict: Verdict,
        fail_delay_ms: u32,
    },
    /// The first line of a combined stack: ask `text` for password and code in
    /// one answer, split it with [`split_combined`] (codes of `digits` digits)
    /// and keep the code for the second line. Ends the connection: no verdict.
    Split { text: String, digits: u8 },
}

/// The replies that end a self-service action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManageReply {
    /// The answer to [`Action::Status`].
    Status(Status),
    /// The end of a self-service action.
    Done(Done),
}

impl From<LoginReply> for Reply {
    fn from(reply: LoginReply) -> Reply {
        Reply::Login(reply)
    }
}

impl From<ManageReply> for Reply {
    fn from(reply: ManageReply) -> Reply {
        Reply::Manage(reply)
    }
}

/// How a self-service action ended; the message says why in the user's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum Done {
    /// Done; the message is a summary (may be empty).
    Success { message: String },
    /// Not allowed, or the current factor did not pass; nothing changed.
    Refused { message: String },
    /// The daemon could not do it (the store failed, no random bytes).
    Unavailable { message: String },
}

/// A user's own state, without any secret, code or address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The account, by its own name.
    pub user: String,
    /// The authenticator apps, in enrollment order.
    pub totp: Vec<TotpStatus>,
    pub recovery: Option<RecoveryStatus>,
    pub keys: Vec<KeyStatus>,
    /// HOTP tokens. Absent when there are none, so a status without tokens is
    /// what earlier releases of this version sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hotp: Vec<HotpStatus>,
    /// The channel of the contact for one-time codes ("sms", "email"), if any.
    pub contact: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Unix time until which logins are refused, if locked out now.
    pub locked_until: Option<u64>,
    pub last_success: Option<u64>,
    pub last_failure: Option<u64>,
}

/// An authenticator app's parameters (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpStatus {
    /// The user's name for the app ("default" unless named).
    pub name: String,
    pub algorithm: String,
    pub digits: u8,
    pub period: u32,
    /// Unix time of the enrollment.
    pub created: u64,
    /// Unix time at which the last accepted code's step began.
    pub last_used: Option<u64>,
}

/// An HOTP token (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotpStatus {
    pub name: String,
    pub digits: u8,
    /// The next expected counter value.
    pub counter: u64,
    /// Unix time of the enrollment.
    pub created: u64,
}

/// How many recovery codes are left (never the codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryStatus {
    pub unused: usize,
    /// Unix time the set was made.
    pub created: u64,
}

/// A registered security key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatus {
    pub name: String,
    pub algorithm: String,
    pub user_verification: String,
    pub pin: bool,
    pub sign_count: u32,
    pub created: u64,
}

/// How the login ended; the module turns it into its PAM code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// PAM_SUCCESS.
    Success,
    /// PAM_AUTH_ERR: a wrong code, a locked or unknown user...
    Failure,
    /// PAM_IGNORE: an unenrolled user under `unenrolled = "ignore"`.
    Ignore,
    /// PAM_AUTHINFO_UNAVAIL: the store or a device failed.
    Unavailable,
    /// PAM_SERVICE_ERR: the daemon's configuration or the request is wrong.
    ServiceError,
    /// PAM_CONV_ERR: the application's conversation failed.
    ConversationError,
    /// PAM_SYSTEM_ERR: the daemon could not get random bytes.
    SystemError,
}

/// Why a frame could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection before a frame began.
    Closed,
    /// The announced length is over the limit.
    TooLarge(usize),
    /// Reading failed (or timed out) inside a frame.
    Io(io::Error),
    /// The frame is not the expected message.
    Decode(serde_json::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the peer closed the connection"),
            FrameError::TooLarge(n) => {
                write!(f, "a frame of {n} bytes is over the limit of {MAX_FRAME}")
            }
            FrameError::Io(e) => write!(f, "reading a frame: {e}"),
            FrameError::Decode(e) => write!(f, "malformed message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            FrameError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// Encodes `message` as one frame.
pub fn encode<T: Serialize>(message: &T) -> io::Result<Zeroizing<Vec<u8>>> {
    let body = Zeroizing::new(serde_json::to_vec(message).map_err(io::Error::other)?);
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other("message over the frame limit"))?;
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Writes `message` as one frame.
pub fn write_frame<T: Serialize>(w: &mut impl Write, message: &T) -> io::Result<()> {
    w.write_all(&encode(message)?)?;
    w.flush()
}

/// Reads one frame and decodes it as `T`.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    decode(&body)
}

/// Decodes one frame's body (the fuzz target's entry).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_login_reply_decodes_as_what_the_daemon_sent_and_nothing_else() {
        let text = || "Verification code: ".to_owned();
        for login in [
            LoginReply::Prompt { text: text() },
            LoginReply::Info { text: text() },
            LoginReply::Error { text: text() },
            LoginReply::Verdict {
                verdict: Verdict::Ignore,
                fail_delay_ms: 7,
            },
            LoginReply::Split {
                text: text(),
                digits: 8,
            },
        ] {
            // What the daemon sends is a Reply; the module reads it as a LoginReply.
            let frame = encode(&Reply::from(login.clone())).unwrap();
            assert_eq!(decode::<LoginReply>(&frame[4..]).unwrap(), login);
            assert_eq!(decode::<Reply>(&frame[4..]).unwrap(), Reply::Login(login));
        }
        for other in [
            ManageReply::Status(Status::default()),
            ManageReply::Done(Done::Success {
                message: String::new(),
            }),
        ] {
            let frame = encode(&Reply::from(other.clone())).unwrap();
            assert!(decode::<LoginReply>(&frame[4..]).is_err(), "{other:?}");
            assert_eq!(decode::<Reply>(&frame[4..]).unwrap(), Reply::Manage(other));
        }
    }

    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(m: T) {
        let frame = encode(&m).unwrap();
        let back: T = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn messages_round_trip() {
        round_trip(Request::Login(Login {
            version: VERSION,
            user: b"al\xffice".to_vec(),
            service: "sshd".into(),
            rhost: "192.0.2.7".into(),
            ssh: vec!["SSH_CONNECTION".into()],
            ..Login::default()
        }));
        round_trip(Request::Answer {
            text: Some(Secret::new("123 456")),
        });
        round_trip(Request::Answer { text: None });
        round_trip(Request::Shown { ok: false });
        round_trip(Reply::from(LoginReply::Prompt {
            text: "Verification code: ".into(),
        }));
        round_trip(Reply::from(LoginReply::Verdict {
            verdict: Verdict::Ignore,
            fail_delay_ms: 2000,
        }));
    }

    #[test]
    fn self_service_messages_round_trip() {
        for action in [
            Action::Status,
            Action::EnrollTotp,
            Action::NewRecovery,
            Action::EnrollKey,
        ] {
            round_trip(Request::Manage(Manage {
                version: VERSION,
                action,
                user: Some("alice".into()),
                locale: "nl_NL.UTF-8".into(),
                name: Some("blue".into()),
            }));
        }
        round_trip(Request::Manage(Manage {
            version: VERSION,
            action: Action::Status,
            user: None,
            locale: String::new(),
            name: None,
        }));
        round_trip(Reply::from(ManageReply::Status(Status {
            user: "alice".into(),
            totp: vec![
                TotpStatus {
                    name: "default".into(),
                    algorithm: "SHA1".into(),
                    digits: 6,
                    period: 30,
                    created: 1_700_000_000,
                    last_used: Some(1_700_000_030),
                },
                TotpStatus {
                    name: "work-phone".into(),
                    algorithm: "SHA256".into(),
                    digits: 8,
                    period: 60,
                    created: 1_700_000_100,
                    last_used: None,
                },
            ],
            recovery: Some(RecoveryStatus {
                unused: 9,
                created: 1_700_000_000,
            }),
            keys: vec![KeyStatus {
                name: "key-1".into(),
                algorithm: "ES256".into(),
                user_verification: "discouraged".into(),
                pin: false,
                sign_count: 7,
                created: 1_700_000_000,
            }],
            hotp: vec![HotpStatus {
                name: "fob".into(),
                digits: 6,
                counter: 42,
                created: 1_700_000_000,
            }],
            contact: Some("sms".into()),
            failures: 2,
            locked_until: None,
            last_success: Some(1_700_000_030),
            last_failure: None,
        })));
        round_trip(Reply::from(ManageReply::Status(Status::default())));
        // Without tokens the status is what earlier releases sent: no `hotp` key.
        let plain = String::from_utf8(
            encode(&Reply::from(ManageReply::Status(Status::default()))).unwrap()[4..].to_vec(),
        )
        .unwrap();
        assert!(!plain.contains("hotp"), "{plain}");
        round_trip(Reply::from(ManageReply::Done(Done::Success {
            message: "10 new recovery codes".into(),
        })));
        round_trip(Reply::from(ManageReply::Done(Done::Refused {
            message: "not admitted".into(),
        })));
        round_trip(Reply::from(ManageReply::Done(Done::Unavailable {
            message: String::new(),
        })));
    }

    #[test]
    fn the_self_service_wire_format_is_documented_json() {
        let frame = encode(&Request::Manage(Manage {
            version: 1,
            action: Action::NewRecovery,
            user: None,
            locale: String::new(),
            name: None,
        }))
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"type":"manage","version":1,"action":"new_recovery","user":null,"locale":""}"#
        );
        let frame = encode(&Request::Manage(Manage {
            version: 1,
            action: Action::EnrollKey,
            user: None,
            locale: String::new(),
            name: Some("blue".into()),
        }))
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"type":"manage","version":1,"action":"enroll_key","user":null,"locale":"","name":"blue"}"#
        );
        let frame = encode(&Reply::from(ManageReply::Done(Done::Refused {
            message: "no".into(),
        })))
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"type":"done","result":"refused","message":"no"}"#
        );
    }

    #[test]
    fn unknown_self_service_variants_are_refused() {
        for body in [
            &br#"{"type":"manage","version":1,"action":"delete_everything","user":null,"locale":""}"#[..],
            br#"{"type":"manage","version":1,"action":"status","user":null,"locale":"","uid":0}"#,
            br#"{"type":"manage","version":1,"action":"status"}"#,
            br#"{"type":"manage","version":1,"action":{"status":1},"user":null,"locale":""}"#,
        ] {
            assert!(
                matches!(decode::<Request>(body), Err(FrameError::Decode(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [
            &br#"{"type":"done","result":"maybe","message":""}"#[..],
            br#"{"type":"done","result":"success"}"#,
            br#"{"type":"status","user":"alice","secret":"JBSWY3DP"}"#,
        ] {
            assert!(
                matches!(decode::<Reply>(body), Err(FrameError::Decode(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_wire_format_is_documented_json() {
        let frame = encode(&Reply::from(LoginReply::Verdict {
            verdict: Verdict::Success,
            fail_delay_ms: 0,
        }))
        .unwrap();
        let body = r#"{"type":"verdict","verdict":"success","fail_delay_ms":0}"#;
        assert_eq!(&frame[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(std::str::from_utf8(&frame[4..]).unwrap(), body);
    }

    #[test]
    fn oversized_truncated_and_unknown_frames_are_refused() {
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_frame::<Request>(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            read_frame::<Request>(&mut &[][..]),
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame::<Request>(&mut &[0, 0][..]),
            Err(FrameError::Io(_))
        ));
        assert!(matches!(
            read_frame::<Request>(&mut &[0, 0, 0, 9, b'{'][..]),
            Err(FrameError::Io(_))
        ));
        for body in [
            &br#"{"type":"answer","text":"1","extra":1}"#[..],
            br#"{"type":"login"}"#,
            br#"{"type":"shutdown"}"#,
            b"\xff\xfe",
            b"",
        ] {
            assert!(
                matches!(decode::<Request>(body), Err(FrameError::Decode(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_combined_login_is_version_2_and_a_version_1_login_still_decodes() {
        for combined in [Combined::Split, Combined::Check] {
            round_trip(Request::Login(Login {
                version: VERSION,
                combined,
                ..Login::default()
            }));
        }
        // The field is left out when off: a separate login reads as version 1 did.
        let frame = encode(&Request::Login(Login::default())).unwrap();
        assert!(!std::str::from_utf8(&frame[4..])
            .unwrap()
            .contains("combined"));
        let v1 = br#"{"type":"login","version":1,"user":[97],"service":"sshd","rhost":"","tty":"","ruser":"","locale":"","ssh":[],"require_key":false,"silent":false,"debug":false}"#;
        let Ok(Request::Login(login)) = decode::<Request>(v1) else {
            panic!("a version 1 login must decode");
        };
        assert_eq!(login.combined, Combined::Off);
        let frame = encode(&Request::Login(Login {
            combined: Combined::Check,
            ..Login::default()
        }))
        .unwrap();
        assert!(std::str::from_utf8(&frame[4..])
            .unwrap()
            .ends_with(r#""debug":false,"combined":"check"}"#));
        assert!(decode::<Request>(
            br#"{"type":"login","version":2,"user":[],"service":"","rhost":"","tty":"","ruser":"","locale":"","ssh":[],"require_key":false,"silent":false,"debug":false,"combined":"maybe"}"#
        )
        .is_err());
        round_trip(Reply::from(LoginReply::Split {
            text: "Password and verification code: ".into(),
            digits: 6,
        }));
        let frame = encode(&Reply::from(LoginReply::Split {
            text: "P: ".into(),
            digits: 6,
        }))
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"type":"split","text":"P: ","digits":6}"#
        );
    }

    fn split(answer: &str, digits: u8) -> Option<(&str, &str)> {
        split_combined(answer.as_bytes(), digits).map(|cut| answer.split_at(cut))
    }

    #[test]
    fn the_code_is_cut_off_the_end_of_a_combined_answer() {
        for (answer, digits, want) in [
            ("hunter2123456", 6, ("hunter2", "123456")),
            // A password ending in digits keeps them: the code is the last six.
            ("Summer2024654321", 6, ("Summer2024", "654321")),
            ("pw12345678", 8, ("pw", "12345678")),
            ("pw1234567", 7, ("pw", "1234567")),
            ("a b c 123456", 6, ("a b c ", "123456")),
            ("x000000", 6, ("x", "000000")),
            // A recovery code as printed, whatever the code length.
            (
                "hunter2abcd-efgh-jkmn-pqrs",
                6,
                ("hunter2", "abcd-efgh-jkmn-pqrs"),
            ),
            ("pwABCD-EFGH-1234-5678", 8, ("pw", "ABCD-EFGH-1234-5678")),
            ("pw1234-5678-9012-3456", 6, ("pw", "1234-5678-9012-3456")),
        ] {
            assert_eq!(split(answer, digits), Some(want), "{answer:?} {digits}");
        }
    }

    #[test]
    fn no_code_no_split() {
        for (answer, digits) in [
            ("", 6),
            ("hunter2", 6),
            ("hunter12345", 6),
            // Only a code: no password before it.
            ("123456", 6),
            ("abcd-efgh-jkmn-pqrs", 6),
            ("hunter212345x", 6),
            ("pw123456 ", 6),
            ("pw1234567", 8),
            // A recovery code not in its printed form is not told from a password.
            ("pwabcdefghjkmnpqrs", 6),
            ("pwabcd efgh jkmn pqrs", 6),
            ("pwabcd-efgh-jkmn-pqr_", 6),
            ("pwabc-defgh-jkmn-pqrs", 6),
            // A code length the config cannot have splits nothing but a recovery code.
            ("pw12345", 5),
            ("pw123456789", 9),
            ("pw123456", 0),
        ] {
            assert_eq!(split(answer, digits), None, "{answer:?} {digits}");
        }
        assert_eq!(split_combined(b"\xff\xfe123456", 6), Some(2));
        assert_eq!(split_combined("pässwort123456".as_bytes(), 6), Some(9));
    }

    #[test]
    fn an_answer_never_shows_in_debug_output() {
        let a = Request::Answer {
            text: Some(Secret::new("424242")),
        };
        assert!(!format!("{a:?}").contains("424242"));
    }
}
