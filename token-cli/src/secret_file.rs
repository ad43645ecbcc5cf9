//! The TOTP key given with `--secret-file PATH|-`, never on the command line (where
//! every user sees it in /proc and the shell keeps it in its history).
//!
//! Invariant: a file is read only if it is a regular file, not a symbolic link
//! (`O_NOFOLLOW`), owned by root (the caller: the command needs root) and with no
//! access at all for group or others: a key others can read is already leaked, so
//! that is refused, not warned about. From standard input one line is read (later
//! lines are left for the code prompt); on a terminal it is typed without echo.
//! Both are bounded by [`MAX_BYTES`] and wiped from memory when dropped.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::secure_fs::{self, Trust};
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::secret_input;

/// More than any base32 key or otpauth URI we accept.
pub const MAX_BYTES: u64 = 4096;

/// Reads the key text from `path`, or from standard input when `path` is `-`.
pub fn read(path: &Path, lang: Lang) -> Result<Zeroizing<String>, CliError> {
    read_asking(path, lang, Msg::SecretPrompt)
}

/// [`read`], asking with `prompt` when the key is typed on a terminal.
pub fn read_asking(path: &Path, lang: Lang, prompt: Msg) -> Result<Zeroizing<String>, CliError> {
    if path == Path::new("-") {
        return read_stdin(lang, prompt);
    }
    let bytes =
        secure_fs::read_file(path, Trust::ROOT_PRIVATE, MAX_BYTES).map_err(CliError::File)?;
    key_text(&bytes).map_err(|why| CliError::ReadFile(path.to_owned(), why.to_owned()))
}

fn read_stdin(lang: Lang, prompt: Msg) -> Result<Zeroizing<String>, CliError> {
    let name = || PathBuf::from("standard input");
    let stdin = std::io::stdin();
    let bytes = if stdin.is_terminal() {
        let typed = secret_input::read_secret(i18n::text(lang, prompt)).map_err(CliError::Input)?;
        Zeroizing::new(typed.as_bytes().to_vec())
    } else {
        // One line only, through the process-wide buffer: what follows is the
        // answer to the code prompt.
        let mut line = Zeroizing::new(Vec::new());
        stdin
            .lock()
            .take(MAX_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(CliError::Input)?;
        if line.len() as u64 > MAX_BYTES {
            return Err(CliError::ReadFile(
                name(),
                format!("longer than the limit of {MAX_BYTES} bytes"),
            ));
        }
        line
    };
    key_text(&bytes).map_err(|why| CliError::ReadFile(name(), why.to_owned()))
}

/// The key text in `bytes`: UTF-8, one line, surrounding white space (the trailing
/// newline) removed, not empty.
fn key_text(bytes: &[u8]) -> Result<Zeroizing<String>, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text")?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty: expected a base32 key or an otpauth:// URI");
    }
    if text.contains(['\n', '\r']) {
        return Err("more than one line: expected only a base32 key or an otpauth:// URI");
    }
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailing_newline_and_surrounding_blanks_are_trimmed() {
        for input in [
            &b"JBSWY3DPEHPK3PXP"[..],
            b"JBSWY3DPEHPK3PXP\n",
            b"JBSWY3DPEHPK3PXP\r\n",
            b"  JBSWY3DPEHPK3PXP \n\n",
        ] {
            assert_eq!(key_text(input).unwrap().as_str(), "JBSWY3DPEHPK3PXP");
        }
        assert_eq!(
            key_text(b"jbsw y3dp ehpk 3pxp\n").unwrap().as_str(),
            "jbsw y3dp ehpk 3pxp",
            "inner spaces are the base32 parser's business"
        );
    }

    #[test]
    fn empty_several_lines_and_binary_are_refused() {
        for input in [
            &b""[..],
            b"\n",
            b"  \r\n",
            b"JBSWY3DP\nEHPK3PXP\n",
            b"\xff\xfe",
        ] {
            assert!(key_text(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("mfa-token-key-{}", std::process::id()));
        std::fs::write(&path, b"JBSWY3DPEHPK3PXP\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read(&path, Lang::En);
        let _ = std::fs::remove_file(&path);
        match refused {
            // As root the mode is what is wrong; as another user, the owner too.
            Err(CliError::File(e)) => {
                let text = e.to_string();
                assert!(
                    text.contains("insecure") || text.contains("must be owned by uid 0"),
                    "{text}"
                );
            }
            other => panic!("{:?}", other.map(|_| "read")),
        }
    }
}
