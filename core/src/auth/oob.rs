//! Asking for a code by SMS or e-mail at the code prompt.
//!
//! Invariant: the code is generated and its hash, expiry and the send are recorded
//! under the user's lock (so the rate limit holds across racing logins) before the
//! delivery command runs, outside the lock. Unknown, unenrolled and contact-less
//! users get the same answer, so the request does not tell them apart.

use crate::audit::Event;
use crate::error::Error;
use crate::i18n::{self, Msg};
use crate::oob::Delivery;
use crate::policy;
use crate::sent_code;
use crate::store::{Change, Store};
use crate::username::UserName;

use super::Env;

/// Whether an answer asks for a code instead of being one: empty, or `send`.
pub(super) fn is_request(answer: &[u8]) -> bool {
    let t = answer.trim_ascii();
    t.is_empty() || t.eq_ignore_ascii_case(b"send")
}

/// What the locked update decided.
enum Plan {
    Send {
        contact: crate::contact::Contact,
        code: zeroize::Zeroizing<String>,
    },
    NoContact,
    Locked,
    RateLimited(u64),
    NoRandom(crate::random::RandomError),
}

/// Sends a fresh code to the user's contact, telling the user what happened.
pub(super) fn send(
    store: &impl Store,
    user: &UserName,
    enrolled: bool,
    env: &mut Env<'_>,
) -> Result<(), Error> {
    let cfg = env.cfg;
    let lang = env.lang;
    let now = env.tick();
    let plan = if enrolled {
        reserve(store, user, now, env)?
    } else {
        Plan::NoContact
    };
    let refused = |env: &mut Env<'_>, msg: String, reason: String| {
        env.audit.log(&Event::OobRefused { user, reason });
        env.prompter.info(&msg)
    };
    match plan {
        Plan::NoContact => refused(
            env,
            i18n::text(lang, Msg::OobNoContact).to_owned(),
            "no enrollment or no phone number or e-mail address registered".to_owned(),
        ),
        Plan::Locked => refused(
            env,
            i18n::text(lang, Msg::OobNotSent).to_owned(),
            "the user is locked out".to_owned(),
        ),
        Plan::RateLimited(at) => refused(
            env,
            i18n::format(
                lang,
                Msg::OobRateLimited,
                &[&at.saturating_sub(now).div_ceil(60)],
            ),
            format!(
                "rate limit of {} per {} s reached",
                cfg.oob.max_sends, cfg.oob.per_seconds
            ),
        ),
        Plan::NoRandom(e) => Err(Error::Random(e)),
        Plan::Send { contact, code } => deliver(user, &contact, &code, env),
    }
}

/// The locked part: checks lockout and rate limit, makes the code and records its
/// hash and the send, all before anything leaves the machine.
fn reserve(
    store: &impl Store,
    user: &UserName,
    now: u64,
    env: &mut Env<'_>,
) -> Result<Plan, Error> {
    let cfg = env.cfg;
    let rng = &mut *env.rng;
    let plan = store.update(user, |current| {
        let Some(mut record) = current.filter(|r| r.has_factor()) else {
            return (Change::Keep, Plan::NoContact);
        };
        let Some(contact) = record.contact().cloned() else {
            return (Change::Keep, Plan::NoContact);
        };
        if policy::locked_until(record.state(), now).is_some() {
            return (Change::Keep, Plan::Locked);
        }
        if let Err(at) = sent_code::allow_send(record.oob_mut(), &cfg.oob, now) {
            return (Change::Keep, Plan::RateLimited(at));
        }
        match sent_code::new_code(cfg.oob.digits, cfg.oob.lifetime_seconds, now, rng) {
            Ok((code, pending)) => {
                record.oob_mut().pending = Some(pending);
                (Change::Write(record), Plan::Send { contact, code })
            }
            Err(e) => (Change::Keep, Plan::NoRandom(e)),
        }
    });
    Ok(plan.inspect_err(|error| env.store_failed(user, error))?)
}

/// Hands the code to the courier, outside the lock, and tells the user.
fn deliver(
    user: &UserName,
    contact: &crate::contact::Contact,
    code: &str,
    env: &mut Env<'_>,
) -> Result<(), Error> {
    let (cfg, lang) = (env.cfg, env.lang);
    let delivery = Delivery {
        user: user.as_str(),
        contact,
        code,
        lifetime: cfg.oob.lifetime_seconds,
        lang,
        host: env.session.host,
    };
    match env.courier.send(&delivery) {
        Ok(()) => {
            env.audit.log(&Event::OobSent {
                user,
                channel: contact.channel(),
                to: contact.masked(),
            });
            env.prompter.info(&i18n::format(
                lang,
                Msg::OobSent,
                &[&contact.masked(), &cfg.oob.lifetime_seconds.div_ceil(60)],
            ))
        }
        Err(e) => {
            env.audit.log(&Event::OobFailed {
                user,
                error: e.to_string(),
            });
            env.prompter.info(i18n::text(lang, Msg::OobNotSent))
        }
    }
}
