//! Helpers shared by the unit tests.
//!
//! Invariant: every scratch directory is removed when its guard drops, also when
//! the test panics.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::secure_fs::{effective_uid, Trust};

/// A private directory under the system temp dir, removed on drop.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A fresh directory with `mode`.
    pub(crate) fn new(mode: u32) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pam_mfa-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        Scratch(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `body` to `name` inside the directory with `mode`.
    pub(crate) fn write(&self, name: &str, body: &[u8], mode: u32) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Tests make the directory world-writable or swap it for links; undo first.
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o700));
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `rule` for files owned by whoever runs the tests.
pub(crate) fn owned_by_me(rule: Trust) -> Trust {
    rule.owned_by(effective_uid().unwrap())
}

/// Answers prompts from a script and remembers what it was asked.
pub(crate) struct Script {
    pub(crate) answers: Vec<Result<Vec<u8>, ()>>,
    pub(crate) asked: Vec<String>,
}

impl Script {
    pub(crate) fn answering(answer: &str) -> Script {
        Script::bytes(answer.as_bytes())
    }

    /// Answers the prompts with `answers`, in turn.
    pub(crate) fn lines(answers: &[&str]) -> Script {
        Script {
            answers: answers.iter().map(|a| Ok(a.as_bytes().to_vec())).collect(),
            asked: vec![],
        }
    }

    pub(crate) fn bytes(answer: &[u8]) -> Script {
        Script {
            answers: vec![Ok(answer.to_vec())],
            asked: vec![],
        }
    }
}

impl crate::auth::Prompter for Script {
    fn ask_hidden(
        &mut self,
        prompt: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, crate::error::Error> {
        self.asked.push(prompt.to_owned());
        match self.answers.remove(0) {
            Ok(a) => Ok(zeroize::Zeroizing::new(a)),
            Err(()) => Err(crate::error::Error::Conversation),
        }
    }

    fn info(&mut self, text: &str) -> Result<(), crate::error::Error> {
        self.asked.push(format!("INFO {text}"));
        Ok(())
    }
}
