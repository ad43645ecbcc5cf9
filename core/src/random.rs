//! Randomness, passed to whoever needs it so that decision code stays testable.
//!
//! Invariant: production code only ever uses [`OsRandom`], the kernel's CSPRNG
//! (getrandom(2)); a failure to get random bytes is an error, never a weaker fallback.

use std::fmt;

/// The RNG could not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RandomError {
    /// getrandom(2) failed (no entropy source, or a seccomp filter refused it).
    Os(getrandom::Error),
}

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RandomError::Os(e) => write!(f, "no random bytes from the operating system: {e}"),
        }
    }
}

impl std::error::Error for RandomError {}

/// A source of random bytes.
pub trait Random {
    /// Fills `buf` entirely.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(RandomError::Os)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_fills_and_differs() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsRandom.fill(&mut a).unwrap();
        OsRandom.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
