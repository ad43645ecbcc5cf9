//! `mfa-token enroll key`: registers a FIDO2 security key. The credential is made
//! for the configured RP ID and checked (RP ID hash, presence, verification when
//! required) before it is stored.

use serde_json::json;

use mfa_core::fido2::cose::Algorithm;
use mfa_core::fido2::hid::{self, HidAuthenticator};
use mfa_core::fido2::{self, Authenticator, DeviceError, MakeCredential, UserVerification};
use mfa_core::i18n::{self, Msg};
use mfa_core::random::{OsRandom, Random};
use mfa_core::store::{Change, Store};

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
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("key-{}", existing.keys().len() + 1));
    if existing.keys().iter().any(|k| k.name == name) {
        return Err(CliError::KeyName(user.to_string(), name));
    }
    let mut device = match HidAuthenticator::open(args.device.as_deref()) {
        Ok(d) => d,
        Err(DeviceError::SeveralDevices) => {
            eprintln!("{}", i18n::text(ctx.lang, Msg::KeyChoose));
            for d in hid::devices() {
                eprintln!("  {}  {}", d.path, d.product);
            }
            return Err(CliError::Device(DeviceError::SeveralDevices));
        }
        Err(e) => return Err(CliError::Device(e)),
    };
    let info = device.info().map_err(CliError::Device)?;
    let user_verification = match args.user_verification {
        VerificationArg::Required => UserVerification::Required,
        VerificationArg::Preferred => UserVerification::Preferred,
        VerificationArg::Discouraged => UserVerification::Discouraged,
    };
    // A PIN is needed when asked for, or when verification is required and the key
    // has no built-in verification (fingerprint).
    let pin_needed = args.pin || (user_verification == UserVerification::Required && !info.uv);
    let pin = if pin_needed {
        Some(read_secret(i18n::text(ctx.lang, Msg::KeyPinPrompt)).map_err(CliError::Input)?)
    } else {
        None
    };
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
    store.update(&user, |current| {
        let mut record = current.unwrap_or_default();
        let name = stored.name.clone();
        match record.add_key(stored) {
            Ok(()) => (Change::Write(record), Ok(())),
            Err(_) => (Change::Keep, Err(CliError::KeyName(user.to_string(), name))),
        }
    })??;
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
    if args.json {
        let out = json!({
            "user": user.as_str(),
            "name": name,
            "algorithm": alg,
            "rp_id": cfg.fido2.rp_id,
            "credential_id": fido2::cose::id_to_text(&credential.credential_id),
            "sign_count": credential.sign_count,
        });
        println!("{out:#}");
    } else {
        println!(
            "{}",
            i18n::format(ctx.lang, Msg::KeyRegistered, &[&name, &user, &alg])
        );
    }
    Ok(())
}
