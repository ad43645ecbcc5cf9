//! One file per subcommand.

mod enroll;
mod list;
mod recovery;
mod remove;

use crate::cli::{Command, Enroll};
use crate::context::Context;
use crate::error::CliError;

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Enroll(Enroll::Totp(args)) => enroll::totp(ctx, args),
        Command::List(args) => list::run(ctx, &args),
        Command::Remove(args) => remove::run(ctx, &args),
        Command::Recovery(args) => recovery::run(ctx, &args),
    }
}
