//! Module arguments from the pam.d line: `config=PATH` (the module decides in
//! process) or `socket=PATH` (it asks pam_mfad there), `debug` and `require_key`.
//!
//! Invariant: every argument is understood or the whole list is refused; a typo in
//! /etc/pam.d never silently changes what the module does.

use std::fmt;
use std::path::PathBuf;

use super::DEFAULT_PATH;

/// The parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleArgs {
    /// `config=PATH`, default [`DEFAULT_PATH`].
    pub config: PathBuf,
    /// `debug`: extra detail in the log (never secrets).
    pub debug: bool,
    /// `require_key`: only a security key passes on this PAM line, no code.
    pub require_key: bool,
    /// `socket=PATH`: pam_mfad decides, reached at PATH; `config=` then has no
    /// meaning and is refused.
    pub socket: Option<PathBuf>,
}

/// A module argument that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgError {
    /// An argument this module does not know.
    Unknown(String),
    /// `config=` with a relative or empty path.
    RelativeConfig(String),
    /// `socket=` with a relative or empty path.
    RelativeSocket(String),
    /// `config=` and `socket=` together: the daemon reads its own config.
    ConfigWithSocket,
    /// The same argument twice.
    Repeated(&'static str),
    /// An argument that is not UTF-8.
    Encoding,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(a) => write!(f, "unknown module argument {a:?}"),
            Self::RelativeConfig(p) => {
                write!(f, "module argument config={p:?}: the path must be absolute")
            }
            Self::RelativeSocket(p) => {
                write!(f, "module argument socket={p:?}: the path must be absolute")
            }
            Self::ConfigWithSocket => write!(
                f,
                "module arguments config= and socket= together: with socket=, pam_mfad reads its own --config"
            ),
            Self::Repeated(a) => write!(f, "module argument {a} given more than once"),
            Self::Encoding => write!(f, "module argument is not valid UTF-8"),
        }
    }
}

impl std::error::Error for ArgError {}

impl ModuleArgs {
    /// Parses the arguments as PAM hands them over.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Result<ModuleArgs, ArgError> {
        let mut config = None;
        let mut debug = false;
        let mut require_key = false;
        let mut socket = None;
        for raw in args {
            let arg = std::str::from_utf8(raw).map_err(|_| ArgError::Encoding)?;
            if let Some(path) = arg.strip_prefix("config=") {
                if !path.starts_with('/') {
                    return Err(ArgError::RelativeConfig(path.to_owned()));
                }
                if config.replace(PathBuf::from(path)).is_some() {
                    return Err(ArgError::Repeated("config"));
                }
            } else if let Some(path) = arg.strip_prefix("socket=") {
                if !path.starts_with('/') {
                    return Err(ArgError::RelativeSocket(path.to_owned()));
                }
                if socket.replace(PathBuf::from(path)).is_some() {
                    return Err(ArgError::Repeated("socket"));
                }
            } else if arg == "debug" {
                if debug {
                    return Err(ArgError::Repeated("debug"));
                }
                debug = true;
            } else if arg == "require_key" {
                if require_key {
                    return Err(ArgError::Repeated("require_key"));
                }
                require_key = true;
            } else {
                return Err(ArgError::Unknown(arg.to_owned()));
            }
        }
        if config.is_some() && socket.is_some() {
            return Err(ArgError::ConfigWithSocket);
        }
        Ok(ModuleArgs {
            config: config.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
            debug,
            require_key,
            socket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ModuleArgs, ArgError> {
        ModuleArgs::parse(args.iter().map(|a| a.as_bytes()))
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        assert_eq!(
            parse(&[]),
            Ok(ModuleArgs {
                config: PathBuf::from("/etc/pam_mfa/config.toml"),
                debug: false,
                require_key: false,
                socket: None,
            })
        );
    }

    #[test]
    fn config_and_debug_are_understood() {
        assert_eq!(
            parse(&["debug", "config=/etc/other.toml", "require_key"]),
            Ok(ModuleArgs {
                config: PathBuf::from("/etc/other.toml"),
                debug: true,
                require_key: true,
                socket: None,
            })
        );
        assert_eq!(
            parse(&["socket=/run/x/socket", "debug"]).map(|a| a.socket),
            Ok(Some(PathBuf::from("/run/x/socket")))
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        assert_eq!(parse(&["nullok"]), Err(ArgError::Unknown("nullok".into())));
        assert_eq!(parse(&["Debug"]), Err(ArgError::Unknown("Debug".into())));
        assert_eq!(parse(&["config"]), Err(ArgError::Unknown("config".into())));
        assert_eq!(
            parse(&["config=etc/x"]),
            Err(ArgError::RelativeConfig("etc/x".into()))
        );
        assert_eq!(
            parse(&["config="]),
            Err(ArgError::RelativeConfig(String::new()))
        );
        assert_eq!(
            parse(&["config=/a", "config=/b"]),
            Err(ArgError::Repeated("config"))
        );
        assert_eq!(
            parse(&["socket=run/socket"]),
            Err(ArgError::RelativeSocket("run/socket".into()))
        );
        assert_eq!(
            parse(&["socket=/a", "config=/b"]),
            Err(ArgError::ConfigWithSocket)
        );
        assert_eq!(
            ModuleArgs::parse([b"config=/\xff".as_slice()]),
            Err(ArgError::Encoding)
        );
    }
}
