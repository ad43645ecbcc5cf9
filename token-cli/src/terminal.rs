//! The terminal as the activation journey's [`Prompter`] (`mfa-token enroll
//! totp`): the core's steps ([`mfa_core::activation`]) talk to the person at the
//! terminal through it, as they talk to a login's conversation at a login.
//!
//! Invariant: text goes to one stream (stdout, or stderr when stdout carries JSON);
//! each answer is one line of input without its line end, and must be UTF-8. Input
//! from a pipe is not echoed, so the prompt's line is ended here. An I/O error that
//! ends the conversation is kept for the command to report; the end of input is
//! not an error of its own (the journey ends unconfirmed).

use std::io::{BufRead, Write};

use zeroize::Zeroizing;

use mfa_core::auth::Prompter;
use mfa_core::error::Error;

pub struct Terminal<'a> {
    out: &'a mut dyn Write,
    input: &'a mut dyn BufRead,
    /// The input is a terminal, which echoes the line typed (and its line end).
    echoes: bool,
    failed: Option<std::io::Error>,
}

impl<'a> Terminal<'a> {
    pub fn new(out: &'a mut dyn Write, input: &'a mut dyn BufRead, echoes: bool) -> Self {
        Terminal {
            out,
            input,
            echoes,
            failed: None,
        }
    }

    /// The I/O error that ended the conversation, if one did.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.failed.take()
    }

    fn io<T>(&mut self, result: std::io::Result<T>) -> Result<T, Error> {
        result.map_err(|e| {
            self.failed = Some(e);
            Error::Conversation
        })
    }
}

impl Prompter for Terminal<'_> {
    fn ask_hidden(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let shown = write!(self.out, "{prompt}").and_then(|()| self.out.flush());
        self.io(shown)?;
        let mut line = Zeroizing::new(Vec::new());
        let read = self.input.read_until(b'\n', &mut line);
        let read = self.io(read)?;
        if !self.echoes {
            // No echo from a pipe: end the prompt's line ourselves.
            let ended = writeln!(self.out);
            self.io(ended)?;
        }
        if read == 0 {
            return Err(Error::Conversation);
        }
        while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            line.pop();
        }
        if std::str::from_utf8(&line).is_err() {
            let e = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            );
            return self.io(Err(e));
        }
        Ok(line)
    }

    fn info(&mut self, text: &str) -> Result<(), Error> {
        let written = writeln!(self.out, "{text}");
        self.io(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::activation;
    use mfa_core::i18n::Lang;
    use mfa_core::totp::{self, Params, Secret};

    const T0: u64 = 1_700_000_015;

    fn secret() -> Secret {
        Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap()
    }

    /// Runs the confirmation step on `input`: its result, the error kept, and what
    /// the terminal showed.
    fn confirm(input: &[u8], echoes: bool) -> (Result<Option<u64>, Error>, Option<String>, String) {
        let (mut out, mut input) = (Vec::new(), input);
        let mut t = Terminal::new(&mut out, &mut input, echoes);
        let r = activation::confirm(&mut t, Lang::En, &secret(), Params::DEFAULT, 1, &|| T0);
        let kept = t.take_error().map(|e| e.to_string());
        (r, kept, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_typed_line_confirms_with_dashes_spaces_and_crlf() {
        let code = totp::code_at(&secret(), Params::DEFAULT, T0 / 30);
        let typed = format!("12\n{} {}\r\n", &code[..3], &code[3..]);
        let (r, kept, shown) = confirm(typed.as_bytes(), false);
        assert_eq!(r.unwrap(), Some(T0 / 30));
        assert_eq!(kept, None);
        assert!(shown.starts_with("2. Type the 6-digit code"), "{shown}");
        assert!(shown.contains("Code shown by the app now: \n"), "{shown}");
        assert!(shown.contains("Tries left: 2."), "{shown}");
    }

    #[test]
    fn a_terminal_echoes_the_line_end_itself() {
        let (_, _, shown) = confirm(b"1\n", true);
        assert!(shown.ends_with("Code shown by the app now: "), "{shown:?}");
    }

    #[test]
    fn the_end_of_input_ends_the_conversation_without_an_io_error() {
        let (r, kept, _) = confirm(b"123456\n", false);
        assert!(matches!(r, Err(Error::Conversation)));
        assert_eq!(kept, None);
        let (r, kept, _) = confirm(b"", false);
        assert!(matches!(r, Err(Error::Conversation)));
        assert_eq!(kept, None);
    }

    #[test]
    fn input_that_is_not_utf8_is_an_io_error() {
        let (r, kept, _) = confirm(b"12\xff456\n", false);
        assert!(matches!(r, Err(Error::Conversation)));
        assert_eq!(kept.as_deref(), Some("stream did not contain valid UTF-8"));
    }

    #[test]
    fn three_wrong_codes_are_not_confirmed() {
        let (r, kept, _) = confirm(b"1\n2\n3\n", false);
        assert_eq!(r.unwrap(), None);
        assert_eq!(kept, None);
    }
}
