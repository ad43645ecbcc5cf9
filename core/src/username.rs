//! User names as they reach the store.
//!
//! Invariant: a [`UserName`] can be used as a single path component inside the store
//! directory without escaping it: it is 1 to [`MAX_LEN`] bytes of ASCII letters,
//! digits and `. _ - @ $`, does not start with `.` or `-`, and is never `.` or `..`.
//! Names from LDAP or winbind that need other characters are refused, not mangled.

use std::fmt;

/// The longest name whose store files fit a file name (NAME_MAX, 255 bytes): the
/// longest of them is the lock, `.NAME.lock`, 6 bytes more than the name.
pub const MAX_LEN: usize = 255 - ".".len() - ".lock".len();

/// A validated user name (see the module invariant).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);

/// Why a user name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_LEN`] bytes.
    TooLong(usize),
    /// The name starts with `.` or `-` (hidden files, options).
    BadStart,
    /// The name contains a byte outside the allowed set (`/`, NUL, controls, ...).
    BadChar,
}

impl fmt::Display for UserNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "user name is empty"),
            Self::TooLong(n) => write!(f, "user name is {n} bytes long (at most {MAX_LEN})"),
            Self::BadStart => write!(f, "user name starts with '.' or '-'"),
            Self::BadChar => write!(
                f,
                "user name contains a character other than letters, digits and . _ - @ $"
            ),
        }
    }
}

impl std::error::Error for UserNameError {}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'$')
}

impl UserName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, UserNameError> {
        Self::from_bytes(name.as_bytes())
    }

    /// Validates raw bytes as they come from PAM (which promises no encoding).
    pub fn from_bytes(name: &[u8]) -> Result<Self, UserNameError> {
        let first = *name.first().ok_or(UserNameError::Empty)?;
        if name.len() > MAX_LEN {
            return Err(UserNameError::TooLong(name.len()));
        }
        if !name.iter().copied().all(allowed) {
            return Err(UserNameError::BadChar);
        }
        // A leading '.' also rules out "." and "..".
        if first == b'.' || first == b'-' {
            return Err(UserNameError::BadStart);
        }
        // Every byte is ASCII, so this cannot fail.
        let s = std::str::from_utf8(name).map_err(|_| UserNameError::BadChar)?;
        Ok(Self(s.to_owned()))
    }

    /// The name itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "alice",
            "bob.smith",
            "svc_backup",
            "user-1",
            "alice@example.com",
            "host$",
            "a",
        ] {
            assert_eq!(
                UserName::new(name).map(|u| u.to_string()),
                Ok(name.to_owned())
            );
        }
    }

    #[test]
    fn names_that_could_escape_the_store_are_refused() {
        let cases: &[(&[u8], UserNameError)] = &[
            (b"", UserNameError::Empty),
            (b".", UserNameError::BadStart),
            (b"..", UserNameError::BadStart),
            (b".hidden", UserNameError::BadStart),
            (b"-rf", UserNameError::BadStart),
            (b"../etc/shadow", UserNameError::BadChar),
            (b"a/b", UserNameError::BadChar),
            (b"a/../../b", UserNameError::BadChar),
            (b"a\0b", UserNameError::BadChar),
            (b"a\nb", UserNameError::BadChar),
            (b"a\x1bb", UserNameError::BadChar),
            (b"a b", UserNameError::BadChar),
            (b"caf\xc3\xa9", UserNameError::BadChar),
            (b"\xff", UserNameError::BadChar),
        ];
        for (name, want) in cases {
            assert_eq!(
                UserName::from_bytes(name).as_ref().err(),
                Some(want),
                "{name:?}"
            );
        }
    }

    #[test]
    fn length_is_bounded() {
        assert!(UserName::new(&"a".repeat(MAX_LEN)).is_ok());
        assert_eq!(
            UserName::new(&"a".repeat(MAX_LEN + 1)).err(),
            Some(UserNameError::TooLong(MAX_LEN + 1))
        );
    }
}
