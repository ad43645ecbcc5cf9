//! `mfa-token store`: the database's schema, copying records between stores, and
//! re-sealing them under a new key.
//!
//! Invariant: these commands only ever change records through `Store::update` (or
//! the postgres store's own per-user transactions), so logins on every host go on
//! while they run; a copy or a rotation is checked by reading back what it wrote.

use mfa_core::config::Config;
use mfa_core::i18n::{self, Msg};
use mfa_core::store::seal::SealKey;
use mfa_core::store::{AnyStore, Change, PgStore, Store};

use crate::audit;
use crate::cli::{StoreCopy, StoreInit, StoreRotate};
use crate::context::Context;
use crate::error::CliError;

fn postgres<'a>(cfg: &Config, store: &'a AnyStore) -> Result<&'a PgStore, CliError> {
    match store {
        AnyStore::Postgres(pg) => Ok(pg),
        AnyStore::Files(_) => Err(CliError::NotPostgres(cfg.path.clone())),
    }
}

pub fn init(ctx: &Context, args: &StoreInit) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let pg = postgres(&cfg, &store)?;
    let (found, now) = pg.init_schema(args.grant.as_deref())?;
    let m = |msg, a: &[&dyn std::fmt::Display]| i18n::format(ctx.lang, msg, a);
    if found == now {
        println!("{}", m(Msg::StoreSchemaCurrent, &[&pg.describe(), &now]));
    } else {
        println!(
            "{}",
            m(Msg::StoreSchemaMigrated, &[&pg.describe(), &found, &now])
        );
    }
    if let Some(role) = &args.grant {
        println!("{}", m(Msg::StoreGranted, &[role]));
    }
    Ok(())
}

/// What happened to one user's record in a copy.
enum Copied {
    New,
    Same,
    Differs,
}

pub fn copy(ctx: &Context, args: &StoreCopy) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let to = ctx.store(&cfg, true)?;
    let source_cfg = Config::load(&args.from).map_err(CliError::Config)?;
    let from = ctx.store(&source_cfg, false)?;
    let m = |msg, a: &[&dyn std::fmt::Display]| i18n::format(ctx.lang, msg, a);
    let (mut copied, mut same, mut left_out) = (0usize, 0usize, 0usize);
    let from_name = from.describe();
    for user in from.users()? {
        let record = match from.read(&user) {
            Ok(Some(r)) => r,
            // Removed since the listing: nothing to copy.
            Ok(None) => continue,
            Err(e) => {
                eprintln!("{}", m(Msg::StoreCopyFailed, &[&user, &e]));
                left_out += 1;
                continue;
            }
        };
        let done = to.update(&user, |current| match current {
            Some(here) if here == record => (Change::Keep, Copied::Same),
            Some(_) if !args.replace => (Change::Keep, Copied::Differs),
            _ => (Change::Write(record.clone()), Copied::New),
        });
        match done {
            Ok(Copied::Same) => same += 1,
            Ok(Copied::Differs) => {
                eprintln!("{}", m(Msg::StoreCopyDiffers, &[&user]));
                left_out += 1;
            }
            Ok(Copied::New) => match to.read(&user) {
                Ok(Some(back)) if back == record => {
                    audit::log(
                        ctx.lang,
                        &user,
                        &format!("record copied from the {from_name}"),
                    );
                    println!("{}", m(Msg::StoreCopied, &[&user]));
                    copied += 1;
                }
                Ok(_) => {
                    let e = "read back, it differs from the source";
                    eprintln!("{}", m(Msg::StoreCopyFailed, &[&user, &e]));
                    left_out += 1;
                }
                Err(e) => {
                    eprintln!("{}", m(Msg::StoreCopyFailed, &[&user, &e]));
                    left_out += 1;
                }
            },
            Err(e) => {
                eprintln!("{}", m(Msg::StoreCopyFailed, &[&user, &e]));
                left_out += 1;
            }
        }
    }
    println!(
        "{}",
        m(
            Msg::StoreCopySummary,
            &[&from_name, &to.describe(), &copied, &same, &left_out]
        )
    );
    if left_out > 0 {
        return Err(CliError::LeftOut(left_out));
    }
    Ok(())
}

pub fn rotate_key(ctx: &Context, args: &StoreRotate) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let store = ctx.store(&cfg, false)?;
    let pg = postgres(&cfg, &store)?;
    let new = SealKey::load(&args.new_key_file)
        .map_err(|e| CliError::StoreSetup(format!("--new-key-file: {e}")))?;
    let (resealed, already) = pg.reseal(&new)?;
    // A second pass re-seals nothing and opens every record under the new key, or
    // says which one does not.
    let (again, all) = pg.reseal(&new)?;
    if again != 0 || all != resealed + already {
        return Err(CliError::StoreSetup(format!(
            "records changed during the rotation ({again} more re-sealed); run it again"
        )));
    }
    println!(
        "{}",
        i18n::format(
            ctx.lang,
            Msg::StoreRotated,
            &[&pg.describe(), &resealed, &new.id(), &already]
        )
    );
    Ok(())
}
