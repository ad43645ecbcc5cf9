//! The security-key step of a login.
//!
//! Invariant: each attempt uses a fresh random challenge; a verified assertion is
//! committed under the user's lock against the record as it is then (so a racing
//! login with a higher counter makes this one fail); an assertion that fails
//! verification counts as a failed attempt and ends the login; a key that gives no
//! answer (absent, no touch, wrong PIN, none of the credentials) only logs why and
//! lets the code prompt follow.

use zeroize::Zeroizing;

use super::{fail, Env, Verdict};
use crate::audit::{Event, Factor, Failure};
use crate::config::Config;
use crate::error::Error;
use crate::fido2::{verify, DeviceError, GetAssertion, KeyCredential, UserVerification};
use crate::i18n::Msg;
use crate::policy;
use crate::store::{Change, Record, Store};
use crate::username::UserName;

/// Tries the user's security keys. `None`: no answer from a key, go on with codes.
pub(super) fn attempt(
    store: &impl Store,
    user: &UserName,
    record: &Record,
    env: &mut Env<'_>,
) -> Result<Option<Verdict>, Error> {
    let cfg = env.cfg;
    let Some(mut device) = env.keys.open() else {
        env.audit.log(&Event::KeyUnavailable {
            user,
            reason: DeviceError::NoDevice.to_string(),
        });
        return Ok(None);
    };
    for creds in by_relying_party(record.keys()) {
        let force_uv = cfg.fido2.require_user_verification;
        let uv = force_uv
            || creds
                .iter()
                .any(|c| c.user_verification == UserVerification::Required);
        let pin = if creds.iter().any(|c| c.pin) {
            match ask_pin(user, env)? {
                Some(pin) => Some(pin),
                None => return Ok(None),
            }
        } else {
            None
        };
        env.prompter
            .info(cfg.prompt.text(env.lang, Msg::TouchKey))?;
        let mut challenge = [0u8; 32];
        env.rng.fill(&mut challenge).map_err(Error::Random)?;
        let request = GetAssertion {
            rp_id: &creds[0].rp_id,
            challenge,
            allow: creds.iter().map(|c| c.credential_id.clone()).collect(),
            pin,
            uv,
            timeout: std::time::Duration::from_secs(u64::from(cfg.fido2.timeout_seconds)),
        };
        let assertion = match device.get_assertion(&request) {
            Ok(a) => a,
            Err(DeviceError::NoCredentials) => continue,
            Err(e) => {
                env.audit.log(&Event::KeyUnavailable {
                    user,
                    reason: e.to_string(),
                });
                return Ok(None);
            }
        };
        let checked = verify::verify_assertion(&creds, &challenge, &assertion, force_uv);
        return settle(store, user, &creds, checked, env).map(Some);
    }
    env.audit.log(&Event::KeyUnavailable {
        user,
        reason: DeviceError::NoCredentials.to_string(),
    });
    Ok(None)
}

/// The credentials grouped by relying party, in registration order: credentials
/// made for different relying parties (imported ones keep theirs) need one request
/// each. No group is empty.
fn by_relying_party(keys: &[KeyCredential]) -> Vec<Vec<KeyCredential>> {
    let mut groups: Vec<Vec<KeyCredential>> = vec![];
    for k in keys {
        match groups.iter_mut().find(|g| g[0].rp_id == k.rp_id) {
            Some(group) => group.push(k.clone()),
            None => groups.push(vec![k.clone()]),
        }
    }
    groups
}

/// Asks for the key's PIN. `None` (logged): no PIN given, so no key step.
fn ask_pin(user: &UserName, env: &mut Env<'_>) -> Result<Option<Zeroizing<String>>, Error> {
    let answer = env
        .prompter
        .ask_hidden(env.cfg.prompt.text(env.lang, Msg::KeyPinPrompt))?;
    match String::from_utf8(answer.to_vec()) {
        Ok(p) if !p.is_empty() => Ok(Some(Zeroizing::new(p))),
        _ => {
            env.audit.log(&Event::KeyUnavailable {
                user,
                reason: "no PIN given".into(),
            });
            Ok(None)
        }
    }
}

/// Stores what a key's answer means: a verified assertion is committed, a
/// rejected one counts as a failure. The time is read now, after the touch, not
/// when the login began.
fn settle(
    store: &impl Store,
    user: &UserName,
    creds: &[KeyCredential],
    checked: Result<verify::Verified, verify::Rejection>,
    env: &mut Env<'_>,
) -> Result<Verdict, Error> {
    let cfg = env.cfg;
    let now = env.tick();
    let from = super::remember_at(env);
    match checked {
        Ok(v) => {
            let (id, name) = (&creds[v.index].credential_id, &creds[v.index].name);
            store.update(user, |current| {
                commit(cfg, current, id, name, v.sign_count, now, from)
            })
        }
        Err(rejection) => {
            env.audit.log(&Event::KeyRejected {
                user,
                reason: &rejection,
            });
            store.update(user, |current| match current {
                Some(r) => fail(cfg, r, Failure::KeyRejected, now),
                None => (Change::Keep, Verdict::Unenrolled),
            })
        }
    }
    .inspect_err(|error| env.store_failed(user, error))
    .map_err(Error::from)
}

/// The locked part of a verified assertion.
fn commit(
    cfg: &Config,
    current: Option<Record>,
    id: &[u8],
    name: &str,
    count: u32,
    now: u64,
    from: Option<std::net::IpAddr>,
) -> (Change, Verdict) {
    let mut record = match super::usable(current, now) {
        Ok(record) => record,
        Err(verdict) => return (Change::Keep, verdict),
    };
    let Some(key) = record.keys().iter().find(|k| k.credential_id == id) else {
        // Revoked while the user was touching it.
        return fail(cfg, record, Failure::KeyRejected, now);
    };
    // A login that raced this one may have stored a higher counter meanwhile.
    if !(key.sign_count == 0 && count == 0) && count <= key.sign_count {
        return fail(cfg, record, Failure::KeyRejected, now);
    }
    record.use_key(id, count);
    policy::on_success(record.state_mut(), now);
    if let Some(ip) = from {
        crate::grace::remember(record.state_mut(), ip, now);
    }
    (
        Change::Write(record),
        Verdict::Accepted(Factor::Key {
            name: name.to_owned(),
        }),
    )
}
