//! The virtual FIDO2 key of tests/fido (a umockdev-emulated /dev/hidraw0 answered
//! by a Python responder), started per test and stopped on drop.
//!
//! Clients reach it by running with `LD_PRELOAD=libumockdev-preload.so.0` and
//! `UMOCKDEV_DIR`; the real hidraw code path of the release module and CLI runs
//! unchanged.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

pub struct VirtualKey {
    pub dir: PathBuf,
    /// What clients set UMOCKDEV_DIR to.
    pub umockdev_dir: String,
    child: Child,
}

impl VirtualKey {
    /// Starts a key whose state lives in `dir` (not under /tmp: clients get a
    /// private /tmp).
    pub fn start(dir: &Path) -> VirtualKey {
        require("umockdev-run", "umockdev");
        fs::create_dir_all(dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fido/virtual_key.py");
        let log = fs::File::create(dir.join("key.log")).unwrap();
        let child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the virtual key");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.join("ready").exists() {
            assert!(
                Instant::now() < deadline,
                "the virtual key did not start: {}",
                fs::read_to_string(dir.join("key.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let umockdev_dir = fs::read_to_string(dir.join("umockdev_dir"))
            .unwrap()
            .trim()
            .to_owned();
        VirtualKey {
            dir: dir.to_owned(),
            umockdev_dir,
            child,
        }
    }

    /// Sets the misbehaviour switches (tests/fido/README.md), e.g. `{"touch":"never"}`.
    pub fn behave(&self, json: &str) {
        let tmp = self.dir.join("behaviour.json.tmp");
        fs::write(&tmp, json).unwrap();
        fs::rename(tmp, self.dir.join("behaviour.json")).unwrap();
    }

    /// The key's log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("key.log")).unwrap_or_default()
    }
}

impl Drop for VirtualKey {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
