//! Module arguments from the pam.d line: `socket=PATH` (where pam_mfad listens),
//! `debug`, `require_key` and `combined`.
//!
//! Invariant: every argument is understood or the whole list is refused; a typo in
//! /etc/pam.d never silently changes what the module does.

use std::fmt;
use std::path::PathBuf;

use mfa_proto::DEFAULT_SOCKET;

/// The parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleArgs {
    /// `socket=PATH`, default [`DEFAULT_SOCKET`].
    pub socket: PathBuf,
    /// `debug`: extra detail in the log (never secrets).
    pub debug: bool,
    /// `require_key`: only a security key passes on this PAM line, no code.
    pub require_key: bool,
    /// `combined`: this line asks for password and code in one answer, hands the
    /// password on as PAM_AUTHTOK and keeps the code for a later pam_mfa line.
    pub combined: bool,
}

/// A module argument that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// An argument this module does not know.
    Unknown(String),
    /// `config=`: the module of earlier versions read the config itself.
    Config,
    /// `socket=` with a relative or empty path.
    RelativeSocket(String),
    /// The same argument twice.
    Repeated(&'static str),
    /// An argument that is not UTF-8.
    Encoding,
    /// `require_key` with `combined`: a key cannot be typed after a password.
    KeyAndCombined,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(a) => write!(f, "unknown module argument {a:?}"),
            Self::Config => write!(
                f,
                "module argument config= is gone: pam_mfad reads the config (pam_mfad --config PATH); point the module at its socket with socket=PATH"
            ),
            Self::RelativeSocket(p) => {
                write!(f, "module argument socket={p:?}: the path must be absolute")
            }
            Self::Repeated(a) => write!(f, "module argument {a} given more than once"),
            Self::Encoding => write!(f, "module argument is not valid UTF-8"),
            Self::KeyAndCombined => write!(
                f,
                "module arguments require_key and combined exclude each other: a security key cannot be typed after the password"
            ),
        }
    }
}

impl ModuleArgs {
    /// Parses the arguments as PAM hands them over.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Result<ModuleArgs, ArgError> {
        let mut socket = None;
        let mut debug = false;
        let mut require_key = false;
        let mut combined = false;
        for raw in args {
            let arg = std::str::from_utf8(raw).map_err(|_| ArgError::Encoding)?;
            if let Some(path) = arg.strip_prefix("socket=") {
                if !path.starts_with('/') {
                    return Err(ArgError::RelativeSocket(path.to_owned()));
                }
                if socket.replace(PathBuf::from(path)).is_some() {
                    return Err(ArgError::Repeated("socket"));
                }
            } else if arg.starts_with("config=") {
                return Err(ArgError::Config);
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
            } else if arg == "combined" {
                if combined {
                    return Err(ArgError::Repeated("combined"));
                }
                combined = true;
            } else {
                return Err(ArgError::Unknown(arg.to_owned()));
            }
        }
        if require_key && combined {
            return Err(ArgError::KeyAndCombined);
        }
        Ok(ModuleArgs {
            socket: socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
            debug,
            require_key,
            combined,
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
                socket: PathBuf::from("/run/pam_mfa/socket"),
                debug: false,
                require_key: false,
                combined: false,
            })
        );
    }

    #[test]
    fn socket_debug_require_key_and_combined_are_understood() {
        assert_eq!(
            parse(&["debug", "socket=/run/x/socket", "require_key"]),
            Ok(ModuleArgs {
                socket: PathBuf::from("/run/x/socket"),
                debug: true,
                require_key: true,
                combined: false,
            })
        );
        assert_eq!(
            parse(&["combined", "socket=/run/x/socket"]),
            Ok(ModuleArgs {
                socket: PathBuf::from("/run/x/socket"),
                debug: false,
                require_key: false,
                combined: true,
            })
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        assert_eq!(parse(&["nullok"]), Err(ArgError::Unknown("nullok".into())));
        assert_eq!(parse(&["Debug"]), Err(ArgError::Unknown("Debug".into())));
        assert_eq!(parse(&["socket"]), Err(ArgError::Unknown("socket".into())));
        assert_eq!(parse(&["config=/etc/x.toml"]), Err(ArgError::Config));
        assert_eq!(
            parse(&["socket=run/socket"]),
            Err(ArgError::RelativeSocket("run/socket".into()))
        );
        assert_eq!(
            parse(&["socket="]),
            Err(ArgError::RelativeSocket(String::new()))
        );
        assert_eq!(
            parse(&["socket=/a", "socket=/b"]),
            Err(ArgError::Repeated("socket"))
        );
        assert_eq!(parse(&["debug", "debug"]), Err(ArgError::Repeated("debug")));
        assert_eq!(
            parse(&["combined", "combined"]),
            Err(ArgError::Repeated("combined"))
        );
        assert_eq!(
            parse(&["Combined"]),
            Err(ArgError::Unknown("Combined".into()))
        );
        assert_eq!(
            parse(&["forward_pass"]),
            Err(ArgError::Unknown("forward_pass".into()))
        );
        assert_eq!(
            parse(&["combined", "require_key"]),
            Err(ArgError::KeyAndCombined)
        );
        assert_eq!(
            ModuleArgs::parse([b"socket=/\xff".as_slice()]),
            Err(ArgError::Encoding)
        );
    }
}
