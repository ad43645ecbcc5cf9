//! The command line: subcommands, options and their help text (which the man page
//! is generated from).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Enroll and manage pam_mfa second factors (TOTP apps, recovery codes).
///
/// Records live in the store directory named by the configuration
/// (default /var/lib/pam_mfa); changing them requires root.
#[derive(Debug, Parser)]
#[command(name = "mfa-token", version)]
pub struct Cli {
    /// Configuration file (must be root-owned and not group/world-writable).
    #[arg(long, global = true, value_name = "PATH", default_value = pam_mfa::config::DEFAULT_PATH)]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll a second factor for a user.
    #[command(subcommand)]
    Enroll(Enroll),
    /// Show what a user has enrolled.
    List(ListArgs),
    /// Remove enrolled factors.
    Remove(RemoveArgs),
    /// Print a fresh set of recovery codes, one per line; the old set stops working.
    Recovery(UserArg),
}

#[derive(Debug, Subcommand)]
pub enum Enroll {
    /// Enroll an authenticator app (TOTP).
    ///
    /// With --secret the key is given (scripted enrollment or migration); the
    /// current code is then asked for on standard input unless --no-confirm.
    Totp(EnrollTotp),
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// The account (must exist: checked with getpwnam).
    #[arg(long, value_name = "USER")]
    pub user: String,
}

#[derive(Debug, Args)]
pub struct EnrollTotp {
    #[command(flatten)]
    pub user: UserArg,

    /// The shared secret in base32 (spaces and dashes allowed).
    #[arg(long, value_name = "BASE32")]
    pub secret: Option<String>,

    /// Save without asking for a code first (scripts; requires --secret).
    #[arg(long, requires = "secret")]
    pub no_confirm: bool,

    /// Replace an existing TOTP enrollment.
    #[arg(long)]
    pub replace: bool,

    /// HMAC algorithm [default: from the config, normally SHA1].
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgorithmArg>,

    /// Digits per code, 6 to 8 [default: from the config, normally 6].
    #[arg(long, value_parser = clap::value_parser!(u8).range(6..=8))]
    pub digits: Option<u8>,

    /// Seconds per code [default: from the config, normally 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(15..=300))]
    pub period: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    #[value(name = "SHA1", alias = "sha1")]
    Sha1,
    #[value(name = "SHA256", alias = "sha256")]
    Sha256,
    #[value(name = "SHA512", alias = "sha512")]
    Sha512,
}

impl From<AlgorithmArg> for pam_mfa::totp::Algorithm {
    fn from(a: AlgorithmArg) -> Self {
        match a {
            AlgorithmArg::Sha1 => Self::Sha1,
            AlgorithmArg::Sha256 => Self::Sha256,
            AlgorithmArg::Sha512 => Self::Sha512,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)))]
pub struct RemoveArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// Remove everything: factors and login state (failures, lockout).
    #[arg(long, group = "what")]
    pub all: bool,

    /// Remove the TOTP enrollment.
    #[arg(long, group = "what")]
    pub totp: bool,

    /// Remove the recovery codes.
    #[arg(long, group = "what")]
    pub recovery: bool,
}
