//! Security keys on USB HID (hidraw), through ctap-hid-fido2.
//!
//! Invariant: no call into a device lasts longer than the caller's deadline.
//! ctap-hid-fido2 has no timeout of its own (a key that never answers blocks its
//! read forever), so every operation runs on a worker thread; when the deadline
//! passes we send CTAPHID_CANCEL on the operation's channel through a second handle
//! and give up. A worker stuck on a key that ignores even the cancel stays blocked
//! in read(2) until the process ends; the PAM hook pins the module in memory first
//! so that such a thread never outlives the code it runs. Nothing is printed: the
//! crate's keep-alive message and log are off, and panics of the worker thread are
//! kept off stderr.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::mpsc;
use std::sync::Once;
use std::time::Duration;

use ctap_hid_fido2::fidokey::get_assertion::get_assertion_params::GetAssertionArgs;
use ctap_hid_fido2::fidokey::{CredentialSupportedKeyType, MakeCredentialArgsBuilder};
use ctap_hid_fido2::{FidoKeyHid, FidoKeyHidFactory, HidParam, LibCfg};

use super::cose::Algorithm;
use super::{
    Assertion, Attestation, Authenticator, DeviceError, DeviceInfo, GetAssertion, KeyInfo,
    MakeCredential,
};

/// The worker threads' name; panics on them stay quiet.
const WORKER: &str = "pam_mfa-fido2";
/// How long a cancelled operation may take to wind down before we stop waiting.
const CANCEL_GRACE: Duration = Duration::from_millis(500);
/// Opening a device and CTAPHID_INIT; a key that does not even answer INIT within
/// this is treated as absent.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// The FIDO devices present (by HID usage page 0xF1D0).
pub fn devices() -> Vec<DeviceInfo> {
    quiet_worker_panics();
    // Enumeration reads sysfs only, but hidapi may still call into the C library;
    // keep it on the caller's thread: it does not talk to keys.
    ctap_hid_fido2::get_fidokey_devices()
        .into_iter()
        .filter_map(|d| match d.param {
            HidParam::Path(path) => Some(DeviceInfo {
                path,
                product: d.product_string,
            }),
            HidParam::VidPid { .. } => None,
        })
        .collect()
}

/// A key at one hidraw path.
#[derive(Debug, Clone)]
pub struct HidAuthenticator {
    path: String,
}

impl HidAuthenticator {
    /// The key at `path`, or the only key present.
    pub fn open(path: Option<&str>) -> Result<HidAuthenticator, DeviceError> {
        if let Some(p) = path {
            return Ok(HidAuthenticator { path: p.to_owned() });
        }
        let mut found = devices();
        match found.len() {
            0 => Err(DeviceError::NoDevice),
            1 => Ok(HidAuthenticator {
                path: found.remove(0).path,
            }),
            _ => Err(DeviceError::SeveralDevices),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

fn cfg() -> LibCfg {
    let mut cfg = LibCfg::init();
    cfg.enable_log = false;
    cfg.enable_keep_alive_msg = false;
    cfg.keep_alive_msg = String::new();
    cfg
}

/// Classifies ctap-hid-fido2's error text (it reports CTAP status bytes there).
fn classify(e: &dyn std::fmt::Display) -> DeviceError {
    let text = e.to_string();
    if text.contains("0x2E") {
        DeviceError::NoCredentials
    } else if text.contains("PIN")
        || text.contains("0x31")
        || text.contains("0x36")
        || text.contains("pin")
    {
        DeviceError::Pin(text)
    } else {
        DeviceError::Protocol(text)
    }
}

fn quiet_worker_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(WORKER) {
                previous(info);
            }
        }));
    });
}

/// CTAPHID_CANCEL for channel `cid`, written through a second handle.
fn send_cancel(path: &str, cid: [u8; 4]) {
    let mut report = [0u8; 65];
    // Report id 0, then CID, CMD = CANCEL (0x11 | 0x80), BCNT = 0.
    report[1..5].copy_from_slice(&cid);
    report[5] = 0x91;
    if let Ok(mut dev) = OpenOptions::new().write(true).open(path) {
        let _ = dev.write_all(&report);
    }
}

/// Runs `op` on a fresh handle to `path` on a worker thread, within `timeout`.
fn run<T: Send + 'static>(
    path: &str,
    timeout: Duration,
    op: impl FnOnce(&FidoKeyHid) -> Result<T, DeviceError> + Send + 'static,
) -> Result<T, DeviceError> {
    quiet_worker_panics();
    let (cid_tx, cid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let worker_path = path.to_owned();
    std::thread::Builder::new()
        .name(WORKER.to_owned())
        .spawn(move || {
            let key =
                match FidoKeyHidFactory::create_by_params(&[HidParam::Path(worker_path)], &cfg()) {
                    Ok(k) => k.with_pin_protocol_version(2),
                    Err(_) => {
                        let _ = tx.send(Err(DeviceError::NoDevice));
                        return;
                    }
                };
            match key.get_cid() {
                Ok(cid) => {
                    let _ = cid_tx.send(cid);
                }
                Err(e) => {
                    let _ = tx.send(Err(DeviceError::Protocol(e.to_string())));
                    return;
                }
            }
            let _ = tx.send(op(&key));
        })
        .map_err(|e| DeviceError::Protocol(format!("cannot start the device thread: {e}")))?;
    let cid = match cid_rx.recv_timeout(timeout.min(OPEN_TIMEOUT)) {
        Ok(cid) => cid,
        // No channel: the worker failed to open the device (its error is waiting)
        // or the key does not answer CTAPHID_INIT.
        Err(_) => {
            return Err(rx
                .try_recv()
                .ok()
                .and_then(Result::err)
                .unwrap_or(DeviceError::Timeout))
        }
    };
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            send_cancel(path, cid);
            let _ = rx.recv_timeout(CANCEL_GRACE);
            Err(DeviceError::Timeout)
        }
        // The worker panicked (kept quiet): a key whose answer broke the parser.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(DeviceError::Protocol("malformed answer".into()))
        }
    }
}

impl Authenticator for HidAuthenticator {
    fn info(&mut self) -> Result<KeyInfo, DeviceError> {
        run(&self.path, OPEN_TIMEOUT, |key| {
            let info = key.get_info().map_err(|e| classify(&e))?;
            let opt = |name: &str| info.options.iter().any(|(n, v)| n == name && *v);
            Ok(KeyInfo {
                pin_set: opt("clientPin"),
                uv: opt("uv"),
            })
        })
    }

    fn make_credential(&mut self, req: &MakeCredential<'_>) -> Result<Attestation, DeviceError> {
        let rp_id = req.rp_id.to_owned();
        let challenge = req.challenge;
        let pin = req.pin.clone();
        let uv = req.uv;
        let exclude = req.exclude.clone();
        let key_types: Vec<CredentialSupportedKeyType> = req
            .algorithms
            .iter()
            .map(|a| match a {
                Algorithm::Es256 => CredentialSupportedKeyType::Ecdsa256,
                Algorithm::EdDsa => CredentialSupportedKeyType::Ed25519,
            })
            .collect();
        run(&self.path, req.timeout, move |key| {
            let mut b = MakeCredentialArgsBuilder::new(&rp_id, &challenge);
            b = match pin.as_deref() {
                Some(p) => b.pin(p),
                None if uv => b,
                None => b.without_pin_and_uv(),
            };
            for t in key_types {
                b = b.key_type(t);
            }
            for id in &exclude {
                b = b.exclude_authenticator(id);
            }
            let att = key
                .make_credential_with_args(&b.build())
                .map_err(|e| classify(&e))?;
            Ok(Attestation {
                auth_data: att.auth_data,
            })
        })
    }

    fn get_assertion(&mut self, req: &GetAssertion<'_>) -> Result<Assertion, DeviceError> {
        let rp_id = req.rp_id.to_owned();
        let challenge = req.challenge;
        let pin = req.pin.clone();
        let uv = req.uv;
        let allow = req.allow.clone();
        run(&self.path, req.timeout, move |key| {
            let args = GetAssertionArgs {
                rpid: rp_id,
                challenge: challenge.to_vec(),
                pin: pin.as_deref().map(String::as_str),
                credential_ids: allow,
                // Always ask for a touch: a login is a user's decision.
                up: true,
                uv: if pin.is_some() {
                    None
                } else {
                    uv.then_some(true)
                },
                extensions: None,
            };
            let mut all = key
                .get_assertion_with_args(&args)
                .map_err(|e| classify(&e))?;
            let a = all
                .pop()
                .ok_or_else(|| DeviceError::Protocol("no assertion".into()))?;
            Ok(Assertion {
                credential_id: a.credential_id,
                auth_data: a.auth_data,
                signature: a.signature,
            })
        })
    }
}
