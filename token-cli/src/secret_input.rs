//! Reading a secret (a security key's PIN) from standard input.
//!
//! Invariant: on a terminal the typed text is not echoed, and echo is restored
//! whatever happens; the text is wiped from memory when dropped.

use std::io::{BufRead, IsTerminal, Write};

use nix::sys::termios::{self, LocalFlags, SetArg};
use zeroize::Zeroizing;

/// Prints `prompt` on stderr and reads one line without echo (empty at the end of
/// the input).
pub fn read_secret(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    Ok(read_answer(prompt)?.unwrap_or_else(|| Zeroizing::new(String::new())))
}

/// Like [`read_secret`], but `None` at the end of the input.
pub fn read_answer(prompt: &str) -> std::io::Result<Option<Zeroizing<String>>> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let saved = if stdin.is_terminal() {
        let saved = termios::tcgetattr(&stdin).map_err(std::io::Error::from)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(std::io::Error::from)?;
        Some(saved)
    } else {
        None
    };
    let mut line = Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    }
    eprintln!();
    if read? == 0 {
        return Ok(None);
    }
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    Ok(Some(trimmed))
}
