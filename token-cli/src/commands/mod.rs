//! One file per subcommand (list and status share `show`).

mod contact;
mod enroll;
mod enroll_hotp;
mod enroll_key;
mod import;
mod record_add;
mod recovery;
mod remove;
mod resync;
pub(crate) mod show;
mod store;
mod unlock;

use crate::cli::{Command, Enroll, Import, StoreCommand};
use crate::context::Context;
use crate::error::CliError;

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Enroll(Enroll::Totp(args)) => enroll::totp(ctx, args),
        Command::Enroll(Enroll::Key(args)) => enroll_key::run(ctx, &args),
        Command::Enroll(Enroll::Hotp(args)) => enroll_hotp::run(ctx, &args),
        Command::Resync(args) => resync::run(ctx, &args),
        Command::List(args) => show::list(ctx, &args),
        Command::Status(args) => show::status(ctx, &args),
        Command::Unlock(args) => unlock::run(ctx, &args),
        Command::Remove(args) => remove::run(ctx, &args),
        Command::Recovery(args) => recovery::run(ctx, &args),
        Command::Import(Import::GoogleAuthenticator(args)) => {
            import::google_authenticator(ctx, &args)
        }
        Command::Import(Import::PamU2f(args)) => import::pam_u2f(ctx, &args),
        Command::Contact(args) => contact::run(ctx, &args),
        Command::Store(StoreCommand::Init(args)) => store::init(ctx, &args),
        Command::Store(StoreCommand::Copy(args)) => store::copy(ctx, &args),
        Command::Store(StoreCommand::RotateKey(args)) => store::rotate_key(ctx, &args),
    }
}
