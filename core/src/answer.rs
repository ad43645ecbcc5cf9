//! What a user typed at a code prompt, in one form for every factor.
//!
//! Invariant: typed codes are normalised here and nowhere else, the same way for
//! TOTP, recovery, out-of-band and enrollment codes: surrounding spaces are
//! dropped, and so are spaces and dashes between characters (apps show "661 763",
//! printed recovery codes "abcd-efgh"); what remains is 1 to [`MAX_CODE`] ASCII
//! letters and digits. Anything else (longer input, other characters, a separator at
//! either end, bytes that are not UTF-8) is `None`: a wrong code.

use zeroize::Zeroizing;

/// The longest code after normalisation (recovery and 10-digit sent codes fit).
pub const MAX_CODE: usize = 32;

/// The longest input looked at, separators included.
pub const MAX_TYPED: usize = 128;

/// `typed` in canonical form, or `None` if it cannot be a code.
pub fn normalize(typed: &[u8]) -> Option<Zeroizing<String>> {
    if typed.len() > MAX_TYPED {
        return None;
    }
    let text = std::str::from_utf8(typed).ok()?.trim_matches(' ');
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut separated = false;
    for c in text.chars() {
        if c == ' ' || c == '-' {
            // Only between two characters of the code.
            if out.is_empty() {
                return None;
            }
            separated = true;
            continue;
        }
        if !c.is_ascii_alphanumeric() || out.len() == MAX_CODE {
            return None;
        }
        separated = false;
        out.push(c);
    }
    (!out.is_empty() && !separated).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(typed: &str) -> Option<String> {
        normalize(typed.as_bytes()).map(|s| s.to_string())
    }

    #[test]
    fn codes_as_apps_and_printouts_show_them_are_accepted() {
        for (typed, want) in [
            ("661763", "661763"),
            ("661 763", "661763"),
            ("661-763", "661763"),
            ("  661 763  ", "661763"),
            ("6 6 1 7 6 3", "661763"),
            ("abcd-efgh-ijkl", "abcdefghijkl"),
            ("ABCD efgh", "ABCDefgh"),
            ("1234  5678", "12345678"),
        ] {
            assert_eq!(norm(typed).as_deref(), Some(want), "{typed:?}");
        }
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for typed in [
            "",
            "   ",
            "-661763",
            "661763-",
            "661_763",
            "661.763",
            "661\n763",
            "661763\n",
            "\t661763",
            "66176３",
            &"1".repeat(MAX_CODE + 1),
            &format!("{}1", " ".repeat(MAX_TYPED)),
        ] {
            assert_eq!(norm(typed), None, "{typed:?}");
        }
        assert_eq!(normalize(b"66\xff1763"), None);
        assert_eq!(normalize(b"661\x00763"), None);
        assert!(norm(&"1".repeat(MAX_CODE)).is_some());
    }
}
