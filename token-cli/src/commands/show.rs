//! `mfa-token list` (the factors) and `status` (the factors and the login state).
//! Neither ever shows a secret or a code. Every authenticator app is shown with
//! its name, in enrollment order (in the JSON forms `totp_apps` lists them and
//! `totp` is the first, as before there were several).

use serde::Serialize;

use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::store::{Record, Store};
use mfa_core::username::UserName;

use crate::cli::{ListArgs, UserJson};
use crate::context::{Account, Context};
use crate::error::CliError;
use mfa_core::auth::manage;
use mfa_core::date::utc;
use mfa_proto::{HotpStatus, RecoveryStatus, TotpStatus};

#[derive(Serialize)]
struct Factors<'a> {
    user: &'a str,
    /// The first app, in the shape `totp` had before there were several, so the
    /// scripts that read it keep working; every app is in `totp_apps`.
    totp: Option<TotpStatus>,
    totp_apps: Vec<TotpStatus>,
    recovery: Option<RecoveryStatus>,
    keys: Vec<KeyInfo>,
    hotp: Vec<HotpStatus>,
    contact: Option<ContactInfo>,
}

#[derive(Serialize)]
struct ContactInfo {
    channel: &'static str,
    address: String,
    verified: Option<u64>,
}

#[derive(Serialize)]
struct KeyInfo {
    name: String,
    algorithm: &'static str,
    credential_id: String,
    rp_id: String,
    user_verification: &'static str,
    pin: bool,
    sign_count: u32,
    created: u64,
}

#[derive(Serialize)]
struct Status<'a> {
    #[serde(flatten)]
    factors: Factors<'a>,
    failures: u32,
    locked_until: Option<u64>,
    last_success: Option<u64>,
    last_failure: Option<u64>,
}

fn load(ctx: &Context, name: &str) -> Result<(UserName, Record), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let user = ctx.user(name, Account::MayBeGone, &store)?;
    let record = store.read(&user)?.unwrap_or_default();
    Ok((user, record))
}

fn factors<'a>(user: &'a str, record: &Record) -> Factors<'a> {
    let apps = manage::apps(record);
    Factors {
        user,
        totp: apps.first().cloned(),
        totp_apps: apps,
        recovery: manage::recovery(record),
        keys: record
            .keys()
            .iter()
            .map(|k| KeyInfo {
                name: k.name.clone(),
                algorithm: k.public_key.algorithm().name(),
                credential_id: mfa_core::fido2::cose::id_to_text(&k.credential_id),
                rp_id: k.rp_id.clone(),
                user_verification: k.user_verification.name(),
                pin: k.pin,
                sign_count: k.sign_count,
                created: k.created,
            })
            .collect(),
        hotp: manage::tokens(record),
        contact: record.contact().map(|c| ContactInfo {
            channel: c.channel().name(),
            address: c.address().to_owned(),
            verified: c.verified(),
        }),
    }
}

fn print_json(value: &impl Serialize) {
    // Plain structs of numbers and strings always serialize.
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A user's own status (through pam_mfad) as JSON, in the shape of root's
/// `status --json`: `totp` the first app, `totp_apps` every app.
pub(crate) fn print_status_json(s: &mfa_proto::Status) {
    #[derive(Serialize)]
    struct Own<'a> {
        user: &'a str,
        totp: Option<&'a TotpStatus>,
        totp_apps: &'a [TotpStatus],
        recovery: &'a Option<RecoveryStatus>,
        keys: &'a [mfa_proto::KeyStatus],
        #[serde(skip_serializing_if = "<[HotpStatus]>::is_empty")]
        hotp: &'a [HotpStatus],
        contact: &'a Option<String>,
        failures: u32,
        locked_until: Option<u64>,
        last_success: Option<u64>,
        last_failure: Option<u64>,
    }
    print_json(&Own {
        user: &s.user,
        totp: s.totp.first(),
        totp_apps: &s.totp,
        recovery: &s.recovery,
        keys: &s.keys,
        hotp: &s.hotp,
        contact: &s.contact,
        failures: s.failures,
        locked_until: s.locked_until,
        last_success: s.last_success,
        last_failure: s.last_failure,
    });
}

/// Prints the factors of `s` (as a user's self-service status holds them), then
/// `contact` (root's view adds the address); false if there are none.
pub(crate) fn print_factors(lang: Lang, s: &mfa_proto::Status, contact: &dyn Fn()) -> bool {
    let m = |msg: Msg, args: &[&dyn std::fmt::Display]| i18n::format(lang, msg, args);
    if s.totp.is_empty() && s.recovery.is_none() && s.keys.is_empty() && s.hotp.is_empty() {
        println!("{}", m(Msg::NothingEnrolled, &[&s.user]));
        contact();
        return false;
    }
    println!("{}", s.user);
    // One line per factor, indented under the user.
    let item = |msg: Msg, args: &[&dyn std::fmt::Display]| println!("  {}", m(msg, args));
    for t in &s.totp {
        let name = format!("{:?}", t.name);
        let created = utc(t.created);
        item(
            Msg::ListTotp,
            &[&name, &t.algorithm, &t.digits, &t.period, &created],
        );
        if let Some(used) = t.last_used {
            println!("    {}", m(Msg::ListLastStep, &[&utc(used)]));
        }
    }
    if let Some(r) = &s.recovery {
        item(Msg::ListRecovery, &[&r.unused, &utc(r.created)]);
    }
    for k in &s.keys {
        let pin = if k.pin {
            i18n::text(lang, Msg::WordPin)
        } else {
            ""
        };
        let name = format!("{:?}", k.name);
        let (uv, created) = (&k.user_verification, utc(k.created));
        item(
            Msg::ListKey,
            &[&name, &k.algorithm, uv, &pin, &k.sign_count, &created],
        );
    }
    for t in &s.hotp {
        let name = format!("{:?}", t.name);
        item(
            Msg::ListHotp,
            &[&name, &t.digits, &t.counter, &utc(t.created)],
        );
    }
    contact();
    true
}

/// Prints the login state of `s`: last success and failure, failures, lockout.
pub(crate) fn print_state(lang: Lang, s: &mfa_proto::Status) {
    let m = |msg: Msg, args: &[&dyn std::fmt::Display]| i18n::format(lang, msg, args);
    if let Some(t) = s.last_success {
        println!("  {}", m(Msg::ListLastSuccess, &[&utc(t)]));
    }
    if let Some(t) = s.last_failure {
        println!("  {}", m(Msg::StatusLastFailure, &[&utc(t)]));
    }
    println!("  {}", m(Msg::ListFailures, &[&s.failures]));
    match s.locked_until {
        Some(until) => println!("  {}", m(Msg::ListLocked, &[&utc(until)])),
        None => println!("  {}", m(Msg::StatusNotLocked, &[])),
    }
}

fn print_contact(ctx: &Context, f: &Factors<'_>) {
    let lang = ctx.lang;
    if let Some(c) = &f.contact {
        let verified = match c.verified {
            Some(t) => i18n::format(lang, Msg::WordVerified, &[&utc(t)]),
            None => i18n::text(lang, Msg::WordUnverified).to_owned(),
        };
        println!(
            "  {}",
            i18n::format(lang, Msg::ListContact, &[&c.channel, &c.address, &verified])
        );
    }
}

pub fn list(ctx: &Context, args: &ListArgs) -> Result<(), CliError> {
    if args.all {
        return list_all(ctx, args.json);
    }
    let name = args.user.as_deref().ok_or(CliError::NoUser)?;
    let (user, record) = load(ctx, name)?;
    let name = user.to_string();
    let f = factors(&name, &record);
    if args.json {
        print_json(&f);
    } else {
        let s = mfa_core::auth::manage::status(&user, &record, ctx.now());
        print_factors(ctx.lang, &s, &|| print_contact(ctx, &f));
    }
    Ok(())
}

/// `list --all`: every user with a record (fleet-wide with the postgres backend).
/// A record that cannot be read is reported and the others are still listed.
fn list_all(ctx: &Context, json: bool) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let mut records = Vec::new();
    let mut left_out = 0;
    for user in store.users()? {
        match store.read(&user) {
            Ok(Some(record)) => records.push((user, record)),
            Ok(None) => {}
            Err(e) => {
                eprintln!("mfa-token: {e}");
                left_out += 1;
            }
        }
    }
    let names: Vec<String> = records.iter().map(|(u, _)| u.to_string()).collect();
    if json {
        let all: Vec<Factors<'_>> = records
            .iter()
            .zip(&names)
            .map(|((_, record), name)| factors(name, record))
            .collect();
        print_json(&all);
    } else if records.is_empty() {
        println!(
            "{}",
            i18n::format(ctx.lang, Msg::ListNobody, &[&store.describe()])
        );
    }
    if !json {
        let now = ctx.now();
        for ((user, record), name) in records.iter().zip(&names) {
            let f = factors(name, record);
            let s = mfa_core::auth::manage::status(user, record, now);
            print_factors(ctx.lang, &s, &|| print_contact(ctx, &f));
        }
    }
    if left_out > 0 {
        return Err(CliError::LeftOut(left_out));
    }
    Ok(())
}

pub fn status(ctx: &Context, args: &UserJson) -> Result<(), CliError> {
    let (user, record) = load(ctx, args.user.required()?)?;
    let now = ctx.now();
    let name = user.to_string();
    let s = Status {
        factors: factors(&name, &record),
        failures: record.state().failures,
        locked_until: (record.state().locked_until > now).then_some(record.state().locked_until),
        last_success: record.state().last_success,
        last_failure: record.state().last_failure,
    };
    if args.json {
        print_json(&s);
        return Ok(());
    }
    let shown = mfa_core::auth::manage::status(&user, &record, now);
    if print_factors(ctx.lang, &shown, &|| print_contact(ctx, &s.factors)) {
        print_state(ctx.lang, &shown);
    }
    Ok(())
}
