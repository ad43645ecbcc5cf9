//! `mfa-token enroll key`: registers a FIDO2 security key. The credential is made
//! for the configured RP ID and checked (RP ID hash, presence, verification when
//! required) before it is stored.

use serde_json::json;
use zeroize::Zeroizing;

use mfa_core::fido2::cose::Algorithm;
use mfa_core::fido2::hid::{self, HidAuthenticator};
use mfa_core::fido2::{
    self, Authenticator, DeviceError, KeyCredential, MakeCredential, UserVerification,
};
use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::random::{OsRandom, Random};
use mfa_core::store::{Record, Store};
use mfa_core::username::UserName;

use super::record_add::add_to_record;
use crate::audit;
use crate::cli::{EnrollKey, KeyAlgorithmArg, VerificationArg};
use crate::context::{Account, Context};
use crate::error::CliError;
use crate::secret_input::read_secret;

pub fn run(ctx: &Context, args: &EnrollKey) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, true)?;
    let user = ctx.user(args.user.required()?, Account::MustExist, &store)?;
    let existing = store.read(&user)?.unwrap_or_default();
    let name = free_name(&existing, &user, args.name.as_deref())?;
    let mut device = open_device(ctx.lang, args.device.as_deref())?;
    let info = device.info().map_err(CliError::Device)?;
    let user_verification = match args.user_verification {
        VerificationArg::Required => UserVerification::Required,
        VerificationArg::Preferred => UserVerification::Preferred,
        VerificationArg::Discouraged => UserVerification::Discouraged,
    };
    let pin = read_pin(ctx.lang, args.pin, user_verification, info.uv)?;
    let algorithms: &[Algorithm] = match args.algorithm {
        Some(KeyAlgorithmArg::Eddsa) => &[Algorithm::EdDsa, Algorithm::Es256],
        _ => &[Algorithm::Es256, Algorithm::EdDsa],
    };
    let mut challenge = [0u8; 32];
    OsRandom.fill(&mut challenge)?;
    let request = MakeCredential {
        rp_id: &cfg.fido2.rp_id,
        user_name: user.as_str(),
        challenge,
        algorithms,
        pin,
        uv: user_verification == UserVerification::Required,
        exclude: fido2::exclude_list(existing.keys()),
        timeout: fido2::register_timeout(cfg.fido2.timeout_seconds),
    };
    eprintln!("{}", i18n::text(ctx.lang, Msg::KeyTouchNow));
    let mut credential =
        fido2::register(&mut device, &request, &name, user_verification, ctx.now())
            .map_err(CliError::Register)?;
    credential.pin = args.pin;
    let alg = credential.public_key.algorithm().name();
    let stored = credential.clone();
    add_to_record(&store, &user, |record| {
        let name = stored.name.clone();
        record
            .add_key(stored)
            .map_err(|_| CliError::KeyName(user.to_string(), name))
    })?;
    audit::log(
        ctx.lang,
        &user,
        &format!(
            "security key {name:?} registered ({alg}, verification {}{}, RP ID {})",
            user_verification.name(),
            if args.pin { ", PIN" } else { "" },
            cfg.fido2.rp_id
        ),
    );
    report(ctx, args.json, &user, &name, &cfg.fido2.rp_id, &credential);
    Ok(())
}

/// The key's name: `--name`, or the next `key-N`; refused when the user has a key
/// of that name (checked again under the lock when it is stored).
fn free_name(existing: &Record, user: &UserName, given: Option<&str>) -> Result<String, CliError> {
    let name = given
        .map(str::to_owned)
        .unwrap_or_else(|| format!("key-{}", existing.keys().len() + 1));
    if existing.keys().iter().any(|k| k.name == name) {
        return Err(CliError::KeyName(user.to_string(), name));
    }
    Ok(name)
}

/// The key's PIN, asked for when `--pin` is given, or when verification is
/// required and the key has no built-in verification (`builtin_uv`: fingerprint).
fn read_pin(
    lang: Lang,
    asked: bool,
    user_verification: UserVerification,
    builtin_uv: bool,
) -> Result<Option<Zeroizing<String>>, CliError> {
    let pin_needed = asked || (user_verification == UserVerification::Required && !builtin_uv);
    if !pin_needed {
        return Ok(None);
    }
    let pin = read_secret(i18n::text(lang, Msg::KeyPinPrompt)).map_err(CliError::Input)?;
    Ok(Some(pin))
}

/// Opens the security key at `path`, or the one plugged in; with several plugged
/// in and no path, lists them to choose from.
fn open_device(lang: Lang, path: Option<&str>) -> Result<HidAuthenticator, CliError> {
    match HidAuthenticator::open(path) {
        Ok(d) => Ok(d),
        Err(DeviceError::SeveralDevices) => {
            eprintln!("{}", i18n::text(lang, Msg::KeyChoose));
            for d in hid::devices() {
                eprintln!("  {}  {}", d.path, d.product);
            }
            Err(CliError::Device(DeviceError::SeveralDevices))
        }
        Err(e) => Err(CliError::Device(e)),
    }
}

/// Tells the caller the key is registered: as JSON with --json, else one line.
fn report(
    ctx: &Context,
    json: bool,
    user: &UserName,
    name: &str,
    rp_id: &str,
    credential: &KeyCredential,
) {
    let alg = credential.public_key.algorithm().name();
    if json {
        let out = json!({
            "user": user.as_str(),
            "name": name,
            "algorithm": alg,
            "rp_id": rp_id,
            "credential_id": fido2::cose::id_to_text(&credential.credential_id),
            "sign_count": credential.sign_count,
        });
        println!("{out:#}");
    } else {
        println!(
            "{}",
            i18n::format(ctx.lang, Msg::KeyRegistered, &[&name, user, &alg])
        );
    }
}
