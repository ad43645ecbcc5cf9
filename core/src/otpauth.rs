//! `otpauth://totp/` URIs, the format authenticator apps scan from a QR code
//! (Google's "Key Uri Format").
//!
//! Invariant: [`OtpAuth::to_uri`] and [`OtpAuth::parse`] are inverses: parsing what
//! we write gives back the same issuer, account, secret and parameters. Parameters
//! equal to the defaults (SHA1, 6 digits, 30 s) are left out of the URI, as some apps
//! choke on parameters they do not expect; anything else is always written.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

use crate::totp::{Algorithm, Params, Secret, SecretError};

/// Everything an app needs to add an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpAuth {
    /// Who issues the account ("Example Corp", a host name); never contains ':'.
    pub issuer: Option<String>,
    /// The account name (the user name).
    pub account: String,
    pub secret: Secret,
    pub params: Params,
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Not `otpauth://totp/...`.
    Scheme,
    /// `otpauth://hotp/`: counter-based codes are not supported.
    Hotp,
    /// A `%` escape that is not two hex digits, or text that is not UTF-8.
    Encoding,
    /// No `secret=` parameter.
    NoSecret,
    /// A parameter appears twice.
    Repeated(String),
    /// A parameter has a value we cannot use.
    Value(String),
    /// The secret or parameters are out of range.
    Secret(SecretError),
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme => f.write_str("not an otpauth://totp/ URI"),
            Self::Hotp => f.write_str("otpauth://hotp/ (counter-based) is not supported"),
            Self::Encoding => f.write_str("invalid %-escape or encoding in the URI"),
            Self::NoSecret => f.write_str("the URI has no secret= parameter"),
            Self::Repeated(p) => write!(f, "parameter {p} appears twice"),
            Self::Value(p) => write!(f, "parameter {p} has an invalid value"),
            Self::Secret(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for UriError {}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

fn decode(s: &str) -> Result<String, UriError> {
    // percent-encoding passes a malformed escape through as text; we refuse it.
    let malformed = s.match_indices('%').any(|(i, _)| {
        !s.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if malformed {
        return Err(UriError::Encoding);
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(String::from)
        .map_err(|_| UriError::Encoding)
}

impl OtpAuth {
    /// The URI; it contains the secret, hence wiped on drop.
    pub fn to_uri(&self) -> Zeroizing<String> {
        let label = match &self.issuer {
            Some(i) => format!("{}:{}", encode(i), encode(&self.account)),
            None => encode(&self.account),
        };
        let mut uri = Zeroizing::new(format!(
            "otpauth://totp/{label}?secret={}",
            self.secret.to_base32().as_str()
        ));
        if let Some(i) = &self.issuer {
            uri.push_str(&format!("&issuer={}", encode(i)));
        }
        let d = Params::DEFAULT;
        if self.params.algorithm != d.algorithm {
            uri.push_str(&format!("&algorithm={}", self.params.algorithm.name()));
        }
        if self.params.digits != d.digits {
            uri.push_str(&format!("&digits={}", self.params.digits));
        }
        if self.params.period != d.period {
            uri.push_str(&format!("&period={}", self.params.period));
        }
        uri
    }

    /// Parses a URI as apps and other tools write it. Unknown parameters (`image`,
    /// ...) are ignored; the `issuer` parameter wins over the label's prefix.
    pub fn parse(uri: &str) -> Result<OtpAuth, UriError> {
        let rest = uri
            .get(..10)
            .filter(|s| s.eq_ignore_ascii_case("otpauth://"))
            .and_then(|_| uri.get(10..))
            .ok_or(UriError::Scheme)?;
        let (kind, rest) = rest.split_once('/').ok_or(UriError::Scheme)?;
        if kind.eq_ignore_ascii_case("hotp") {
            return Err(UriError::Hotp);
        }
        if !kind.eq_ignore_ascii_case("totp") {
            return Err(UriError::Scheme);
        }
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (label_issuer, account) = parse_label(label)?;
        let [secret, issuer, algorithm, digits, period] = known_parameters(query)?;
        let secret =
            Secret::from_base32(&secret.ok_or(UriError::NoSecret)?).map_err(UriError::Secret)?;
        if issuer
            .as_ref()
            .is_some_and(|i| i.contains(':') || i.chars().any(char::is_control))
        {
            return Err(UriError::Value("issuer".to_owned()));
        }
        let params = parse_params(algorithm, digits, period)?;
        Ok(OtpAuth {
            issuer: issuer
                .map(|i| i.to_string())
                .or(label_issuer)
                .filter(|i| !i.is_empty()),
            account,
            secret,
            params,
        })
    }
}

/// The label's issuer prefix (if any) and account name.
fn parse_label(label: &str) -> Result<(Option<String>, String), UriError> {
    let label = decode(label)?;
    // Spaces after the ':' are allowed by the format and not part of the name.
    let (label_issuer, account) = match label.split_once(':') {
        Some((i, a)) => (Some(i.to_owned()), a.trim_start().to_owned()),
        None => (None, label.trim_start().to_owned()),
    };
    // The format forbids ':' in both names; accepting one would make the same
    // account read back differently after we write it. Control characters would
    // end up on terminals.
    if account.contains(':')
        || account.chars().any(char::is_control)
        || label_issuer
            .as_deref()
            .is_some_and(|i| i.chars().any(char::is_control))
    {
        return Err(UriError::Value("label".to_owned()));
    }
    Ok((label_issuer, account))
}

/// The query's known parameters by name, decoded, in the order `secret`,
/// `issuer`, `algorithm`, `digits`, `period`; each may appear once. Others
/// (`image`, ...) are ignored.
fn known_parameters(query: &str) -> Result<[Option<Zeroizing<String>>; 5], UriError> {
    const KNOWN: [&str; 5] = ["secret", "issuer", "algorithm", "digits", "period"];
    let mut values: [Option<Zeroizing<String>>; 5] = Default::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = key.to_ascii_lowercase();
        let Some(slot) = KNOWN
            .iter()
            .position(|k| *k == key)
            .and_then(|i| values.get_mut(i))
        else {
            continue;
        };
        if slot.replace(Zeroizing::new(decode(value)?)).is_some() {
            return Err(UriError::Repeated(key));
        }
    }
    Ok(values)
}

/// The code parameters: each given one parsed, the others the format's defaults.
fn parse_params(
    algorithm: Option<Zeroizing<String>>,
    digits: Option<Zeroizing<String>>,
    period: Option<Zeroizing<String>>,
) -> Result<Params, UriError> {
    let bad = |key: &str| UriError::Value(key.to_owned());
    let d = Params::DEFAULT;
    let algorithm = match algorithm {
        Some(a) => Algorithm::from_name(&a).ok_or_else(|| bad("algorithm"))?,
        None => d.algorithm,
    };
    let digits = match digits {
        Some(n) => n.parse::<u8>().map_err(|_| bad("digits"))?,
        None => d.digits,
    };
    let period = match period {
        Some(n) => n.parse::<u32>().map_err(|_| bad("period"))?,
        None => d.period,
    };
    Params {
        algorithm,
        digits,
        period,
    }
    .validate()
    .map_err(UriError::Secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(issuer: Option<&str>, account: &str, params: Params) -> OtpAuth {
        OtpAuth {
            issuer: issuer.map(str::to_owned),
            account: account.to_owned(),
            secret: Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap(),
            params,
        }
    }

    #[test]
    fn defaults_are_left_out_and_names_are_escaped() {
        let uri = sample(Some("Example Corp"), "alice@example.com", Params::DEFAULT).to_uri();
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Example%20Corp:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example%20Corp"
        );
    }

    #[test]
    fn other_parameters_are_written() {
        let p = Params {
            algorithm: Algorithm::Sha256,
            digits: 8,
            period: 60,
        };
        let uri = sample(Some("host"), "bob", p).to_uri();
        assert!(
            uri.ends_with("&issuer=host&algorithm=SHA256&digits=8&period=60"),
            "{}",
            uri.as_str()
        );
    }

    #[test]
    fn round_trip() {
        for s in [
            sample(Some("Example Corp"), "alice@example.com", Params::DEFAULT),
            sample(
                None,
                "bob",
                Params {
                    algorithm: Algorithm::Sha512,
                    digits: 7,
                    period: 45,
                },
            ),
            sample(Some("ünïcode & co"), "x y", Params::DEFAULT),
        ] {
            assert_eq!(OtpAuth::parse(&s.to_uri()).unwrap(), s);
        }
    }

    #[test]
    fn uris_from_other_tools_parse() {
        let a = OtpAuth::parse("otpauth://TOTP/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30&image=https://x/y.png").unwrap();
        assert_eq!(a.issuer.as_deref(), Some("ACME Co"));
        assert_eq!(a.account, "john.doe@email.com");
        assert_eq!(a.params, Params::DEFAULT);
        // A leading space is not part of the name, with or without an issuer prefix.
        let s = OtpAuth::parse("otpauth://totp/%20bob?secret=JBSWY3DPEHPK3PXP&issuer=X").unwrap();
        assert_eq!(OtpAuth::parse(&s.to_uri()).unwrap(), s);
        assert_eq!(s.account, "bob");
        let b = OtpAuth::parse("otpauth://totp/alice?secret=jbswy3dpehpk3pxp").unwrap();
        assert_eq!((b.issuer, b.account.as_str()), (None, "alice"));
    }

    #[test]
    fn bad_uris_are_refused() {
        let cases = [
            ("https://example.com", UriError::Scheme),
            (
                "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=1",
                UriError::Hotp,
            ),
            ("otpauth://totp/a", UriError::NoSecret),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP",
                UriError::Repeated("secret".into()),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=x",
                UriError::Value("digits".into()),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=9",
                UriError::Secret(SecretError::Digits(9)),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                UriError::Value("algorithm".into()),
            ),
            (
                "otpauth://totp/a%?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding,
            ),
            (
                "otpauth://totp/a%ff?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding,
            ),
            (
                "otpauth://totp/a%zz?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding,
            ),
            (
                "otpauth://totp/a%4?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding,
            ),
            (
                "otpauth://totp/a?secret=!!",
                UriError::Secret(SecretError::Base32),
            ),
            ("otpauth:/", UriError::Scheme),
            // Found by fuzzing: a second ':' in the label did not survive a round trip.
            (
                "otpauth://totp/:a:b?secret=JBSWY3DPEHPK3PXP",
                UriError::Value("label".into()),
            ),
            (
                "otpauth://totp/x:a%3Ab?secret=JBSWY3DPEHPK3PXP",
                UriError::Value("label".into()),
            ),
            (
                "otpauth://totp/a%1B[2J?secret=JBSWY3DPEHPK3PXP",
                UriError::Value("label".into()),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&issuer=x%00",
                UriError::Value("issuer".into()),
            ),
            ("", UriError::Scheme),
        ];
        for (uri, want) in cases {
            assert_eq!(OtpAuth::parse(uri), Err(want), "{uri}");
        }
    }
}
