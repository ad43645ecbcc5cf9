//! The conversation with the user, relayed through the client: prompts answered
//! with [`Request::Answer`], information and error messages; and the language it
//! is held in.
//!
//! Invariant: every read of an answer has a bound ([`ANSWER`]); anything but an
//! answer ends the conversation as failed. Under PAM_SILENT information is
//! dropped, never the prompts.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use mfa_core::auth::Prompter;
use mfa_core::error::Error;
use mfa_core::i18n::Lang;
use mfa_proto::{read_frame, write_frame, LoginReply, Reply, Request};

/// How long the user may take to answer a prompt (scan a QR code, wait for a text).
const ANSWER: Duration = Duration::from_secs(300);

/// The language of the messages: the client's locale, else the system's.
pub(crate) fn language(locale: &str) -> Lang {
    if !locale.is_empty() {
        return Lang::from_locale(locale);
    }
    let system = std::fs::read_to_string("/etc/default/locale").unwrap_or_default();
    Lang::from_locale_file(&system)
}

/// The conversation, relayed through the client to the user.
pub(crate) struct SocketPrompter<'a> {
    stream: &'a UnixStream,
    silent: bool,
    /// When the last answer came (refusals are paced from there).
    pub answered: Option<Instant>,
}

impl<'a> SocketPrompter<'a> {
    pub fn new(stream: &'a UnixStream, silent: bool) -> SocketPrompter<'a> {
        SocketPrompter {
            stream,
            silent,
            answered: None,
        }
    }

    fn show(&mut self, reply: LoginReply) -> Result<(), Error> {
        if self.silent {
            return Ok(());
        }
        let mut stream = self.stream;
        write_frame(&mut stream, &Reply::Login(reply)).map_err(|_| Error::Conversation)?;
        // Some applications wait for the user to dismiss a message.
        let _ = self.stream.set_read_timeout(Some(ANSWER));
        match read_frame::<Request>(&mut stream) {
            Ok(Request::Shown { ok: true }) => Ok(()),
            _ => Err(Error::Conversation),
        }
    }
}

impl Prompter for SocketPrompter<'_> {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut stream = self.stream;
        write_frame(
            &mut stream,
            &Reply::Login(LoginReply::Prompt {
                text: prompt.to_owned(),
            }),
        )
        .map_err(|_| Error::Conversation)?;
        let _ = self.stream.set_read_timeout(Some(ANSWER));
        let answer = match read_frame::<Request>(&mut stream) {
            Ok(Request::Answer { text: Some(text) }) => {
                Zeroizing::new(text.expose().as_bytes().to_vec())
            }
            _ => return Err(Error::Conversation),
        };
        self.answered = Some(Instant::now());
        Ok(answer)
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        self.show(LoginReply::Info {
            text: text.to_owned(),
        })
    }

    fn error(&mut self, text: &str) -> Result<(), Error> {
        self.show(LoginReply::Error {
            text: text.to_owned(),
        })
    }

    fn silent(&self) -> bool {
        self.silent
    }
}
